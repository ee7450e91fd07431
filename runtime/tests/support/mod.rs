//! Builds small .etl files with the etl encoders, for the integration tests.
#![allow(dead_code)]

use evtrace_runtime::etl::{
    self, buffer_flags, in_type, out_type, BufferHeader, EventDescriptor, EventHeaderFields,
    EventSchemaBuilder, LogfileHeader, LossKind, MessageHeaderFields,
};
use evtrace_runtime::Guid;

#[allow(unused_imports)] // each test binary uses its own part
pub use evtrace_testkit::{readers, skip, Scratch};

/// FILETIME of 2024-01-02T03:04:05Z.
pub const START_FT: i64 = 133_486_382_450_000_000;
pub const BUFFER_SIZE: usize = 8192;

/// One record to put in a buffer.
pub enum Rec {
    /// A TraceLogging event: (ext items, payload, timestamp, descriptor).
    Tl {
        ext: Vec<u8>,
        payload: Vec<u8>,
        ts: i64,
        level: u8,
        pid: u32,
        tid: u32,
    },
    /// A manifest-style event (no metadata).
    Manifest { payload: Vec<u8>, ts: i64, id: u16 },
    /// A loss record.
    Lost { ts: i64, kind: LossKind, count: u64 },
    /// A TraceMessage record.
    Msg {
        h: MessageHeaderFields,
        args: Vec<u8>,
    },
    /// Bytes of a record as they are (padded to 8).
    Raw(Vec<u8>),
}

pub fn provider() -> Guid {
    Guid::from_name("Evtrace-Test")
}

/// The "Sample" event: fields of many types; returns (ext, payload builder).
pub fn sample_ext() -> Vec<u8> {
    let schema = EventSchemaBuilder::new("Sample")
        .field("text", in_type::ANSI_STRING, 0)
        .field("wide", in_type::UNICODE_STRING, 0)
        .field("i8", in_type::INT8, 0)
        .field("u8", in_type::UINT8, 0)
        .field("i16", in_type::INT16, 0)
        .field("u16", in_type::UINT16, 0)
        .field("i32", in_type::INT32, 0)
        .field("u32", in_type::UINT32, 0)
        .field("i64", in_type::INT64, 0)
        .field("u64", in_type::UINT64, 0)
        .field("f32", in_type::FLOAT, 0)
        .field("f64", in_type::DOUBLE, 0)
        .field("flag", in_type::BOOL32, 0)
        .field("id", in_type::GUID, 0)
        .array("list", in_type::UINT32, 0)
        .build();
    etl::tracelogging_extended_items(&etl::provider_traits("Evtrace-Test"), &schema)
}

pub fn sample_payload(n: u32) -> Vec<u8> {
    let mut p = Vec::new();
    p.extend_from_slice(format!("event {n}\0").as_bytes());
    p.extend("wïde".encode_utf16().flat_map(u16::to_le_bytes));
    p.extend_from_slice(&[0, 0]);
    p.push((-(n as i8)) as u8);
    p.push(200);
    p.extend_from_slice(&(-300i16).to_le_bytes());
    p.extend_from_slice(&60_000u16.to_le_bytes());
    p.extend_from_slice(&(-70_000i32).to_le_bytes());
    p.extend_from_slice(&n.to_le_bytes());
    p.extend_from_slice(&(-5_000_000_000i64).to_le_bytes());
    p.extend_from_slice(&u64::MAX.to_le_bytes());
    p.extend_from_slice(&1.5f32.to_le_bytes());
    p.extend_from_slice(&(-0.25f64).to_le_bytes());
    p.extend_from_slice(&1u32.to_le_bytes());
    p.extend_from_slice(&provider().0);
    p.extend_from_slice(&3u16.to_le_bytes());
    for v in [n, n + 1, n + 2] {
        p.extend_from_slice(&v.to_le_bytes());
    }
    p
}

/// A second event shape: just a counted string and a hex.
pub fn other_ext() -> Vec<u8> {
    let schema = EventSchemaBuilder::new("Other")
        .field("msg", in_type::COUNTED_ANSI_STRING, out_type::UTF8)
        .field("code", in_type::HEXINT32, 0)
        .build();
    etl::tracelogging_extended_items(&etl::provider_traits("Evtrace-Test"), &schema)
}

pub fn other_payload(msg: &str, code: u32) -> Vec<u8> {
    let mut p = (msg.len() as u16).to_le_bytes().to_vec();
    p.extend_from_slice(msg.as_bytes());
    p.extend_from_slice(&code.to_le_bytes());
    p
}

/// Writes one data buffer with these records.
pub fn data_buffer(seq: i64, cpu: u16, flags: u16, recs: &[Rec]) -> Vec<u8> {
    let mut buf = vec![0u8; BUFFER_SIZE];
    let mut at = etl::BUFFER_HEADER_SIZE;
    let mut last_ts = 0;
    for r in recs {
        let dst = &mut buf[at..];
        at += match r {
            Rec::Tl {
                ext,
                payload,
                ts,
                level,
                pid,
                tid,
            } => {
                last_ts = *ts;
                let h = EventHeaderFields {
                    thread_id: *tid,
                    process_id: *pid,
                    timestamp: *ts,
                    provider_id: provider(),
                    descriptor: EventDescriptor {
                        channel: 11,
                        level: *level,
                        keyword: 0x10,
                        ..Default::default()
                    },
                    activity_id: Guid::ZERO,
                };
                etl::write_event_record(dst, &h, ext, &[payload])
            }
            Rec::Manifest { payload, ts, id } => {
                last_ts = *ts;
                let h = EventHeaderFields {
                    thread_id: 7,
                    process_id: 8,
                    timestamp: *ts,
                    provider_id: Guid::from_name("Manifest-Provider"),
                    descriptor: EventDescriptor {
                        id: *id,
                        version: 1,
                        level: 4,
                        opcode: 1,
                        task: 9,
                        keyword: 0x8000,
                        ..Default::default()
                    },
                    activity_id: Guid::from_name("activity"),
                };
                etl::write_event_record(dst, &h, &[], &[payload])
            }
            Rec::Lost { ts, kind, count } => {
                last_ts = *ts;
                etl::write_lost_record(dst, *ts, *kind, *count, 1, 2)
            }
            Rec::Msg { h, args } => etl::write_message_record(dst, h, &[args]),
            Rec::Raw(bytes) => {
                dst[..bytes.len()].copy_from_slice(bytes);
                bytes.len().next_multiple_of(8)
            }
        };
    }
    BufferHeader {
        buffer_size: BUFFER_SIZE as u32,
        saved_offset: at as u32,
        timestamp: last_ts,
        sequence_number: seq,
        processor_index: cpu,
        logger_id: 1,
        flags: flags | buffer_flags::PROCESSOR_INDEX,
        buffer_type: 0,
    }
    .write_to(&mut buf);
    etl::fill_tail(&mut buf, at);
    buf
}

/// A header with the given clock: raw timestamps start at `start_ts`.
pub fn header(clock: u32, buffers: u32) -> LogfileHeader {
    let (perf_freq, start_ts, mhz) = match clock {
        1 => (1_000_000_000, 5_000_000_000, 2000),
        2 => (10_000_000, START_FT, 2000),
        _ => (2_400_000_000, 1_000_000, 2400),
    };
    LogfileHeader {
        buffer_size: BUFFER_SIZE as u32,
        number_of_processors: 2,
        end_time: START_FT + 10_000_000,
        timer_resolution: 1,
        log_file_mode: 1,
        buffers_written: buffers,
        events_lost: 3,
        buffers_lost: 1,
        cpu_speed_mhz: mhz,
        perf_freq,
        start_time: START_FT,
        start_timestamp: start_ts,
        clock_type: clock,
        logger_name: "evtrace-test".into(),
        log_file_name: "/tmp/evtrace-test.etl".into(),
        process_id: 42,
        thread_id: 43,
        ..Default::default()
    }
}

/// Ticks per microsecond for the clock of [`header`].
pub fn ticks_per_us(clock: u32) -> i64 {
    match clock {
        1 => 1000,
        2 => 10,
        _ => 2400,
    }
}

/// A file of a header buffer and two processors' buffers: 6 "Sample" events, 2 "Other"
/// events, one loss record, one TraceMessage and one manifest event. Event k is at
/// start + (k+1) ms.
pub fn standard_file(clock: u32) -> Vec<u8> {
    let h = header(clock, 4);
    let t = |ms: i64| h.start_timestamp + ms * 1000 * ticks_per_us(clock);
    let tl = |n: u32, ms: i64, cpu_tid: u32| Rec::Tl {
        ext: sample_ext(),
        payload: sample_payload(n),
        ts: t(ms),
        level: 4,
        pid: 100,
        tid: cpu_tid,
    };
    let mut file = vec![0u8; BUFFER_SIZE];
    etl::write_header_buffer(&mut file, &h);
    // CPU 0: events at 1, 3, 5 ms, then Other at 7 ms; the message at 8 ms.
    file.extend(data_buffer(
        1,
        0,
        0,
        &[
            tl(0, 1, 10),
            tl(2, 3, 10),
            tl(4, 5, 10),
            Rec::Tl {
                ext: other_ext(),
                payload: other_payload("hello", 0xBEEF),
                ts: t(7),
                level: 2,
                pid: 100,
                tid: 10,
            },
            Rec::Msg {
                h: MessageHeaderFields {
                    flags: etl::message_flags::GUID | etl::message_flags::SYSTEMINFO,
                    message_number: 12,
                    guid: Guid::from_name("wpp"),
                    thread_id: 10,
                    process_id: 100,
                    ..Default::default()
                },
                args: vec![1, 2, 3, 4],
            },
        ],
    ));
    // CPU 1: a loss before its events at 2, 4, 6 ms, Other at 9 ms, a manifest event at 10 ms.
    file.extend(data_buffer(
        2,
        1,
        buffer_flags::EVENTS_LOST,
        &[
            Rec::Lost {
                ts: t(2),
                kind: LossKind::Events,
                count: 5,
            },
            tl(1, 2, 11),
            tl(3, 4, 11),
            tl(5, 6, 11),
            Rec::Tl {
                ext: other_ext(),
                payload: other_payload("bye", 1),
                ts: t(9),
                level: 2,
                pid: 100,
                tid: 11,
            },
            Rec::Manifest {
                payload: vec![0xDE, 0xAD, 0xBE, 0xEF],
                ts: t(10),
                id: 300,
            },
        ],
    ));
    file
}

/// [`standard_file`] in the layout of Windows' (and PerfView's) compressed files: a header
/// buffer stored at 1 KB, whose log-file header says the buffers are 64 KB, then each data
/// buffer compressed and stored at its own size, one after the other.
pub fn windows_compressed_file() -> Vec<u8> {
    const NOMINAL: usize = 64 * 1024;
    const HEADER: usize = 1024;
    let plain = standard_file(1);
    let mut h = header(1, 4);
    h.buffer_size = NOMINAL as u32;
    h.log_file_mode |= 0x0400_0000; // EVENT_TRACE_COMPRESSED_MODE
    let mut file = vec![0u8; NOMINAL];
    etl::write_header_buffer(&mut file, &h);
    let used = etl::BufferHeader::parse(&file).unwrap().saved_offset as usize;
    assert!(
        used <= HEADER,
        "the header record fits in 1 KB ({used} bytes)"
    );
    file.truncate(HEADER);
    file[..4].copy_from_slice(&(HEADER as u32).to_le_bytes());
    let mut stored = Vec::new();
    for buf in plain[BUFFER_SIZE..].chunks(BUFFER_SIZE) {
        // The same records in a 64 KB buffer.
        let mut big = buf.to_vec();
        big.resize(NOMINAL, 0xFF);
        big[..4].copy_from_slice(&(NOMINAL as u32).to_le_bytes());
        assert!(etl::compress_buffer(&big, &mut stored), "buffer compresses");
        file.extend_from_slice(&stored);
    }
    file
}

/// A kernel record with a system header (`SYSTEM_TRACE_HEADER`, 32 bytes): 64- or 32-bit
/// header type, the HookId (group << 8 | type), the class version, and the MOF payload.
pub fn kernel_record(ptr64: bool, hook: u16, version: u16, pid: u32, ts: i64, mof: &[u8]) -> Rec {
    let mut r = vec![0u8; 0x20 + mof.len()];
    r[0..2].copy_from_slice(&version.to_le_bytes());
    r[2] = if ptr64 { 0x02 } else { 0x01 };
    r[3] = 0xC0;
    let size = r.len() as u16;
    r[4..6].copy_from_slice(&size.to_le_bytes());
    r[6..8].copy_from_slice(&hook.to_le_bytes());
    r[8..12].copy_from_slice(&(pid + 1).to_le_bytes());
    r[12..16].copy_from_slice(&pid.to_le_bytes());
    r[16..24].copy_from_slice(&ts.to_le_bytes());
    r[0x20..].copy_from_slice(mof);
    Rec::Raw(r)
}

/// MOF payload bytes, little-endian, pointers of the given size.
pub struct Mof {
    pub bytes: Vec<u8>,
    pub ptr: usize,
}

impl Mof {
    pub fn new(ptr64: bool) -> Mof {
        Mof {
            bytes: Vec::new(),
            ptr: if ptr64 { 8 } else { 4 },
        }
    }
    pub fn raw(mut self, b: &[u8]) -> Mof {
        self.bytes.extend_from_slice(b);
        self
    }
    pub fn u16(self, v: u16) -> Mof {
        self.raw(&v.to_le_bytes())
    }
    pub fn u32(self, v: u32) -> Mof {
        self.raw(&v.to_le_bytes())
    }
    pub fn ptr(self, v: u64) -> Mof {
        let n = self.ptr;
        self.raw(&v.to_le_bytes()[..n])
    }
    pub fn ansi(self, s: &str) -> Mof {
        self.raw(s.as_bytes()).raw(&[0])
    }
    pub fn utf16(self, s: &str) -> Mof {
        let b: Vec<u8> = s
            .encode_utf16()
            .chain([0])
            .flat_map(u16::to_le_bytes)
            .collect();
        self.raw(&b)
    }
}

/// Process_V4 Start (or End with `exit`) for `pid`, with a user SID.
pub fn process_v4(
    ptr64: bool,
    pid: u32,
    parent: u32,
    exit: i32,
    image: &str,
    cmd: &str,
) -> Vec<u8> {
    let m = Mof::new(ptr64)
        .ptr(0xFFFF_C000_0000_1000 + u64::from(pid))
        .u32(pid)
        .u32(parent)
        .u32(1)
        .u32(exit as u32)
        .ptr(0x1AD000)
        .u32(0);
    // TOKEN_USER: the SID pointer and its attributes (two pointers), then S-1-5-18.
    let m = m
        .ptr(0xFFFF_C000_0000_2000)
        .ptr(0)
        .raw(&[1, 1, 0, 0, 0, 0, 0, 5])
        .u32(18);
    m.ansi(image).utf16(cmd).utf16("").utf16("").bytes
}

/// TcpIp ConnectIPV4 (TcpIp_TypeGroup2) from 127.0.0.1:`sport` to 127.0.0.1:`dport`.
pub fn tcp_connect_v4(ptr64: bool, pid: u32, sport: u16, dport: u16) -> Vec<u8> {
    Mof::new(ptr64)
        .u32(pid)
        .u32(0)
        .raw(&[127, 0, 0, 1])
        .raw(&[127, 0, 0, 1])
        .raw(&dport.to_be_bytes())
        .raw(&sport.to_be_bytes())
        .u16(1460)
        .u16(1)
        .u16(0)
        .u16(1)
        .u32(65535)
        .u16(7)
        .u16(7)
        .u32(0)
        .ptr(0xC0FFEE)
        .bytes
}

/// A file of kernel records in both pointer sizes: Process Start/End, Thread CSwitch, Image
/// Load, TcpIp Connect, and one Process record of a version without a layout.
pub fn kernel_file() -> Vec<u8> {
    let h = header(1, 3);
    let t = |ms: i64| h.start_timestamp + ms * 1_000_000;
    let mut file = vec![0u8; BUFFER_SIZE];
    etl::write_header_buffer(&mut file, &h);
    for (seq, ptr64) in [(1, true), (2, false)] {
        let cswitch = [200u32.to_le_bytes(), 100u32.to_le_bytes()].concat();
        let cswitch = [cswitch, vec![9, 8, 0, 0, 5, 1, 5, 0], vec![0; 8]].concat();
        let image = Mof::new(ptr64)
            .ptr(0x5555_0000)
            .ptr(0x3000)
            .u32(4242)
            .raw(&[0; 12])
            .ptr(0)
            .raw(&[0; 16])
            .utf16("/usr/bin/true")
            .bytes;
        let recs = [
            kernel_record(
                ptr64,
                0x0301,
                4,
                4242,
                t(1),
                &process_v4(ptr64, 4242, 1, 0, "true", "/usr/bin/true --x"),
            ),
            kernel_record(ptr64, 0x0524, 2, 0, t(2), &cswitch),
            kernel_record(ptr64, 0x140A, 3, 4242, t(3), &image),
            kernel_record(
                ptr64,
                0x060C,
                2,
                4242,
                t(4),
                &tcp_connect_v4(ptr64, 4242, 40000, 8080),
            ),
            kernel_record(
                ptr64,
                0x0302,
                4,
                4242,
                t(5),
                &process_v4(ptr64, 4242, 1, 3, "true", ""),
            ),
            kernel_record(ptr64, 0x0301, 99, 4242, t(6), b"future layout"),
        ];
        file.extend(data_buffer(seq, seq as u16 - 1, 0, &recs));
    }
    file
}
