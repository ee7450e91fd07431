//! `evtrace record` end to end: the built-in general profile around `echo_server` (root: the
//! kernel logger's sources), bad profiles and commands, enable filters across two processes,
//! a WPR `.wprp` file's sessions, and the status line and `evtrace top` under tmux.
//!
//! The recorded programs are the workspace's examples (`cargo test --workspace` builds them in
//! `target/<profile>/examples`); without them a test says why it skips, and fails where
//! `EVTRACE_REQUIRE_EXAMPLES` is set (as `.ci/run` sets it). The tmux tests do the same with
//! `EVTRACE_REQUIRE_TMUX`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;

mod common;
use common::*;

/// Whether tmux runs here; under `EVTRACE_REQUIRE_TMUX` its absence fails.
fn tmux_or_skip(test: &str) -> bool {
    let here = Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !here {
        assert!(
            std::env::var_os("EVTRACE_REQUIRE_TMUX").is_none(),
            "{test}: tmux is missing and EVTRACE_REQUIRE_TMUX is set"
        );
        skip(&format!(
            "{test}: tmux is not installed (apt-get install tmux)"
        ));
    }
    here
}

fn root_or_skip(test: &str) -> bool {
    if euid() == 0 {
        return true;
    }
    skip(&format!(
        "{test}: the general profile's kernel events need root (the kernel logger's sources), and this runs as uid {}",
        euid()
    ));
    false
}

fn record(dir: &Path, args: &[&str], command: &[&Path]) -> Output {
    let mut c = evtrace(dir);
    c.current_dir(dir).arg("record").args(args);
    if !command.is_empty() {
        c.arg("--").args(command);
    }
    c.output().unwrap()
}

/// Counts of `provider`'s events by name.
fn counts(events: &[Value], provider: &str) -> HashMap<String, u64> {
    let mut m = HashMap::new();
    for e in events.iter().filter(|e| e["provider"] == provider) {
        *m.entry(e["event"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    m
}

const ECHO: &str = "Evtrace-Examples-EchoServer";

#[test]
fn the_general_profile_records_echo_server_and_its_process_tree() {
    const TEST: &str = "the_general_profile_records_echo_server_and_its_process_tree";
    let Some(echo) = example("echo_server") else {
        return;
    };
    if !root_or_skip(TEST) {
        return;
    }
    let dir = temp_dir("record-general");
    let _d = start_daemon(&dir);
    let out = record(&dir, &["-o", "t.etl", "--profile", "general"], &[&echo]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stderr}{stdout}");
    let file = dir.join("t.etl");
    let all = events(&file);
    // Every event the example writes (4 clients x 100 requests), its first ones included.
    let echo_events = counts(&all, ECHO);
    assert_eq!(echo_events.get("served"), Some(&400), "{echo_events:?}");
    for (name, n) in [
        ("listening", 1),
        ("accepted", 4),
        ("closed", 4),
        ("stopped", 1),
    ] {
        assert_eq!(echo_events.get(name), Some(&n), "{name}: {echo_events:?}");
    }
    // The kernel's view of the same process: its exec, its threads, its end.
    let exec = all
        .iter()
        .find(|e| {
            e["provider"] == "Process"
                && e["event"] == "Exec"
                && e["fields"]["ImageFileName"]
                    .as_str()
                    .is_some_and(|i| i.ends_with("/echo_server"))
        })
        .unwrap_or_else(|| panic!("no Exec of echo_server"));
    let pid = exec["fields"]["ProcessId"].as_u64().unwrap();
    assert!(all
        .iter()
        .filter(|e| e["provider"] == ECHO)
        .all(|e| e["pid"] == pid));
    let threads = all
        .iter()
        .filter(|e| e["provider"] == "Thread" && e["event"] == "Start" && e["pid"] == pid)
        .count();
    assert!(
        threads >= 9,
        "{threads} thread starts in echo_server (server, 4 workers, 4 clients)"
    );
    assert!(all
        .iter()
        .any(|e| e["provider"] == "Process" && e["event"] == "End" && e["pid"] == pid));
    // The summary is `fmt --summary`'s, to the byte.
    let summary = stdout
        .split_once("`evtrace fmt --summary` gives it):\n")
        .unwrap()
        .1;
    let fmt = evtrace_out(&["fmt", "--summary", file.to_str().unwrap()]);
    assert_eq!(summary, text(&fmt.stdout));
    assert!(
        !running(&dir, "evtrace-record"),
        "the session was left running"
    );
}

#[test]
fn bad_profiles_and_commands_are_named_and_leave_no_session() {
    let dir = temp_dir("record-bad");
    let _d = start_daemon(&dir);
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "[[collector]]\nname = \"S\"\nbuffer_kb = \"big\"\n").unwrap();
    let out = record(&dir, &["--profile", bad.to_str().unwrap()], &[]);
    let e = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{e}");
    assert!(
        e.contains(&format!("{}:3:", bad.display())) && e.contains("buffer_kb"),
        "{e}"
    );

    let wprp = dir.join("bad.wprp");
    std::fs::write(
        &wprp,
        "<WindowsPerformanceRecorder>\n<Profiles>\n<EventCollector Id=\"c\">\n</EventCollector>\n</Profiles>\n</WindowsPerformanceRecorder>\n",
    )
    .unwrap();
    let out = record(&dir, &["--profile", wprp.to_str().unwrap()], &[]);
    let e = text(&out.stderr);
    assert!(
        e.contains(&format!(
            "{}:3: <EventCollector>: the Name attribute is missing",
            wprp.display()
        )),
        "{e}"
    );

    let out = record(&dir, &["--profile", "generall"], &[]);
    let e = text(&out.stderr);
    assert!(
        e.contains("\"generall\"") && e.contains("general, cpu, network, disk"),
        "{e}"
    );

    // A command that cannot start: the session it had started is stopped, its file removed.
    let out = record(
        &dir,
        &["-o", "gone.etl", "--provider", ECHO],
        &[Path::new("/nonexistent/program")],
    );
    let e = text(&out.stderr);
    assert!(!out.status.success());
    assert!(
        e.contains("cannot start /nonexistent/program") && e.contains("stopped evtrace-record"),
        "{e}"
    );
    assert!(!running(&dir, "evtrace-record"));
    assert!(!dir.join("gone.etl").exists());

    // A collector that cannot start: those started before it are stopped again.
    let two = dir.join("two.toml");
    std::fs::write(
        &two,
        "[[collector]]\nname = \"First\"\n[[collector.provider]]\nname = \"P\"\n\n[[collector]]\nname = \"Second\"\nkernel_flags = \"registry\"\n",
    )
    .unwrap();
    let out = record(
        &dir,
        &["-o", "two.etl", "--profile", two.to_str().unwrap()],
        &[],
    );
    let e = text(&out.stderr);
    assert!(!out.status.success());
    assert!(
        e.contains("session Second") && e.contains("stopped First again"),
        "{e}"
    );
    assert!(!running(&dir, "First") && !running(&dir, "Second"));
    let list = run_ok(evtrace(&dir).arg("list"));
    assert!(list.contains("no system sessions are running"), "{list}");
}

/// `sh -c` running each program of `programs` at once, waiting for all.
fn all_at_once(programs: &[PathBuf]) -> [PathBuf; 3] {
    let line = programs
        .iter()
        .map(|p| format!("'{}' --show 0 >/dev/null &", p.display()))
        .collect::<String>();
    [
        PathBuf::from("/bin/sh"),
        PathBuf::from("-c"),
        PathBuf::from(format!("{line} wait")),
    ]
}

#[test]
fn an_exe_filter_takes_one_of_two_processes_and_event_ids_are_dropped_exactly() {
    let Some(echo) = example("echo_server") else {
        return;
    };
    let dir = temp_dir("record-filters");
    let _d = start_daemon(&dir);
    // The same program under two names: two processes with one provider.
    let (a, b) = (dir.join("echo-a"), dir.join("echo-b"));
    std::fs::copy(&echo, &a).unwrap();
    std::fs::copy(&echo, &b).unwrap();
    let sh = all_at_once(&[a.clone(), b.clone()]);
    let sh: Vec<&Path> = sh.iter().map(PathBuf::as_path).collect();
    let out = record(
        &dir,
        &["-o", "exe.etl", "--provider", ECHO, "--exe", "echo-a"],
        &sh,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let all = events(&dir.join("exe.etl"));
    let c = counts(&all, ECHO);
    assert_eq!(
        (c.get("served"), c.get("listening")),
        (Some(&400), Some(&1)),
        "{c:?}"
    );
    let pids: std::collections::HashSet<_> = all.iter().map(|e| e["pid"].as_u64()).collect();
    assert_eq!(pids.len(), 1, "events of one process only: {pids:?}");

    // Without the filter both are there; with served (id 3) excluded, exactly that goes.
    let out = record(
        &dir,
        &[
            "-o",
            "ids.etl",
            "--provider",
            ECHO,
            "--exclude-event-id",
            "3",
        ],
        &sh,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let c = counts(&events(&dir.join("ids.etl")), ECHO);
    assert_eq!(c.get("served"), None, "{c:?}");
    for (name, n) in [
        ("listening", 2),
        ("accepted", 8),
        ("closed", 8),
        ("stopped", 2),
    ] {
        assert_eq!(c.get(name), Some(&n), "{name}: {c:?}");
    }
    // An include list: only event 1 of the provider.
    let out = record(
        &dir,
        &["-o", "in.etl", "--provider", ECHO, "--event-id", "1"],
        &[&a],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let c = counts(&events(&dir.join("in.etl")), ECHO);
    assert_eq!(c, HashMap::from([("listening".to_string(), 1)]));
}

#[test]
fn a_wprp_file_starts_the_sessions_it_describes_and_names_what_it_leaves_out() {
    const TEST: &str = "a_wprp_file_starts_the_sessions_it_describes_and_names_what_it_leaves_out";
    // Its system collector is the NT Kernel Logger.
    if !root_or_skip(TEST) {
        return;
    }
    let dir = temp_dir("record-wprp");
    let _d = start_daemon(&dir);
    let wprp = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/example.wprp");
    // The verbose profile: its Base's providers and keywords, and its own.
    let spec = format!("{}!Example.Verbose.File", wprp.display());
    let mut c = evtrace(&dir);
    c.current_dir(&dir).args([
        "record",
        "-o",
        "w.etl",
        "--duration",
        "30",
        "--profile",
        &spec,
    ]);
    let child = c.stderr(std::process::Stdio::piped()).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !(running(&dir, "NT Kernel Logger") && running(&dir, "Evtrace-Wprp-Events")) {
        assert!(
            Instant::now() < deadline,
            "the profile's sessions did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let kernel = run_ok(evtrace(&dir).args(["query", "NT Kernel Logger"]));
    assert!(
        kernel.contains("Buffer Size:           1024 KB"),
        "{kernel}"
    );
    assert!(
        kernel.contains("process|thread|image_load|cswitch"),
        "{kernel}"
    );
    let events = run_ok(evtrace(&dir).args(["query", "Evtrace-Wprp-Events"]));
    assert!(events.contains("Buffer Size:           256 KB"), "{events}");
    assert!(events.contains("Maximum Buffers:       64"), "{events}");
    // SIGINT: the recording stops cleanly, as on Ctrl-C.
    // SAFETY: kill has no memory preconditions; the pid is our child's.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    let e = text(&out.stderr);
    assert!(out.status.success(), "{e}");
    for w in [
        "system keyword CPUConfig",
        "<Stacks>",
        "<CaptureStateOnSave>",
        "<TraceMergeProperties>",
    ] {
        assert!(
            e.contains(&format!("warning: {}", wprp.display())) && e.contains(w),
            "{w}: {e}"
        );
    }
    assert!(!running(&dir, "NT Kernel Logger") && !running(&dir, "Evtrace-Wprp-Events"));
    assert!(dir.join("w.etl").is_file() && dir.join("w.Evtrace-Wprp-Events.etl").is_file());
}

/// A tmux server of the test's own, killed when dropped.
struct Tmux(String);

impl Tmux {
    fn start(name: &str, command: &str) -> Tmux {
        let t = Tmux(format!("evtrace-{name}-{}", std::process::id()));
        let ok = Command::new("tmux")
            .args([
                "-L",
                &t.0,
                "new-session",
                "-d",
                "-s",
                "t",
                "-x",
                "250",
                "-y",
                "40",
                command,
            ])
            .status()
            .unwrap();
        assert!(ok.success());
        t
    }

    fn capture(&self) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.0, "capture-pane", "-p", "-t", "t"])
            .output()
            .unwrap();
        text(&out.stdout)
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.0, "kill-server"])
            .status();
    }
}

fn sh_quote(p: &Path) -> String {
    format!("'{}'", p.display())
}

#[test]
fn the_status_line_shows_a_moving_rate_and_a_loss_warning_under_tmux() {
    const TEST: &str = "the_status_line_shows_a_moving_rate_and_a_loss_warning_under_tmux";
    let Some(loadgen) = example("loadgen") else {
        return;
    };
    if !tmux_or_skip(TEST) {
        return;
    }
    let dir = temp_dir("record-status");
    let _d = start_daemon(&dir);
    // A small session (4 buffers of 4 KB) that loadgen overruns, twice with a pause between
    // (the rate goes up, down and up); loadgen's own private session is a memory ring, so
    // only the recording writes a file (about 100 MB, of what the daemon kept up with).
    let lg = format!(
        "{} --events 3000000 --mode buffering --file {}/own.etl",
        sh_quote(&loadgen),
        sh_quote(&dir)
    );
    std::fs::write(dir.join("load.sh"), format!("{lg}\nsleep 1.5\n{lg}\n")).unwrap();
    let command = format!(
        "cd {d} && EVTRACE_RUNTIME_DIR={d} {evtrace} record -o lg.etl --provider evtrace-loadgen -b 4 --max-buffers 4 -- /bin/sh load.sh > out.txt; echo done >> out.txt; sleep 60",
        d = sh_quote(&dir),
        evtrace = sh_quote(Path::new(env!("CARGO_BIN_EXE_evtrace"))),
    );
    let tmux = Tmux::start("status", &command);
    let mut rates = Vec::new();
    let mut warned = false;
    let deadline = Instant::now() + Duration::from_secs(60);
    while !std::fs::read_to_string(dir.join("out.txt"))
        .unwrap_or_default()
        .contains("done")
    {
        assert!(Instant::now() < deadline, "the recording did not end");
        let pane = tmux.capture();
        if let Some(line) = pane.lines().find(|l| l.contains("evtrace-record: ")) {
            warned |= line.contains("WARNING evtrace-record LOST")
                && line.contains(
                    "raise MaximumBuffers (--max-buffers, now 4) or BufferSize (-b, now 4 KB)",
                );
            let rate = line
                .split("evtrace-record: ")
                .last()
                .unwrap()
                .split(" ev/s")
                .next()
                .unwrap();
            rates.push(rate.to_string());
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    let distinct: std::collections::BTreeSet<_> = rates.iter().collect();
    assert!(distinct.len() >= 3, "the rate did not move: {rates:?}");
    assert!(
        rates.iter().any(|r| r.ends_with(" k") || r.ends_with(" M")),
        "{rates:?}"
    );
    assert!(warned, "no loss warning in {rates:?}: {}", tmux.capture());
    let out = std::fs::read_to_string(dir.join("out.txt")).unwrap();
    assert!(
        out.contains("Session evtrace-record:") && !out.contains(" 0 events lost"),
        "{out}"
    );
}

#[test]
fn top_shows_the_busiest_provider_of_a_real_time_session_under_tmux() {
    const TEST: &str = "top_shows_the_busiest_provider_of_a_real_time_session_under_tmux";
    let Some(echo) = example("echo_server") else {
        return;
    };
    if !tmux_or_skip(TEST) {
        return;
    }
    let dir = temp_dir("record-top");
    let _d = start_daemon(&dir);
    run_ok(evtrace(&dir).args(["start", "Live", "--rt", "--provider", ECHO]));
    let command = format!(
        "EVTRACE_RUNTIME_DIR={d} {evtrace} top Live; sleep 60",
        d = sh_quote(&dir),
        evtrace = sh_quote(Path::new(env!("CARGO_BIN_EXE_evtrace"))),
    );
    let tmux = Tmux::start("top", &command);
    std::thread::sleep(Duration::from_millis(500));
    let mut c = Command::new(&echo);
    dies_with_test(&mut c);
    let ran = c
        .current_dir(&dir)
        .env("EVTRACE_RUNTIME_DIR", &dir)
        // Its registration waits for the session's enable, as under `record`.
        .env("EVTRACE_DAEMON_SYNC_MS", "2000")
        .args(["--show", "0", "--requests", "50"])
        .output()
        .unwrap();
    assert!(ran.status.success());
    // A producer that ended within its first flush period hands its buffers over when the
    // session stops; top shows its last table as the session ends.
    run_ok(evtrace(&dir).args(["stop", "Live"]));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let pane = tmux.capture();
        let served = pane
            .lines()
            .find(|l| l.ends_with(&format!("{ECHO}/served")));
        // The total is the column before the name (the rate may be "1.2 k").
        if served.is_some_and(|l| l.split_whitespace().rev().nth(1) == Some("200")) {
            assert!(pane.contains("evtrace top Live"), "{pane}");
            assert!(pane.lines().any(|l| l.trim_end().ends_with(ECHO)), "{pane}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "top never showed 200 served events: {pane}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}
