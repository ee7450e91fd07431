//! The header buffer and its log-file header event (`TRACE_LOGFILE_HEADER`), and the conversion
//! of raw timestamps to wall-clock time that it makes possible.

use super::buffer::{buffer_flags, buffer_type, fill_tail, BufferHeader};
use super::layout::{
    align8, header_type, logfile as off, put_i64, put_u16, put_u32, Bytes, BUFFER_HEADER_SIZE,
    LOGFILE_HEADER_SIZE, LOGFILE_VERSION, MARKER_FLAGS, SYSTEM_HEADER_SIZE,
};
use super::time::FILETIME_UNIX_EPOCH;
use super::FormatError;

/// `ReservedFlags` values: which clock the raw timestamps come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClockType {
    /// 1: performance counter; on Linux CLOCK_MONOTONIC in ns (`PerfFreq` 1e9).
    PerfCounter,
    /// 2: system time; raw timestamps are FILETIMEs (100 ns units since 1601).
    SystemTime,
    /// 3: CPU cycle counter (TSC) at a calibrated frequency.
    CpuCycle,
    /// Any other value, kept as found.
    Other(u32),
}

impl ClockType {
    /// The `ReservedFlags` value.
    pub fn as_u32(self) -> u32 {
        match self {
            ClockType::PerfCounter => 1,
            ClockType::SystemTime => 2,
            ClockType::CpuCycle => 3,
            ClockType::Other(v) => v,
        }
    }

    /// From a `ReservedFlags` value.
    pub fn from_u32(v: u32) -> ClockType {
        match v {
            1 => ClockType::PerfCounter,
            2 => ClockType::SystemTime,
            3 => ClockType::CpuCycle,
            v => ClockType::Other(v),
        }
    }
}

/// Everything of `TRACE_LOGFILE_HEADER` (and its system record) that evtrace writes and reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogfileHeader {
    /// Buffer size in bytes.
    pub buffer_size: u32,
    /// `Version`; [`LOGFILE_VERSION`] by default.
    pub version: u32,
    /// `ProviderVersion` (the OS build on Windows).
    pub provider_version: u32,
    /// Number of processors of the machine that wrote the file.
    pub number_of_processors: u32,
    /// FILETIME when the session stopped (or of the last flush).
    pub end_time: i64,
    /// Clock resolution in 100 ns units.
    pub timer_resolution: u32,
    /// Maximum file size (MB, or KB with `EVENT_TRACE_USE_KBYTES_FOR_SIZE`).
    pub maximum_file_size: u32,
    /// `LogFileMode` flags of the session.
    pub log_file_mode: u32,
    /// Buffers written, the header buffer included (rewritten ones too in circular mode).
    pub buffers_written: u32,
    /// `StartBuffers` (1 in files seen).
    pub start_buffers: u32,
    /// Pointer size of the writer: 8.
    pub pointer_size: u32,
    /// Events lost because no buffer was free.
    pub events_lost: u32,
    /// CPU speed in MHz.
    pub cpu_speed_mhz: u32,
    /// `TimeZone.Bias` in minutes (UTC = local + bias); the rest of the time zone is left zero.
    pub time_zone_bias: i32,
    /// FILETIME of the machine's boot.
    pub boot_time: i64,
    /// Frequency of the raw clock in ticks per second.
    pub perf_freq: i64,
    /// FILETIME of the session start, the wall-clock time of `start_timestamp`.
    pub start_time: i64,
    /// Raw clock value at the start; stored as the header event's own timestamp.
    pub start_timestamp: i64,
    /// `ReservedFlags`: the clock type (1, 2 or 3, see [`ClockType`]).
    pub clock_type: u32,
    /// Buffers lost (write failures).
    pub buffers_lost: u32,
    /// Session (logger) name.
    pub logger_name: String,
    /// Log file name as given to the session.
    pub log_file_name: String,
    /// Logger id written into the header buffer.
    pub logger_id: u16,
    /// Thread id of the header event.
    pub thread_id: u32,
    /// Process id of the header event.
    pub process_id: u32,
}

impl Default for LogfileHeader {
    fn default() -> Self {
        LogfileHeader {
            buffer_size: 64 * 1024,
            version: LOGFILE_VERSION,
            provider_version: 0,
            number_of_processors: 1,
            end_time: 0,
            timer_resolution: 1,
            maximum_file_size: 0,
            log_file_mode: 0,
            buffers_written: 1,
            start_buffers: 1,
            pointer_size: 8,
            events_lost: 0,
            cpu_speed_mhz: 0,
            time_zone_bias: 0,
            boot_time: 0,
            perf_freq: 1_000_000_000,
            start_time: 0,
            start_timestamp: 0,
            clock_type: 1,
            buffers_lost: 0,
            logger_name: String::new(),
            log_file_name: String::new(),
            logger_id: 0,
            thread_id: 0,
            process_id: 0,
        }
    }
}

impl LogfileHeader {
    /// The clock type as an enum.
    pub fn clock(&self) -> ClockType {
        ClockType::from_u32(self.clock_type)
    }

    /// Ticks per second of the raw timestamps, or `None` when the header gives none.
    ///
    /// Clock type 3 (CPU cycles): Windows writes the performance-counter frequency into
    /// `PerfFreq` and the cycle rate only as `CpuSpeedInMHz`; evtrace writes the calibrated cycle
    /// rate into both. So `PerfFreq` is used when it agrees with `CpuSpeedInMHz` within 1 % (an
    /// exact rate), `CpuSpeedInMHz` otherwise.
    pub fn ticks_per_second(&self) -> Option<i64> {
        match self.clock() {
            ClockType::SystemTime => Some(10_000_000),
            ClockType::CpuCycle => {
                let mhz = i64::from(self.cpu_speed_mhz) * 1_000_000;
                if mhz == 0 {
                    (self.perf_freq > 0).then_some(self.perf_freq)
                } else if self
                    .perf_freq
                    .checked_sub(mhz)
                    .is_some_and(|d| d.unsigned_abs() <= (mhz / 100) as u64)
                {
                    Some(self.perf_freq)
                } else {
                    Some(mhz)
                }
            }
            _ => (self.perf_freq > 0).then_some(self.perf_freq),
        }
    }

    /// Converts a raw event timestamp to nanoseconds since the Unix epoch (UTC).
    ///
    /// System time (clock 2): the raw value is a FILETIME. Other clocks: `StartTime` plus the
    /// ticks elapsed since `start_timestamp` at [`ticks_per_second`](Self::ticks_per_second).
    /// `None` when the header has no usable frequency or the result overflows.
    pub fn to_unix_nanos(&self, raw: i64) -> Option<i64> {
        let ft_ns = |ft: i64| (i128::from(ft) - i128::from(FILETIME_UNIX_EPOCH)) * 100;
        let ns = if self.clock() == ClockType::SystemTime {
            ft_ns(raw)
        } else {
            let f = i128::from(self.ticks_per_second()?);
            let dt = i128::from(raw) - i128::from(self.start_timestamp);
            ft_ns(self.start_time) + dt * 1_000_000_000 / f
        };
        i64::try_from(ns).ok()
    }

    /// Converts a raw event timestamp to a FILETIME (100 ns units since 1601, UTC).
    pub fn to_filetime(&self, raw: i64) -> Option<i64> {
        let ns = self.to_unix_nanos(raw)?;
        ns.div_euclid(100).checked_add(FILETIME_UNIX_EPOCH)
    }
}

fn utf16z(s: &str, max_units: usize) -> Vec<u8> {
    let mut out: Vec<u8> = s
        .encode_utf16()
        .take(max_units)
        .flat_map(u16::to_le_bytes)
        .collect();
    out.extend_from_slice(&[0, 0]);
    out
}

/// Writes a complete header buffer of `buf.len()` bytes: buffer header (type 4, flags 0x21,
/// sequence 0, processor 0), the log-file header system record (x64: 0x20-byte system header
/// with version 2 and HookId 0, `TRACE_LOGFILE_HEADER` of 0x118 bytes, the logger name and the
/// file name as NUL-terminated UTF-16), then the `0xFF` tail. `buf.len()` is taken as the
/// buffer size in the buffer header; the names are shortened if they would not fit.
///
/// Panics if `buf` is shorter than 0x48 + 0x138 + 4 bytes (no buffer is: the minimum is 4 KB).
pub fn write_header_buffer(buf: &mut [u8], h: &LogfileHeader) {
    let fixed = SYSTEM_HEADER_SIZE + LOGFILE_HEADER_SIZE;
    assert!(
        buf.len() >= BUFFER_HEADER_SIZE + fixed + 4,
        "header buffer of {} bytes is too small",
        buf.len()
    );
    // Room for the names: the record must fit the buffer and its u16 size.
    let room = (buf.len() - BUFFER_HEADER_SIZE).min(0xFFF8) - fixed;
    // Each name gets at most half the room, terminator included.
    let logger = utf16z(&h.logger_name, room / 4 - 1);
    let file = utf16z(&h.log_file_name, room / 4 - 1);
    let rec_size = fixed + logger.len() + file.len();
    let used = BUFFER_HEADER_SIZE + align8(rec_size);

    buf[..used].fill(0);
    BufferHeader {
        buffer_size: buf.len() as u32,
        saved_offset: used as u32,
        timestamp: 0,
        sequence_number: 0,
        processor_index: 0,
        logger_id: h.logger_id,
        flags: buffer_flags::FLUSH_MARKER | buffer_flags::PROCESSOR_INDEX,
        buffer_type: buffer_type::HEADER,
    }
    .write_to(buf);

    let r = &mut buf[BUFFER_HEADER_SIZE..used];
    put_u16(r, 0, 2); // system header version
    r[2] = header_type::SYSTEM64;
    r[3] = MARKER_FLAGS;
    put_u16(r, 4, rec_size as u16);
    put_u16(r, 6, 0); // HookId 0: EventTrace header
    put_u32(r, 8, h.thread_id);
    put_u32(r, 12, h.process_id);
    put_i64(r, 16, h.start_timestamp);

    let t = &mut r[SYSTEM_HEADER_SIZE..];
    put_u32(t, off::BUFFER_SIZE, h.buffer_size);
    put_u32(t, off::VERSION, h.version);
    put_u32(t, off::PROVIDER_VERSION, h.provider_version);
    put_u32(t, off::NUMBER_OF_PROCESSORS, h.number_of_processors);
    put_i64(t, off::END_TIME, h.end_time);
    put_u32(t, off::TIMER_RESOLUTION, h.timer_resolution);
    put_u32(t, off::MAXIMUM_FILE_SIZE, h.maximum_file_size);
    put_u32(t, off::LOG_FILE_MODE, h.log_file_mode);
    put_u32(t, off::BUFFERS_WRITTEN, h.buffers_written);
    put_u32(t, off::START_BUFFERS, h.start_buffers);
    put_u32(t, off::POINTER_SIZE, h.pointer_size);
    put_u32(t, off::EVENTS_LOST, h.events_lost);
    put_u32(t, off::CPU_SPEED, h.cpu_speed_mhz);
    put_u32(t, off::TIME_ZONE, h.time_zone_bias as u32);
    put_i64(t, off::BOOT_TIME, h.boot_time);
    put_i64(t, off::PERF_FREQ, h.perf_freq);
    put_i64(t, off::START_TIME, h.start_time);
    put_u32(t, off::RESERVED_FLAGS, h.clock_type);
    put_u32(t, off::BUFFERS_LOST, h.buffers_lost);
    let names = &mut t[LOGFILE_HEADER_SIZE..];
    names[..logger.len()].copy_from_slice(&logger);
    names[logger.len()..logger.len() + file.len()].copy_from_slice(&file);

    fill_tail(buf, used);
}

/// Reads a NUL-terminated UTF-16 string from the start of `b`; returns it and the bytes used.
fn read_utf16z(b: &[u8]) -> (String, usize) {
    let units: Vec<u16> = b
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .take_while(|&u| u != 0)
        .collect();
    let used = (units.len() * 2 + 2).min(b.len());
    (String::from_utf16_lossy(&units), used)
}

/// Parses the header buffer (the first buffer of a file): its buffer header and the log-file
/// header event that must be its first record.
pub fn parse_header_buffer(buf: &[u8]) -> Result<LogfileHeader, FormatError> {
    let bh = BufferHeader::parse(buf)?;
    let b = Bytes::new(buf, 0);
    let at = BUFFER_HEADER_SIZE;
    let kind = b.u8(at + 2, "header record type")?;
    let marker = b.u8(at + 3, "header record marker")?;
    if marker & 0xC0 != 0xC0 || kind != header_type::SYSTEM64 && kind != header_type::SYSTEM32 {
        return Err(b.err(
            at,
            format!("first record is not a system record (type {kind:#04x}, marker {marker:#04x})"),
        ));
    }
    let size = usize::from(b.u16(at + 4, "header record size")?);
    let hook = b.u16(at + 6, "header record HookId")?;
    if hook != 0 {
        return Err(b.err(
            at + 6,
            format!("first record has HookId {hook:#06x}, not the log-file header (0)"),
        ));
    }
    // A 32-bit file (header type SYSTEM32, PointerSize 4) has 4-byte name pointer slots, so
    // everything from TimeZone on sits 8 bytes earlier.
    let narrow = if kind == header_type::SYSTEM32 { 8 } else { 0 };
    let tail = |o: usize| o - narrow;
    if size < SYSTEM_HEADER_SIZE + LOGFILE_HEADER_SIZE - narrow {
        return Err(b.err(
            at + 4,
            format!("log-file header record of {size:#x} bytes is too short"),
        ));
    }
    let rec = b.sub(at, size, "log-file header record")?;
    let t = rec.sub(
        SYSTEM_HEADER_SIZE,
        size - SYSTEM_HEADER_SIZE,
        "TRACE_LOGFILE_HEADER",
    )?;
    let names = &t.data[LOGFILE_HEADER_SIZE - narrow..];
    let (logger_name, used) = read_utf16z(names);
    let (log_file_name, _) = read_utf16z(&names[used..]);
    Ok(LogfileHeader {
        buffer_size: t.u32(off::BUFFER_SIZE, "BufferSize")?,
        version: t.u32(off::VERSION, "Version")?,
        provider_version: t.u32(off::PROVIDER_VERSION, "ProviderVersion")?,
        number_of_processors: t.u32(off::NUMBER_OF_PROCESSORS, "NumberOfProcessors")?,
        end_time: t.i64(off::END_TIME, "EndTime")?,
        timer_resolution: t.u32(off::TIMER_RESOLUTION, "TimerResolution")?,
        maximum_file_size: t.u32(off::MAXIMUM_FILE_SIZE, "MaximumFileSize")?,
        log_file_mode: t.u32(off::LOG_FILE_MODE, "LogFileMode")?,
        buffers_written: t.u32(off::BUFFERS_WRITTEN, "BuffersWritten")?,
        start_buffers: t.u32(off::START_BUFFERS, "StartBuffers")?,
        pointer_size: t.u32(off::POINTER_SIZE, "PointerSize")?,
        events_lost: t.u32(off::EVENTS_LOST, "EventsLost")?,
        cpu_speed_mhz: t.u32(off::CPU_SPEED, "CpuSpeedInMHz")?,
        time_zone_bias: t.i32(tail(off::TIME_ZONE), "TimeZone.Bias")?,
        boot_time: t.i64(tail(off::BOOT_TIME), "BootTime")?,
        perf_freq: t.i64(tail(off::PERF_FREQ), "PerfFreq")?,
        start_time: t.i64(tail(off::START_TIME), "StartTime")?,
        start_timestamp: rec.i64(16, "header event timestamp")?,
        clock_type: t.u32(tail(off::RESERVED_FLAGS), "ReservedFlags")?,
        buffers_lost: t.u32(tail(off::BUFFERS_LOST), "BuffersLost")?,
        logger_name,
        log_file_name,
        logger_id: bh.logger_id,
        thread_id: rec.u32(8, "ThreadId")?,
        process_id: rec.u32(12, "ProcessId")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> LogfileHeader {
        LogfileHeader {
            buffer_size: 0x2000,
            provider_version: 19041,
            number_of_processors: 6,
            end_time: 0x01D6_59D6_F5A0_7AEA,
            timer_resolution: 156_250,
            log_file_mode: 1,
            buffers_written: 3,
            events_lost: 2,
            cpu_speed_mhz: 3000,
            boot_time: 0x01D6_59BD_1715_BD40,
            perf_freq: 10_000_000,
            start_time: 0x01D6_59D6_EE63_9CE3,
            start_timestamp: 0x19_D773_1752,
            clock_type: 1,
            buffers_lost: 1,
            logger_name: "lxcore_kernel".into(),
            log_file_name: "C:\\Prog\\lxcore_kernel.etl".into(),
            logger_id: 0x14,
            thread_id: 0x1F80,
            process_id: 0x17E0,
            ..Default::default()
        }
    }

    #[test]
    fn header_buffer_round_trips_with_windows_offsets() {
        let h = sample();
        let mut buf = vec![0u8; 0x2000];
        write_header_buffer(&mut buf, &h);
        // Offsets as in lxcore_kernel.etl.
        assert_eq!(&buf[0x34..0x38], &[0x21, 0, 4, 0]);
        assert_eq!(&buf[0x48..0x50], &[2, 0, 2, 0xC0, 0x88, 0x01, 0, 0]);
        assert_eq!(&buf[0x68..0x6C], &0x2000u32.to_le_bytes());
        assert_eq!(&buf[0x168..0x170], &10_000_000i64.to_le_bytes());
        assert_eq!(&buf[0x178..0x17C], &1u32.to_le_bytes());
        assert_eq!(buf[0x180], b'l');
        assert_eq!(&buf[0x1D0..0x1D8], &[0xFF; 8]);
        assert_eq!(parse_header_buffer(&buf).unwrap(), h);
    }

    /// A 32-bit machine's header: type SYSTEM32 and 4-byte name pointer slots, so the fields
    /// from TimeZone on are 8 bytes earlier (made here from the x64 one by removing the 8 bytes).
    #[test]
    fn a_32_bit_header_is_read_with_its_own_offsets() {
        let h = LogfileHeader {
            pointer_size: 4,
            ..sample()
        };
        let mut buf = vec![0u8; 0x2000];
        write_header_buffer(&mut buf, &h);
        let rec = BUFFER_HEADER_SIZE;
        let slots = rec + SYSTEM_HEADER_SIZE + off::LOGGER_NAME_PTR + 4;
        buf.drain(slots..slots + 8);
        buf.resize(0x2000, 0);
        buf[rec + 2] = header_type::SYSTEM32;
        let size = u16::from_le_bytes([buf[rec + 4], buf[rec + 5]]) - 8;
        buf[rec + 4..rec + 6].copy_from_slice(&size.to_le_bytes());
        assert_eq!(parse_header_buffer(&buf).unwrap(), h);
        // Too short for even the 32-bit header.
        let short = (SYSTEM_HEADER_SIZE + LOGFILE_HEADER_SIZE - 9) as u16;
        buf[rec + 4..rec + 6].copy_from_slice(&short.to_le_bytes());
        assert!(parse_header_buffer(&buf).is_err());
    }

    #[test]
    fn ticks_per_second_survives_a_hostile_perf_freq() {
        let h = LogfileHeader {
            clock_type: 3,
            cpu_speed_mhz: 3000,
            perf_freq: i64::MIN,
            ..sample()
        };
        assert_eq!(h.ticks_per_second(), Some(3_000_000_000));
    }

    #[test]
    fn long_names_are_shortened_to_fit() {
        let h = LogfileHeader {
            logger_name: "n".repeat(5000),
            log_file_name: "f".repeat(5000),
            ..sample()
        };
        let mut buf = vec![0u8; 4096];
        write_header_buffer(&mut buf, &h);
        let back = parse_header_buffer(&buf).unwrap();
        assert!(back.logger_name.len() > 100 && back.logger_name.len() < 5000);
    }

    #[test]
    fn timestamps_convert_for_every_clock_type() {
        let start_ft = 0x01D6_59D6_EE63_9CE3;
        let base_ns = (start_ft - FILETIME_UNIX_EPOCH) * 100;
        // Clock 1 on Linux: monotonic ns.
        let h = LogfileHeader {
            perf_freq: 1_000_000_000,
            start_time: start_ft,
            start_timestamp: 5_000_000_000,
            clock_type: 1,
            ..Default::default()
        };
        assert_eq!(h.to_unix_nanos(5_000_000_123), Some(base_ns + 123));
        // Clock 2: raw values are FILETIMEs.
        let h2 = LogfileHeader {
            clock_type: 2,
            ..h.clone()
        };
        assert_eq!(h2.to_unix_nanos(start_ft + 10), Some(base_ns + 1000));
        // Clock 3, evtrace: exact calibrated rate in PerfFreq.
        let h3 = LogfileHeader {
            clock_type: 3,
            perf_freq: 2_995_200_000,
            cpu_speed_mhz: 2995,
            start_timestamp: 1000,
            ..h.clone()
        };
        assert_eq!(
            h3.to_unix_nanos(1000 + 2_995_200_000),
            Some(base_ns + 1_000_000_000)
        );
        // Clock 3, Windows: PerfFreq is the QPC rate, the cycle rate is CpuSpeedInMHz.
        let h3w = LogfileHeader {
            perf_freq: 10_000_000,
            cpu_speed_mhz: 3000,
            ..h3.clone()
        };
        assert_eq!(
            h3w.to_unix_nanos(1000 + 3_000_000_000),
            Some(base_ns + 1_000_000_000)
        );
        let h0 = LogfileHeader {
            perf_freq: 0,
            ..h.clone()
        };
        assert_eq!(h0.to_unix_nanos(1), None);
        assert_eq!(h.to_filetime(5_000_000_000), Some(start_ft));
    }
}
