//! A file written in each mode decodes with exactly the events written: sequential (with and
//! without a cap), circular, new-file, append, preallocate, buffering, and the three clocks.

mod recording;

use evtrace_runtime::clock::ClockType;
use evtrace_runtime::session::{
    LogFileMode as M, Session, SessionKind, SessionState, SessionUpdate,
};
use recording::*;

#[test]
fn sequential_decodes_every_event_in_order() {
    let d = dir("seq");
    let file = d.join("seq.etl");
    let w = Workload::new("Evtrace-Test-Seq");
    let s =
        Session::start_private(props("seq", &file).mode(M::SEQUENTIAL).buffers(0, 512)).unwrap();
    w.enable(&s);
    for i in 0..20_000 {
        assert!(w.write(i, 0));
    }
    let stats = s.stop().unwrap();
    assert_eq!((stats.events_lost, stats.state), (0, SessionState::Stopped));
    let rb = read(&[&file]);
    assert_in_order(&counters(&rb), 0..20_000);
    assert_eq!(rb.problems, 0);
    assert_eq!(stats.files, vec![file.clone()]);
    assert_eq!(file_len(&file) % 65536, 0, "whole buffers");
    assert_eq!(
        file_len(&file) / 65536,
        stats.buffers_written + 1,
        "header buffer + data buffers"
    );
}

#[test]
fn sequential_with_a_cap_keeps_what_fit_and_stops_itself() {
    let d = dir("seqcap");
    let file = d.join("cap.etl");
    let w = Workload::new("Evtrace-Test-SeqCap");
    // 64 KB file of 4 KB buffers: the header buffer and 15 data buffers.
    let s = Session::start_private(
        props("seqcap", &file)
            .mode(M::SEQUENTIAL | M::USE_KBYTES_FOR_SIZE)
            .maximum_file_size(64)
            .buffer_size_kb(4)
            .buffers(0, 256),
    )
    .unwrap();
    w.enable(&s);
    let mut i = 0u64;
    while s.query().state == SessionState::Running && i < 200_000 {
        w.write(i, 0);
        i += 1;
        if i.is_multiple_of(100) {
            std::thread::yield_now();
        }
    }
    let stats = s.stop().unwrap();
    assert_eq!(
        stats.state,
        SessionState::StoppedFileFull,
        "the stop is reported"
    );
    assert!(
        file_len(&file) <= 64 * 1024,
        "file {} bytes over the cap",
        file_len(&file)
    );
    let rb = read(&[&file]);
    let got = counters(&rb);
    assert!(!got.is_empty());
    // What fit: a prefix, in order.
    assert_in_order(&got, 0..got.len() as u64);
    assert_eq!(stats.buffers_written, 15);
    assert!(
        stats.log_buffers_lost >= 1,
        "the buffer that did not fit is counted"
    );
    assert!(stats.events_lost > 0);
}

#[test]
fn circular_keeps_the_newest_events_without_duplicates() {
    let d = dir("circ");
    let file = d.join("circ.etl");
    let w = Workload::new("Evtrace-Test-Circ");
    let s = Session::start_private(
        props("circ", &file)
            .mode(M::CIRCULAR | M::USE_KBYTES_FOR_SIZE | M::NO_PER_PROCESSOR_BUFFERING)
            .maximum_file_size(256)
            .buffer_size_kb(8)
            .buffers(0, 512),
    )
    .unwrap();
    w.enable(&s);
    let n = 50_000u64;
    for i in 0..n {
        assert!(w.write(i, 0));
    }
    let stats = s.stop().unwrap();
    assert_eq!(stats.events_lost, 0);
    assert_eq!(
        file_len(&file),
        256 * 1024,
        "the file wrapped at its maximum size"
    );
    let rb = read(&[&file]);
    let got = counters(&rb);
    let first = *got.first().unwrap();
    assert!(first > 0, "old events were overwritten");
    // The newest events, in order, none twice.
    assert_in_order(&got, first..n);
    assert!(
        stats.buffers_written > 31,
        "buffers were rewritten: {}",
        stats.buffers_written
    );
}

#[test]
fn circular_per_processor_has_no_duplicates_and_ends_with_the_last_event() {
    let d = dir("circcpu");
    let file = d.join("circ.etl");
    let w = Workload::new("Evtrace-Test-CircCpu");
    let s = Session::start_private(
        props("circcpu", &file)
            .mode(M::CIRCULAR)
            .maximum_file_size(1)
            .buffer_size_kb(16)
            .buffers(0, 512),
    )
    .unwrap();
    w.enable(&s);
    let n = 60_000u64;
    for i in 0..n {
        assert!(w.write(i, 0));
    }
    s.stop().unwrap();
    let mut got = counters(&read(&[file]));
    assert_eq!(*got.last().unwrap(), n - 1);
    let len = got.len();
    got.dedup();
    assert_eq!(got.len(), len, "no duplicates");
    assert!(
        got.windows(2).all(|w| w[0] < w[1]),
        "delivered in time order"
    );
}

#[test]
fn newfile_splits_at_the_size_and_loses_nothing() {
    let d = dir("newfile");
    let pattern = d.join("part_%d.etl");
    let w = Workload::new("Evtrace-Test-NewFile");
    let s = Session::start_private(
        props("newfile", &pattern)
            .mode(M::NEWFILE | M::USE_KBYTES_FOR_SIZE)
            .maximum_file_size(128)
            .buffer_size_kb(8)
            .buffers(0, 512),
    )
    .unwrap();
    w.enable(&s);
    let n = 20_000u64;
    for i in 0..n {
        assert!(w.write(i, 0));
    }
    let stats = s.stop().unwrap();
    assert!(stats.files.len() >= 3, "{:?}", stats.files);
    for (k, f) in stats.files.iter().enumerate() {
        assert_eq!(
            f,
            &d.join(format!("part_{}.etl", k + 1)),
            "counter in the name"
        );
        assert!(file_len(f) <= 128 * 1024);
    }
    let rb = read(&stats.files);
    assert_in_order(&counters(&rb), 0..n);
}

/// ControlTrace(INCREMENT_FILE): the events so far stay in the current file and the next ones
/// go to the next file of the series, before MaximumFileSize is reached. Other modes refuse it.
#[test]
fn increment_file_starts_the_next_file_now() {
    let d = dir("increment");
    let pattern = d.join("inc_%d.etl");
    let w = Workload::new("Evtrace-Test-Increment");
    let s = Session::start_private(
        props("increment", &pattern)
            .mode(M::NEWFILE)
            .maximum_file_size(64),
    )
    .unwrap();
    w.enable(&s);
    for i in 0..100 {
        assert!(w.write(i, 0));
    }
    s.increment_file().unwrap();
    for i in 100..250 {
        assert!(w.write(i, 0));
    }
    s.increment_file().unwrap();
    let stats = s.stop().unwrap();
    let names: Vec<_> = (1..=3).map(|k| d.join(format!("inc_{k}.etl"))).collect();
    assert_eq!(stats.files, names);
    assert_in_order(&counters(&read(&[&names[0]])), 0..100);
    assert_in_order(&counters(&read(&[&names[1]])), 100..250);
    assert!(counters(&read(&[&names[2]])).is_empty());

    let plain = Session::start_private(props("increment-plain", &d.join("plain.etl"))).unwrap();
    let e = plain.increment_file().unwrap_err();
    assert_eq!(
        e.code(),
        evtrace_runtime::ErrorCode::InvalidParameter,
        "{e}"
    );
    assert!(e.message().contains("NEWFILE"), "{e}");
    plain.stop().unwrap();
}

#[test]
fn append_extends_a_file_with_the_same_buffer_size_and_clock() {
    let d = dir("append");
    let file = d.join("app.etl");
    let w = Workload::new("Evtrace-Test-Append");
    for (round, range) in [(0, 0..3000u64), (1, 3000..5000)] {
        let s = Session::start(
            props(&format!("append{round}"), &file)
                .mode(M::APPEND)
                .clock(ClockType::SystemTime)
                .buffers(0, 256),
            SessionKind::System,
        )
        .unwrap();
        w.enable(&s);
        for i in range {
            assert!(w.write(i, 0));
        }
        s.stop().unwrap();
    }
    assert_in_order(&counters(&read(&[&file])), 0..5000);
    let e = Session::start(
        props("append-bad", &file)
            .mode(M::APPEND)
            .clock(ClockType::SystemTime)
            .buffer_size_kb(128),
        SessionKind::System,
    )
    .unwrap_err();
    assert!(e.message().contains("BufferSize"), "{e}");
    let e = Session::start(
        props("append-clk", &file).mode(M::APPEND),
        SessionKind::System,
    )
    .unwrap_err();
    assert!(e.message().contains("ClockType"), "{e}");
    // APPEND extends a sequential file only: not one that was written circular.
    let circ = d.join("circ.etl");
    Session::start(
        props("append-circ-0", &circ)
            .mode(M::CIRCULAR)
            .maximum_file_size(1),
        SessionKind::System,
    )
    .unwrap()
    .stop()
    .unwrap();
    let e = Session::start(
        props("append-circ", &circ).mode(M::APPEND),
        SessionKind::System,
    )
    .unwrap_err();
    assert!(
        e.message().contains("CIRCULAR") && e.message().contains("sequential"),
        "{e}"
    );
}

#[test]
fn preallocate_reserves_the_maximum_and_trims_at_stop() {
    let d = dir("prealloc");
    let file = d.join("pre.etl");
    let w = Workload::new("Evtrace-Test-Prealloc");
    let s = Session::start(
        props("prealloc", &file)
            .mode(M::SEQUENTIAL | M::PREALLOCATE)
            .maximum_file_size(8)
            .buffers(0, 256),
        SessionKind::System,
    )
    .unwrap();
    assert_eq!(file_len(&file), 8 << 20, "reserved while running");
    w.enable(&s);
    for i in 0..1000 {
        assert!(w.write(i, 0));
    }
    let stats = s.stop().unwrap();
    assert_eq!(
        file_len(&file),
        (stats.buffers_written + 1) * 65536,
        "trimmed to what was written"
    );
    assert_in_order(&counters(&read(&[file])), 0..1000);
}

#[test]
fn buffering_keeps_a_ring_and_saves_it_on_flush() {
    let d = dir("buffering");
    let file = d.join("ring.etl");
    let w = Workload::new("Evtrace-Test-Buffering");
    let s = Session::start_private(
        props("buffering", &file)
            .mode(M::BUFFERING | M::NO_PER_PROCESSOR_BUFFERING)
            .buffer_size_kb(4)
            .buffers(6, 100),
    )
    .unwrap();
    assert!(
        !file.exists() || file_len(&file) == 0,
        "nothing is written before a flush"
    );
    w.enable(&s);
    let n = 20_000u64;
    for i in 0..n {
        assert!(w.write(i, 0), "a ring never runs out of buffers");
    }
    assert_eq!(
        s.query().number_of_buffers,
        6,
        "pool fixed at MinimumBuffers"
    );
    s.flush().unwrap();
    let got = counters(&read(&[&file]));
    let first = got[0];
    assert!(first > 0);
    // The newest events, in order.
    assert_in_order(&got, first..n);
    assert!(got.len() as u64 <= 6 * 4096 / 100);
    // The ring survives a flush: more events, another snapshot elsewhere.
    for i in n..n + 10 {
        w.write(i, 0);
    }
    let second = d.join("ring2.etl");
    s.update(SessionUpdate {
        log_file: Some(second.clone()),
        ..Default::default()
    })
    .unwrap();
    let got2 = counters(&read(&[second]));
    assert_eq!(*got2.last().unwrap(), n + 9);
    let stats = s.stop().unwrap();
    assert!(stats.buffers_overwritten > 0);
}

#[test]
fn every_clock_converts_to_wall_time() {
    for clock in [
        ClockType::PerfCounter,
        ClockType::SystemTime,
        ClockType::CpuCycle,
    ] {
        let d = dir(&format!("clock{}", clock.number()));
        let file = d.join("clock.etl");
        let w = Workload::new(&format!("Evtrace-Test-Clock{}", clock.number()));
        let before = now_ns();
        let s =
            Session::start_private(props(&format!("clock{}", clock.number()), &file).clock(clock))
                .unwrap();
        w.enable(&s);
        for i in 0..100 {
            w.write(i, 0);
            if i == 49 {
                // Long enough for the TSC's rate to be measured over the session at stop.
                std::thread::sleep(std::time::Duration::from_millis(250));
            }
        }
        s.stop().unwrap();
        let after = now_ns();
        let rb = read(&[file]);
        assert_eq!(rb.samples.len(), 100);
        let times: Vec<i64> = rb
            .times
            .iter()
            .map(|t| t.expect("converted time"))
            .collect();
        for t in &times {
            assert!(
                *t >= before - 1_000_000 && *t <= after + 1_000_000,
                "{clock:?}: {t} not in [{before}, {after}]"
            );
        }
        assert!(times.windows(2).all(|w| w[0] <= w[1]));
        let gap = times[50] - times[49];
        assert!(
            gap >= 15_000_000,
            "{clock:?}: the 20 ms pause shows as {gap} ns"
        );
    }
}

#[test]
fn flush_timer_writes_partial_buffers() {
    let d = dir("flushtimer");
    let file = d.join("ft.etl");
    let w = Workload::new("Evtrace-Test-FlushTimer");
    let s = Session::start_private(props("flushtimer", &file).flush_timer(1)).unwrap();
    w.enable(&s);
    for i in 0..10 {
        w.write(i, 0);
    }
    std::thread::sleep(std::time::Duration::from_millis(2500));
    let running = read(&[&file]);
    assert_eq!(
        counters(&running).len(),
        10,
        "flushed by the timer while running"
    );
    s.stop().unwrap();
}

#[test]
fn update_switches_the_log_file() {
    let d = dir("update");
    let (a, b) = (d.join("a.etl"), d.join("b.etl"));
    let w = Workload::new("Evtrace-Test-Update");
    let s = Session::start_private(props("update", &a)).unwrap();
    w.enable(&s);
    for i in 0..100 {
        w.write(i, 0);
    }
    s.update(SessionUpdate {
        log_file: Some(b.clone()),
        flush_timer_s: 2,
        ..Default::default()
    })
    .unwrap();
    assert_eq!(s.query().flush_timer_s, 2);
    for i in 100..200 {
        w.write(i, 0);
    }
    let e = s
        .update(SessionUpdate {
            maximum_buffers: 99,
            ..Default::default()
        })
        .unwrap_err();
    assert_eq!(e.code(), evtrace_runtime::ErrorCode::InvalidParameter);
    s.stop().unwrap();
    assert_in_order(&counters(&read(&[a])), 0..100);
    assert_in_order(&counters(&read(&[b])), 100..200);
}

#[test]
fn compressed_files_are_smaller_and_decode_exactly() {
    let d = dir("compressed");
    let w = Workload::new("Evtrace-Test-Compressed");
    let n = 30_000u64;
    let mut sizes = Vec::new();
    for compressed in [false, true] {
        let file = d.join(format!("c{compressed}.etl"));
        let mode = if compressed {
            M::SEQUENTIAL | M::COMPRESSED
        } else {
            M::SEQUENTIAL
        };
        let s = Session::start_private(
            props(&format!("compressed-{compressed}"), &file)
                .mode(mode)
                .buffers(0, 512),
        )
        .unwrap();
        w.enable(&s);
        for i in 0..n {
            assert!(w.write(i, 0));
        }
        let stats = s.stop().unwrap();
        assert_eq!(stats.events_lost, 0);
        let rb = read(&[&file]);
        assert_in_order(&counters(&rb), 0..n);
        assert_eq!(rb.problems, 0);
        sizes.push(file_len(&file));
    }
    assert!(
        sizes[1] * 4 < sizes[0],
        "compressed {} bytes vs {} plain",
        sizes[1],
        sizes[0]
    );

    // New files and a size cap count the stored (compressed) bytes.
    let pattern = d.join("cn_%d.etl");
    let s = Session::start_private(
        props("compressed-newfile", &pattern)
            .mode(M::NEWFILE | M::COMPRESSED | M::USE_KBYTES_FOR_SIZE)
            .maximum_file_size(256)
            .buffers(0, 512),
    )
    .unwrap();
    w.enable(&s);
    for i in 0..n * 4 {
        assert!(w.write(i, 0));
    }
    let stats = s.stop().unwrap();
    assert!(stats.files.len() >= 2, "{:?}", stats.files);
    for f in &stats.files {
        assert!(file_len(f) <= 256 * 1024);
    }
    assert_in_order(&counters(&read(&stats.files)), 0..n * 4);
    let e = Session::start_private(
        props("compressed-circ", &d.join("cc.etl"))
            .mode(M::CIRCULAR | M::COMPRESSED)
            .maximum_file_size(4),
    )
    .unwrap_err();
    assert!(e.message().contains("EVENT_TRACE_COMPRESSED_MODE"), "{e}");
}

#[test]
fn append_to_a_compressed_file() {
    let d = dir("append-compressed");
    let file = d.join("ac.etl");
    let w = Workload::new("Evtrace-Test-AppendCompressed");
    for (round, range) in [(0, 0..4000u64), (1, 4000..9000)] {
        let s = Session::start(
            props(&format!("append-c{round}"), &file)
                .mode(M::APPEND | M::COMPRESSED)
                .clock(ClockType::SystemTime)
                .buffers(0, 256),
            SessionKind::System,
        )
        .unwrap();
        w.enable(&s);
        for i in range {
            assert!(w.write(i, 0));
        }
        s.stop().unwrap();
    }
    assert_in_order(&counters(&read(&[&file])), 0..9000);
}

#[test]
fn query_flush_and_stop_by_name() {
    use evtrace_runtime::session;
    use evtrace_runtime::ErrorCode;
    let d = dir("query");
    let file = d.join("q.etl");
    let w = Workload::new("Evtrace-Test-Query");
    let s = Session::start_private(props("Query-Me", &file).buffers(0, 40)).unwrap();
    w.enable(&s);
    let q = session::query("query-me").unwrap();
    assert_eq!(q.state, SessionState::Running);
    assert!(q.number_of_buffers >= q.minimum_buffers && q.number_of_buffers <= q.maximum_buffers);
    assert_eq!(q.free_buffers, q.number_of_buffers, "nothing in use yet");
    assert_eq!((q.maximum_buffers, q.buffer_size_kb), (40, 64));
    assert_ne!(q.logger_thread_id, 0);
    assert_eq!(q.log_file.as_deref(), Some(file.as_path()));
    // 200 events (about 40 KB) stay in the first 64 KB buffer until the flush.
    for i in 0..200 {
        w.write(i, 0);
    }
    assert_eq!(session::query("Query-Me").unwrap().buffers_written, 0);
    session::flush("QUERY-ME").unwrap();
    let q = session::query("Query-Me").unwrap();
    assert!(
        q.buffers_written >= 1,
        "flush wrote the partly filled buffer"
    );
    assert_eq!(
        counters(&read(&[&file])).len(),
        200,
        "readable while the session runs"
    );
    assert!(session::list_private().iter().any(|x| x.name == "Query-Me"));
    assert!(
        !session::list().iter().any(|x| x.name == "Query-Me"),
        "QueryAllTraces never lists private sessions"
    );
    let stats = session::stop("query-me").unwrap();
    assert_eq!(stats.state, SessionState::Stopped);
    assert_eq!(
        session::query("Query-Me").unwrap_err().code(),
        ErrorCode::InstanceNotFound
    );
    assert_eq!(
        s.stop().unwrap(),
        stats,
        "the handle reports the same final figures"
    );
}

/// Compares without printing thousands of numbers on failure.
fn assert_in_order(got: &[u64], want: std::ops::Range<u64>) {
    let want: Vec<u64> = want.collect();
    if got != want {
        let at = got
            .iter()
            .zip(&want)
            .position(|(a, b)| a != b)
            .unwrap_or(got.len().min(want.len()));
        panic!(
            "{} events, {} expected; first difference at index {at}: got {:?}, expected {:?}",
            got.len(),
            want.len(),
            got.get(at),
            want.get(at)
        );
    }
}

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64
}

/// Clock 1, the default, is `CLOCK_MONOTONIC` in nanoseconds (ETW-REFERENCE: PerfFreq 1e9),
/// whether it is read through `clock_gettime` or mapped from the TSC.
#[test]
fn the_performance_counter_is_clock_monotonic_in_nanoseconds() {
    let d = dir("perfcounter");
    let file = d.join("perf.etl");
    let w = Workload::new("Evtrace-Test-PerfCounter");
    let s = Session::start_private(props("perfcounter", &file)).unwrap();
    w.enable(&s);
    let mut spans = Vec::new();
    for i in 0..20 {
        let before = evtrace_runtime::clock::monotonic_ns();
        w.write(i, 0);
        spans.push((before, evtrace_runtime::clock::monotonic_ns()));
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    s.stop().unwrap();
    let mut r = evtrace_runtime::consume::LogReader::open(&[&file]).unwrap();
    let raw: Vec<i64> = (&mut r).map(|it| it.timestamp()).collect();
    let h = r.header(0).unwrap();
    assert_eq!((h.clock_type, h.perf_freq), (1, 1_000_000_000));
    assert_eq!(raw.len(), spans.len());
    for (t, (before, after)) in raw.iter().zip(&spans) {
        // Within 0.1 ms either side (the mapping follows the kernel's clock to microseconds);
        // TSC ticks or another unit would be off by far more.
        assert!(
            *t >= before - 100_000 && *t <= after + 100_000,
            "{t} not in [{before}, {after}] (CLOCK_MONOTONIC ns)"
        );
    }
}
