//! System sessions end to end: the `evtrace` daemon, three producer processes logging into one
//! session at once, controlled with `evtrace start` / `query` / `stop`, the file read back.
//!
//! The producers are this test binary run again with `EVTRACE_TEST_PRODUCER` set: each registers
//! the provider, waits until the daemon has enabled it, writes its events and exits (its share
//! hands its last buffers to the daemon on the way out).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use evtrace::etl::read::{for_each_record, Record};

mod common;
use common::*;

#[evtrace::provider(name = "Evtrace-Test-System")]
mod sys {
    /// One event of a producer.
    #[event(level = info)]
    pub fn tick(producer: u32, n: u64);
}

const EVENTS_PER_PRODUCER: u64 = 20_000;

/// The producer role: runs instead of the test when the environment says so. With
/// `EVTRACE_TEST_FOREVER` it writes until killed, in bursts that leave its share room (so what it
/// loses is only what a kill leaves behind).
fn producer_role() -> bool {
    let Ok(id) = std::env::var("EVTRACE_TEST_PRODUCER") else {
        return false;
    };
    let id: u32 = id.parse().unwrap();
    sys::register().unwrap();
    // Whether the provider's enable callback hears of an enable (the Global Logger sends none).
    static TOLD: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    sys::PROVIDER.set_enable_callback(|info| {
        if info.enabled {
            TOLD.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    });
    let expect_told = std::env::var("EVTRACE_TEST_EXPECT_TOLD").ok();
    let check_told = move || {
        if let Some(want) = &expect_told {
            let told = TOLD.load(std::sync::atomic::Ordering::SeqCst);
            assert_eq!(
                told,
                want == "1",
                "producer {id}: enable callback told = {told}"
            );
        }
    };
    if std::env::var_os("EVTRACE_TEST_SLOW").is_some() {
        // One event every 20 ms: a buffer would take minutes to fill; the flush timer sends it.
        for n in 0.. {
            evtrace::write!(sys::tick(id, n));
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    if std::env::var_os("EVTRACE_TEST_FOREVER").is_some() {
        let mut n = 0u64;
        loop {
            if sys::tick::EVENT.enabled() {
                for _ in 0..500 {
                    evtrace::write!(sys::tick(id, n));
                    n += 1;
                }
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while !sys::tick::EVENT.enabled() {
        assert!(Instant::now() < deadline, "producer {id}: never enabled");
        std::thread::sleep(Duration::from_millis(5));
    }
    // Logging to several sessions: the daemon enables them one after the other, microseconds
    // apart; let every enable land before writing.
    if let Some(ms) = std::env::var("EVTRACE_TEST_SETTLE_MS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        std::thread::sleep(Duration::from_millis(ms));
    }
    if std::env::var_os("EVTRACE_TEST_MESSAGES").is_some() {
        for n in 0..MESSAGES_PER_PRODUCER {
            evtrace::trace_message!(sys, "producer {} message {}", id: u32, n: u64);
        }
        return true;
    }
    // Paced: in bursts the daemon takes in between, so the share itself never overflows and
    // what is lost is lost where the test looks (the daemon's real-time backlog).
    let burst = if std::env::var_os("EVTRACE_TEST_PACED").is_some() {
        1000
    } else {
        EVENTS_PER_PRODUCER
    };
    for n in 0..EVENTS_PER_PRODUCER {
        evtrace::write!(sys::tick(id, n));
        if (n + 1) % burst == 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    check_told();
    true
}

const MESSAGES_PER_PRODUCER: u64 = 500;

/// How a producer process writes.
#[derive(Clone, Copy, PartialEq)]
enum Writes {
    /// `EVENTS_PER_PRODUCER` events, then it exits.
    Once,
    /// Bursts until killed.
    Forever,
    /// One event every 20 ms until killed.
    Slowly,
}

fn spawn_producer(dir: &Path, test: &str, id: u32, writes: Writes) -> Child {
    spawn_producer_as(dir, test, id, writes, None)
}

/// A producer writing once that checks whether its enable callback was told of the enable.
fn spawn_producer_expecting(dir: &Path, test: &str, id: u32, told: bool) -> Child {
    producer_command(dir, test, id)
        .env("EVTRACE_TEST_EXPECT_TOLD", if told { "1" } else { "0" })
        .spawn()
        .unwrap()
}

/// This test binary run again as producer `id` of `test`, linking to the daemon in `dir`.
fn producer_command(dir: &Path, test: &str, id: u32) -> Command {
    let mut c = Command::new(std::env::current_exe().unwrap());
    dies_with_test(&mut c)
        .args(["--exact", test, "--nocapture"])
        .env("EVTRACE_TEST_PRODUCER", id.to_string())
        .env("EVTRACE_RUNTIME_DIR", dir)
        .stdout(Stdio::null());
    c
}

fn spawn_producer_as(dir: &Path, test: &str, id: u32, writes: Writes, uid: Option<u32>) -> Child {
    let mut c = producer_command(dir, test, id);
    if let Some(uid) = uid {
        use std::os::unix::process::CommandExt;
        c.uid(uid).gid(uid);
        // The secure-session test: two sessions want the provider.
        c.env("EVTRACE_TEST_SETTLE_MS", "300");
    }
    match writes {
        Writes::Once => {}
        Writes::Forever => {
            c.env("EVTRACE_TEST_FOREVER", "1");
        }
        Writes::Slowly => {
            c.env("EVTRACE_TEST_SLOW", "1");
        }
    }
    c.spawn().unwrap()
}

/// (producer id, counter) of every test event in `file`; panics on any decoding problem other
/// than a last buffer cut short.
fn read_ticks(file: &Path) -> Vec<(u32, u64)> {
    let bytes = std::fs::read(file).unwrap();
    let mut out = Vec::new();
    let scan = for_each_record(&bytes, |_, r| {
        if let Record::Event(e) = &r.record {
            if e.header.provider_id == sys::PROVIDER.guid() {
                let p = u32::from_le_bytes(e.payload[0..4].try_into().unwrap());
                let n = u64::from_le_bytes(e.payload[4..12].try_into().unwrap());
                out.push((p, n));
            }
        }
    });
    assert!(scan.problems.is_empty(), "{:?}", scan.problems);
    out
}

#[test]
fn three_producers_into_one_system_session_every_event_once_in_order() {
    if producer_role() {
        return;
    }
    let dir = temp_dir("three");
    let _daemon = start_daemon(&dir);
    let file = dir.join("system.etl");
    // A log file and real-time delivery at once; room for the whole run in the real-time
    // backlog (MaximumBuffers), as the consumer (a debug build printing JSON) is slower than
    // three producers writing flat out.
    let started = run_ok(
        evtrace(&dir)
            .args(["start", "Evtrace-System-Test", "--rt", "--max", "512", "-f"])
            .arg(&file)
            .args(["--provider", "Evtrace-Test-System:5"]),
    );
    assert!(started.contains("Evtrace-System-Test"), "{started}");
    let consumer = evtrace(&dir)
        .args(["fmt", "--rt", "Evtrace-System-Test", "--json"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !run_ok(evtrace(&dir).args(["query", "Evtrace-System-Test"]))
        .contains("Real Time Consumers:   1")
    {
        assert!(Instant::now() < deadline, "the consumer did not attach");
        std::thread::sleep(Duration::from_millis(20));
    }
    let producers: Vec<Child> = (1..=3u32)
        .map(|id| {
            spawn_producer(
                &dir,
                "three_producers_into_one_system_session_every_event_once_in_order",
                id,
                Writes::Once,
            )
        })
        .collect();
    for mut p in producers {
        assert!(p.wait().unwrap().success(), "a producer failed");
    }
    let q = run_ok(evtrace(&dir).args(["query", "Evtrace-System-Test"]));
    assert!(q.contains("State:                 Running"), "{q}");
    let stopped = run_ok(evtrace(&dir).args(["stop", "Evtrace-System-Test"]));
    assert!(stopped.contains("Events Lost:           0"), "{stopped}");
    assert!(stopped.contains("Real Time Buffers Lost: 0"), "{stopped}");

    // The consumer: every event exactly once, delivered in time order.
    let out = consumer.wait_with_output().unwrap();
    assert!(out.status.success(), "evtrace fmt --rt failed");
    let mut live: Vec<Vec<u64>> = vec![Vec::new(); 4];
    let mut last = i64::MIN;
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        if v["type"] != "event" || v["provider"] != "Evtrace-Test-System" {
            continue;
        }
        let t = v["raw_timestamp"].as_i64().unwrap();
        assert!(t >= last, "delivered out of time order: {t} after {last}");
        last = t;
        let p = v["fields"]["producer"].as_u64().unwrap() as usize;
        live[p].push(v["fields"]["n"].as_u64().unwrap());
    }
    for (p, got) in live.iter_mut().enumerate().skip(1) {
        got.sort_unstable();
        let want: Vec<u64> = (0..EVENTS_PER_PRODUCER).collect();
        assert_eq!(
            *got, want,
            "real-time consumer, producer {p}: every event exactly once"
        );
    }

    // Every event of every producer exactly once, each producer's in order, all by time.
    let bytes = std::fs::read(&file).unwrap();
    let mut seen: Vec<Vec<u64>> = vec![Vec::new(); 4];
    let mut pids = std::collections::HashSet::new();
    let mut last_time = i64::MIN;
    let mut times = Vec::new();
    let scan = for_each_record(&bytes, |_, r| {
        if let Record::Event(e) = &r.record {
            if e.header.provider_id == sys::PROVIDER.guid() {
                let p = u32::from_le_bytes(e.payload[0..4].try_into().unwrap());
                let n = u64::from_le_bytes(e.payload[4..12].try_into().unwrap());
                seen[p as usize].push(n);
                pids.insert(e.header.process_id);
                times.push(e.header.timestamp);
            }
        }
    });
    assert!(scan.problems.is_empty(), "{:?}", scan.problems);
    for (p, got) in seen.iter().enumerate().skip(1) {
        let want: Vec<u64> = (0..EVENTS_PER_PRODUCER).collect();
        let mut sorted = got.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, want, "producer {p}: every event exactly once");
    }
    assert_eq!(pids.len(), 3, "three processes");
    times.sort_unstable();
    for t in times {
        assert!(t >= last_time);
        last_time = t;
    }
}

#[test]
fn controller_errors_name_the_problem() {
    if producer_role() {
        return;
    }
    let dir = temp_dir("errors");
    let _daemon = start_daemon(&dir);
    let out = evtrace(&dir)
        .args(["stop", "No-Such-Session"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("ERROR_WMI_INSTANCE_NOT_FOUND") && err.contains("No-Such-Session"),
        "{err}"
    );
    let file = dir.join("a.etl");
    run_ok(evtrace(&dir).args(["start", "Dup", "-f"]).arg(&file));
    let out = evtrace(&dir)
        .args(["start", "dup", "-f"])
        .arg(dir.join("b.etl"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("ERROR_ALREADY_EXISTS"),
        "{err}"
    );
    let out = evtrace(&dir)
        .args(["start", "Other", "-f"])
        .arg(&file)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("ERROR_BAD_PATHNAME"),
        "{err}"
    );
    let list = run_ok(evtrace(&dir).arg("list"));
    assert!(list.contains("Dup"), "{list}");
    run_ok(evtrace(&dir).args(["stop", "Dup"]));
    // Names compare case-insensitively beyond ASCII too.
    run_ok(
        evtrace(&dir)
            .args(["start", "Überwachung", "-f"])
            .arg(dir.join("u1.etl")),
    );
    let out = evtrace(&dir)
        .args(["start", "üBERWACHUNG", "-f"])
        .arg(dir.join("u2.etl"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("ERROR_ALREADY_EXISTS"), "{err}");
    run_ok(evtrace(&dir).args(["stop", "ÜBERWACHUNG"]));
    // A relative log file name is the command's folder's, as with tracelog.
    run_ok(
        evtrace(&dir)
            .current_dir(&dir)
            .args(["start", "Relative", "-f", "relative.etl"]),
    );
    run_ok(evtrace(&dir).args(["stop", "Relative"]));
    assert!(dir.join("relative.etl").is_file());

    // NONSTOPPABLE is for boot sessions only (ETW: "only supported by Autologger"); the
    // AutoLogger one is in `a_terminated_daemon_stops_every_session_and_finishes_its_files`.
    {
        use evtrace::session::{LogFileMode, SessionProperties};
        let c = evtrace::system::control::Controller::connect_in(&dir).unwrap();
        let e = c
            .start(
                &SessionProperties::new("Forever")
                    .log_file(dir.join("forever.etl"))
                    .mode(LogFileMode::NONSTOPPABLE),
            )
            .unwrap_err();
        assert_eq!(e.code(), evtrace::ErrorCode::InvalidParameter, "{e}");
        assert!(e.message().contains("AutoLogger"), "{e}");
    }

    // A provider may be enabled by at most 8 sessions; the 9th is refused.
    for i in 0..8 {
        run_ok(
            evtrace(&dir)
                .args(["start", &format!("Eight-{i}"), "-f"])
                .arg(dir.join(format!("eight{i}.etl")))
                .args(["--provider", "Evtrace-Test-Eight"]),
        );
    }
    let out = evtrace(&dir)
        .args(["start", "Eight-8", "-f"])
        .arg(dir.join("eight8.etl"))
        .args(["--provider", "Evtrace-Test-Eight"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("ERROR_NO_SYSTEM_RESOURCES"),
        "{err}"
    );
    let list = run_ok(evtrace(&dir).arg("list"));
    assert!(
        !list.contains("Eight-8"),
        "a refused start leaves no session: {list}"
    );
}

#[test]
fn killed_producers_leave_the_session_running_and_their_losses_counted() {
    if producer_role() {
        return;
    }
    const TEST: &str = "killed_producers_leave_the_session_running_and_their_losses_counted";
    let dir = temp_dir("kill-producer");
    let _daemon = start_daemon(&dir);
    let file = dir.join("killed.etl");
    run_ok(
        evtrace(&dir)
            .args(["start", "Kill-Test", "-f"])
            .arg(&file)
            .args(["--provider", "Evtrace-Test-System"]),
    );
    for (round, id) in (1..=3u32).enumerate() {
        let mut p = spawn_producer(&dir, TEST, id, Writes::Forever);
        // Let it log for a while (some buffers handed over, some not), then kill it mid-write.
        std::thread::sleep(Duration::from_millis(300 + 100 * round as u64));
        p.kill().unwrap();
        p.wait().unwrap();
        let q = run_ok(evtrace(&dir).args(["query", "Kill-Test"]));
        assert!(q.contains("State:                 Running"), "{q}");
    }
    // A producer that exits normally still gets everything through.
    let mut ok = spawn_producer(&dir, TEST, 9, Writes::Once);
    assert!(ok.wait().unwrap().success());
    let stopped = run_ok(evtrace(&dir).args(["stop", "Kill-Test"]));
    let lost = field(&stopped, "Events Lost:");

    let ticks = read_ticks(&file);
    let mut gaps = 0;
    for id in 1..=3u32 {
        let mut got: Vec<u64> = ticks.iter().filter(|t| t.0 == id).map(|t| t.1).collect();
        assert!(
            !got.is_empty(),
            "producer {id} logged nothing before it was killed"
        );
        let n = got.len();
        got.sort_unstable();
        got.dedup();
        assert_eq!(got.len(), n, "producer {id}: an event recorded twice");
        // Events missing below the last one recorded sat in buffers the producer never handed
        // over: the daemon found them in its share when it died, and counted them.
        gaps += got.last().unwrap() + 1 - got.len() as u64;
    }
    eprintln!(
        "killed producers: {} events recorded, {gaps} missing below the last, EventsLost {lost}",
        ticks.len()
    );
    assert!(
        gaps <= lost,
        "{gaps} events missing before the last recorded ones, but EventsLost is {lost}"
    );
    let whole: Vec<u64> = ticks.iter().filter(|t| t.0 == 9).map(|t| t.1).collect();
    assert_eq!(
        whole.len() as u64,
        EVENTS_PER_PRODUCER,
        "the well-behaved producer"
    );
}

#[test]
fn a_killed_daemon_leaves_readable_files_and_producers_carry_on() {
    if producer_role() {
        return;
    }
    const TEST: &str = "a_killed_daemon_leaves_readable_files_and_producers_carry_on";
    let dir = temp_dir("kill-daemon");
    let mut producer = spawn_producer(&dir, TEST, 1, Writes::Forever);
    let mut counts = Vec::new();
    for round in 0..3 {
        let daemon = start_daemon(&dir);
        let file = dir.join(format!("round{round}.etl"));
        run_ok(
            evtrace(&dir)
                .args(["start", "Daemon-Kill", "--ft", "1", "-f"])
                .arg(&file)
                .args(["--provider", "Evtrace-Test-System"]),
        );
        // The producer (already running, or reconnecting) is enabled and logs; a flush timer of
        // one second gets buffers to the file while the daemon lives.
        std::thread::sleep(Duration::from_millis(2500));
        drop(daemon); // SIGKILL
        let ticks = read_ticks(&file);
        assert!(
            !ticks.is_empty(),
            "round {round}: nothing readable in the file of a killed daemon"
        );
        let mut n: Vec<u64> = ticks.iter().map(|t| t.1).collect();
        let len = n.len();
        n.sort_unstable();
        n.dedup();
        assert_eq!(n.len(), len, "round {round}: an event recorded twice");
        counts.push(len);
    }
    assert!(
        producer.try_wait().unwrap().is_none(),
        "the producer survived three daemon kills"
    );
    producer.kill().unwrap();
    let _ = producer.wait();
    eprintln!("events per round: {counts:?}");
}

#[test]
fn a_terminated_daemon_stops_every_session_and_finishes_its_files() {
    if producer_role() {
        return;
    }
    const TEST: &str = "a_terminated_daemon_stops_every_session_and_finishes_its_files";
    let dir = temp_dir("sigterm");
    let (plain, kept) = (dir.join("plain.etl"), dir.join("nonstoppable.etl"));
    // A NONSTOPPABLE session is a boot session: an AutoLogger entry, started with the daemon.
    run_ok(
        evtrace(&dir)
            .args(["autologger", "create", "Term-Kept", "--mode", "0x40", "-f"])
            .arg(&kept)
            .args(["--provider", "Evtrace-Test-System"]),
    );
    let mut daemon = start_daemon(&dir);
    // A flush timer of 0: nothing reaches the files before the stop but the buffers that fill.
    run_ok(
        evtrace(&dir)
            .args(["start", "Term-Plain", "-f"])
            .arg(&plain)
            .args(["--provider", "Evtrace-Test-System"]),
    );
    let refused = evtrace(&dir).args(["stop", "Term-Kept"]).output().unwrap();
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success() && said.contains("ERROR_ACCESS_DENIED"),
        "{said}"
    );
    // Two sessions want the provider: every enable lands before the producer writes.
    let mut p = producer_command(&dir, TEST, 1)
        .env("EVTRACE_TEST_SETTLE_MS", "300")
        .spawn()
        .unwrap();
    assert!(p.wait().unwrap().success());
    // SAFETY: kill has no memory preconditions; the pid is our live child's.
    assert_eq!(
        unsafe { libc::kill(daemon.0.id() as i32, libc::SIGTERM) },
        0
    );
    let status = daemon.0.wait().unwrap();
    assert!(status.success(), "the daemon exited with {status:?}");
    assert!(
        !dir.join("daemon.sock").exists(),
        "the socket was left behind"
    );
    for file in [&plain, &kept] {
        let ticks = read_ticks(file);
        assert_eq!(
            ticks.len() as u64,
            EVENTS_PER_PRODUCER,
            "{}: events lost at the daemon's end",
            file.display()
        );
        let header = evtrace::etl::parse_header_buffer(&std::fs::read(file).unwrap()).unwrap();
        assert!(
            header.end_time > 0,
            "{}: the file was not finished",
            file.display()
        );
    }
}

/// The daemon `evtrace start` starts when none runs leaves the caller's output alone (a caller
/// reading it to the end had waited for the daemon to exit) and writes to daemon.log.
#[test]
fn a_daemon_started_on_demand_writes_to_its_log_not_to_the_caller() {
    if producer_role() {
        return;
    }
    let dir = temp_dir("on-demand");
    let file = dir.join("demand.etl");
    let mut start = evtrace(&dir);
    start.args(["start", "On-Demand", "-f"]).arg(&file);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(start.output());
    });
    let out = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("evtrace start waited for the daemon it started")
        .unwrap();
    // Found by its command line, to be stopped by SIGTERM: it is no child of this test.
    let daemon = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .find(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| {
                let c = String::from_utf8_lossy(&c);
                c.contains("daemon") && c.contains(dir.to_str().unwrap())
            })
        })
        .expect("no daemon runs for the test's folder");
    // Not a child of the test, so it does not die with it: killed if the test fails first.
    struct KillOnDrop(i32);
    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            // Only on failure: a passing test saw it end (its pid may be another's by then).
            if std::thread::panicking() {
                // SAFETY: kill has no memory preconditions.
                unsafe { libc::kill(self.0, libc::SIGKILL) };
            }
        }
    }
    let _guard = KillOnDrop(daemon);
    let log = std::fs::read_to_string(dir.join("daemon.log")).unwrap_or_default();
    // SAFETY: kill has no memory preconditions.
    unsafe { libc::kill(daemon, libc::SIGTERM) };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("listening"),
        "the daemon wrote to the caller's stderr"
    );
    assert!(log.contains("listening on"), "daemon.log: {log:?}");
    let deadline = Instant::now() + Duration::from_secs(10);
    // Ended: gone, or a zombie its new parent has not reaped (not every init reaps).
    let running = || {
        std::fs::read_to_string(format!("/proc/{daemon}/stat"))
            .is_ok_and(|st| st.rsplit(')').next().is_some_and(|r| !r.starts_with(" Z")))
    };
    while running() {
        assert!(
            Instant::now() < deadline,
            "the daemon did not end on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let log = std::fs::read_to_string(dir.join("daemon.log")).unwrap();
    assert!(log.contains("stopped On-Demand"), "daemon.log: {log}");
}

#[test]
fn a_secure_session_refuses_processes_of_users_it_does_not_allow() {
    if producer_role() {
        return;
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        skip("needs root, to run a producer as another user (uid 65534)");
        return;
    }
    const TEST: &str = "a_secure_session_refuses_processes_of_users_it_does_not_allow";
    const NOBODY: u32 = 65534;
    let dir = temp_dir("secure");
    // Every user may connect; the secure session itself decides who logs to it.
    let _daemon = start_daemon_with(&dir, &["--shared"]);
    let (secure, open) = (dir.join("secure.etl"), dir.join("open.etl"));
    run_ok(
        evtrace(&dir)
            .args(["start", "Secure-Test", "--secure", "-f"])
            .arg(&secure)
            .args(["--provider", "Evtrace-Test-System"]),
    );
    run_ok(
        evtrace(&dir)
            .args(["start", "Open-Test", "-f"])
            .arg(&open)
            .args(["--provider", "Evtrace-Test-System"]),
    );
    // Root (the starting user) may log to it; uid 65534 may not, but may log to the open one.
    let mut stranger = spawn_producer_as(&dir, TEST, 1, Writes::Once, Some(NOBODY));
    let mut owner = spawn_producer_as(&dir, TEST, 2, Writes::Once, Some(0));
    assert!(
        stranger.wait().unwrap().success(),
        "the uid 65534 producer failed"
    );
    assert!(owner.wait().unwrap().success(), "the root producer failed");
    let q = run_ok(evtrace(&dir).args(["stop", "Secure-Test"]));
    assert!(q.contains("Refused Producers:     1"), "{q}");
    run_ok(evtrace(&dir).args(["stop", "Open-Test"]));
    let count = |f: &Path, id: u32| read_ticks(f).iter().filter(|t| t.0 == id).count() as u64;
    assert_eq!(
        count(&secure, 1),
        0,
        "the secure session took a stranger's events"
    );
    assert_eq!(count(&secure, 2), EVENTS_PER_PRODUCER);
    assert_eq!(count(&open, 1), EVENTS_PER_PRODUCER);
    assert_eq!(count(&open, 2), EVENTS_PER_PRODUCER);
}

#[test]
fn a_real_time_session_keeps_a_backlog_for_its_next_consumer_and_reports_losses_in_band() {
    if producer_role() {
        return;
    }
    use evtrace::consume::{Item, RealTimeReader};
    use evtrace::etl::LossKind;
    const TEST: &str =
        "a_real_time_session_keeps_a_backlog_for_its_next_consumer_and_reports_losses_in_band";
    let dir = temp_dir("rt-backlog");
    let _daemon = start_daemon(&dir);
    // Real-time only, and a backlog of at most 8 buffers while nobody consumes.
    run_ok(evtrace(&dir).args([
        "start",
        "Backlog-Test",
        "--rt",
        "--min",
        "8",
        "--max",
        "8",
        "--provider",
        "Evtrace-Test-System",
    ]));
    let mut p = producer_command(&dir, TEST, 1)
        .env("EVTRACE_TEST_PACED", "1")
        .spawn()
        .unwrap();
    assert!(p.wait().unwrap().success());

    let reader = RealTimeReader::attach_in(&dir, "Backlog-Test").unwrap();
    let consumer = std::thread::spawn(move || {
        let (mut events, mut lost_buffers, mut lost_events) = (0u64, 0u64, 0u64);
        for item in reader {
            match item {
                Item::Event(_) => events += 1,
                Item::Loss(l) if l.kind == LossKind::Buffers => lost_buffers += l.count.unwrap(),
                Item::Loss(l) if l.kind == LossKind::Events => lost_events += l.count.unwrap(),
                _ => {}
            }
        }
        (events, lost_buffers, lost_events)
    });
    // The final figures (a query right after the producer exits could miss its last report).
    let q = run_ok(evtrace(&dir).args(["stop", "Backlog-Test"]));
    let rt_lost = field(&q, "Real Time Buffers Lost:");
    let lost = field(&q, "Events Lost:");
    assert!(rt_lost > 0, "20,000 events must overflow 8 buffers: {q}");
    let (events, lost_buffers, lost_events) = consumer.join().unwrap();
    assert!(events > 0, "the backlog reached the consumer");
    assert_eq!(
        lost_buffers, rt_lost,
        "RTLostBuffer in band = RealTimeBuffersLost"
    );
    // Events lost in band: those of the dropped buffers (the daemon's RTLostEvent report) and
    // the producer's own, reported at the head of its next buffer, unless that buffer was
    // dropped too; EventsLost counts them all.
    assert!(
        lost_events > 0 && lost_events <= lost,
        "in band {lost_events}, EventsLost {lost}"
    );
    assert_eq!(
        events + lost,
        EVENTS_PER_PRODUCER,
        "every event delivered or counted"
    );
}

#[test]
fn a_buffering_system_session_keeps_the_newest_events_until_flushed() {
    if producer_role() {
        return;
    }
    const TEST: &str = "a_buffering_system_session_keeps_the_newest_events_until_flushed";
    let dir = temp_dir("buffering");
    let _daemon = start_daemon(&dir);
    let file = dir.join("ring.etl");
    run_ok(
        evtrace(&dir)
            .args(["start", "Ring-Test", "--buffering", "--min", "8", "-f"])
            .arg(&file)
            .args(["--provider", "Evtrace-Test-System"]),
    );
    let mut p = spawn_producer(&dir, TEST, 1, Writes::Once);
    assert!(p.wait().unwrap().success());
    assert!(
        !file.exists() || read_ticks(&file).is_empty(),
        "a buffering session writes nothing before a flush"
    );
    run_ok(evtrace(&dir).args(["flush", "Ring-Test"]));
    let ticks = read_ticks(&file);
    let mut n: Vec<u64> = ticks.iter().map(|t| t.1).collect();
    n.sort_unstable();
    assert!(
        !n.is_empty() && (n.len() as u64) < EVENTS_PER_PRODUCER,
        "{} events",
        n.len()
    );
    assert_eq!(
        *n.last().unwrap(),
        EVENTS_PER_PRODUCER - 1,
        "the newest event is kept"
    );
    // The ring went round: what it dropped is counted where a controller sees it.
    let q = run_ok(evtrace(&dir).args(["query", "Ring-Test"]));
    assert!(field(&q, "Buffers Overwritten:") > 0, "{q}");
    run_ok(evtrace(&dir).args(["stop", "Ring-Test"]));
}

#[test]
fn a_full_disk_stops_the_session_cleanly_with_the_losses_counted() {
    if producer_role() {
        return;
    }
    const TEST: &str = "a_full_disk_stops_the_session_cleanly_with_the_losses_counted";
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        skip("needs root, to mount a 1 MB tmpfs that fills up");
        return;
    }
    let dir = temp_dir("disk-full");
    let small = dir.join("small");
    std::fs::create_dir_all(&small).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "evtrace-test"])
        .arg(&small)
        .status();
    if !matches!(mounted, Ok(s) if s.success()) {
        skip(&format!("cannot mount a tmpfs here ({mounted:?})"));
        return;
    }
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(small.clone());
    let _daemon = start_daemon(&dir);
    // A maximum size the file system has no room for is refused at start (DISK_FULL).
    let out = evtrace(&dir)
        .args(["start", "Too-Big", "--seq", "10", "-f"])
        .arg(small.join("big.etl"))
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && said.contains("ERROR_DISK_FULL"),
        "{said}"
    );
    let file = small.join("full.etl");
    run_ok(
        evtrace(&dir)
            .args(["start", "Full-Test", "-f"])
            .arg(&file)
            .args(["--provider", "Evtrace-Test-System"]),
    );
    // 20,000 events of 190 bytes do not fit in 1 MB.
    let mut p = spawn_producer(&dir, TEST, 1, Writes::Once);
    assert!(p.wait().unwrap().success());
    let q = run_ok(evtrace(&dir).args(["query", "Full-Test"]));
    assert!(q.contains("StoppedWriteFailed"), "{q}");
    let stopped = run_ok(evtrace(&dir).args(["stop", "Full-Test"]));
    assert!(stopped.contains("No space left on device"), "{stopped}");
    let lost = field(&stopped, "Events Lost:");
    assert!(field(&stopped, "Log Buffers Lost:") > 0, "{stopped}");
    // The earlier data is intact, and what is missing is counted.
    let ticks = read_ticks(&file);
    assert!(!ticks.is_empty());
    assert_eq!(ticks.len() as u64 + lost, EVENTS_PER_PRODUCER, "{stopped}");
}

#[test]
fn message_sequence_numbers_are_machine_wide_or_per_session_across_processes() {
    if producer_role() {
        return;
    }
    const TEST: &str = "message_sequence_numbers_are_machine_wide_or_per_session_across_processes";
    let dir = temp_dir("sequences");
    let _daemon = start_daemon(&dir);
    let names = ["Seq-Global-1", "Seq-Global-2", "Seq-Local"];
    for (name, flag) in names.iter().zip(["--gs", "--gs", "--ls"]) {
        run_ok(
            evtrace(&dir)
                .args(["start", name, flag, "-f"])
                .arg(dir.join(format!("{name}.etl")))
                .args(["--provider", "Evtrace-Test-System"]),
        );
    }
    let producers: Vec<Child> = (1..=2u32)
        .map(|id| {
            producer_command(&dir, TEST, id)
                .env("EVTRACE_TEST_MESSAGES", "1")
                .env("EVTRACE_TEST_SETTLE_MS", "300")
                .spawn()
                .unwrap()
        })
        .collect();
    for mut p in producers {
        assert!(p.wait().unwrap().success());
    }
    let sequences = |name: &str| -> Vec<u32> {
        run_ok(evtrace(&dir).args(["stop", name]));
        let bytes = std::fs::read(dir.join(format!("{name}.etl"))).unwrap();
        let mut out = Vec::new();
        let scan = for_each_record(&bytes, |_, r| {
            if let Record::Message(m) = &r.record {
                out.push(m.header.sequence);
            }
        });
        assert!(scan.problems.is_empty(), "{:?}", scan.problems);
        out
    };
    let total = 2 * MESSAGES_PER_PRODUCER as u32;
    // LOCAL_SEQUENCE: one count for the session, whichever process wrote: 1..=1000.
    let mut local = sequences("Seq-Local");
    local.sort_unstable();
    assert_eq!(local, (1..=total).collect::<Vec<_>>());
    // GLOBAL_SEQUENCE: one count for the machine: each message took a number in each of the
    // two sessions, all distinct, 1..=2000.
    let mut global = sequences("Seq-Global-1");
    global.extend(sequences("Seq-Global-2"));
    global.sort_unstable();
    assert_eq!(global, (1..=2 * total).collect::<Vec<_>>());
}

#[test]
fn real_time_turned_on_by_update_delivers_within_the_flush_timer() {
    if producer_role() {
        return;
    }
    use evtrace::consume::{Item, RealTimeReader};
    const TEST: &str = "real_time_turned_on_by_update_delivers_within_the_flush_timer";
    let dir = temp_dir("live");
    let _daemon = start_daemon(&dir);
    run_ok(
        evtrace(&dir)
            .args(["start", "Live-Test", "--ft", "10", "-f"])
            .arg(dir.join("live.etl"))
            .args(["--provider", "Evtrace-Test-System"]),
    );
    let q = run_ok(evtrace(&dir).args(["query", "Live-Test"]));
    assert!(!q.contains("REAL_TIME"), "{q}");
    run_ok(evtrace(&dir).args(["update", "Live-Test", "--rt", "on"]));
    // With REAL_TIME, buffers are flushed at least once a second: the 10 s timer becomes 1 s.
    let q = run_ok(evtrace(&dir).args(["query", "Live-Test"]));
    assert!(q.contains("Flush Timer:           1 s"), "{q}");
    // UPDATE's MaximumBuffers (for producers that attach from now on) shows in QUERY.
    run_ok(evtrace(&dir).args(["update", "Live-Test", "--max", "200"]));
    let q = run_ok(evtrace(&dir).args(["query", "Live-Test"]));
    assert_eq!(field(&q, "Maximum Buffers:"), 200, "{q}");
    let q = run_ok(evtrace(&dir).args(["query", "Live-Test"]));
    assert!(q.contains("EVENT_TRACE_REAL_TIME_MODE"), "{q}");

    let mut slow = spawn_producer(&dir, TEST, 1, Writes::Slowly);
    let reader = RealTimeReader::attach_in(&dir, "Live-Test")
        .unwrap()
        .reorder_window(Duration::ZERO);
    let (tx, rx) = std::sync::mpsc::channel();
    let consumer = std::thread::spawn(move || {
        let mut n = 0;
        for item in reader {
            if let Item::Event(_) = item {
                n += 1;
                let _ = tx.send(n);
            }
        }
        n
    });
    // The producer writes an event every 20 ms and never fills a buffer: what arrives, arrives
    // by the one-second flush timer, while the producer is still running.
    let first = rx.recv_timeout(Duration::from_secs(10));
    assert!(first.is_ok(), "no event reached the consumer within 10 s");
    assert!(slow.try_wait().unwrap().is_none());
    run_ok(evtrace(&dir).args(["update", "Live-Test", "--rt", "off"]));
    let delivered = consumer.join().unwrap();
    assert!(delivered >= 1);
    slow.kill().unwrap();
    let _ = slow.wait();
    run_ok(evtrace(&dir).args(["stop", "Live-Test"]));
}

#[test]
fn the_global_logger_starts_with_the_daemon_from_its_entries() {
    if producer_role() {
        return;
    }
    const TEST: &str = "the_global_logger_starts_with_the_daemon_from_its_entries";
    let dir = temp_dir("global-logger");
    let log = dir.join("gl.etl");
    run_ok(
        evtrace(&dir)
            // Room for all 20,000 events in the producer's share (MaximumBuffers 128), so that
            // none is lost while the daemon is busy starting: the test counts every one.
            .args([
                "globallogger",
                "create",
                "--file-max",
                "3",
                "--max",
                "128",
                "-f",
            ])
            .arg(&log)
            .args(["--provider", "Evtrace-Test-System"]),
    );
    // A producer already running, looking for a daemon: it logs as soon as the boot enables it,
    // without an enable notification (it fails if its enable callback is told).
    let mut p = spawn_producer_expecting(&dir, TEST, 1, false);
    let daemon = start_daemon(&dir);
    assert!(p.wait().unwrap().success());
    let stopped = run_ok(evtrace(&dir).args(["stop", "GlobalLogger"]));
    assert!(stopped.contains("Events Lost:           0"), "{stopped}");
    let first = dir.join("gl.etl.0001");
    assert_eq!(read_ticks(&first).len() as u64, EVENTS_PER_PRODUCER);
    let shown = run_ok(evtrace(&dir).args(["globallogger", "show"]));
    assert!(
        shown.contains("Status = 0") && shown.contains("FileCounter = 1"),
        "{shown}"
    );
    // Reserved: no controller starts or updates it.
    let out = evtrace(&dir)
        .args(["start", "GlobalLogger", "-f"])
        .arg(dir.join("x.etl"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    drop(daemon);

    // The next start writes the next file.
    let daemon = start_daemon(&dir);
    assert!(run_ok(evtrace(&dir).arg("list")).contains("GlobalLogger"));
    run_ok(evtrace(&dir).args(["stop", "GlobalLogger"]));
    assert!(dir.join("gl.etl.0002").exists());
    assert!(run_ok(evtrace(&dir).args(["globallogger", "show"])).contains("FileCounter = 2"));
    drop(daemon);

    // Removed: no entries, and the next start runs no Global Logger.
    run_ok(evtrace(&dir).args(["globallogger", "remove"]));
    assert!(
        run_ok(evtrace(&dir).args(["globallogger", "show"])).contains("no GlobalLogger entries")
    );
    let _daemon = start_daemon(&dir);
    let list = run_ok(evtrace(&dir).arg("list"));
    assert!(!list.contains("GlobalLogger"), "{list}");
}

#[test]
fn invalid_global_logger_entries_get_a_status_and_the_daemon_still_starts() {
    if producer_role() {
        return;
    }
    let dir = temp_dir("global-invalid");
    let conf = dir.join("conf");
    std::fs::create_dir_all(&conf).unwrap();
    let cases = [
        ("LogFileMode = 0x100", "87", "EVENT_TRACE_REAL_TIME_MODE"),
        ("LogFileMode = 0x400", "87", "EVENT_TRACE_BUFFERING_MODE"),
        ("LogFileMode = 0x40000000", "87", "unknown LogFileMode bits"),
        ("BufferSize = 99999", "87", "BufferSize"),
        ("MinimumBuffers = many", "87", "not a number"),
        ("EnableKernelFlags = 0x20000", "50", "registry"),
        (
            "EnableKernelFlags = network,bogus",
            "87",
            "not a kernel enable flag",
        ),
        ("Colour = blue", "87", "unknown Global Logger entry"),
    ];
    for (entry, status, _) in cases {
        std::fs::write(
            conf.join("GlobalLogger"),
            format!(
                "Start = 1\nFileName = {}\n{entry}\n",
                dir.join("bad.etl").display()
            ),
        )
        .unwrap();
        let mut child = evtrace(&dir)
            .args(["daemon", "--dir"])
            .arg(&dir)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let socket = dir.join("daemon.sock");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !run_ok_quiet(evtrace(&dir).arg("list")) {
            assert!(
                Instant::now() < deadline,
                "{entry}: the daemon did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(socket.exists());
        let shown = run_ok(evtrace(&dir).args(["globallogger", "show"]));
        assert!(
            shown.contains(&format!("Status = {status}")),
            "{entry}: {shown}"
        );
        let list = run_ok(evtrace(&dir).arg("list"));
        assert!(!list.contains("GlobalLogger"), "{entry}: {list}");
        let _ = child.kill();
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        let why = cases.iter().find(|c| c.0 == entry).unwrap().2;
        assert!(err.contains(why), "{entry}: the daemon said {err}");
    }
}

#[test]
fn autologger_sessions_start_with_the_daemon_and_refuse_what_they_do_not_support() {
    if producer_role() {
        return;
    }
    const TEST: &str =
        "autologger_sessions_start_with_the_daemon_and_refuse_what_they_do_not_support";
    let dir = temp_dir("autologger");
    let log = dir.join("boot.etl");
    run_ok(
        evtrace(&dir)
            .args([
                "autologger",
                "create",
                "Boot-Trace",
                "--file-max",
                "16",
                "--max",
                "128",
                "-f",
            ])
            .arg(&log)
            .args(["--provider", "Evtrace-Test-System:5"]),
    );
    // `create` refuses entries the daemon would not start, saying why, and writes nothing...
    let refused = |args: &[&str], file: &str, why: &str| {
        let out = evtrace(&dir)
            .args(["autologger", "create"])
            .args(args)
            .arg("-f")
            .arg(dir.join(file))
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && said.contains(why), "{said}");
    };
    refused(
        &["New-Files", "--mode", "0x8", "--max-file-size", "1"],
        "nf_%d.etl",
        "NEWFILE",
    );
    refused(&["Too-Many", "--file-max", "17"], "many.etl", "FileMax");
    // A FileName's folder must exist, as for any session (only the default one is made).
    refused(&["No-Folder"], "missing/x.etl", "missing");
    assert!(!dir.join("missing").exists());
    let conf = dir.join("conf").join("AutoLogger");
    assert!(!conf.join("New-Files").exists() && !conf.join("Too-Many").exists());
    // ...while entries written by hand (the registry edited directly) get a Status at boot.
    let nf = dir.join("nf_%d.etl");
    std::fs::write(
        conf.join("New-Files"),
        format!(
            "Start = 1\nLogFileMode = 0x8\nMaximumFileSize = 1\nFileName = {}\n",
            nf.display()
        ),
    )
    .unwrap();
    std::fs::write(
        conf.join("Too-Many"),
        format!(
            "Start = 1\nFileMax = 17\nFileName = {}\n",
            dir.join("many.etl").display()
        ),
    )
    .unwrap();
    // An AutoLogger session notifies providers as any session does.
    let mut p = spawn_producer_expecting(&dir, TEST, 1, true);
    let _daemon = start_daemon(&dir);
    assert!(p.wait().unwrap().success());
    run_ok(evtrace(&dir).args(["stop", "Boot-Trace"]));
    assert_eq!(
        read_ticks(&dir.join("boot.etl.0001")).len() as u64,
        EVENTS_PER_PRODUCER
    );
    let show = |name: &str| run_ok(evtrace(&dir).args(["autologger", "show", name]));
    assert!(show("Boot-Trace").contains("Status = 0"));
    assert!(
        show("New-Files").contains("Status = 87"),
        "{}",
        show("New-Files")
    );
    assert!(
        show("Too-Many").contains("Status = 87"),
        "{}",
        show("Too-Many")
    );
    let list = run_ok(evtrace(&dir).arg("list"));
    assert!(
        !list.contains("New-Files") && !list.contains("Too-Many"),
        "{list}"
    );
    run_ok(evtrace(&dir).args(["autologger", "remove", "Boot-Trace"]));
    assert!(show("Boot-Trace").contains("no Boot-Trace entries"));
}

#[test]
fn real_time_buffers_larger_than_the_socket_reach_the_consumer_in_pieces() {
    const TEST: &str = "real_time_buffers_larger_than_the_socket_reach_the_consumer_in_pieces";
    if producer_role() {
        return;
    }
    let dir = temp_dir("rt-pieces");
    let _daemon = start_nobody_daemon(&dir, &[]);
    // 16 MB buffers, more than a socket may hold without CAP_NET_ADMIN (wmem_max is 4 MB here,
    // 208 KB by default), delivered in real time only.
    run_ok(as_nobody(evtrace(&dir).args([
        "start",
        "Pieces-Test",
        "--rt",
        "-b",
        "16384",
        "--max",
        "8",
        "--provider",
        "Evtrace-Test-System:5",
    ])));
    let consumer = as_nobody(evtrace(&dir).args(["fmt", "--rt", "Pieces-Test", "--json"]))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !run_ok(as_nobody(evtrace(&dir).args(["query", "Pieces-Test"])))
        .contains("Real Time Consumers:   1")
    {
        assert!(Instant::now() < deadline, "the consumer did not attach");
        std::thread::sleep(Duration::from_millis(20));
    }
    let uid = (euid() == 0).then_some(NOBODY);
    let mut producer = spawn_producer_as(&dir, TEST, 1, Writes::Once, uid);
    assert!(producer.wait().unwrap().success(), "the producer failed");
    let stopped = run_ok(as_nobody(evtrace(&dir).args(["stop", "Pieces-Test"])));
    assert!(stopped.contains("Real Time Buffers Lost: 0"), "{stopped}");
    assert!(stopped.contains("Events Lost:           0"), "{stopped}");
    let out = consumer.wait_with_output().unwrap();
    assert!(out.status.success(), "evtrace fmt --rt failed");
    let mut got: Vec<u64> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["provider"] == "Evtrace-Test-System")
        .map(|v| v["fields"]["n"].as_u64().unwrap())
        .collect();
    got.sort_unstable();
    let want: Vec<u64> = (0..EVENTS_PER_PRODUCER).collect();
    assert!(
        got == want,
        "{} of {EVENTS_PER_PRODUCER} events arrived",
        got.len()
    );
}

/// Arguments that would be ignored are refused, saying what is allowed (checked before any
/// daemon is asked: none runs here).
#[test]
fn arguments_that_would_be_ignored_are_refused() {
    if producer_role() {
        return;
    }
    let dir = temp_dir("ignored-args");
    let refused = |args: &[&str], why: &str| {
        let out = evtrace(&dir).args(args).output().unwrap();
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && said.contains(why),
            "{args:?}: {said}"
        );
    };
    refused(&["update", "Web"], "nothing to update in Web");
    refused(&["update", "Web", "--ft", "0"], "--ft");
    refused(&["disable", "Web", "MyCompany-Web:4"], "the provider alone");
    refused(
        &["enable", "Web", "MyCompany-Web:4:0x1:0x2:5"],
        "fifth part",
    );
    refused(
        &["start", "S", "-f", "/tmp/s.etl", "--allow-user", "nobody"],
        "--secure",
    );
    refused(
        &["fmt", "--rt", "Live", "--start", "2024-01-01T00:00:00Z"],
        "--rt",
    );
    assert!(
        !dir.join("daemon.sock").exists(),
        "a refused command started a daemon"
    );
}

/// INCREMENT_FILE through the daemon: the producers' events so far are flushed into the current
/// file of a NEWFILE session, and the session goes on in the next one.
#[test]
fn increment_file_moves_a_newfile_session_on_with_every_event_kept() {
    if producer_role() {
        return;
    }
    const TEST: &str = "increment_file_moves_a_newfile_session_on_with_every_event_kept";
    let dir = temp_dir("increment");
    let _daemon = start_daemon(&dir);
    run_ok(
        evtrace(&dir)
            .args(["start", "Inc-Test", "--newfile", "64", "-f"])
            .arg(dir.join("inc_%d.etl"))
            .args(["--provider", "Evtrace-Test-System"]),
    );
    let mut p = spawn_producer(&dir, TEST, 1, Writes::Once);
    assert!(p.wait().unwrap().success());
    run_ok(evtrace(&dir).args(["increment-file", "Inc-Test"]));
    let stopped = run_ok(evtrace(&dir).args(["stop", "Inc-Test"]));
    let (first, second) = (dir.join("inc_1.etl"), dir.join("inc_2.etl"));
    assert!(
        stopped.contains(first.to_str().unwrap()) && stopped.contains(second.to_str().unwrap()),
        "{stopped}"
    );
    assert_eq!(read_ticks(&first).len() as u64, EVENTS_PER_PRODUCER);
    assert!(read_ticks(&second).is_empty());
    let refused = evtrace(&dir)
        .args(["increment-file", "No-Such"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&refused.stderr).contains("ERROR_WMI_INSTANCE_NOT_FOUND"));
}
