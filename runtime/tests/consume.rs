//! The consumer API: merge order, time conversion, windows, losses, diagnostics, file limits.

mod support;

use std::path::PathBuf;

use evtrace_runtime::consume::{ClassicEvent, ConsumeError, Item, LogReader, LossSource};
use evtrace_runtime::etl::{self, buffer_flags, LossKind, Value, FILETIME_UNIX_EPOCH};
use evtrace_runtime::{ErrorCode, Guid};
use support::*;

const START_NS: i64 = (START_FT - FILETIME_UNIX_EPOCH) * 100;

/// (ms after start, short description) of each item.
fn summary(items: &[Item]) -> Vec<(i64, String)> {
    items
        .iter()
        .map(|it| {
            let ms = (it.time().unwrap() - START_NS) / 1_000_000;
            let what = match it {
                Item::Event(e) => e
                    .name
                    .clone()
                    .unwrap_or_else(|| format!("id{}", e.descriptor.id)),
                Item::Message(m) => format!("msg{}", m.message_number),
                Item::Loss(l) => format!("loss{:?}", l.count),
                Item::Classic(c) => format!("{} type{}", c.source(), c.event_type),
            };
            (ms, what)
        })
        .collect()
}

fn expected() -> Vec<(i64, String)> {
    [
        (1, "Sample"),
        (2, "lossSome(5)"),
        (2, "Sample"),
        (3, "Sample"),
        (4, "Sample"),
        (5, "Sample"),
        (6, "Sample"),
        (7, "Other"),
        (7, "msg12"),
        (9, "Other"),
        (10, "id300"),
    ]
    .iter()
    .map(|(ms, s)| (*ms, s.to_string()))
    .collect()
}

#[test]
fn merges_processors_oldest_first_for_every_clock() {
    let scratch = Scratch::new("merges_processors_oldest_first_for_every_clock");
    for clock in [1, 2, 3] {
        let path = scratch.file(&format!("c{clock}.etl"), &standard_file(clock));
        let mut r = LogReader::open(&[&path]).unwrap();
        let items: Vec<_> = (&mut r).collect();
        assert_eq!(summary(&items), expected(), "clock {clock}");
        assert!(r.diagnostics().is_empty(), "{:?}", r.diagnostics());
        let h = r.header(0).unwrap();
        assert_eq!(h.logger_name, "evtrace-test");
        assert_eq!(h.clock_type, clock);
        let st = r.loss_stats();
        assert_eq!((st.header_events_lost, st.header_buffers_lost), (3, 1));
        assert_eq!(st.events_lost, 5);
        assert_eq!(
            st.uncounted_reports, 0,
            "the flag is covered by the loss record"
        );

        let Item::Event(e) = &items[0] else { panic!() };
        assert_eq!(e.provider_name.as_deref(), Some("Evtrace-Test"));
        assert_eq!(e.provider_id, provider());
        assert_eq!((e.process_id, e.thread_id, e.cpu), (100, 10, 0));
        assert_eq!(e.descriptor.channel, 11);
        assert_eq!(e.descriptor.keyword, 0x10);
        assert_eq!(e.field("text"), Some(&Value::Str("event 0".into())));
        assert_eq!(
            e.field("list"),
            Some(&Value::Array(vec![
                Value::U64(0),
                Value::U64(1),
                Value::U64(2)
            ]))
        );
        assert_eq!(e.time_text(), "2024-01-02T03:04:05.001000000Z");
        let Item::Loss(l) = &items[1] else { panic!() };
        assert_eq!(
            (l.kind, l.count, l.cpu, l.source),
            (LossKind::Events, Some(5), 1, LossSource::Record)
        );
        let Item::Message(m) = &items[8] else {
            panic!()
        };
        assert_eq!(m.guid, Some(evtrace_runtime::Guid::from_name("wpp")));
        assert_eq!(
            (m.thread_id, m.process_id, m.sequence),
            (Some(10), Some(100), None)
        );
        assert_eq!(m.args, [1, 2, 3, 4]);
        assert!(!m.timestamp_recorded);
        let Item::Event(man) = &items[10] else {
            panic!()
        };
        assert_eq!(man.fields, None);
        assert_eq!(man.payload, [0xDE, 0xAD, 0xBE, 0xEF]);
        assert_eq!(
            (
                man.descriptor.id,
                man.descriptor.version,
                man.descriptor.task
            ),
            (300, 1, 9)
        );
        assert_eq!(
            man.activity_id,
            evtrace_runtime::Guid::from_name("activity")
        );
    }
}

#[test]
fn files_merge_stably_and_windows_filter() {
    let scratch = Scratch::new("files_merge_stably_and_windows_filter");
    let a = scratch.file("a.etl", &standard_file(1));
    let b = scratch.file("b.etl", &standard_file(2));
    let items: Vec<_> = LogReader::open(&[&a, &b]).unwrap().collect();
    assert_eq!(items.len(), 22);
    for w in items.windows(2) {
        let (x, y) = (w[0].time().unwrap(), w[1].time().unwrap());
        assert!(x <= y);
        if x == y && w[0].cpu() == w[1].cpu() && w[0].file() != w[1].file() {
            assert!(w[0].file() < w[1].file(), "equal times keep file order");
        }
    }
    // Window [3 ms, 6 ms].
    let ms = |n: i64| START_NS + n * 1_000_000;
    let r = LogReader::options()
        .window_unix_nanos(Some(ms(3)), Some(ms(6)))
        .open(&[&a])
        .unwrap();
    let got: Vec<_> = summary(&r.collect::<Vec<_>>())
        .into_iter()
        .map(|(m, _)| m)
        .collect();
    assert_eq!(got, [3, 4, 5, 6]);
    let err = LogReader::options()
        .window_unix_nanos(Some(ms(6)), Some(ms(3)))
        .open(&[&a])
        .err()
        .unwrap();
    assert!(matches!(err, ConsumeError::InvalidTime { .. }));
    assert_eq!(err.code(), ErrorCode::InvalidTime);
    assert!(err.to_string().contains("INVALID_TIME"), "{err}");
}

#[test]
fn file_limits_and_unreadable_files() {
    let scratch = Scratch::new("file_limits_and_unreadable_files");
    let a = scratch.file("lim.etl", &standard_file(1));
    let many: Vec<_> = std::iter::repeat_n(&a, 65).collect();
    assert!(matches!(
        LogReader::open(&many),
        Err(ConsumeError::TooManyFiles(65))
    ));
    assert_eq!(LogReader::open(&many[..64]).unwrap().count(), 64 * 11);
    assert!(matches!(
        LogReader::open::<&str>(&[]),
        Err(ConsumeError::NoFiles)
    ));
    let missing = std::env::temp_dir().join("evtrace-no-such-file.etl");
    let err = LogReader::open(&[&missing]).err().unwrap();
    assert!(
        err.to_string().contains("evtrace-no-such-file.etl"),
        "{err}"
    );
    assert_eq!(err.code(), ErrorCode::BadPathname);
    let junk = scratch.file(
        "junk.etl",
        b"not an etl file at all, not even close to one......................................",
    );
    assert!(matches!(
        LogReader::open(&[&junk]),
        Err(ConsumeError::NotEtl { .. })
    ));
    let r = LogReader::options()
        .keep_going(true)
        .open(&[&missing, &a, &junk])
        .unwrap();
    assert_eq!(r.file_errors().len(), 2);
    assert_eq!(r.count(), 11);
}

#[test]
fn circular_files_read_by_sequence_number() {
    let scratch = Scratch::new("circular_files_read_by_sequence_number");
    let h = header(1, 4);
    let t = |ms: i64| h.start_timestamp + ms * 1_000_000;
    let mut file = vec![0u8; BUFFER_SIZE];
    etl::write_header_buffer(&mut file, &h);
    // The ring wrapped: sequence 5 (newest) sits before 3 and 4.
    for (seq, ms) in [(5, 30), (3, 10), (4, 20)] {
        let rec = Rec::Tl {
            ext: other_ext(),
            payload: other_payload(&format!("s{seq}"), seq as u32),
            ts: t(ms),
            level: 4,
            pid: 1,
            tid: 1,
        };
        file.extend(data_buffer(seq, 0, 0, &[rec]));
    }
    let p = scratch.file("circ.etl", &file);
    let got: Vec<_> = LogReader::open(&[&p])
        .unwrap()
        .map(|it| match it {
            Item::Event(e) => e.field("msg").unwrap().to_string(),
            _ => panic!(),
        })
        .collect();
    assert_eq!(got, ["s3", "s4", "s5"]);
}

#[test]
fn compressed_corrupt_and_flagged_buffers() {
    let scratch = Scratch::new("compressed_corrupt_and_flagged_buffers");
    let plain = standard_file(1);
    // Compressed: same items.
    let mut file = plain[..BUFFER_SIZE].to_vec();
    let mut stored = Vec::new();
    for buf in plain[BUFFER_SIZE..].chunks(BUFFER_SIZE) {
        assert!(etl::compress_buffer(buf, &mut stored));
        file.extend_from_slice(&stored);
    }
    let p = scratch.file("z.etl", &file);
    let mut r = LogReader::open(&[&p]).unwrap();
    assert_eq!(summary(&(&mut r).collect::<Vec<_>>()), expected());
    assert!(r.diagnostics().is_empty());

    // A corrupt buffer header: that buffer is counted, the other's events still come.
    let mut bad = plain.clone();
    bad[BUFFER_SIZE * 2..BUFFER_SIZE * 2 + 4].copy_from_slice(&7u32.to_le_bytes());
    std::fs::write(&p, &bad).unwrap();
    let mut r = LogReader::open(&[&p]).unwrap();
    let n = (&mut r).count();
    assert_eq!(n, 5);
    assert_eq!(r.diagnostics().total("corrupt buffer"), 1);
    assert_eq!(r.diagnostics().first()[0].offset, (BUFFER_SIZE * 2) as u64);

    // Buffer flags without loss records are reported without a count, before the buffer.
    let mut f = plain[..BUFFER_SIZE].to_vec();
    let ev = Rec::Tl {
        ext: other_ext(),
        payload: other_payload("x", 1),
        ts: 5_000_000_000 + 1000,
        level: 4,
        pid: 1,
        tid: 1,
    };
    f.extend(data_buffer(1, 0, buffer_flags::BUFFER_LOST, &[ev]));
    std::fs::write(&p, &f).unwrap();
    let mut r = LogReader::open(&[&p]).unwrap();
    let items: Vec<_> = (&mut r).collect();
    assert!(
        matches!(&items[0], Item::Loss(l) if l.kind == LossKind::Buffers && l.count.is_none() && l.source == LossSource::BufferFlag)
    );
    assert!(matches!(&items[1], Item::Event(_)));
    assert_eq!(r.loss_stats().uncounted_reports, 1);
}

#[test]
fn windows_compressed_layout_short_header_buffer_and_stored_sizes() {
    let scratch = Scratch::new("windows_compressed_layout");
    let file = windows_compressed_file();
    let p = scratch.file("w.etl", &file);
    let mut r = LogReader::open(&[&p]).unwrap();
    assert_eq!(summary(&(&mut r).collect::<Vec<_>>()), expected());
    assert!(r.diagnostics().is_empty(), "{:?}", r.diagnostics());
    assert_eq!(r.header(0).unwrap().buffer_size, 64 * 1024);

    // Cut in the middle of its last stored buffer: everything before it is still read.
    let last = file.len() - 10;
    std::fs::write(&p, &file[..last]).unwrap();
    let mut r = LogReader::options().keep_going(true).open(&[&p]).unwrap();
    let n = (&mut r).count();
    assert!(n > 0 && n < expected().len(), "{n} items");
    assert!(
        r.diagnostics().total("truncated buffer") >= 1,
        "{:?}",
        r.diagnostics()
    );
    assert_eq!(
        r.diagnostics().total("corrupt buffer"),
        0,
        "{:?}",
        r.diagnostics()
    );
}

#[test]
fn message_formatter_hook() {
    let scratch = Scratch::new("message_formatter_hook");
    let p = scratch.file("fmt.etl", &standard_file(1));
    let r = LogReader::options()
        .message_formatter(Box::new(|m| {
            Some(format!(
                "message {} with {} bytes",
                m.message_number,
                m.args.len()
            ))
        }))
        .open(&[&p])
        .unwrap();
    let texts: Vec<_> = r
        .filter_map(|it| {
            if let Item::Message(m) = it {
                m.text
            } else {
                None
            }
        })
        .collect();
    assert_eq!(texts, ["message 12 with 4 bytes"]);
}

fn sample(name: &str) -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/etl-samples");
    if !dir.is_dir() {
        support::skip(&format!("{} is missing", dir.display()));
        return None;
    }
    Some(dir.join(name))
}

#[test]
fn windows_samples_through_the_reader() {
    let Some(lx) = sample("lxcore_kernel.etl") else {
        return;
    };
    let mut r = LogReader::open(&[&lx]).unwrap();
    let items: Vec<_> = (&mut r).collect();
    assert_eq!(items.len(), 3);
    // The header buffer's second record: the kernel's EventTrace group, type 80.
    let Item::Classic(k) = &items[0] else {
        panic!("{:?}", items[0])
    };
    assert_eq!((k.hook_id, k.process_id), (Some(0x0050), Some(0x17E0)));
    assert_eq!(k.source(), "kernel/EventTrace");
    let Item::Event(e) = &items[1] else { panic!() };
    assert_eq!(e.name.as_deref(), Some("BreakPoint"));
    assert_eq!(
        e.provider_name.as_deref(),
        Some("Microsoft.Windows.Subsystem.LxCore")
    );
    // lxcore's second buffer (sequence 1, CPU 5) holds the earlier event.
    assert_eq!(
        e.field("Function"),
        Some(&Value::Str("LxpDrvFsTypeMount".into()))
    );
    assert_eq!(e.time_text(), "2020-07-14T12:04:36.902651000Z");
    assert!(r.diagnostics().is_empty(), "{:?}", r.diagnostics());

    let ps = sample("powershell.etl").unwrap();
    let items: Vec<_> = LogReader::open(&[&ps]).unwrap().collect();
    assert_eq!(items.len(), 113);
    assert!(items.windows(2).all(|w| w[0].time() <= w[1].time()));
    assert!(matches!(&items[0], Item::Classic(k) if k.hook_id == Some(0x0050)));
    assert!(items[1..]
        .iter()
        .all(|i| matches!(i, Item::Event(e) if e.fields.is_none())));

    let pt = sample("primitive-types.etl").unwrap();
    let names: Vec<_> = LogReader::open(&[&pt, &lx])
        .unwrap()
        .filter_map(|i| match i {
            Item::Event(e) => Some(e.name.unwrap()),
            Item::Classic(_) => None,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(names.len(), 7);
}

/// A record of `header` bytes, marker bytes `m2` `m3`, its u16 size at `size_at` and the header
/// fields' bytes written by `fill`, then `payload`.
fn raw_record(
    header: usize,
    size_at: usize,
    m: [u8; 2],
    payload: &[u8],
    fill: impl FnOnce(&mut [u8]),
) -> Rec {
    let mut r = vec![0u8; header + payload.len()];
    r[2..4].copy_from_slice(&m);
    fill(&mut r);
    let size = r.len() as u16;
    r[size_at..size_at + 2].copy_from_slice(&size.to_le_bytes());
    r[header..].copy_from_slice(payload);
    Rec::Raw(r)
}

/// Kernel records (system, perfinfo) and classic MOF records (full, instance) are delivered
/// with their header fields and payload; a trace header of an unknown type is skipped by its
/// size with a diagnostic, and the records after it are read; a buffer without the processor-
/// index flag has its processor in one byte.
#[test]
fn kernel_and_classic_records_are_delivered_with_their_headers() {
    let scratch = Scratch::new("kernel-classic");
    let h = header(1, 2);
    let ts = |ms: i64| h.start_timestamp + ms * 1_000_000;
    let class = Guid::from_name("Classic-Class");
    let parent = Guid::from_name("Parent-Class");
    let put = |r: &mut [u8], at: usize, b: &[u8]| r[at..at + b.len()].copy_from_slice(b);
    let system = raw_record(0x20, 4, [0x02, 0xC0], b"proc", |r| {
        put(r, 0, &2u16.to_le_bytes());
        put(r, 6, &0x0301u16.to_le_bytes()); // Process, type 1 (Start)
        put(r, 8, &11u32.to_le_bytes());
        put(r, 12, &22u32.to_le_bytes());
        put(r, 16, &ts(1).to_le_bytes());
    });
    let perfinfo = raw_record(0x10, 4, [0x11, 0xC0], b"sample!!", |r| {
        put(r, 6, &0x0F2Eu16.to_le_bytes()); // PerfInfo, type 46 (SampledProfile)
        put(r, 8, &ts(2).to_le_bytes());
    });
    let unknown = raw_record(0x10, 0, [0x0C, 0xC0], &[], |_| {});
    let full = raw_record(0x30, 0, [0x14, 0xC0], b"mof1", |r| {
        r[4] = 7; // type
        r[5] = 3; // level
        put(r, 6, &2u16.to_le_bytes());
        put(r, 8, &33u32.to_le_bytes());
        put(r, 12, &44u32.to_le_bytes());
        put(r, 16, &ts(3).to_le_bytes());
        put(r, 24, &class.0);
    });
    let instance = raw_record(0x48, 0, [0x15, 0xC0], b"mof2", |r| {
        r[4] = 8;
        put(r, 8, &55u32.to_le_bytes());
        put(r, 12, &66u32.to_le_bytes());
        put(r, 16, &ts(4).to_le_bytes());
        put(r, 24, &class.0);
        put(r, 0x30, &9u32.to_le_bytes());
        put(r, 0x34, &5u32.to_le_bytes());
        put(r, 0x38, &parent.0);
    });
    let mut file = vec![0u8; BUFFER_SIZE];
    etl::write_header_buffer(&mut file, &h);
    let mut data = data_buffer(1, 0, 0, &[system, perfinfo, unknown, full, instance]);
    // An XP-era processor number: one byte, then the alignment byte, and no flag 0x20.
    data[0x28..0x2A].copy_from_slice(&[1, 8]);
    let flags = u16::from_le_bytes([data[0x34], data[0x35]]) & !buffer_flags::PROCESSOR_INDEX;
    data[0x34..0x36].copy_from_slice(&flags.to_le_bytes());
    file.extend(data);
    let p = scratch.file("classic.etl", &file);

    let mut r = LogReader::open(&[&p]).unwrap();
    let got: Vec<ClassicEvent> = (&mut r)
        .map(|it| match it {
            Item::Classic(c) => c,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(got.len(), 4, "{got:?}");
    assert!(got.iter().all(|c| c.cpu == 1), "{got:?}");
    let [sys, perf, full, inst] = &got[..] else {
        unreachable!()
    };
    assert_eq!(
        (
            sys.source().as_str(),
            sys.hook_id,
            sys.event_type,
            sys.version
        ),
        ("kernel/Process", Some(0x0301), 1, 2)
    );
    assert_eq!((sys.thread_id, sys.process_id), (Some(11), Some(22)));
    assert_eq!(sys.payload, b"proc");
    assert_eq!(sys.time, Some(START_NS + 1_000_000));
    // Process_V2 has a layout; four bytes cannot hold it: named, with the fault and the bytes.
    assert_eq!(sys.name.as_deref(), Some("Process/Start"));
    assert!(
        sys.decode_error
            .as_deref()
            .is_some_and(|e| e.contains("UniqueProcessKey")),
        "{sys:?}"
    );
    // Version 0 of SampledProfile is not a layout Windows writes: raw, not an error.
    assert_eq!(perf.name.as_deref(), Some("PerfInfo/SampleProfile"));
    assert_eq!((&perf.fields, &perf.decode_error), (&None, &None));
    assert_eq!(
        (perf.source().as_str(), perf.event_type, perf.process_id),
        ("kernel/PerfInfo", 46, None)
    );
    assert_eq!(perf.payload, b"sample!!");
    assert_eq!(
        (full.guid, full.event_type, full.level, full.version),
        (Some(class), 7, 3, 2)
    );
    assert_eq!((full.thread_id, full.process_id), (Some(33), Some(44)));
    assert_eq!(
        (full.payload.as_slice(), full.instance),
        (&b"mof1"[..], None)
    );
    assert_eq!(inst.guid, Some(class));
    assert_eq!(inst.instance, Some((9, 5, parent)));
    assert_eq!(
        inst.payload, b"mof2",
        "the payload starts after the 0x48-byte header"
    );
    let skipped: Vec<_> = r.diagnostics().counts().collect();
    assert_eq!(
        skipped,
        [(0, "corrupt record", 1), (0, "undecodable kernel event", 1)]
    );
}

/// A file whose header gives no clock rate has no wall-clock times: a time window cannot place
/// its items, so they are delivered rather than silently dropped.
#[test]
fn a_time_window_does_not_drop_items_without_a_wall_clock_time() {
    let scratch = Scratch::new("no-clock-window");
    let h = etl::LogfileHeader {
        perf_freq: 0,
        ..header(1, 2)
    };
    let mut file = vec![0u8; BUFFER_SIZE];
    etl::write_header_buffer(&mut file, &h);
    let ev = |n: u32| Rec::Tl {
        ext: sample_ext(),
        payload: sample_payload(n),
        ts: h.start_timestamp + i64::from(n),
        level: 4,
        pid: 1,
        tid: 2,
    };
    file.extend(data_buffer(1, 0, 0, &[ev(1), ev(2)]));
    let p = scratch.file("noclock.etl", &file);
    let items: Vec<_> = LogReader::options()
        .window_unix_nanos(Some(START_NS), Some(START_NS + 1_000_000))
        .open(&[&p])
        .unwrap()
        .collect();
    assert_eq!(items.len(), 2, "{items:?}");
    assert!(items.iter().all(|i| i.time().is_none()));
}

/// Windows' kernel classes in 64- and 32-bit records come out named, with typed fields; a
/// version without a layout keeps its raw payload and is no error.
#[test]
fn kernel_classes_decode_in_both_pointer_sizes() {
    let scratch = Scratch::new("kernel-classes");
    let p = scratch.file("kernel.etl", &kernel_file());
    let mut r = LogReader::open(&[&p]).unwrap();
    let got: Vec<ClassicEvent> = (&mut r)
        .map(|it| match it {
            Item::Classic(c) => c,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(got.len(), 12);
    for ptr in [8u8, 4] {
        let mine: Vec<_> = got.iter().filter(|c| c.pointer_size == ptr).collect();
        let names: Vec<_> = mine.iter().map(|c| c.name.as_deref().unwrap()).collect();
        assert_eq!(
            names,
            [
                "Process/Start",
                "Thread/CSwitch",
                "Image/Load",
                "TcpIp/ConnectIPV4",
                "Process/End",
                "Process/Start"
            ]
        );
        assert!(mine.iter().all(|c| c.decode_error.is_none()), "{mine:?}");
        let (start, cs, image, tcp, end, future) =
            (mine[0], mine[1], mine[2], mine[3], mine[4], mine[5]);
        assert_eq!(start.field("ProcessId"), Some(&Value::U64(4242)));
        assert_eq!(start.field("ParentId"), Some(&Value::U64(1)));
        assert_eq!(start.field("UserSID"), Some(&Value::Sid("S-1-5-18".into())));
        assert_eq!(
            start.field("ImageFileName"),
            Some(&Value::Str("true".into()))
        );
        assert_eq!(
            start.field("CommandLine"),
            Some(&Value::Str("/usr/bin/true --x".into()))
        );
        assert_eq!(cs.field("NewThreadId"), Some(&Value::U64(200)));
        assert_eq!(cs.field("OldThreadState"), Some(&Value::I64(5)));
        assert_eq!(image.field("ImageSize"), Some(&Value::U64(0x3000)));
        assert_eq!(
            image.field("FileName"),
            Some(&Value::Str("/usr/bin/true".into()))
        );
        assert_eq!(tcp.field("sport"), Some(&Value::U64(40000)));
        assert_eq!(tcp.field("dport"), Some(&Value::U64(8080)));
        assert_eq!(
            tcp.field("connid"),
            Some(&Value::Hex {
                value: 0xC0FFEE,
                width: ptr
            })
        );
        assert_eq!(end.field("ExitStatus"), Some(&Value::I64(3)));
        assert_eq!((&future.fields, &future.decode_error), (&None, &None));
        assert_eq!(future.payload, b"future layout");
    }
    assert_eq!(r.diagnostics().counts().count(), 0);
}
