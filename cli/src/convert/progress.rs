//! The progress line on stderr: items done, rate and time left, for conversions that take more
//! than a moment, only when stderr is a terminal.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use evtrace_runtime::consume::LogReader;

/// Seconds between the FILETIME epoch (1601) and the Unix epoch, in 100 ns units.
const FILETIME_UNIX: i64 = 116_444_736_000_000_000;
/// Quiet until this much work has been done.
const AFTER: Duration = Duration::from_secs(2);
const EVERY: Duration = Duration::from_millis(250);

/// Counts items and redraws the line now and then.
pub struct Progress {
    on: bool,
    started: Instant,
    last: Instant,
    shown: bool,
    done: u64,
    /// The inputs' time range (Unix ns) from their headers, for the fraction done.
    range: Option<(i64, i64)>,
}

impl Progress {
    /// A progress line for `reader`, drawn if `wanted` and stderr is a terminal.
    pub fn new(wanted: bool, reader: &LogReader) -> Progress {
        let unix = |ft: i64| (ft > 0).then(|| (ft - FILETIME_UNIX).saturating_mul(100));
        let (mut lo, mut hi) = (None::<i64>, None::<i64>);
        for h in (0..reader.file_count()).filter_map(|i| reader.header(i)) {
            if let (Some(s), Some(e)) = (unix(h.start_time), unix(h.end_time)) {
                lo = Some(lo.map_or(s, |l| l.min(s)));
                hi = Some(hi.map_or(e, |x| x.max(e)));
            }
        }
        let now = Instant::now();
        Progress {
            on: wanted && std::io::stderr().is_terminal(),
            started: now,
            last: now,
            shown: false,
            done: 0,
            range: lo.zip(hi).filter(|(l, h)| h > l),
        }
    }

    /// One more item, at `time` (Unix ns).
    pub fn tick(&mut self, time: i64) {
        self.done += 1;
        if !self.on || !self.done.is_multiple_of(4096) {
            return;
        }
        let now = Instant::now();
        if now - self.started < AFTER || now - self.last < EVERY {
            return;
        }
        self.last = now;
        let secs = (now - self.started).as_secs_f64();
        let rate = self.done as f64 / secs;
        let eta = self
            .range
            .map(|(lo, hi)| (time.clamp(lo, hi) - lo) as f64 / (hi - lo) as f64)
            .filter(|f| *f > 0.0)
            .map(|f| format!(", {:.0} s left", secs * (1.0 - f) / f))
            .unwrap_or_default();
        eprint!("\r{} items, {:.0}/s{eta}   ", self.done, rate);
        let _ = std::io::stderr().flush();
        self.shown = true;
    }

    /// Ends the line, if one was drawn.
    pub fn done(&mut self) {
        if self.shown {
            eprintln!("\r{} items converted{:20}", self.done, "");
        }
    }
}
