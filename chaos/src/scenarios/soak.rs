//! Overload: writers as fast as they can (2 threads, a tight loop) into sessions with default
//! settings, private and system, round after round: every event is recorded or counted lost
//! (attempted = recorded + EventsLost, exactly), memory stays within the buffers' bound, and no
//! write ever waits (the slowest one is reported).
//!
//! Each round is a fresh session and file of a few seconds, read back and deleted: a sequential
//! file at full speed takes about 1 GB a second, so ten minutes in one file would fill the disk.

use std::time::{Duration, Instant};

use super::{finish, num, spawn};
use crate::lab::{field, read_back, status_kb, Lab};
use crate::{Budget, Outcome};

/// Seconds of writing per round.
const ROUND_S: &str = "2";
/// A default session's buffers: MaximumBuffers x BufferSize (64 x 64 KB).
const BUFFERS_KB: u64 = 64 * 64;
/// What a session and its writers may add beyond their buffers: the fixed overhead the README
/// states ("Memory": the flusher thread, the bookkeeping of 16 bytes per possible buffer), here
/// measured from what the process held before it started its session.
const SLACK_KB: u64 = 5 * 1024;

/// Runs the scenario: half the time private, half system.
pub fn run(lab: &Lab, budget: &Budget, out: &mut Outcome) {
    let half = budget.time() / 2;
    private(lab, half, out);
    system(lab, half, out);
}

#[derive(Default)]
struct Totals {
    rounds: u32,
    attempted: u64,
    recorded: u64,
    lost: u64,
    max_write_ns: u64,
    peak_kb: u64,
}

impl Totals {
    /// One round's file (read back, then deleted) and the producer's `report` of it; `lost` is
    /// the session's EventsLost.
    fn round(
        &mut self,
        out: &mut Outcome,
        what: &str,
        report: &serde_json::Value,
        file: &std::path::Path,
        lost: u64,
    ) {
        let back = read_back(&[file.to_path_buf()]);
        let _ = std::fs::remove_file(file);
        out.check(back.damage.is_empty(), || {
            format!("{what}: damage {:?}", back.damage)
        });
        self.add(out, what, num(report, &["attempted"]), back.events(), lost);
        self.max_write_ns = self.max_write_ns.max(num(report, &["max_write_ns"]));
        let added = num(report, &["vmhwm_kb"]).saturating_sub(num(report, &["rss_before_kb"]));
        self.peak_kb = self.peak_kb.max(added);
    }

    fn add(&mut self, out: &mut Outcome, what: &str, attempted: u64, recorded: u64, lost: u64) {
        self.rounds += 1;
        self.attempted += attempted;
        self.recorded += recorded;
        self.lost += lost;
        out.check(attempted == recorded + lost, || {
            format!(
                "{what} round {}: {attempted} attempted, {recorded} recorded + {lost} EventsLost = {}",
                self.rounds,
                recorded + lost
            )
        });
    }

    fn say(&self, out: &mut Outcome, what: &str, took: Duration) {
        out.figure(format!(
            "{what}: {} rounds in {:.0} s: {} attempted = {} recorded + {} EventsLost ({} silent); slowest write {:.1} us; peak RSS beyond the process's start {} KB (bound {} KB)",
            self.rounds,
            took.as_secs_f64(),
            self.attempted,
            self.recorded,
            self.lost,
            self.attempted as i64 - (self.recorded + self.lost) as i64,
            self.max_write_ns as f64 / 1000.0,
            self.peak_kb,
            BUFFERS_KB + SLACK_KB
        ));
    }
}

fn private(lab: &Lab, time: Duration, out: &mut Outcome) {
    let start = Instant::now();
    let mut t = Totals::default();
    while t.rounds == 0 || start.elapsed() < time {
        let file = lab.dir().join("soak-private.etl");
        let f = file.to_string_lossy().into_owned();
        let child = spawn(&mut lab.producer(&["private", "--file", &f, "--seconds", ROUND_S]));
        let report = match child.and_then(|c| finish(c, Duration::from_secs(120))) {
            Ok(r) => r,
            Err(e) => return out.fail(format!("private: {e}")),
        };
        let lost = num(&report, &["stats", "events_lost"]);
        t.round(out, "private", &report, &file, lost);
    }
    t.say(out, "private, 2 writers", start.elapsed());
    bounded(out, "private producer", t.peak_kb);
    blocked(out, "private", t.max_write_ns);
}

fn system(lab: &Lab, time: Duration, out: &mut Outcome) {
    let daemon = match lab.daemon() {
        Ok(d) => d,
        Err(e) => return out.fail(e),
    };
    let daemon_start_kb = status_kb(daemon.pid(), "VmRSS").unwrap_or(0);
    let start = Instant::now();
    let mut t = Totals::default();
    while t.rounds == 0 || start.elapsed() < time {
        let file = lab.dir().join("soak-system.etl");
        let f = file.to_string_lossy().into_owned();
        if let Err(e) = lab.run(&[
            "start",
            "Chaos-Soak",
            "-f",
            &f,
            "--provider",
            "Evtrace-Chaos",
        ]) {
            return out.fail(e);
        }
        let child = spawn(&mut lab.producer(&["system", "--seconds", ROUND_S]));
        let report = match child.and_then(|c| finish(c, Duration::from_secs(120))) {
            Ok(r) => r,
            Err(e) => return out.fail(format!("system: {e}")),
        };
        let stopped = match lab.run(&["stop", "Chaos-Soak"]) {
            Ok(s) => s,
            Err(e) => return out.fail(e),
        };
        let lost = field(&stopped, "Events Lost:").unwrap_or(0);
        t.round(out, "system", &report, &file, lost);
    }
    t.say(
        out,
        "system, 2 writers in a producer process",
        start.elapsed(),
    );
    bounded(out, "system producer", t.peak_kb);
    let daemon_kb = status_kb(daemon.pid(), "VmHWM").unwrap_or(0);
    let added = daemon_kb.saturating_sub(daemon_start_kb);
    out.figure(format!(
        "daemon peak RSS {daemon_kb} KB, {added} KB beyond its start"
    ));
    // The daemon holds the session's own buffers and the producer's share of them.
    out.check(added <= 2 * BUFFERS_KB + SLACK_KB, || {
        format!(
            "the daemon's peak RSS grew by {added} KB, over {} KB",
            2 * BUFFERS_KB + SLACK_KB
        )
    });
    blocked(out, "system", t.max_write_ns);
}

fn bounded(out: &mut Outcome, what: &str, peak_kb: u64) {
    out.check(peak_kb <= BUFFERS_KB + SLACK_KB, || {
        format!(
            "{what}: peak RSS grew by {peak_kb} KB, over the bound of {} KB",
            BUFFERS_KB + SLACK_KB
        )
    });
}

/// A write that took a second waited for something: the write path never does.
fn blocked(out: &mut Outcome, what: &str, max_write_ns: u64) {
    out.check(max_write_ns < 1_000_000_000, || {
        format!(
            "{what}: a write took {:.3} s: a writer blocked",
            max_write_ns as f64 / 1e9
        )
    });
}
