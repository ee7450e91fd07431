//! `evtrace start --profile` (a profile's sessions started with `record`'s code and left
//! running), `evtrace start --watch` (the status line until Ctrl-C, the sessions going on), and
//! `evtrace record -- COMMAND` passing a Ctrl-C on to the command and recording until it ends, and
//! `--this-process-only` keeping the kernel events of the command's process tree alone.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod common;
use common::*;

/// A profile of two file sessions with different buffer settings, and a memory ring.
const PROFILE: &str = r#"
description = "two sessions for start --profile"

[[collector]]
name = "Evtrace-Start-A"
buffer_kb = 128
max_buffers = 40

[[collector.provider]]
name = "Evtrace-Start-Provider"
level = 4

[[collector]]
name = "Evtrace-Start-B"
buffer_kb = 64
max_buffers = 24
mode = "memory"
"#;

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within 30 s");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Sends SIGINT to `pid` alone (as `kill -INT`, not a terminal's Ctrl-C to the group).
fn interrupt(pid: u32) {
    // SAFETY: kill has no memory preconditions; the pid is the test's own child.
    unsafe { libc::kill(pid as libc::pid_t, libc::SIGINT) };
}

#[test]
fn start_profile_starts_the_profiles_sessions_and_leaves_them_running() {
    let dir = temp_dir("start-profile");
    let _d = start_daemon(&dir);
    let profile = dir.join("two.toml");
    std::fs::write(&profile, PROFILE).unwrap();
    let out = run_ok(evtrace(&dir).current_dir(&*dir).args([
        "start",
        "--profile",
        profile.to_str().unwrap(),
        "-f",
        "s.etl",
    ]));
    assert!(
        out.contains("started Evtrace-Start-A: logging to")
            && out.contains("started Evtrace-Start-B: memory ring"),
        "{out}"
    );
    // The command has ended; the sessions have not.
    let a = run_ok(evtrace(&dir).args(["query", "Evtrace-Start-A"]));
    assert!(a.contains("Buffer Size:           128 KB"), "{a}");
    assert!(a.contains("Maximum Buffers:       40"), "{a}");
    assert!(
        a.contains(&format!("{}", dir.join("s.etl").display())),
        "{a}"
    );
    let b = run_ok(evtrace(&dir).args(["query", "Evtrace-Start-B"]));
    assert!(b.contains("Buffer Size:           64 KB"), "{b}");
    assert!(b.contains("BUFFERING"), "{b}");
    assert!(
        b.contains(&format!("{}", dir.join("s.Evtrace-Start-B.etl").display())),
        "{b}"
    );
    // The same sessions again: the first is there already, so nothing new is left behind.
    let again = evtrace(&dir)
        .current_dir(&*dir)
        .args([
            "start",
            "--profile",
            profile.to_str().unwrap(),
            "-f",
            "t.etl",
        ])
        .output()
        .unwrap();
    let e = text(&again.stderr);
    assert!(!again.status.success(), "{e}");
    assert!(
        e.contains("ERROR_ALREADY_EXISTS") && e.contains("evtrace stop \"Evtrace-Start-A\""),
        "{e}"
    );
    run_ok(evtrace(&dir).args(["stop", "Evtrace-Start-A"]));
    run_ok(evtrace(&dir).args(["stop", "Evtrace-Start-B"]));
    assert!(dir.join("s.etl").is_file());
}

#[test]
fn start_profile_refuses_session_flags_and_unknown_profiles() {
    let dir = temp_dir("start-profile-bad");
    let _d = start_daemon(&dir);
    let out = evtrace(&dir)
        .args(["start", "--profile", "general", "--rt"])
        .output()
        .unwrap();
    let e = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{e}");
    assert!(e.contains("--profile") && e.contains("--rt"), "{e}");
    let out = evtrace(&dir)
        .args(["start", "Named", "--profile", "general"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let out = evtrace(&dir)
        .args(["start", "--profile", "no-such-profile"])
        .output()
        .unwrap();
    let e = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{e}");
    assert!(
        e.contains("no-such-profile") && e.contains("general, cpu, network, disk"),
        "{e}"
    );
    let list = run_ok(evtrace(&dir).arg("list"));
    assert!(list.contains("no system sessions are running"), "{list}");
}

#[test]
fn start_watch_shows_the_status_until_ctrl_c_and_the_session_goes_on() {
    let dir = temp_dir("start-watch");
    let _d = start_daemon(&dir);
    let mut child = evtrace(&dir)
        .current_dir(&*dir)
        .args([
            "start",
            "Evtrace-Watch",
            "-f",
            "w.etl",
            "-b",
            "8",
            "--max",
            "6",
        ])
        .arg("--watch")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Not a terminal: one status line a second, each kept.
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let reader = {
        let lines = Arc::clone(&lines);
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for l in BufReader::new(err).lines() {
                lines.lock().unwrap().push(l.unwrap());
            }
        })
    };
    let status_lines = |lines: &[String]| {
        lines
            .iter()
            .filter(|l| l.starts_with("Evtrace-Watch: ") && l.contains(" ev/s, buffers "))
            .count()
    };
    wait_for("two status lines", || {
        status_lines(&lines.lock().unwrap()) >= 2
    });
    interrupt(child.id());
    let status = child.wait().unwrap();
    reader.join().unwrap();
    let lines = lines.lock().unwrap().clone();
    assert!(status.success(), "{lines:?}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("stopped watching; Evtrace-Watch still running")),
        "{lines:?}"
    );
    let line = lines
        .iter()
        .find(|l| l.starts_with("Evtrace-Watch: "))
        .unwrap();
    assert!(line.contains("/6, lost 0"), "{line}");
    assert!(
        running(&dir, "Evtrace-Watch"),
        "the watch stopped the session"
    );
    run_ok(evtrace(&dir).args(["stop", "Evtrace-Watch"]));
}

#[test]
fn a_ctrl_c_sent_to_record_alone_reaches_the_command_which_ends_the_recording() {
    let dir = temp_dir("record-ctrl-c");
    let _d = start_daemon(&dir);
    // The command says when it is ready, and writes down the SIGINT it gets.
    let script =
        "trap 'echo interrupted > got-int; exit 0' INT; echo > ready; while :; do sleep 0.1; done";
    let mut child = evtrace(&dir)
        .current_dir(&*dir)
        .args([
            "record",
            "-o",
            "c.etl",
            "--provider",
            "Evtrace-Ctrl-C",
            "--quiet",
        ])
        .args(["--", "/bin/sh", "-c", script])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("the recorded command", || {
        Path::new(&dir.join("ready")).is_file() && running(&dir, "evtrace-record")
    });
    interrupt(child.id());
    let mut err = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{err}");
    assert_eq!(
        std::fs::read_to_string(dir.join("got-int")).unwrap().trim(),
        "interrupted",
        "{err}"
    );
    assert!(err.contains("waiting up to 5s for the command"), "{err}");
    assert!(
        !err.contains("did not end within"),
        "the command's end did not end the recording: {err}"
    );
    assert!(!running(&dir, "evtrace-record"));
    assert!(dir.join("c.etl").is_file());
}

#[test]
fn this_process_only_keeps_the_kernel_events_of_the_commands_tree_alone() {
    const TEST: &str = "this_process_only_keeps_the_kernel_events_of_the_commands_tree_alone";
    let Some(echo) = example("echo_server") else {
        return;
    };
    if euid() != 0 {
        skip(&format!(
            "{TEST}: kernel events need root (the kernel logger's sources), and this runs as uid {}",
            euid()
        ));
        return;
    }
    let dir = temp_dir("record-tree");
    let _d = start_daemon(&dir);
    // The command is a shell that starts echo_server: a tree of two processes.
    let script = format!("'{}'; true", echo.display());
    let out = evtrace(&dir)
        .current_dir(&*dir)
        .args(["record", "-o", "t.etl", "--profile", "general"])
        .args([
            "--this-process-only",
            "--quiet",
            "--",
            "/bin/sh",
            "-c",
            &script,
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let all = events(&dir.join("t.etl"));
    let kernel: Vec<_> = all.iter().filter(|e| e["kernel"] == true).collect();
    // A start is stamped with its creator's pid, and names the new process in its fields.
    let starts: Vec<u64> = kernel
        .iter()
        .filter(|e| e["provider"] == "Process" && e["event"] == "Start")
        .map(|e| e["fields"]["ProcessId"].as_u64().unwrap())
        .collect();
    assert_eq!(starts.len(), 2, "the shell and echo_server: {starts:?}");
    let echo_pid = all
        .iter()
        .find(|e| e["provider"] == "Evtrace-Examples-EchoServer")
        .map(|e| e["pid"].as_u64().unwrap())
        .expect("echo_server's own events");
    assert!(starts.contains(&echo_pid), "{starts:?} {echo_pid}");
    let recorder = kernel
        .iter()
        .find(|e| e["provider"] == "Process" && e["event"] == "Start")
        .map(|e| e["pid"].as_u64().unwrap());
    let others: std::collections::BTreeSet<u64> = kernel
        .iter()
        .map(|e| e["pid"].as_u64().unwrap())
        .filter(|p| !starts.contains(p) && Some(*p) != recorder)
        .collect();
    assert!(
        others.is_empty(),
        "kernel events of processes outside the tree: {others:?}"
    );
    // Its threads and images are there (the tree's, not only its starts).
    for (provider, event) in [("Thread", "Start"), ("Image", "Load"), ("Process", "End")] {
        assert!(
            kernel
                .iter()
                .any(|e| e["provider"] == provider && e["event"] == event && e["pid"] == echo_pid),
            "no {provider}/{event} of echo_server"
        );
    }
}
