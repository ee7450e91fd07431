//! EventsLost is exact: when the buffers run out, every write is either in the file or counted,
//! and the in-band loss records add up to the session's EventsLost. Many threads write at once
//! with no torn or uncounted event.

mod recording;

use std::sync::atomic::{AtomicU64, Ordering};

use evtrace_runtime::session::{LogFileMode as M, Session};
use evtrace_runtime::ErrorCode;
use recording::*;

#[test]
fn written_plus_lost_equals_attempted_when_buffers_run_out() {
    let d = dir("losses");
    let file = d.join("lossy.etl");
    let w = Workload::new("Evtrace-Test-Losses");
    // The smallest pool: 4 KB buffers, 2 per processor, no growth. Writers outrun the flusher.
    let s = Session::start_private(props("losses", &file).buffer_size_kb(4).buffers(1, 1)).unwrap();
    w.enable(&s);
    let attempted = AtomicU64::new(0);
    let refused = AtomicU64::new(0);
    std::thread::scope(|sc| {
        for t in 0..2u32 {
            let (w, attempted, refused) = (&w, &attempted, &refused);
            sc.spawn(move || {
                for i in 0..100_000u64 {
                    attempted.fetch_add(1, Ordering::Relaxed);
                    let tag = b"payload-16-bytes";
                    if let Err(e) = w
                        .event
                        .write(&[&i.to_le_bytes(), &t.to_le_bytes(), tag, &[0]])
                    {
                        assert_eq!(e.code(), ErrorCode::NotEnoughMemory, "{e}");
                        refused.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    let stats = s.stop().unwrap();
    let rb = read(&[file]);
    let attempted = attempted.into_inner();
    let written = rb.samples.len() as u64;
    assert!(stats.events_lost > 0, "the test must exhaust the buffers");
    assert_eq!(
        written + stats.events_lost,
        attempted,
        "written {written} + lost {} != attempted {attempted}",
        stats.events_lost
    );
    assert_eq!(
        refused.into_inner(),
        stats.events_lost,
        "every lost event was refused to its writer"
    );
    assert_eq!(
        rb.lost_in_band, stats.events_lost,
        "in-band loss records add up to EventsLost"
    );
    assert_eq!(
        rb.header_events_lost, stats.events_lost,
        "the file header says the same"
    );
    assert_eq!(stats.log_buffers_lost, 0);
}

#[test]
fn too_large_events_are_refused_with_a_clear_error_and_counted() {
    let d = dir("toolarge");
    let file = d.join("big.etl");
    let w = Workload::new("Evtrace-Test-TooLarge");
    let s = Session::start_private(props("toolarge", &file).buffer_size_kb(4)).unwrap();
    w.enable(&s);
    let big = vec![b'x'; 5000];
    let e = w
        .event
        .write(&[&1u64.to_le_bytes(), &0u32.to_le_bytes(), &big, &[0]])
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::MoreData);
    assert!(e.message().contains("4 KB"), "{e}");
    let huge = vec![b'x'; 70_000];
    let e = w
        .event
        .write(&[&2u64.to_le_bytes(), &0u32.to_le_bytes(), &huge, &[0]])
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::ArithmeticOverflow);
    assert!(e.message().contains("64 KB"), "{e}");
    assert!(w.write(3, 0));
    let stats = s.stop().unwrap();
    assert_eq!(stats.events_lost, 2);
    let rb = read(&[file]);
    assert_eq!(counters(&rb), vec![3], "the earlier data is intact");
    assert_eq!(rb.lost_in_band, 2);
}

#[test]
fn many_threads_no_torn_or_uncounted_event() {
    let d = dir("stress");
    let file = d.join("stress.etl");
    let w = Workload::new("Evtrace-Test-Stress");
    let s =
        Session::start_private(props("stress", &file).buffer_size_kb(8).buffers(0, 64)).unwrap();
    w.enable(&s);
    const THREADS: u32 = 8;
    const PER: u64 = 30_000;
    let accepted: Vec<Vec<u64>> = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..THREADS)
            .map(|t| {
                let w = &w;
                sc.spawn(move || (0..PER).filter(|&i| w.write(i, t)).collect::<Vec<u64>>())
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let stats = s.stop().unwrap();
    let rb = read(&[file]);
    assert_eq!(rb.problems, 0);
    assert_delivered_as_accepted(&rb, &accepted);
    let total_accepted: u64 = accepted.iter().map(|a| a.len() as u64).sum();
    assert_eq!(total_accepted + stats.events_lost, THREADS as u64 * PER);
}

/// Every field of every event decoded intact (checked in `read`); per thread: exactly the
/// accepted events, each once, in order.
fn assert_delivered_as_accepted(rb: &ReadBack, accepted: &[Vec<u64>]) {
    for (t, accepted) in accepted.iter().enumerate() {
        let got: Vec<u64> = rb
            .samples
            .iter()
            .filter(|(th, _)| *th == t as u32)
            .map(|(_, c)| *c)
            .collect();
        assert_eq!(got.len(), accepted.len(), "thread {t}");
        if got != *accepted {
            let at = got.iter().zip(accepted).position(|(a, b)| a != b).unwrap();
            panic!(
                "thread {t}: delivered {:?} where {:?} was accepted",
                &got[at.saturating_sub(2)..at + 3],
                &accepted[at.saturating_sub(2)..at + 3]
            );
        }
    }
}

#[test]
fn compressed_session_behind_its_writers_compresses_on_two_threads_and_counts_every_loss() {
    // Two writers outrun one compressing flusher by about 2x, so it soon finds large batches
    // and hands half of each to its helper thread; what the file holds must still be exactly
    // the accepted events, and the rest counted.
    let d = dir("compressed-load");
    let file = d.join("load.etl");
    let w = Workload::new("Evtrace-Test-CompressedLoad");
    let s = Session::start_private(props("compressed-load", &file).mode(M::COMPRESSED)).unwrap();
    w.enable(&s);
    const PER: u64 = 300_000;
    let accepted: Vec<Vec<u64>> = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..2u32)
            .map(|t| {
                let w = &w;
                sc.spawn(move || (0..PER).filter(|&i| w.write(i, t)).collect::<Vec<u64>>())
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let helper = std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .any(|comm| comm.starts_with("evtrace-compres"));
    let stats = s.stop().unwrap();
    assert!(
        helper,
        "the flusher never fell a batch behind: no compression helper was started"
    );
    let rb = read(&[file]);
    assert_eq!(rb.problems, 0);
    assert_delivered_as_accepted(&rb, &accepted);
    let total_accepted: u64 = accepted.iter().map(|a| a.len() as u64).sum();
    assert_eq!(total_accepted + stats.events_lost, 2 * PER);
    assert_eq!(rb.lost_in_band, stats.events_lost);
}

#[test]
fn withheld_from_all_but_independent_sessions_when_one_fails() {
    // Two private sessions enable one provider. One has tiny buffers and runs out; without
    // INDEPENDENT_SESSION the event is then recorded in neither, and each counts it.
    let d = dir("dependent");
    let w = Workload::new("Evtrace-Test-Dependent");
    let (fa, fb) = (d.join("a.etl"), d.join("b.etl"));
    let a = Session::start_private(
        props("dep-a", &fa)
            .buffer_size_kb(4)
            .buffers(1, 1)
            .mode(M::NO_PER_PROCESSOR_BUFFERING),
    )
    .unwrap();
    let b = Session::start_private(props("dep-b", &fb).buffers(0, 256)).unwrap();
    w.enable(&a);
    w.enable(&b);
    let mut refused = 0;
    for i in 0..50_000 {
        if !w.write(i, 0) {
            refused += 1;
        }
    }
    let (sa, sb) = (a.stop().unwrap(), b.stop().unwrap());
    assert!(refused > 0);
    let (ra, rb) = (read(&[fa]), read(&[fb]));
    assert_eq!(ra.samples.len() + sa.events_lost as usize, 50_000);
    assert_eq!(rb.samples.len() + sb.events_lost as usize, 50_000);
    assert_eq!(
        counters(&ra),
        counters(&rb),
        "both sessions hold the same events"
    );
    assert_eq!(
        sb.events_lost, refused,
        "the healthy session counts the withheld events"
    );
    assert_eq!(rb.lost_in_band, sb.events_lost);
}
