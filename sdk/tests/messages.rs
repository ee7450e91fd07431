//! TraceMessage-style messages end to end: sequence numbers (global across sessions, local per
//! session), the text rebuilt from the log file alone (a wrapped circular file included), and
//! arguments that are evaluated only when a session wants the event.

use std::cell::Cell;
use std::path::Path;

use evtrace::consume::{Item, LogReader};
use evtrace::provider::{filter::level, EnableSettings};
use evtrace::session::{LogFileMode as M, Session, SessionProperties};
use evtrace_testkit::Scratch;

#[evtrace::provider(name = "Evtrace-Test-Messages")]
mod msgs {
    /// Something happened.
    #[event(level = info)]
    pub fn happened(n: u32);
}

// Tests run in parallel: each has its own provider so no session sees another test's events.
#[evtrace::provider(name = "Evtrace-Test-Circular-Messages")]
mod circ {}

#[evtrace::provider(name = "Evtrace-Test-Lazy")]
mod lazy {
    /// Written only when enabled.
    #[event(level = verbose, keywords = 0x4)]
    pub fn costly(n: u64);
}

/// The test's own folder, removed when it passes.
fn dir(test: &str) -> Scratch {
    Scratch::new(&format!("sdk-{test}"))
}

/// (sequence, text) of every message in the files, in delivery order.
fn messages(files: &[&Path]) -> Vec<(Option<u32>, String)> {
    LogReader::open(files)
        .unwrap()
        .filter_map(|i| match i {
            Item::Message(m) => Some((m.sequence, m.text.unwrap_or_default())),
            _ => None,
        })
        .collect()
}

// Both sequence tests share the process-wide global counter, so they run as one test.
#[test]
fn sequence_numbers_global_and_local() {
    let d = dir("seq");
    // Two GLOBAL_SEQUENCE sessions: the numbers across both are unique and increasing.
    let (fa, fb) = (d.join("ga.etl"), d.join("gb.etl"));
    let a = Session::start_private(
        SessionProperties::new("seq-ga")
            .log_file(&fa)
            .mode(M::GLOBAL_SEQUENCE),
    )
    .unwrap();
    let b = Session::start_private(
        SessionProperties::new("seq-gb")
            .log_file(&fb)
            .mode(M::GLOBAL_SEQUENCE),
    )
    .unwrap();
    a.enable_provider(
        msgs::PROVIDER.guid(),
        EnableSettings::new(level::VERBOSE, 0, 0),
    )
    .unwrap();
    for i in 0..50u32 {
        if i == 20 {
            b.enable_provider(
                msgs::PROVIDER.guid(),
                EnableSettings::new(level::VERBOSE, 0, 0),
            )
            .unwrap();
        }
        evtrace::trace_message!(msgs, "message {}", i: u32);
    }
    a.stop().unwrap();
    b.stop().unwrap();
    let (ma, mb) = (messages(&[&fa]), messages(&[&fb]));
    assert_eq!((ma.len(), mb.len()), (50, 30));
    let seq_a: Vec<u32> = ma.iter().map(|m| m.0.expect("sequence recorded")).collect();
    let seq_b: Vec<u32> = mb.iter().map(|m| m.0.expect("sequence recorded")).collect();
    assert!(
        seq_a.windows(2).all(|w| w[0] < w[1]),
        "increasing in session a: {seq_a:?}"
    );
    assert!(
        seq_b.windows(2).all(|w| w[0] < w[1]),
        "increasing in session b: {seq_b:?}"
    );
    let mut all: Vec<u32> = seq_a.iter().chain(&seq_b).copied().collect();
    all.sort_unstable();
    let n = all.len();
    all.dedup();
    assert_eq!(all.len(), n, "unique across both sessions");
    assert_eq!(ma[3].1, "message 3");

    // LOCAL_SEQUENCE: each session counts from 1 without gaps.
    let (la, lb) = (d.join("la.etl"), d.join("lb.etl"));
    let a = Session::start_private(
        SessionProperties::new("seq-la")
            .log_file(&la)
            .mode(M::LOCAL_SEQUENCE),
    )
    .unwrap();
    let b = Session::start_private(
        SessionProperties::new("seq-lb")
            .log_file(&lb)
            .mode(M::LOCAL_SEQUENCE),
    )
    .unwrap();
    a.enable_provider(
        msgs::PROVIDER.guid(),
        EnableSettings::new(level::VERBOSE, 0, 0),
    )
    .unwrap();
    b.enable_provider(
        msgs::PROVIDER.guid(),
        EnableSettings::new(level::VERBOSE, 0, 0),
    )
    .unwrap();
    for i in 0..40u32 {
        evtrace::trace_message!(msgs, "local {}", i: u32);
        evtrace::write!(msgs::happened(i)); // events take no sequence number
    }
    a.stop().unwrap();
    b.stop().unwrap();
    for f in [&la, &lb] {
        let seq: Vec<u32> = messages(&[f]).iter().map(|m| m.0.unwrap()).collect();
        assert_eq!(seq, (1..=40).collect::<Vec<u32>>(), "{}", f.display());
    }
    // No sequence mode: no sequence number is recorded.
    let plain = d.join("plain.etl");
    let s = Session::start_private(SessionProperties::new("seq-none").log_file(&plain)).unwrap();
    s.enable_provider(
        msgs::PROVIDER.guid(),
        EnableSettings::new(level::VERBOSE, 0, 0),
    )
    .unwrap();
    evtrace::trace_message!(msgs, "plain");
    s.stop().unwrap();
    assert_eq!(messages(&[&plain]), vec![(None, "plain".to_string())]);
}

#[test]
fn message_text_survives_a_wrapped_circular_file() {
    let d = dir("circ");
    let f = d.join("circ.etl");
    let s = Session::start_private(
        SessionProperties::new("msg-circ")
            .log_file(&f)
            .mode(
                M::CIRCULAR
                    | M::USE_KBYTES_FOR_SIZE
                    | M::LOCAL_SEQUENCE
                    | M::NO_PER_PROCESSOR_BUFFERING,
            )
            .maximum_file_size(64)
            .buffer_size_kb(4)
            .buffers(0, 256),
    )
    .unwrap();
    s.enable_provider(
        circ::PROVIDER.guid(),
        EnableSettings::new(level::VERBOSE, 0, 0),
    )
    .unwrap();
    let n = 5000u32;
    for i in 0..n {
        evtrace::trace_message!(circ, "copied {} bytes to {}", i as u64 * 10: u64, "disk");
    }
    let stats = s.stop().unwrap();
    assert_eq!(stats.events_lost, 0);
    let got = messages(&[&f]);
    assert!(got.len() < n as usize, "the file wrapped");
    let first = got[0].0.unwrap();
    assert!(first > 1);
    for (k, (seq, text)) in got.iter().enumerate() {
        let seq = seq.unwrap();
        assert_eq!(seq, first + k as u32, "no gaps, in order");
        assert_eq!(
            text,
            &format!("copied {} bytes to disk", (seq - 1) as u64 * 10)
        );
    }
    assert_eq!(got.last().unwrap().0, Some(n));
}

#[test]
fn disabled_events_do_not_evaluate_their_arguments() {
    let calls = Cell::new(0u32);
    let costly = || {
        calls.set(calls.get() + 1);
        7u64
    };
    // No session: nothing is evaluated.
    evtrace::write!(lazy::costly(costly()));
    evtrace::trace_message!(lazy, level = verbose, "value {}", costly(): u64);
    assert_eq!(calls.get(), 0, "disabled: arguments not evaluated");

    let d = dir("lazy");
    let f = d.join("lazy.etl");
    let s = Session::start_private(SessionProperties::new("lazy").log_file(&f)).unwrap();
    // Enabled below the event's level, or without its keyword: still not evaluated.
    s.enable_provider(
        lazy::PROVIDER.guid(),
        EnableSettings::new(level::INFORMATION, 0, 0),
    )
    .unwrap();
    evtrace::write!(lazy::costly(costly()));
    s.enable_provider(
        lazy::PROVIDER.guid(),
        EnableSettings::new(level::VERBOSE, 0x1, 0),
    )
    .unwrap();
    evtrace::write!(lazy::costly(costly()));
    assert_eq!(
        calls.get(),
        0,
        "filtered out by level or keyword: not evaluated"
    );
    // Wanted: evaluated once and recorded.
    s.enable_provider(
        lazy::PROVIDER.guid(),
        EnableSettings::new(level::VERBOSE, 0x4, 0),
    )
    .unwrap();
    evtrace::write!(lazy::costly(costly()));
    assert_eq!(calls.get(), 1);
    s.disable_provider(lazy::PROVIDER.guid()).unwrap();
    evtrace::write!(lazy::costly(costly()));
    assert_eq!(calls.get(), 1, "disabled again");
    s.stop().unwrap();
    let events = LogReader::open(&[&f])
        .unwrap()
        .filter(|i| matches!(i, Item::Event(_)))
        .count();
    assert_eq!(events, 1);
}
