//! Files written with the etl encoders are read by independent readers (etl-parser and
//! dissect.etl, both from PyPI) with the right events, names, fields and times.
//!
//! Needs a Python with both packages: `pip install etl-parser dissect.etl`, then point
//! `EVTRACE_PYTHON` at that interpreter (default `python3`). Skips, saying why, without one.

mod recording;
mod support;

use std::process::Command;

use evtrace_runtime::etl::{self, BufferHeader};
use support::*;

use support::readers::{python, read_with as run};

/// Microseconds after 2024-01-02T03:04:05Z (= START_FT) of a time as dissect prints it.
fn us_after_start(iso: &str) -> i64 {
    assert!(iso.starts_with("2024-01-02T03:04:"), "{iso}");
    let secs: f64 = iso[17..].trim_end_matches("+00:00").parse().unwrap();
    (secs * 1e6).round() as i64 - 5_000_000
}

fn check_etl_parser(v: &serde_json::Value) {
    let p = &v["etl_parser"];
    assert!(p.get("fatal").is_none(), "etl-parser failed: {p}");
    let events = p["events"].as_array().unwrap();
    assert_eq!(
        events.len(),
        10,
        "6 Sample + 2 Other + 1 loss + 1 manifest: {p}"
    );
    let named: Vec<_> = events.iter().filter(|e| e.get("event").is_some()).collect();
    // etl-parser reads counted 8-bit strings with a signed length byte, so non-ASCII text
    // fails there; "Other" events are written with ASCII text.
    assert_eq!(named.len(), 8, "{p}");
    let samples: Vec<_> = named.iter().filter(|e| e["event"] == "Sample").collect();
    assert_eq!(samples.len(), 6);
    for e in samples {
        let f = &e["fields"];
        let n = f["u32"].as_u64().unwrap() as i64;
        assert_eq!(f["text"], format!("event {n}"));
        assert_eq!(f["wide"], "wïde");
        assert_eq!(f["i8"], -n);
        assert_eq!(f["u8"], 200);
        assert_eq!(f["i16"], -300);
        assert_eq!(f["u16"], 60000);
        assert_eq!(f["i32"], -70000);
        assert_eq!(f["i64"], -5_000_000_000i64);
        assert_eq!(f["u64"], u64::MAX);
        assert_eq!(f["f32"], 1.5);
        assert_eq!(f["f64"], -0.25);
        assert_eq!(f["flag"], true);
        assert_eq!(f["list"], serde_json::json!([n, n + 1, n + 2]));
        assert_eq!(e["pid"], 100);
    }
    let others: Vec<_> = named.iter().filter(|e| e["event"] == "Other").collect();
    assert_eq!(others.len(), 2);
    assert_eq!(others[0]["fields"]["code"], 0xBEEF);
    let msgs = p["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 1, "{p}");
    assert_eq!(msgs[0]["pid"], 100);
    assert_eq!(msgs[0]["tid"], 10);
    assert_eq!(p["header"]["BufferSize"], BUFFER_SIZE);
}

fn check_dissect(v: &serde_json::Value, exact_times: bool) {
    let d = &v["dissect"];
    assert!(d.get("fatal").is_none(), "dissect.etl failed: {d}");
    assert_eq!(d["header"]["buffers_written"], 4);
    assert_eq!(d["header"]["logger_name"], "evtrace-test");
    assert_eq!(d["header"]["log_filename"], "/tmp/evtrace-test.etl");
    let recs = d["records"].as_array().unwrap();
    let kinds: Vec<_> = recs.iter().map(|r| r["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "EventHeader").count(),
        10,
        "{kinds:?}"
    );
    assert_eq!(
        kinds.iter().filter(|k| **k == "MessageTraceHeader").count(),
        1,
        "{kinds:?}"
    );
    assert_eq!(
        kinds.iter().filter(|k| **k == "SystemHeader").count(),
        1,
        "{kinds:?}"
    );
    // TraceLogging events carry the provider name in their traits.
    let tl: Vec<_> = recs
        .iter()
        .filter(|r| r["ext_types"] == serde_json::json!([12, 11]))
        .collect();
    assert_eq!(tl.len(), 8);
    for r in &tl {
        assert_eq!(
            r["provider_names"],
            serde_json::json!(["Evtrace-Test"]),
            "{r}"
        );
    }
    // Times: the CPU 0 buffer comes first in the file, its events at 1, 3, 5, 7 ms.
    let times: Vec<_> = recs
        .iter()
        .filter(|r| r["kind"] == "EventHeader")
        .map(|r| r["time"].as_str().unwrap_or("?").to_string())
        .collect();
    let want = [1, 3, 5, 7, 2, 2, 4, 6, 9, 10];
    assert_eq!(times.len(), want.len());
    // dissect converts with floats (a tick of rounding) and, for CPU-cycle clocks, with the
    // whole-MHz CpuSpeedInMHz.
    let tolerance = if exact_times { 1 } else { 10 };
    for (t, ms) in times.iter().zip(want) {
        let got = us_after_start(t);
        assert!(
            (got - ms * 1000).abs() <= tolerance,
            "{t} is not {ms} ms after the start: {times:?}"
        );
    }
}

#[test]
fn independent_readers_accept_our_files() {
    let scratch = Scratch::new("independent_readers_accept_our_files");
    let Some(py) = python() else { return };
    for clock in [1, 2, 3] {
        let bytes = standard_file(clock);
        let path = scratch.file(&format!("clock{clock}.etl"), &bytes);
        let v = run(&py, &path, &[]);
        check_etl_parser(&v);
        check_dissect(&v, clock != 3);
    }
}

#[test]
fn dissect_decompresses_our_compressed_buffers() {
    let scratch = Scratch::new("dissect_decompresses_our_compressed_buffers");
    let Some(py) = python() else { return };
    let plain = standard_file(1);
    let mut h = header(1, 4);
    h.log_file_mode |= 0x0400_0000;
    let mut file = vec![0u8; BUFFER_SIZE];
    etl::write_header_buffer(&mut file, &h);
    let mut stored = Vec::new();
    for buf in plain[BUFFER_SIZE..].chunks(BUFFER_SIZE) {
        assert!(etl::compress_buffer(buf, &mut stored), "buffer compresses");
        assert!(BufferHeader::parse(&stored).unwrap().is_compressed());
        file.extend_from_slice(&stored);
    }
    assert!(
        file.len() < plain.len() / 2,
        "{} vs {}",
        file.len(),
        plain.len()
    );
    let path = scratch.file("compressed.etl", &file);
    let v = run(&py, &path, &["--no-etl-parser"]);
    check_dissect(&v, true);
}

/// Windows' compressed layout (a 1 KB header buffer before 64 KB buffers stored at their own
/// sizes): dissect.etl reads it as evtrace's reader does.
#[test]
fn dissect_reads_the_windows_compressed_layout() {
    let scratch = Scratch::new("dissect_reads_the_windows_compressed_layout");
    let Some(py) = python() else { return };
    let path = scratch.file("windows-compressed.etl", &windows_compressed_file());
    let v = run(&py, &path, &["--no-etl-parser"]);
    check_dissect(&v, true);
}

#[test]
fn dissect_util_lzxpress_expands_our_streams() {
    let scratch = Scratch::new("dissect_util_lzxpress_expands_our_streams");
    let Some(py) = python() else { return };
    let mut inputs: Vec<Vec<u8>> = vec![
        Vec::new(),
        b"abc".repeat(100),
        (0..20_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect(),
    ];
    for len in [9, 24, 280, 70_000] {
        let mut d = b"xyz".to_vec();
        d.extend(std::iter::repeat_n(b'q', len));
        inputs.push(d);
    }
    inputs.push(standard_file(1));
    for (i, data) in inputs.iter().enumerate() {
        let c = etl::xpress::compress(data);
        let cpath = scratch.file(&format!("x{i}.bin"), &c);
        let out = Command::new(&py)
            .args([
                "-c",
                "import sys; from dissect.util.compression import lzxpress; \
                 sys.stdout.buffer.write(lzxpress.decompress(open(sys.argv[1],'rb').read()))",
            ])
            .arg(&cpath)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(&out.stdout, data, "input {i}");
    }
}

/// A file written by a real private session (two threads, per-processor buffers) reads the same
/// in both independent readers as in ours: event count, names and field values.
#[test]
fn independent_readers_agree_with_ours_on_a_session_file() {
    let Some(py) = python() else { return };
    use evtrace_runtime::session::Session;
    let d = recording::dir("independent-session");
    let file = d.join("session.etl");
    let w = recording::Workload::new("Evtrace-Test-Independent");
    let s = Session::start_private(
        recording::props("independent", &file)
            .buffer_size_kb(16)
            .buffers(0, 512),
    )
    .unwrap();
    w.enable(&s);
    std::thread::scope(|sc| {
        for t in 0..2u32 {
            let w = &w;
            sc.spawn(move || {
                for i in 0..3000 {
                    assert!(w.write(i, t));
                }
            });
        }
    });
    let stats = s.stop().unwrap();
    assert_eq!(stats.events_lost, 0);
    let ours = recording::read(&[&file]);
    assert_eq!(ours.samples.len(), 6000);
    let mut ours_sorted = ours.samples.clone();
    ours_sorted.sort_unstable();

    let v = run(&py, &file, &[]);
    let p = &v["etl_parser"];
    assert!(p.get("fatal").is_none(), "etl-parser failed: {p}");
    let mut theirs: Vec<(u32, u64)> = p["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"] == "Sample")
        .map(|e| {
            let f = &e["fields"];
            assert_eq!(f["tag"], "payload-16-bytes", "{e}");
            (
                f["thread"].as_u64().unwrap() as u32,
                f["counter"].as_u64().unwrap(),
            )
        })
        .collect();
    theirs.sort_unstable();
    assert_eq!(theirs.len(), ours_sorted.len(), "etl-parser event count");
    assert!(
        theirs == ours_sorted,
        "etl-parser field values differ from ours"
    );

    let (dis, events) = dissect_events(&v);
    assert_eq!(events, 6000, "dissect.etl event count");
    assert_eq!(dis["header"]["buffers_written"], stats.buffers_written + 1);
}

/// A compressed-mode file written by a real session: dissect.etl decompresses every buffer and
/// finds every event.
#[test]
fn dissect_reads_a_compressed_session_file() {
    let Some(py) = python() else { return };
    use evtrace_runtime::session::{LogFileMode, Session};
    let d = recording::dir("independent-compressed");
    let file = d.join("compressed.etl");
    let w = recording::Workload::new("Evtrace-Test-IndependentCompressed");
    let s = Session::start_private(
        recording::props("independent-compressed", &file)
            .mode(LogFileMode::COMPRESSED)
            .buffers(0, 512),
    )
    .unwrap();
    w.enable(&s);
    for i in 0..5000 {
        assert!(w.write(i, 0));
    }
    let stats = s.stop().unwrap();
    assert_eq!(stats.events_lost, 0);
    assert_eq!(recording::read(&[&file]).samples.len(), 5000);
    let v = run(&py, &file, &["--no-etl-parser"]);
    let (_, events) = dissect_events(&v);
    assert_eq!(events, 5000, "dissect.etl event count");
}

/// dissect.etl's part of the checker's answer, and its count of EVENT_HEADER records.
fn dissect_events(v: &serde_json::Value) -> (&serde_json::Value, usize) {
    let dis = &v["dissect"];
    assert!(dis.get("fatal").is_none(), "dissect.etl failed: {dis}");
    let events = dis["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["kind"] == "EventHeader")
        .count();
    (dis, events)
}

/// Kernel records in Windows' classic layouts: dissect.etl reads them as system-header records
/// with their hook ids, and etl-parser's own MOF tables decode the 64-bit ones to the same
/// fields as ours.
#[test]
fn independent_readers_decode_our_kernel_class_records() {
    let scratch = Scratch::new("independent_readers_decode_our_kernel_class_records");
    let Some(py) = python() else { return };
    let path = scratch.file("kernel.etl", &kernel_file());
    let v = run(&py, &path, &[]);
    let d = &v["dissect"];
    assert!(d.get("fatal").is_none(), "dissect failed: {d}");
    let hooks: Vec<u64> = d["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["kind"] == "SystemHeader")
        .map(|r| r["hook_id"].as_u64().unwrap())
        .skip(1) // the log-file header (HookId 0)
        .collect();
    let one = [0x0301, 0x0524, 0x140A, 0x060C, 0x0302, 0x0301];
    assert_eq!(hooks, [one, one].concat(), "{d}");
    let p = &v["etl_parser"];
    assert!(p.get("fatal").is_none(), "etl-parser failed: {p}");
    let sys: Vec<_> = p["system"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["marker"] == 2)
        .collect();
    assert_eq!(sys.len(), 6, "{p}");
    let (start, image, end) = (sys[0], sys[2], sys[4]);
    assert_eq!(start["class"], "Process_V4_TypeGroup1", "{start}");
    assert_eq!(start["fields"]["ProcessId"], 4242);
    assert_eq!(start["fields"]["ParentId"], 1);
    assert_eq!(start["image_file_name"], "true");
    assert_eq!(start["command_line"], "/usr/bin/true --x");
    assert_eq!(end["fields"]["ExitStatus"], 3);
    assert_eq!(image["class"], "ImageLoad", "{image}");
    assert_eq!(image["fields"]["ImageSize"], 0x3000);
    assert_eq!(image["image_filename"], "/usr/bin/true");
    // A version etl-parser has no class for is its own "not found", as ours keeps it raw.
    assert!(sys[5].get("error").is_some(), "{}", sys[5]);
}
