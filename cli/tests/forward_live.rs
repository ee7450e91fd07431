//! `evtrace forward` on sources that are still being written: a NEWFILE series followed as a
//! private session writes it, and a system session's real-time stream.

mod common;
mod otlp;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{dies_with_test, evtrace, run_ok, start_daemon, temp_dir};
use evtrace::provider::EnableSettings;
use evtrace::session::{Session, SessionProperties};
use evtrace_runtime::session::LogFileMode as M;
use otlp::*;

/// Waits until the receiver holds `n` distinct source records (or the deadline passes).
fn wait_for_records(rx: &Receiver, n: usize, forwarder: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got = rx.received();
        let have = id_counts(&event_logs(&got)).len();
        if have >= n {
            return;
        }
        assert!(
            forwarder.try_wait().unwrap().is_none(),
            "forward ended with {have} of {n} records"
        );
        assert!(Instant::now() < deadline, "{have} of {n} records arrived");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Ends `child` with SIGTERM, as a service manager would, and gives its exit code.
fn terminate(child: &mut Child) -> Option<i32> {
    // SAFETY: kill(2) on a child this test started and has not reaped.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    child.wait().unwrap().code()
}

#[test]
fn a_newfile_series_is_followed_as_it_is_written() {
    let Some(py) = otlp_python() else { return };
    let dir = temp_dir("forward-follow");
    let rx = Receiver::start(&py, dir.path(), 0.0);
    let pattern = dir.join("live_%d.etl");
    let mut c = Command::new(env!("CARGO_BIN_EXE_evtrace"));
    dies_with_test(&mut c);
    // Started before the first file exists: it waits for it.
    let mut forwarder = c
        .arg("forward")
        .arg("--follow")
        .arg(&pattern)
        .args(["--endpoint", &rx.http_url(), "--cursor"])
        .arg(dir.join("live.cursor"))
        .args(["--poll-ms", "50", "--batch-delay-ms", "100"])
        .stderr(std::fs::File::create(dir.join("forward.err")).unwrap())
        .spawn()
        .unwrap();
    let s = Session::start_private(
        SessionProperties::new("fwd-live")
            .log_file(&pattern)
            .mode(M::NEWFILE | M::USE_KBYTES_FOR_SIZE)
            .maximum_file_size(96)
            .buffer_size_kb(8)
            .buffers(0, 512)
            .flush_timer(1),
    )
    .unwrap();
    s.enable_provider(fwd::PROVIDER.guid(), EnableSettings::new(5, 0, 0))
        .unwrap();
    for chunk in 0..4 {
        requests_from(chunk * 300, (chunk + 1) * 300);
        // Room for the forwarder to catch up with a file still being written.
        std::thread::sleep(Duration::from_millis(300));
    }
    let stats = s.stop().unwrap();
    assert!(stats.files.len() >= 3, "{:?}", stats.files);
    let files: Vec<&std::path::Path> = stats.files.iter().map(|p| p.as_path()).collect();
    let want = fmt_json(&files);
    wait_for_records(&rx, want.len(), &mut forwarder);
    assert_eq!(terminate(&mut forwarder), Some(0), "a clean stop");
    let got = rx.received();
    let logs = event_logs(&got);
    assert!(id_counts(&logs).values().all(|&n| n == 1), "each once");
    let (a, b) = compare(&want, &logs);
    assert_same(&a, &b, "the whole series");
    assert_eq!(spans(&got).len(), 2 * 1200, "every Start/Stop pair");
}

/// The producer of the real-time test: this binary run again, writing into the daemon's
/// session.
fn producer_role() -> bool {
    if std::env::var_os("EVTRACE_FORWARD_PRODUCER").is_none() {
        return false;
    }
    fwd::register().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !fwd::step::EVENT.enabled() {
        assert!(Instant::now() < deadline, "the producer was never enabled");
        std::thread::sleep(Duration::from_millis(5));
    }
    requests_from(0, 300);
    true
}

#[test]
fn a_real_time_session_is_forwarded_until_it_stops() {
    if producer_role() {
        return;
    }
    let Some(py) = otlp_python() else { return };
    let dir = temp_dir("forward-rt");
    let rx = Receiver::start(&py, dir.path(), 0.0);
    let _daemon = start_daemon(&dir);
    let file = dir.join("rt.etl");
    run_ok(
        evtrace(&dir)
            .args(["start", "Fwd-Rt", "--rt", "--max", "512", "-f"])
            .arg(&file)
            .args(["--provider", "Evtrace-Forward-Test:5"]),
    );
    let forwarder = evtrace(&dir)
        .args(["forward", "--rt", "Fwd-Rt", "--endpoint", &rx.http_url()])
        .args(["--batch-delay-ms", "100", "--cursor"])
        .arg(dir.join("rt.cursor"))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !run_ok(evtrace(&dir).args(["query", "Fwd-Rt"])).contains("Real Time Consumers:   1") {
        assert!(Instant::now() < deadline, "forward did not attach");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut producer = Command::new(std::env::current_exe().unwrap());
    dies_with_test(&mut producer)
        .args(["--exact", "a_real_time_session_is_forwarded_until_it_stops"])
        .env("EVTRACE_FORWARD_PRODUCER", "1")
        .env("EVTRACE_RUNTIME_DIR", dir.path())
        .stdout(Stdio::null());
    assert!(producer.status().unwrap().success(), "the producer failed");
    let stopped = run_ok(evtrace(&dir).args(["stop", "Fwd-Rt"]));
    assert!(stopped.contains("Real Time Buffers Lost: 0"), "{stopped}");
    // The session's end ends the forwarder, after everything was acknowledged.
    let out = forwarder.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let want: Vec<serde_json::Value> = fmt_json(&[&file])
        .into_iter()
        .filter(|e| e["provider"] == "Evtrace-Forward-Test")
        .collect();
    assert_eq!(want.len(), 300 * 7 + 30);
    let got = rx.received();
    let logs: Vec<&serde_json::Value> = event_logs(&got)
        .into_iter()
        .filter(|r| r["attributes"]["etw.provider.name"]["string"] == "Evtrace-Forward-Test")
        .collect();
    assert!(id_counts(&logs).values().all(|&n| n == 1), "each once");
    let (a, b) = compare(&want, &logs);
    assert_same(&a, &b, "the real-time stream, as the session's file has it");
    assert_eq!(spans(&got).len(), 600);
}
