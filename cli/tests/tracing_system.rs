//! The `tracing` layer with a system session: the daemon hosts the session, a producer process
//! instrumented only with `tracing` logs to it through evtrace-tracing, and the file holds its
//! spans as Start/Stop activities and its events inside them.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use evtrace::consume::{Item, LogReader};
use tracing_subscriber::layer::SubscriberExt;

const PROVIDER: &str = "Evtrace-Tracing-Test-System";

/// The producer: runs instead of the test when the environment says so.
fn producer_role() -> bool {
    if std::env::var_os("EVTRACE_TEST_TRACING_PRODUCER").is_none() {
        return false;
    }
    let layer = evtrace_tracing::EvtraceLayer::new(PROVIDER).unwrap();
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer.clone()))
        .unwrap();
    // The daemon sends the session's enable once it has found this process.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !layer.provider().enable_info().enabled {
        assert!(Instant::now() < deadline, "never enabled");
        std::thread::sleep(Duration::from_millis(10));
    }
    for n in 0..3u64 {
        let outer = tracing::info_span!("outer", n).entered();
        tracing::info!(n, "inside outer");
        {
            let _inner = tracing::info_span!("inner", n).entered();
            tracing::warn!(n, "inside inner");
        }
        drop(outer);
    }
    true
}

#[test]
fn a_system_session_records_the_layers_spans_and_events() {
    if producer_role() {
        return;
    }
    let dir = temp_dir("tracing-system");
    let _daemon = start_daemon(&dir);
    let file = dir.join("tracing.etl");
    run_ok(
        evtrace(&dir)
            .args(["start", "Evtrace-Tracing-System", "-f"])
            .arg(&file)
            .args(["--provider", &format!("{PROVIDER}:5")]),
    );
    let mut producer = Command::new(std::env::current_exe().unwrap());
    dies_with_test(&mut producer)
        .args([
            "--exact",
            "a_system_session_records_the_layers_spans_and_events",
        ])
        .env("EVTRACE_TEST_TRACING_PRODUCER", "1")
        .env("EVTRACE_RUNTIME_DIR", dir.path());
    assert!(producer.status().unwrap().success());
    run_ok(evtrace(&dir).args(["stop", "Evtrace-Tracing-System"]));

    let evs: Vec<_> = LogReader::open(&[&file])
        .unwrap()
        .filter_map(|i| match i {
            Item::Event(e) if e.provider_name.as_deref() == Some(PROVIDER) => Some(e),
            _ => None,
        })
        .collect();
    assert_eq!(evs.len(), 3 * 6, "{evs:#?}");
    let outer_starts: Vec<_> = evs
        .iter()
        .filter(|e| e.name.as_deref() == Some("outer") && e.descriptor.opcode == 1)
        .collect();
    assert_eq!(outer_starts.len(), 3);
    for o in outer_starts {
        let id = o.activity_id;
        let ops = |aid| {
            evs.iter()
                .filter(|e| e.activity_id == aid)
                .map(|e| e.descriptor.opcode)
                .collect::<Vec<_>>()
        };
        // Start, the event inside, Stop.
        assert_eq!(ops(id), [1, 0, 2]);
        let inner = evs
            .iter()
            .find(|e| e.descriptor.opcode == 1 && e.related_activity_id == Some(id))
            .expect("inner Start names outer");
        assert_eq!(inner.name.as_deref(), Some("inner"));
        assert_eq!(ops(inner.activity_id), [1, 0, 2]);
    }
}
