//! Sizes, offsets and marker values of the on-disk structures, and bounds-checked little-endian
//! access used by every decoder.

use super::FormatError;

/// Size of `WMI_BUFFER_HEADER`, the header at the start of every buffer.
pub const BUFFER_HEADER_SIZE: usize = 0x48;
/// Size of the x64 `EVENT_HEADER` record header (extended items and payload follow).
pub const EVENT_HEADER_SIZE: usize = 0x50;
/// Size of the x64 `SYSTEM_TRACE_HEADER` (system records, e.g. the log-file header event).
pub const SYSTEM_HEADER_SIZE: usize = 0x20;
/// Size of the compact system header (a system header without kernel/user times).
pub const COMPACT_HEADER_SIZE: usize = 0x18;
/// Size of the perfinfo header (marker, packet, timestamp).
pub const PERFINFO_HEADER_SIZE: usize = 0x10;
/// Size of the classic `EVENT_TRACE_HEADER` (the "full" header).
pub const FULL_HEADER_SIZE: usize = 0x30;
/// Size of a classic instance record's header in files: `EVENT_INSTANCE_GUID_HEADER` (the
/// class GUID at 0x18, instance and parent instance ids at 0x30, the parent's GUID at 0x38), which
/// is what the logger writes for an `EVENT_INSTANCE_HEADER` event.
pub const INSTANCE_HEADER_SIZE: usize = 0x48;
/// Size of the TraceMessage record header (before the optional fields).
pub const MESSAGE_HEADER_SIZE: usize = 8;
/// Size of the x64 `TRACE_LOGFILE_HEADER`, without the two names that follow it.
pub const LOGFILE_HEADER_SIZE: usize = 0x118;
/// Size of an extended-data item header (size, type, linkage, data size).
pub const EXT_ITEM_HEADER_SIZE: usize = 8;

/// Byte 2 of a record's marker: which header the record starts with.
pub mod header_type {
    /// 32-bit system header.
    pub const SYSTEM32: u8 = 0x01;
    /// 64-bit system header.
    pub const SYSTEM64: u8 = 0x02;
    /// 32-bit compact system header.
    pub const COMPACT32: u8 = 0x03;
    /// 64-bit compact system header.
    pub const COMPACT64: u8 = 0x04;
    /// 32-bit classic full header (`EVENT_TRACE_HEADER`).
    pub const FULL32: u8 = 0x0A;
    /// 32-bit classic instance header.
    pub const INSTANCE32: u8 = 0x0B;
    /// 32-bit perfinfo header.
    pub const PERFINFO32: u8 = 0x10;
    /// 64-bit perfinfo header.
    pub const PERFINFO64: u8 = 0x11;
    /// 32-bit `EVENT_HEADER`.
    pub const EVENT32: u8 = 0x12;
    /// 64-bit `EVENT_HEADER`.
    pub const EVENT64: u8 = 0x13;
    /// 64-bit classic full header (`EVENT_TRACE_HEADER`).
    pub const FULL64: u8 = 0x14;
    /// 64-bit classic instance header.
    pub const INSTANCE64: u8 = 0x15;
}

/// Byte 3 of a record's marker for all records but TraceMessage: `TRACE_HEADER_FLAG` |
/// `TRACE_HEADER_EVENT_TRACE`.
pub const MARKER_FLAGS: u8 = 0xC0;
/// Byte 3 of a TraceMessage record's marker: `TRACE_HEADER_FLAG` | `TRACE_MESSAGE`.
pub const MESSAGE_MARKER: u8 = 0x90;

/// `TRACE_LOGFILE_HEADER.Version` as Windows 10 writes it (major 10, minor 0, sub 1, subminor 5).
pub const LOGFILE_VERSION: u32 = 0x0501_000A;

/// Offsets inside the x64 `TRACE_LOGFILE_HEADER` (relative to its start, after the system header).
/// A 32-bit file's name pointer slots are 4 bytes each, so from `TIME_ZONE` on its offsets are
/// 8 less.
pub mod logfile {
    /// `BufferSize` u32, bytes.
    pub const BUFFER_SIZE: usize = 0x00;
    /// `Version` u32.
    pub const VERSION: usize = 0x04;
    /// `ProviderVersion` u32 (the OS build number on Windows).
    pub const PROVIDER_VERSION: usize = 0x08;
    /// `NumberOfProcessors` u32.
    pub const NUMBER_OF_PROCESSORS: usize = 0x0C;
    /// `EndTime` i64, FILETIME.
    pub const END_TIME: usize = 0x10;
    /// `TimerResolution` u32, 100 ns units.
    pub const TIMER_RESOLUTION: usize = 0x18;
    /// `MaximumFileSize` u32, MB.
    pub const MAXIMUM_FILE_SIZE: usize = 0x1C;
    /// `LogFileMode` u32.
    pub const LOG_FILE_MODE: usize = 0x20;
    /// `BuffersWritten` u32 (the header buffer included).
    pub const BUFFERS_WRITTEN: usize = 0x24;
    /// `StartBuffers` u32.
    pub const START_BUFFERS: usize = 0x28;
    /// `PointerSize` u32.
    pub const POINTER_SIZE: usize = 0x2C;
    /// `EventsLost` u32.
    pub const EVENTS_LOST: usize = 0x30;
    /// `CpuSpeedInMHz` u32.
    pub const CPU_SPEED: usize = 0x34;
    /// `LoggerName` pointer slot (8 bytes; not a pointer in files).
    pub const LOGGER_NAME_PTR: usize = 0x38;
    /// `LogFileName` pointer slot (8 bytes).
    pub const LOG_FILE_NAME_PTR: usize = 0x40;
    /// `TimeZone` (`TIME_ZONE_INFORMATION`, 172 bytes; `Bias` i32 first).
    pub const TIME_ZONE: usize = 0x48;
    /// `BootTime` i64, FILETIME (after 4 bytes of padding that follow the time zone).
    pub const BOOT_TIME: usize = 0xF8;
    /// `PerfFreq` i64, ticks per second of the raw timestamps.
    pub const PERF_FREQ: usize = 0x100;
    /// `StartTime` i64, FILETIME of the header event's timestamp.
    pub const START_TIME: usize = 0x108;
    /// `ReservedFlags` u32: the clock type.
    pub const RESERVED_FLAGS: usize = 0x110;
    /// `BuffersLost` u32.
    pub const BUFFERS_LOST: usize = 0x114;
}

/// Rounds `n` up to a multiple of 8 (records and extended items are 8-byte aligned).
pub const fn align8(n: usize) -> usize {
    (n + 7) & !7
}

/// Bounds-checked little-endian reads over a byte slice, reporting positions relative to a base
/// file offset. Every read returns a [`FormatError`] instead of panicking.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Bytes<'a> {
    pub data: &'a [u8],
    /// File offset of `data[0]`, for error messages.
    pub base: u64,
}

impl<'a> Bytes<'a> {
    pub fn new(data: &'a [u8], base: u64) -> Self {
        Bytes { data, base }
    }

    pub fn len(&self) -> usize {
        self.data.len()
    }

    pub fn err(&self, at: usize, what: impl Into<String>) -> FormatError {
        FormatError::new(self.base.saturating_add(at as u64), what)
    }

    pub fn slice(&self, at: usize, len: usize, what: &str) -> Result<&'a [u8], FormatError> {
        match at.checked_add(len) {
            Some(end) if end <= self.data.len() => Ok(&self.data[at..end]),
            _ => Err(self.err(
                at,
                format!(
                    "{what}: needs {len} bytes, only {} left",
                    self.data.len().saturating_sub(at)
                ),
            )),
        }
    }

    pub fn sub(&self, at: usize, len: usize, what: &str) -> Result<Bytes<'a>, FormatError> {
        Ok(Bytes::new(
            self.slice(at, len, what)?,
            self.base.saturating_add(at as u64),
        ))
    }

    pub fn array<const N: usize>(&self, at: usize, what: &str) -> Result<[u8; N], FormatError> {
        let s = self.slice(at, N, what)?;
        let mut out = [0u8; N];
        out.copy_from_slice(s);
        Ok(out)
    }

    pub fn u8(&self, at: usize, what: &str) -> Result<u8, FormatError> {
        Ok(self.array::<1>(at, what)?[0])
    }

    pub fn u16(&self, at: usize, what: &str) -> Result<u16, FormatError> {
        Ok(u16::from_le_bytes(self.array(at, what)?))
    }

    pub fn u32(&self, at: usize, what: &str) -> Result<u32, FormatError> {
        Ok(u32::from_le_bytes(self.array(at, what)?))
    }

    pub fn i32(&self, at: usize, what: &str) -> Result<i32, FormatError> {
        Ok(i32::from_le_bytes(self.array(at, what)?))
    }

    pub fn u64(&self, at: usize, what: &str) -> Result<u64, FormatError> {
        Ok(u64::from_le_bytes(self.array(at, what)?))
    }

    pub fn i64(&self, at: usize, what: &str) -> Result<i64, FormatError> {
        Ok(i64::from_le_bytes(self.array(at, what)?))
    }

    pub fn guid(&self, at: usize, what: &str) -> Result<crate::Guid, FormatError> {
        Ok(crate::Guid::from_bytes(self.array(at, what)?))
    }
}

/// Little-endian stores at fixed offsets; callers size the destination first.
#[inline(always)]
pub(crate) fn put_u16(buf: &mut [u8], at: usize, v: u16) {
    buf[at..at + 2].copy_from_slice(&v.to_le_bytes());
}

#[inline(always)]
pub(crate) fn put_u32(buf: &mut [u8], at: usize, v: u32) {
    buf[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

#[inline(always)]
pub(crate) fn put_u64(buf: &mut [u8], at: usize, v: u64) {
    buf[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

#[inline(always)]
pub(crate) fn put_i64(buf: &mut [u8], at: usize, v: i64) {
    buf[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn align8_rounds_up() {
        assert_eq!(align8(0), 0);
        assert_eq!(align8(1), 8);
        assert_eq!(align8(8), 8);
        assert_eq!(align8(0x176), 0x178);
    }

    #[test]
    fn reads_are_bounds_checked() {
        let b = Bytes::new(&[1, 2, 3], 0x100);
        assert_eq!(b.u16(1, "x").unwrap(), 0x0302);
        let e = b.u32(1, "field").unwrap_err();
        assert_eq!(e.offset, 0x101);
        assert!(e.to_string().contains("field"), "{e}");
        assert!(b.slice(usize::MAX, 2, "y").is_err());
    }
}
