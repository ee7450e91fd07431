//! A file system that fills up under a private, a system and a NEWFILE session: the session
//! stops itself and says why (ERROR_DISK_FULL), LogBuffersLost counts what did not fit, what
//! was written before is intact, and the writers neither block nor panic.

use std::time::Duration;

use super::{finish, is_root, num, spawn, SmallDisk};
use crate::lab::{field, read_back, session_files, Lab, Readback};
use crate::{Budget, Outcome};

/// Seconds of writing: at any speed, far more than 2 MB and the session's 4 MB of buffers (a
/// count of events would fit in the buffers of a fast machine, and the disk would then fill
/// only at the stop).
const SECONDS: &str = "1";
/// Writer threads per producer (the producer's default).
const WRITERS: u64 = 2;
/// The longest a producer may take: far beyond what writing takes, so only a blocked writer
/// reaches it.
const LIMIT: Duration = Duration::from_secs(60);

/// Runs the scenario.
pub fn run(lab: &Lab, _budget: &Budget, out: &mut Outcome) {
    if !is_root() {
        return out.skip("needs root, to mount a small tmpfs that fills up");
    }
    private(lab, out);
    system(lab, out, "system", &[], "sys.etl");
    system(lab, out, "NEWFILE", &["--newfile", "1"], "new_%d.etl");
}

fn private(lab: &Lab, out: &mut Outcome) {
    let small = lab.dir().join("private-disk");
    let _disk = match SmallDisk::mount(&small, "2m") {
        Ok(d) => d,
        Err(e) => return out.skip(e),
    };
    let file = small.join("private.etl");
    let f = file.to_string_lossy().into_owned();
    let child = spawn(&mut lab.producer(&["private", "--file", &f, "--seconds", SECONDS]));
    let report = match child.and_then(|c| finish(c, LIMIT)) {
        Ok(r) => r,
        Err(e) => return out.fail(format!("private: {e}")),
    };
    let stats = &report["stats"];
    let back = read_back(std::slice::from_ref(&file));
    judge(
        out,
        "private",
        Seen {
            state: stats["state"].as_str().unwrap_or("?").to_string(),
            error: stats["error"].as_str().unwrap_or("").to_string(),
            attempted: num(&report, &["attempted"]),
            lost: num(stats, &["events_lost"]),
            buffers_lost: num(stats, &["log_buffers_lost"]),
            back,
        },
    );
}

fn system(lab: &Lab, out: &mut Outcome, what: &str, flags: &[&str], name: &str) {
    let small = lab.dir().join(format!("{what}-disk"));
    let _disk = match SmallDisk::mount(&small, "2m") {
        Ok(d) => d,
        Err(e) => return out.skip(e),
    };
    let _daemon = match lab.daemon() {
        Ok(d) => d,
        Err(e) => return out.fail(e),
    };
    let file = small.join(name);
    let f = file.to_string_lossy().into_owned();
    let mut args = vec!["start", "Chaos-Full", "-f", &f];
    args.extend_from_slice(flags);
    args.extend_from_slice(&["--provider", "Evtrace-Chaos"]);
    if let Err(e) = lab.run(&args) {
        return out.fail(format!("{what}: {e}"));
    }
    let child = spawn(&mut lab.producer(&["system", "--seconds", SECONDS]));
    let report = match child.and_then(|c| finish(c, LIMIT)) {
        Ok(r) => r,
        Err(e) => return out.fail(format!("{what}: {e}")),
    };
    let query = lab.run(&["query", "Chaos-Full"]).unwrap_or_else(|e| e);
    let stopped = match lab.run(&["stop", "Chaos-Full"]) {
        Ok(s) => s,
        Err(e) => return out.fail(format!("{what}: stop: {e}")),
    };
    let state = query
        .lines()
        .find_map(|l| l.strip_prefix("State:"))
        .unwrap_or("?")
        .trim()
        .to_string();
    let back = read_back(&session_files(&file));
    judge(
        out,
        what,
        Seen {
            state,
            error: stopped.clone(),
            attempted: num(&report, &["attempted"]),
            lost: field(&stopped, "Events Lost:").unwrap_or(0),
            buffers_lost: field(&stopped, "Log Buffers Lost:").unwrap_or(0),
            back,
        },
    );
}

/// What one case showed.
struct Seen {
    state: String,
    /// Where the reason is said (the session's error, or the stop's output).
    error: String,
    attempted: u64,
    lost: u64,
    buffers_lost: u64,
    back: Readback,
}

fn judge(out: &mut Outcome, what: &str, s: Seen) {
    let recorded = s.back.events();
    out.figure(format!(
        "{what}: 2 MB tmpfs, {} events attempted: state {}, {recorded} recorded + {} EventsLost = {} ({} written as the stop disabled the provider), LogBuffersLost {}, damage {:?}",
        s.attempted,
        s.state,
        s.lost,
        recorded + s.lost,
        s.attempted.saturating_sub(recorded + s.lost),
        s.buffers_lost,
        s.back.damage
    ));
    out.check(s.state.contains("StoppedWriteFailed"), || {
        format!("{what}: the session did not stop itself: state {}", s.state)
    });
    out.check(s.error.contains("ERROR_DISK_FULL"), || {
        format!(
            "{what}: the reason given does not name ERROR_DISK_FULL: {}",
            s.error
        )
    });
    out.check(s.buffers_lost > 0, || {
        format!("{what}: LogBuffersLost is 0")
    });
    out.check(recorded > 0, || {
        format!("{what}: nothing written before the disk filled survived")
    });
    // A writer counts an attempt when its enable check passes; the write itself loads the enable
    // word again, and one that finds the provider disabled by the stop (at most one per writer
    // thread) came after the session, as after any stop. Nothing else may be missing.
    let accounted = recorded + s.lost;
    out.check(
        accounted <= s.attempted && s.attempted - accounted <= WRITERS,
        || {
            format!(
                "{what}: {} attempted, but {recorded} recorded + {} lost",
                s.attempted, s.lost
            )
        },
    );
    out.check(s.back.damage.is_empty() && s.back.error.is_none(), || {
        format!(
            "{what}: the file is damaged: {:?} {:?}",
            s.back.damage, s.back.error
        )
    });
    out.check(s.back.duplicates() == 0, || {
        format!("{what}: events recorded twice")
    });
}
