//! The daemon killed with SIGKILL while sessions of every kind record (sequential, circular,
//! NEWFILE, compressed, real-time with a consumer attached): each file is readable up to its
//! last written buffer, a new daemon starts at once in the same folder, and the producer that
//! was running logs to the new daemon's sessions.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use super::spawn;
use crate::lab::{read_back, session_files, Lab};
use crate::{Budget, Outcome};

/// A session of one kind: its name, `evtrace start` flags and log file name.
struct Kind {
    name: &'static str,
    flags: &'static [&'static str],
    file: &'static str,
}

const KINDS: &[Kind] = &[
    Kind {
        name: "Chaos-Seq",
        flags: &[],
        file: "seq",
    },
    Kind {
        name: "Chaos-Cir",
        flags: &["--cir", "8"],
        file: "cir",
    },
    Kind {
        name: "Chaos-New",
        flags: &["--newfile", "1"],
        file: "new_%d",
    },
    Kind {
        name: "Chaos-Zip",
        flags: &["--compressed"],
        file: "zip",
    },
    Kind {
        name: "Chaos-Rt",
        flags: &["--rt"],
        file: "rt",
    },
];

/// Runs the scenario.
pub fn run(lab: &Lab, budget: &Budget, out: &mut Outcome) {
    let mut command = lab.producer(&["system", "--threads", "2"]);
    let mut producer = match spawn(command.stdout(Stdio::null())) {
        Ok(p) => p,
        Err(e) => return out.fail(e),
    };
    let until = Instant::now() + budget.time();
    let mut round = 0u32;
    let mut restarts = Vec::new();
    while round < 2 || (budget.is_long() && Instant::now() < until) {
        let started = Instant::now();
        let daemon = match lab.daemon() {
            Ok(d) => d,
            Err(e) => return out.fail(format!("round {round}: a new daemon did not start: {e}")),
        };
        restarts.push(started.elapsed());
        let mut files = Vec::new();
        for k in KINDS {
            let f = lab.dir().join(format!("r{round}-{}.etl", k.file));
            let f_arg = f.to_string_lossy().into_owned();
            // Independent: each session records what it has room for. (Otherwise ETW's rule
            // withholds an event from every session when one of them has no buffer, and a
            // circular file's newest 8 MB can hold nothing but the loss records of withheld
            // events.)
            let mut args = vec!["start", k.name, "--ft", "1", "--independent", "-f", &f_arg];
            args.extend_from_slice(k.flags);
            args.extend_from_slice(&["--provider", "Evtrace-Chaos"]);
            if let Err(e) = lab.run(&args) {
                return out.fail(format!("round {round}: {e}"));
            }
            files.push((k, f));
        }
        let consumer = lab
            .evtrace()
            .args(["fmt", "--rt", "Chaos-Rt", "--summary"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn();
        let consumer = match consumer {
            Ok(c) => c,
            Err(e) => return out.fail(format!("cannot start the real-time consumer: {e}")),
        };
        // The producer reconnects and is enabled; the flush timer takes buffers to the files.
        std::thread::sleep(Duration::from_millis(2500));
        daemon.kill();
        for (k, f) in &files {
            check_file(out, round, k.name, &session_files(f));
        }
        match super::finish_any(consumer, Duration::from_secs(10)) {
            Ok(status) => out.figure(format!(
                "round {round}: the real-time consumer ended when the daemon died ({status})"
            )),
            Err(e) => out.fail(format!("round {round}: the real-time consumer: {e}")),
        }
        round += 1;
    }
    // The daemon of the last round is gone; one more proves the producer still logs.
    match producer.try_wait() {
        Ok(None) => {}
        other => out.fail(format!(
            "the producer did not survive the daemon kills: {other:?}"
        )),
    }
    let _ = producer.kill();
    let _ = producer.wait();
    let slowest = restarts.iter().max().copied().unwrap_or_default();
    out.figure(format!(
        "{round} daemon kills with 5 sessions recording each; a new daemon answered within {slowest:?} every time (stale socket replaced)"
    ));
}

/// A killed daemon's file: readable, only its last buffer may be cut, no event twice, and the
/// producer's events are in it.
fn check_file(out: &mut Outcome, round: u32, session: &str, files: &[PathBuf]) {
    // A kill between creating a NEWFILE series' next file and writing its header buffer leaves
    // that last file empty: it is the cut tail, holding nothing that was written.
    let mut files = files;
    if let Some((last, before)) = files.split_last() {
        if !before.is_empty() && std::fs::metadata(last).is_ok_and(|m| m.len() == 0) {
            out.figure(format!(
                "round {round}: {session}: the series' last file {} is empty (the kill came before its header)",
                last.display()
            ));
            files = before;
        }
    }
    if files.is_empty() {
        return out.fail(format!("round {round}: {session} left no file"));
    }
    let back = read_back(files);
    let bad = back.damage_except(&["truncated buffer"]);
    out.figure(format!(
        "round {round}: {session}: {} file(s), {} events, {} writers, damage {:?}",
        files.len(),
        back.events(),
        back.ticks.len(),
        back.damage
    ));
    if let Some(e) = &back.error {
        out.fail(format!("round {round}: {session}: unreadable: {e}"));
    }
    out.check(bad.is_empty(), || {
        format!("round {round}: {session}: damage beyond a cut tail: {bad:?}")
    });
    out.check(back.duplicates() == 0, || {
        format!("round {round}: {session}: events recorded twice")
    });
    out.check(back.events() > 0, || {
        format!("round {round}: {session}: no event of the running producer was recorded")
    });
}
