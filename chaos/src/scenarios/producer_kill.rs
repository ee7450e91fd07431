//! Producers killed with SIGKILL mid-write, one after the other, on one system session: the
//! session runs on, the file stays readable, what the dead producers had not handed over is
//! counted lost, and the daemon lets go of their shares.

use std::time::{Duration, Instant};

use super::spawn;
use crate::lab::{field, open_fds, read_back, status_kb, threads, Lab};
use crate::{Budget, Outcome};

/// Kills in the bounded form (the 50 in a row).
const KILLS: u32 = 50;

/// Runs the scenario.
pub fn run(lab: &Lab, budget: &Budget, out: &mut Outcome) {
    let daemon = match lab.daemon() {
        Ok(d) => d,
        Err(e) => return out.fail(e),
    };
    let file = lab.dir().join("kills.etl");
    let file_arg = file.to_string_lossy().into_owned();
    if let Err(e) = lab.run(&[
        "start",
        "Chaos-Kill",
        "-f",
        &file_arg,
        "--provider",
        "Evtrace-Chaos",
    ]) {
        return out.fail(e);
    }
    let until = Instant::now() + budget.time();
    let mut kills = 0u32;
    let mut not_running = 0u32;
    let mut baseline = None;
    while kills < KILLS || (budget.is_long() && Instant::now() < until) {
        let mut p = match spawn(&mut lab.producer(&["system", "--threads", "2"])) {
            Ok(p) => p,
            Err(e) => return out.fail(e),
        };
        // Long enough to connect, be enabled and fill buffers; varied so kills land everywhere.
        std::thread::sleep(Duration::from_millis(60 + u64::from(kills % 7) * 20));
        let _ = p.kill();
        let _ = p.wait();
        kills += 1;
        match lab.run(&["query", "Chaos-Kill"]) {
            Ok(q) if q.contains("State:                 Running") => {}
            Ok(q) => {
                not_running += 1;
                out.fail(format!(
                    "after kill {kills} the session is not running:\n{q}"
                ));
            }
            Err(e) => {
                not_running += 1;
                out.fail(format!("after kill {kills} the daemon did not answer: {e}"));
            }
        }
        if kills == 5 {
            // Warm: the daemon has made its session's threads and buffers by now.
            std::thread::sleep(Duration::from_millis(300));
            baseline = figures(daemon.pid());
        }
        if not_running > 0 {
            break;
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    let after = figures(daemon.pid());
    let stopped = match lab.run(&["stop", "Chaos-Kill"]) {
        Ok(s) => s,
        Err(e) => return out.fail(e),
    };
    let lost = field(&stopped, "Events Lost:").unwrap_or(0);
    let buffers_lost = field(&stopped, "Log Buffers Lost:").unwrap_or(0);
    let back = read_back(std::slice::from_ref(&file));
    let gaps = back.gaps();
    let writers = back.ticks.len();
    out.figure(format!(
        "{kills} producer kills (2 writer threads each, a tight loop): session Running after {}/{kills}",
        kills - not_running
    ));
    out.figure(format!(
        "file: {} events of {writers} writers read, damage {:?}; {gaps} events missing below the last recorded, EventsLost {lost}, LogBuffersLost {buffers_lost}, silent {}",
        back.events(),
        back.damage,
        gaps.saturating_sub(lost)
    ));
    if let Some(e) = &back.error {
        out.fail(format!("the file could not be read: {e}"));
    }
    out.check(back.damage.is_empty(), || {
        format!("damage in the file: {:?}", back.damage)
    });
    out.check(back.duplicates() == 0, || {
        format!("{} events recorded twice", back.duplicates())
    });
    out.check(gaps <= lost, || {
        format!("{gaps} events missing below the last recorded ones, but EventsLost is {lost}")
    });
    if let (Some(b), Some(a)) = (baseline, after) {
        out.figure(format!(
            "daemon after kill 5 -> after kill {kills}: RSS {} -> {} KB, open descriptors {} -> {}, threads {} -> {}",
            b.rss_kb, a.rss_kb, b.fds, a.fds, b.threads, a.threads
        ));
        out.check(a.fds <= b.fds, || {
            format!(
                "the daemon holds {} descriptors more than after kill 5: shares not released",
                a.fds - b.fds
            )
        });
        out.check(a.threads <= b.threads, || {
            format!(
                "the daemon runs {} threads more than after kill 5",
                a.threads - b.threads
            )
        });
        // One share is MaximumBuffers x BufferSize (several MB): kept shares would show at once.
        out.check(a.rss_kb <= b.rss_kb + 4096, || {
            format!(
                "the daemon's RSS grew by {} KB over {} kills",
                a.rss_kb - b.rss_kb,
                kills - 5
            )
        });
    } else {
        out.fail("could not read the daemon's /proc figures");
    }
}

struct Figures {
    rss_kb: u64,
    fds: usize,
    threads: u64,
}

fn figures(pid: u32) -> Option<Figures> {
    Some(Figures {
        rss_kb: status_kb(pid, "VmRSS")?,
        fds: open_fds(pid)?,
        threads: threads(pid)?,
    })
}
