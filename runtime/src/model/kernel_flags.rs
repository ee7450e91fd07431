//! The kernel logger's enable flags (`EVENT_TRACE_FLAG_*`) and which of them Linux can serve.

use bitflags::bitflags;

use crate::error::{Error, ErrorCode, Result};

bitflags! {
    /// `EnableFlags` of the kernel logger: which kernel events it records. Values are Windows'.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct KernelFlags: u32 {
        /// Process start (fork, exec) and end, with image name, command line and exit status.
        const PROCESS = 0x0000_0001;
        /// Thread start and end.
        const THREAD = 0x0000_0002;
        /// Executable images and libraries mapped into processes.
        const IMAGE_LOAD = 0x0000_0004;
        /// Process counters (not served on Linux).
        const PROCESS_COUNTERS = 0x0000_0008;
        /// Context switches.
        const CSWITCH = 0x0000_0010;
        /// Deferred procedure calls (not served on Linux).
        const DPC = 0x0000_0020;
        /// Interrupts (not served on Linux).
        const INTERRUPT = 0x0000_0040;
        /// System calls: entry and exit.
        const SYSTEMCALL = 0x0000_0080;
        /// Disk reads, writes and flushes: at completion, and (because Linux does not trace
        /// every completion) at issue too.
        const DISK_IO = 0x0000_0100;
        /// File names of disk I/O (not served on Linux).
        const DISK_FILE_IO = 0x0000_0200;
        /// Disk requests as they are issued.
        const DISK_IO_INIT = 0x0000_0400;
        /// Every page fault.
        const MEMORY_PAGE_FAULTS = 0x0000_1000;
        /// Hard (major) page faults.
        const MEMORY_HARD_FAULTS = 0x0000_2000;
        /// TCP: connect, accept, disconnect, retransmits and every state change.
        const NETWORK_TCPIP = 0x0001_0000;
        /// Registry (no registry on Linux).
        const REGISTRY = 0x0002_0000;
        /// ALPC (not on Linux).
        const ALPC = 0x0010_0000;
        /// Split I/O (not served on Linux).
        const SPLIT_IO = 0x0020_0000;
        /// Driver events (not served on Linux).
        const DRIVER = 0x0080_0000;
        /// Sampled instruction pointers, 1 000 per second per processor.
        const PROFILE = 0x0100_0000;
        /// File I/O (not served on Linux).
        const FILE_IO = 0x0200_0000;
        /// File I/O at issue time (not served on Linux).
        const FILE_IO_INIT = 0x0400_0000;
    }
}

/// Each flag's name as tracelog and `evtrace start --kernel-flags` spell it.
const NAMES: &[(KernelFlags, &str)] = &[
    (KernelFlags::PROCESS, "process"),
    (KernelFlags::THREAD, "thread"),
    (KernelFlags::IMAGE_LOAD, "image_load"),
    (KernelFlags::PROCESS_COUNTERS, "process_counters"),
    (KernelFlags::CSWITCH, "cswitch"),
    (KernelFlags::DPC, "dpc"),
    (KernelFlags::INTERRUPT, "interrupt"),
    (KernelFlags::SYSTEMCALL, "systemcall"),
    (KernelFlags::DISK_IO, "disk_io"),
    (KernelFlags::DISK_FILE_IO, "disk_file_io"),
    (KernelFlags::DISK_IO_INIT, "disk_io_init"),
    (KernelFlags::MEMORY_PAGE_FAULTS, "memory_page_faults"),
    (KernelFlags::MEMORY_HARD_FAULTS, "memory_hard_faults"),
    (KernelFlags::NETWORK_TCPIP, "network_tcpip"),
    (KernelFlags::REGISTRY, "registry"),
    (KernelFlags::ALPC, "alpc"),
    (KernelFlags::SPLIT_IO, "split_io"),
    (KernelFlags::DRIVER, "driver"),
    (KernelFlags::PROFILE, "profile"),
    (KernelFlags::FILE_IO, "file_io"),
    (KernelFlags::FILE_IO_INIT, "file_io_init"),
];

impl KernelFlags {
    /// tracelog's default set for the kernel logger: process, thread, disk I/O, TCP/IP.
    pub const DEFAULT: KernelFlags = KernelFlags::PROCESS
        .union(KernelFlags::THREAD)
        .union(KernelFlags::DISK_IO)
        .union(KernelFlags::NETWORK_TCPIP);

    /// The flags Linux has a source for.
    pub const SERVED: KernelFlags = KernelFlags::DEFAULT
        .union(KernelFlags::IMAGE_LOAD)
        .union(KernelFlags::DISK_IO_INIT)
        .union(KernelFlags::CSWITCH)
        .union(KernelFlags::SYSTEMCALL)
        .union(KernelFlags::MEMORY_PAGE_FAULTS)
        .union(KernelFlags::MEMORY_HARD_FAULTS)
        .union(KernelFlags::PROFILE);

    /// The lower-case name of a single flag (`"network_tcpip"`).
    pub fn flag_name(self) -> &'static str {
        NAMES
            .iter()
            .find(|(f, _)| *f == self)
            .map_or("(several flags)", |(_, n)| n)
    }

    /// The names of the flags set, joined with `|`.
    pub fn names(self) -> String {
        let v: Vec<&str> = self.iter().map(|f| f.flag_name()).collect();
        if v.is_empty() {
            "none".into()
        } else {
            v.join("|")
        }
    }

    /// Parses a comma-separated list of names (`process,thread`), `default`, or a number
    /// (`0x10007`). Unknown names are an error that lists the known ones.
    pub fn parse(spec: &str) -> Result<KernelFlags> {
        let mut out = KernelFlags::empty();
        for word in spec.split([',', '|', '+']).map(str::trim) {
            if word.is_empty() {
                continue;
            }
            let lower = word.to_ascii_lowercase();
            if let Some(n) = crate::number::parse_u32(&lower) {
                out |= KernelFlags::from_bits_retain(n);
            } else if lower == "default" {
                out |= KernelFlags::DEFAULT;
            } else if let Some((f, _)) = NAMES
                .iter()
                .find(|(_, n)| *n == lower || n.replace('_', "") == lower.replace(['_', '-'], ""))
            {
                out |= *f;
            } else {
                let known: Vec<&str> = NAMES.iter().map(|(_, n)| *n).collect();
                return Err(Error::invalid(format!(
                    "{word:?} is not a kernel enable flag; the flags are {}, `default` ({}) or a number such as 0x10003",
                    known.join(", "),
                    KernelFlags::DEFAULT.names()
                )));
            }
        }
        Ok(out)
    }

    /// Checks that every flag is known and served here; an empty set means [`Self::DEFAULT`].
    pub fn checked(self) -> Result<KernelFlags> {
        let unknown = self.bits() & !KernelFlags::all().bits();
        if unknown != 0 {
            return Err(Error::invalid(format!(
                "unknown kernel enable flag bits {unknown:#010x}; the flags are the EVENT_TRACE_FLAG_* values ({})",
                KernelFlags::all().names()
            )));
        }
        let unserved = self.difference(KernelFlags::SERVED);
        if !unserved.is_empty() {
            return Err(Error::new(
                ErrorCode::NotSupported,
                format!(
                    "kernel enable flags {} have no source on Linux; the kernel logger serves {}",
                    unserved.names(),
                    KernelFlags::SERVED.names()
                ),
            ));
        }
        Ok(if self.is_empty() {
            KernelFlags::DEFAULT
        } else {
            self
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_numbers_and_default_parse() {
        assert_eq!(
            KernelFlags::parse("process, thread,image_load|network_tcpip").unwrap(),
            KernelFlags::PROCESS
                | KernelFlags::THREAD
                | KernelFlags::IMAGE_LOAD
                | KernelFlags::NETWORK_TCPIP
        );
        assert_eq!(
            KernelFlags::parse("0x10000").unwrap(),
            KernelFlags::NETWORK_TCPIP
        );
        assert_eq!(KernelFlags::parse("default").unwrap(), KernelFlags::DEFAULT);
        assert_eq!(KernelFlags::parse("DiskIo").unwrap(), KernelFlags::DISK_IO);
        let e = KernelFlags::parse("process,bogus").unwrap_err();
        assert!(e.message().contains("\"bogus\"") && e.message().contains("network_tcpip"));
    }

    #[test]
    fn unserved_and_unknown_flags_are_refused_and_empty_means_default() {
        let e = KernelFlags::REGISTRY.checked().unwrap_err();
        assert_eq!(e.code(), ErrorCode::NotSupported);
        assert!(e.message().contains("registry"), "{}", e.message());
        let e = KernelFlags::from_bits_retain(0x4000_0000)
            .checked()
            .unwrap_err();
        assert_eq!(e.code(), ErrorCode::InvalidParameter);
        assert_eq!(
            KernelFlags::empty().checked().unwrap(),
            KernelFlags::DEFAULT
        );
        assert_eq!(
            KernelFlags::DEFAULT.bits(),
            0x1 | 0x2 | 0x100 | 0x10000,
            "tracelog's default set"
        );
    }
}
