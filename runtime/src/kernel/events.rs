//! The kernel logger's events: what each one says, and its record.
//!
//! Events are recorded as self-describing TraceLogging records under the GUIDs and opcodes of
//! Windows' kernel event classes (Process, Thread, Image, TcpIp, DiskIo, PageFault, PerfInfo), so
//! a consumer can tell them apart the way it does on Windows, and any TraceLogging decoder can
//! read their typed fields. Each record's keyword is the enable flag that asked for it.
//! Opcodes Windows does not have (exec, TCP state changes) are 64 and above.

use std::net::IpAddr;
use std::sync::OnceLock;

use super::KernelFlags;
use crate::etl::{
    in_type, out_type, provider_traits, tracelogging_extended_items, EventDescriptor,
    EventSchemaBuilder,
};
use crate::Guid;

/// One kernel event, with when, where and in whose context it happened.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Occurrence {
    /// `CLOCK_MONOTONIC` nanoseconds.
    pub(crate) time: u64,
    pub(crate) cpu: u32,
    /// The process and thread the event is about (the header's ProcessId and ThreadId).
    pub(crate) pid: u32,
    pub(crate) tid: u32,
    pub(crate) event: KernelEvent,
}

/// How a TCP event came about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TcpKind {
    /// An active open completed (SYN_SENT -> ESTABLISHED).
    Connect,
    /// A passive open completed (SYN_RECV -> ESTABLISHED).
    Accept,
    /// An established connection closed.
    Disconnect,
    /// A segment was sent again.
    Retransmit,
    /// Any state change (the raw transition).
    StateChange,
}

/// What the kernel said.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum KernelEvent {
    /// A new process (fork), or one running when the session started (`rundown`).
    ProcessStart {
        pid: u32,
        parent: u32,
        image: String,
        command_line: String,
        rundown: bool,
    },
    /// A process replaced its image (exec).
    ProcessExec {
        pid: u32,
        image: String,
        command_line: String,
    },
    /// A process ended: its exit code, or the signal that ended it.
    ProcessEnd {
        pid: u32,
        parent: u32,
        exit_code: i32,
        signal: u32,
    },
    /// A new thread, or one running when the session started (`rundown`).
    ThreadStart { pid: u32, tid: u32, rundown: bool },
    /// A thread ended.
    ThreadEnd { pid: u32, tid: u32 },
    /// An executable mapping of a file (an image or a library's code), or one present when the
    /// session started (`rundown`).
    ImageLoad {
        pid: u32,
        base: u64,
        size: u64,
        file_offset: u64,
        file_name: String,
        rundown: bool,
    },
    /// A TCP event.
    Tcp {
        kind: TcpKind,
        pid: u32,
        saddr: IpAddr,
        daddr: IpAddr,
        sport: u16,
        dport: u16,
        old_state: u8,
        new_state: u8,
    },
    /// A disk request was issued to the device (`init`), or completed.
    DiskIo {
        init: bool,
        /// 'R', 'W', 'F' (flush) or 'D' (discard), from the request's rwbs.
        op: u8,
        /// The kernel's dev_t of the disk (major << 20 | minor).
        disk: u32,
        byte_offset: u64,
        size: u32,
        issuing_pid: u32,
        issuing_tid: u32,
        /// Completions only: from issue to completion.
        response_ns: u64,
        /// Completions only: the kernel's status (0, or a negative errno).
        error: i32,
    },
    /// A context switch on `cpu`.
    CSwitch {
        old_tid: u32,
        new_tid: u32,
        old_priority: i32,
        new_priority: i32,
        old_state: u64,
    },
    /// A page fault (`hard`: it needed I/O).
    PageFault { hard: bool, address: u64, ip: u64 },
    /// A system call began.
    SysCallEnter { number: i64 },
    /// A system call returned.
    SysCallExit { number: i64, result: i64 },
    /// A profile sample.
    Sample { ip: u64 },
}

/// Windows' kernel event classes: (GUID, name).
mod class {
    pub(super) type Class = (&'static str, &'static str);
    pub(super) const PROCESS: Class = ("3d6fa8d0-fe05-11d0-9dda-00c04fd7ba7c", "Process");
    pub(super) const THREAD: Class = ("3d6fa8d1-fe05-11d0-9dda-00c04fd7ba7c", "Thread");
    pub(super) const PAGE_FAULT: Class = ("3d6fa8d3-fe05-11d0-9dda-00c04fd7ba7c", "PageFault");
    pub(super) const DISK_IO: Class = ("3d6fa8d4-fe05-11d0-9dda-00c04fd7ba7c", "DiskIo");
    pub(super) const IMAGE: Class = ("2cb15d1d-5fc1-11d2-abe1-00a0c911f518", "Image");
    pub(super) const TCPIP: Class = ("9a280ac0-c8e0-11d1-84e2-00c04fb998a2", "TcpIp");
    pub(super) const PERF_INFO: Class = ("ce1dbfb4-137e-4da6-87b0-3f59aa102cbc", "PerfInfo");
}

/// One kind of record: its class, opcode, name and fields.
struct Shape {
    class: class::Class,
    name: &'static str,
    opcode: u8,
    flag: KernelFlags,
    fields: &'static [(&'static str, u8, u8)],
}

const PID: (u8, u8) = (in_type::UINT32, out_type::PID);
const TID: (u8, u8) = (in_type::UINT32, out_type::TID);
const TEXT: (u8, u8) = (in_type::ANSI_STRING, out_type::UTF8);
// Addresses (and other words shown in hex) as u64 in hex, and IPv6 as BINARY: what
// TraceLoggingProvider.h writes (TraceLoggingHexUInt64, TraceLoggingIPv6Address) and
// independent readers decode.
const HEX: (u8, u8) = (in_type::UINT64, out_type::HEX);
const U64: (u8, u8) = (in_type::UINT64, 0);
const U32: (u8, u8) = (in_type::UINT32, 0);
const I32: (u8, u8) = (in_type::INT32, 0);
const I64: (u8, u8) = (in_type::INT64, 0);
const U8: (u8, u8) = (in_type::UINT8, 0);
const CHAR: (u8, u8) = (in_type::UINT8, out_type::STRING);
const PORT: (u8, u8) = (in_type::UINT16, out_type::PORT);
const IP4: (u8, u8) = (in_type::UINT32, out_type::IPV4);
const IP6: (u8, u8) = (in_type::BINARY, out_type::IPV6);

macro_rules! fields {
    ($($name:literal: $t:expr),* $(,)?) => {
        &[$(($name, $t.0, $t.1)),*]
    };
}

const PROCESS_START: &[(&str, u8, u8)] = fields![
    "ProcessId": PID, "ParentId": PID, "ImageFileName": TEXT, "CommandLine": TEXT,
];
const THREAD_FIELDS: &[(&str, u8, u8)] = fields!["ProcessId": PID, "TThreadId": TID];
const IMAGE_FIELDS: &[(&str, u8, u8)] = fields![
    "ImageBase": HEX, "ImageSize": U64, "ProcessId": PID, "FileOffset": U64, "FileName": TEXT,
];
const TCP4: &[(&str, u8, u8)] = fields![
    "PID": PID, "daddr": IP4, "saddr": IP4, "dport": PORT, "sport": PORT,
    "OldState": U8, "NewState": U8,
];
const TCP6: &[(&str, u8, u8)] = fields![
    "PID": PID, "daddr": IP6, "saddr": IP6, "dport": PORT, "sport": PORT,
    "OldState": U8, "NewState": U8,
];
const DISK_INIT: &[(&str, u8, u8)] = fields![
    "DiskNumber": U32, "ByteOffset": U64, "TransferSize": U32, "IssuingProcessId": PID,
    "IssuingThreadId": TID, "Operation": CHAR,
];
const DISK: &[(&str, u8, u8)] = fields![
    "DiskNumber": U32, "ByteOffset": U64, "TransferSize": U32, "IssuingProcessId": PID,
    "IssuingThreadId": TID, "ResponseTimeNs": U64, "Error": I32, "Operation": CHAR,
];
const FAULT: &[(&str, u8, u8)] = fields!["VirtualAddress": HEX, "ProgramCounter": HEX];

const fn shape(
    class: class::Class,
    name: &'static str,
    opcode: u8,
    flag: KernelFlags,
    fields: &'static [(&'static str, u8, u8)],
) -> Shape {
    Shape {
        class,
        name,
        opcode,
        flag,
        fields,
    }
}

use KernelFlags as F;

/// Every record shape, indexed by [`index_of`].
static SHAPES: [Shape; 31] = [
    shape(class::PROCESS, "Start", 1, F::PROCESS, PROCESS_START),
    shape(class::PROCESS, "DCStart", 3, F::PROCESS, PROCESS_START),
    shape(
        class::PROCESS,
        "Exec",
        64,
        F::PROCESS,
        fields![
            "ProcessId": PID, "ImageFileName": TEXT, "CommandLine": TEXT,
        ],
    ),
    shape(
        class::PROCESS,
        "End",
        2,
        F::PROCESS,
        fields![
            "ProcessId": PID, "ParentId": PID, "ExitStatus": I32, "TerminationSignal": U32,
        ],
    ),
    shape(class::THREAD, "Start", 1, F::THREAD, THREAD_FIELDS),
    shape(class::THREAD, "DCStart", 3, F::THREAD, THREAD_FIELDS),
    shape(class::THREAD, "End", 2, F::THREAD, THREAD_FIELDS),
    shape(class::IMAGE, "Load", 10, F::IMAGE_LOAD, IMAGE_FIELDS),
    shape(class::IMAGE, "DCStart", 3, F::IMAGE_LOAD, IMAGE_FIELDS),
    shape(class::TCPIP, "Connect", 12, F::NETWORK_TCPIP, TCP4),
    shape(class::TCPIP, "Disconnect", 13, F::NETWORK_TCPIP, TCP4),
    shape(class::TCPIP, "Retransmit", 14, F::NETWORK_TCPIP, TCP4),
    shape(class::TCPIP, "Accept", 15, F::NETWORK_TCPIP, TCP4),
    shape(class::TCPIP, "StateChange", 64, F::NETWORK_TCPIP, TCP4),
    shape(class::TCPIP, "ConnectIPV6", 28, F::NETWORK_TCPIP, TCP6),
    shape(class::TCPIP, "DisconnectIPV6", 29, F::NETWORK_TCPIP, TCP6),
    shape(class::TCPIP, "RetransmitIPV6", 30, F::NETWORK_TCPIP, TCP6),
    shape(class::TCPIP, "AcceptIPV6", 31, F::NETWORK_TCPIP, TCP6),
    shape(class::TCPIP, "StateChangeIPV6", 80, F::NETWORK_TCPIP, TCP6),
    shape(class::DISK_IO, "Read", 10, F::DISK_IO, DISK),
    shape(
        class::THREAD,
        "CSwitch",
        36,
        F::CSWITCH,
        fields![
            "NewThreadId": TID, "OldThreadId": TID, "NewThreadPriority": I32,
            "OldThreadPriority": I32, "OldThreadState": HEX,
        ],
    ),
    shape(class::PAGE_FAULT, "Fault", 10, F::MEMORY_PAGE_FAULTS, FAULT),
    shape(
        class::PAGE_FAULT,
        "HardFault",
        32,
        F::MEMORY_HARD_FAULTS,
        FAULT,
    ),
    shape(
        class::PERF_INFO,
        "SysClEnter",
        51,
        F::SYSTEMCALL,
        fields![
            "SysCallNumber": I64,
        ],
    ),
    shape(
        class::PERF_INFO,
        "SysClExit",
        52,
        F::SYSTEMCALL,
        fields![
            "SysCallNumber": I64, "SysCallResult": I64,
        ],
    ),
    shape(
        class::PERF_INFO,
        "SampledProfile",
        46,
        F::PROFILE,
        fields![
            "InstructionPointer": HEX,
        ],
    ),
    shape(class::DISK_IO, "Write", 11, F::DISK_IO, DISK),
    shape(class::DISK_IO, "FlushBuffers", 14, F::DISK_IO, DISK),
    shape(class::DISK_IO, "ReadInit", 12, F::DISK_IO_INIT, DISK_INIT),
    shape(class::DISK_IO, "WriteInit", 13, F::DISK_IO_INIT, DISK_INIT),
    shape(class::DISK_IO, "FlushInit", 15, F::DISK_IO_INIT, DISK_INIT),
];

fn tcp_index(kind: TcpKind, v6: bool) -> usize {
    let base = match kind {
        TcpKind::Connect => 9,
        TcpKind::Disconnect => 10,
        TcpKind::Retransmit => 11,
        TcpKind::Accept => 12,
        TcpKind::StateChange => 13,
    };
    if v6 {
        base + 5
    } else {
        base
    }
}

fn index_of(e: &KernelEvent) -> usize {
    match e {
        KernelEvent::ProcessStart { rundown: false, .. } => 0,
        KernelEvent::ProcessStart { rundown: true, .. } => 1,
        KernelEvent::ProcessExec { .. } => 2,
        KernelEvent::ProcessEnd { .. } => 3,
        KernelEvent::ThreadStart { rundown: false, .. } => 4,
        KernelEvent::ThreadStart { rundown: true, .. } => 5,
        KernelEvent::ThreadEnd { .. } => 6,
        KernelEvent::ImageLoad { rundown: false, .. } => 7,
        KernelEvent::ImageLoad { rundown: true, .. } => 8,
        KernelEvent::Tcp { kind, saddr, .. } => tcp_index(*kind, saddr.is_ipv6()),
        KernelEvent::DiskIo { init, op, .. } => match (init, op) {
            (false, b'R') => 19,
            (false, b'F') => 27,
            (false, _) => 26,
            (true, b'R') => 28,
            (true, b'F') => 30,
            (true, _) => 29,
        },
        KernelEvent::CSwitch { .. } => 20,
        KernelEvent::PageFault { hard: false, .. } => 21,
        KernelEvent::PageFault { hard: true, .. } => 22,
        KernelEvent::SysCallEnter { .. } => 23,
        KernelEvent::SysCallExit { .. } => 24,
        KernelEvent::Sample { .. } => 25,
    }
}

/// A shape made ready to write: its GUID, descriptor and extended items.
pub(crate) struct Prepared {
    pub(crate) provider_id: Guid,
    pub(crate) descriptor: EventDescriptor,
    pub(crate) ext: Vec<u8>,
}

fn prepare(s: &Shape) -> Prepared {
    let mut schema = EventSchemaBuilder::new(s.name);
    for &(name, i, o) in s.fields {
        schema = schema.field(name, i, o);
    }
    Prepared {
        provider_id: s.class.0.parse().expect("a kernel class GUID"),
        descriptor: EventDescriptor {
            id: 0,
            version: 0,
            channel: 11,
            level: 4,
            opcode: s.opcode,
            task: 0,
            keyword: s.flag.bits() as u64,
        },
        ext: tracelogging_extended_items(&provider_traits(s.class.1), &schema.build()),
    }
}

/// The prepared form of the record for `e`, made once per shape.
pub(crate) fn prepared(e: &KernelEvent) -> &'static Prepared {
    static READY: OnceLock<Vec<Prepared>> = OnceLock::new();
    let ready = READY.get_or_init(|| SHAPES.iter().map(prepare).collect());
    &ready[index_of(e)]
}

/// Appends field values in a schema's order.
struct Payload<'a>(&'a mut Vec<u8>);

impl Payload<'_> {
    fn u8(&mut self, v: u8) -> &mut Self {
        self.0.push(v);
        self
    }
    fn u32(&mut self, v: u32) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn u64(&mut self, v: u64) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn text(&mut self, s: &str) -> &mut Self {
        // Every text comes NUL-free: the kernel's strings end at their NUL, and command lines
        // have theirs turned into spaces when read (`cmdline_text`).
        debug_assert!(!s.contains('\0'), "{s:?}");
        self.0.extend_from_slice(s.as_bytes());
        self.0.push(0);
        self
    }
    fn port(&mut self, p: u16) -> &mut Self {
        self.0.extend_from_slice(&p.to_be_bytes());
        self
    }
    fn ip(&mut self, a: IpAddr) -> &mut Self {
        match a {
            IpAddr::V4(v4) => self.0.extend_from_slice(&v4.octets()),
            IpAddr::V6(v6) => {
                self.0.extend_from_slice(&16u16.to_le_bytes());
                self.0.extend_from_slice(&v6.octets());
            }
        }
        self
    }
}

/// The payload of `e`'s record.
#[cfg(test)]
pub(crate) fn payload(e: &KernelEvent) -> Vec<u8> {
    let mut out = Vec::new();
    payload_into(e, &mut out);
    out
}

/// Writes the payload of `e`'s record into `out` (cleared first; its room is reused).
pub(crate) fn payload_into(e: &KernelEvent, out: &mut Vec<u8>) {
    out.clear();
    let mut p = Payload(out);
    match e {
        KernelEvent::ProcessStart {
            pid,
            parent,
            image,
            command_line,
            ..
        } => {
            p.u32(*pid).u32(*parent).text(image).text(command_line);
        }
        KernelEvent::ProcessExec {
            pid,
            image,
            command_line,
        } => {
            p.u32(*pid).text(image).text(command_line);
        }
        KernelEvent::ProcessEnd {
            pid,
            parent,
            exit_code,
            signal,
        } => {
            p.u32(*pid).u32(*parent).u32(*exit_code as u32).u32(*signal);
        }
        KernelEvent::ThreadStart { pid, tid, .. } | KernelEvent::ThreadEnd { pid, tid } => {
            p.u32(*pid).u32(*tid);
        }
        KernelEvent::ImageLoad {
            pid,
            base,
            size,
            file_offset,
            file_name,
            ..
        } => {
            p.u64(*base)
                .u64(*size)
                .u32(*pid)
                .u64(*file_offset)
                .text(file_name);
        }
        KernelEvent::Tcp {
            pid,
            saddr,
            daddr,
            sport,
            dport,
            old_state,
            new_state,
            ..
        } => {
            p.u32(*pid)
                .ip(*daddr)
                .ip(*saddr)
                .port(*dport)
                .port(*sport)
                .u8(*old_state)
                .u8(*new_state);
        }
        KernelEvent::DiskIo {
            init,
            op,
            disk,
            byte_offset,
            size,
            issuing_pid,
            issuing_tid,
            response_ns,
            error,
        } => {
            p.u32(*disk)
                .u64(*byte_offset)
                .u32(*size)
                .u32(*issuing_pid)
                .u32(*issuing_tid);
            if !init {
                p.u64(*response_ns).u32(*error as u32);
            }
            p.u8(*op);
        }
        KernelEvent::CSwitch {
            old_tid,
            new_tid,
            old_priority,
            new_priority,
            old_state,
        } => {
            p.u32(*new_tid)
                .u32(*old_tid)
                .u32(*new_priority as u32)
                .u32(*old_priority as u32)
                .u64(*old_state);
        }
        KernelEvent::PageFault { address, ip, .. } => {
            p.u64(*address).u64(*ip);
        }
        KernelEvent::SysCallEnter { number } => {
            p.u64(*number as u64);
        }
        KernelEvent::SysCallExit { number, result } => {
            p.u64(*number as u64).u64(*result as u64);
        }
        KernelEvent::Sample { ip } => {
            p.u64(*ip);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::etl::tracelogging::decode_event;
    use crate::etl::{write_event_record, EventHeaderFields, EventRecord, Value};
    use std::net::Ipv4Addr;

    /// Writes `e` as a record, reads it back and decodes it through its own schema.
    fn roundtrip(e: &KernelEvent) -> (String, String, Vec<(String, Value)>) {
        let p = prepared(e);
        let h = EventHeaderFields {
            provider_id: p.provider_id,
            descriptor: p.descriptor,
            ..Default::default()
        };
        let mut buf = vec![0u8; 4096];
        write_event_record(&mut buf, &h, &p.ext, &[&payload(e)]);
        // The record without its alignment padding, as EVENT_HEADER.Size gives it.
        let size = u16::from_le_bytes([buf[0], buf[1]]) as usize;
        let rec = EventRecord::parse(&buf[..size], 0).expect("parses");
        let ev = decode_event(&rec, 0)
            .expect("has a schema")
            .expect("decodes");
        assert!(
            ev.decoded.error.is_none() && ev.decoded.trailing == 0,
            "{:?} {:?}",
            ev.decoded,
            ev.schema.name
        );
        (ev.provider.unwrap().name, ev.schema.name, ev.decoded.fields)
    }

    fn get(fields: &[(String, Value)], n: &str) -> Value {
        fields
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no field {n}"))
    }

    #[test]
    fn each_event_decodes_to_its_fields() {
        let tcp = KernelEvent::Tcp {
            kind: TcpKind::Connect,
            pid: 42,
            saddr: IpAddr::V4(Ipv4Addr::LOCALHOST),
            daddr: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
            sport: 50000,
            dport: 80,
            old_state: 2,
            new_state: 1,
        };
        let p = prepared(&tcp);
        assert_eq!(p.descriptor.opcode, 12);
        assert_eq!(
            p.descriptor.keyword,
            KernelFlags::NETWORK_TCPIP.bits() as u64
        );
        let (provider, name, f) = roundtrip(&tcp);
        assert_eq!((provider.as_str(), name.as_str()), ("TcpIp", "Connect"));
        assert_eq!(get(&f, "PID"), Value::U64(42));
        assert_eq!(
            get(&f, "daddr"),
            Value::Ip(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)))
        );
        assert_eq!(get(&f, "saddr"), Value::Ip(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        assert_eq!(get(&f, "dport"), Value::U64(80));
        assert_eq!(get(&f, "sport"), Value::U64(50000));

        let v6 = KernelEvent::Tcp {
            kind: TcpKind::Connect,
            pid: 42,
            saddr: IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
            daddr: IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
            sport: 50000,
            dport: 80,
            old_state: 2,
            new_state: 1,
        };
        assert_eq!(prepared(&v6).descriptor.opcode, 28);
        let (_, _, f) = roundtrip(&v6);
        assert_eq!(
            get(&f, "daddr"),
            Value::Ip(IpAddr::V6(std::net::Ipv6Addr::LOCALHOST))
        );

        let start = KernelEvent::ProcessStart {
            pid: 7,
            parent: 1,
            image: "/bin/true".into(),
            command_line: "true x".into(),
            rundown: false,
        };
        let (provider, name, f) = roundtrip(&start);
        assert_eq!((provider.as_str(), name.as_str()), ("Process", "Start"));
        assert_eq!(get(&f, "ImageFileName"), Value::Str("/bin/true".into()));
        assert_eq!(get(&f, "CommandLine"), Value::Str("true x".into()));

        let end = KernelEvent::ProcessEnd {
            pid: 7,
            parent: 1,
            exit_code: -1,
            signal: 9,
        };
        let (_, _, f) = roundtrip(&end);
        assert_eq!(get(&f, "ExitStatus"), Value::I64(-1));
        assert_eq!(get(&f, "TerminationSignal"), Value::U64(9));
    }

    #[test]
    fn every_shape_has_a_schema_that_matches_its_payload() {
        let events = [
            KernelEvent::ProcessExec {
                pid: 1,
                image: "a".into(),
                command_line: "a b".into(),
            },
            KernelEvent::ThreadStart {
                pid: 1,
                tid: 2,
                rundown: true,
            },
            KernelEvent::ThreadEnd { pid: 1, tid: 2 },
            KernelEvent::ImageLoad {
                pid: 1,
                base: 0x1000,
                size: 0x2000,
                file_offset: 0,
                file_name: "/lib/x.so".into(),
                rundown: false,
            },
            KernelEvent::DiskIo {
                init: false,
                op: b'W',
                disk: 0xfe00000,
                byte_offset: 4096,
                size: 512,
                issuing_pid: 3,
                issuing_tid: 4,
                response_ns: 100,
                error: 0,
            },
            KernelEvent::DiskIo {
                init: true,
                op: b'F',
                disk: 0xfe00000,
                byte_offset: 0,
                size: 0,
                issuing_pid: 3,
                issuing_tid: 4,
                response_ns: 0,
                error: 0,
            },
            KernelEvent::CSwitch {
                old_tid: 1,
                new_tid: 2,
                old_priority: 120,
                new_priority: 100,
                old_state: 1,
            },
            KernelEvent::PageFault {
                hard: true,
                address: 0x10,
                ip: 0x20,
            },
            KernelEvent::SysCallEnter { number: 1 },
            KernelEvent::SysCallExit {
                number: 1,
                result: -2,
            },
            KernelEvent::Sample { ip: 0x30 },
        ];
        for e in &events {
            let (_, name, f) = roundtrip(e);
            assert_eq!(f.len(), SHAPES[index_of(e)].fields.len(), "{name}");
        }
        assert_eq!(roundtrip(&events[4]).1, "Write");
        assert_eq!(roundtrip(&events[5]).1, "FlushInit");
        assert_eq!(roundtrip(&events[10]).1, "SampledProfile");
        assert_eq!(
            get(&roundtrip(&events[9]).2, "SysCallResult"),
            Value::I64(-2)
        );
    }
}
