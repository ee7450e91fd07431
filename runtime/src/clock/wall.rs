//! `CLOCK_REALTIME` and `CLOCK_MONOTONIC` from the TSC, for a third of `clock_gettime`'s cost.
//!
//! A write reads the TSC and maps it with a linear function,
//! `base + (tsc - base_tsc) * mult >> 32`, published under a sequence lock. Flushers of sessions on such a clock call
//! [`Mapped::refresh`] every few milliseconds; at most every [`INTERVAL_NS`] it compares the
//! mapping with the kernel's clock and starts the next segment where the current one is (so time
//! stamps stay continuous) with a slope that closes the difference over the next interval,
//! slewing at most [`MAX_SLEW_PPM`] as NTP does. A difference beyond a millisecond (the wall
//! clock was set, or the mapping was left alone too long) is stepped at once, as `clock_gettime`
//! would show it.
//!
//! Used only where the kernel itself keeps time with the TSC (see `tsc_keeps_kernel_time`).

use std::sync::atomic::{fence, AtomicU64, Ordering};
use std::sync::Mutex;

use super::{filetime_now, monotonic_ns, rdtsc, tsc_frequency};

/// How often the mapping is compared with the kernel's clock.
pub const INTERVAL_NS: u64 = 100_000_000;
/// The largest slope correction, parts per million.
pub const MAX_SLEW_PPM: u64 = 500;

/// `CLOCK_REALTIME` as a FILETIME (100 ns units since 1601).
pub static REALTIME: Mapped = Mapped::new(filetime_now, 10_000_000, false);
/// `CLOCK_MONOTONIC` in nanoseconds; it never goes back (see [`Mapped::refresh`]).
pub static MONOTONIC: Mapped = Mapped::new(monotonic_ns, 1_000_000_000, true);

/// One of the kernel's clocks, mapped from the TSC.
pub struct Mapped {
    map: Mapping,
    /// Serialises refreshes (several flushers may call) and remembers the TSC of the last one.
    last: Mutex<Option<u64>>,
    /// The kernel's clock, in this mapping's units.
    read: fn() -> i64,
    /// Units per second.
    per_second: i64,
    /// Whether the mapping may never step back (a monotonic clock).
    monotonic: bool,
}

/// The published mapping; `seq` is odd while it is being changed. Time advances at the nominal
/// slope `mult`, plus the correction `corr` (signed, same 32.32 units) over the first `span`
/// ticks of the segment only: a refresh that comes late does not keep correcting.
struct Mapping {
    seq: AtomicU64,
    base_tsc: AtomicU64,
    base: AtomicU64,
    mult: AtomicU64,
    corr: AtomicU64,
    span: AtomicU64,
}

/// One segment of the mapping.
#[derive(Clone, Copy)]
struct Segment {
    base_tsc: u64,
    base: u64,
    mult: u64,
    corr: i64,
    span: u64,
}

#[inline(always)]
fn map(tsc: u64, g: Segment) -> i64 {
    let d = tsc.wrapping_sub(g.base_tsc);
    // A TSC read before the base (another processor, a few ticks apart) maps to the base.
    let d = if (d as i64) < 0 { 0 } else { d };
    // One multiplication either way: within the span at the corrected slope, past it at the
    // nominal slope from where the span ended.
    if d <= g.span {
        let slope = g.mult.wrapping_add(g.corr as u64);
        g.base as i64 + ((d as u128 * slope as u128) >> 32) as i64
    } else {
        let corrected = ((g.span as i128 * g.corr as i128) >> 32) as i64;
        g.base as i64 + corrected + ((d as u128 * g.mult as u128) >> 32) as i64
    }
}

/// The slope (units per TSC tick, as a 32.32 fixed-point number) that advances
/// `interval + correction` over `interval_ticks`.
fn slope(interval: i64, correction: i64, interval_ticks: u64) -> u64 {
    (((interval + correction).max(1) as u128) << 32) as u64 / interval_ticks.max(1)
}

impl Mapped {
    const fn new(read: fn() -> i64, per_second: i64, monotonic: bool) -> Mapped {
        Mapped {
            map: Mapping {
                seq: AtomicU64::new(0),
                base_tsc: AtomicU64::new(0),
                base: AtomicU64::new(0),
                mult: AtomicU64::new(0),
                corr: AtomicU64::new(0),
                span: AtomicU64::new(0),
            },
            last: Mutex::new(None),
            read,
            per_second,
            monotonic,
        }
    }

    fn segment(&self) -> Segment {
        let m = &self.map;
        Segment {
            base_tsc: m.base_tsc.load(Ordering::Relaxed),
            base: m.base.load(Ordering::Relaxed),
            mult: m.mult.load(Ordering::Relaxed),
            corr: m.corr.load(Ordering::Relaxed) as i64,
            span: m.span.load(Ordering::Relaxed),
        }
    }

    /// The clock now, from the TSC: the segment is read once under the sequence lock.
    #[inline(always)]
    pub fn now(&'static self) -> i64 {
        let m = &self.map;
        loop {
            let s = m.seq.load(Ordering::Acquire);
            let g = self.segment();
            let tsc = rdtsc() as u64;
            fence(Ordering::Acquire);
            if s & 1 == 0 && m.seq.load(Ordering::Relaxed) == s {
                let d = tsc.wrapping_sub(g.base_tsc);
                // Before the first refresh the span is 0, so this is never taken unmapped.
                if d <= g.span {
                    let slope = g.mult.wrapping_add(g.corr as u64);
                    return g.base as i64 + ((d as u128 * slope as u128) >> 32) as i64;
                }
                return self.beyond_span(tsc, g);
            }
            std::hint::spin_loop();
        }
    }

    /// `now` past the segment's span (a late refresh), before the first refresh, or a TSC read
    /// a few ticks before the segment's base on another processor.
    #[cold]
    fn beyond_span(&'static self, tsc: u64, g: Segment) -> i64 {
        // The span is 0 only before the first refresh.
        if g.span == 0 {
            return self.unmapped();
        }
        map(tsc, g)
    }

    /// The first read: makes the mapping, or reads the kernel's clock where there is no
    /// invariant TSC.
    #[cold]
    fn unmapped(&'static self) -> i64 {
        self.refresh();
        if self.map.span.load(Ordering::Acquire) != 0 {
            self.now()
        } else {
            (self.read)()
        }
    }

    /// Brings the mapping in line with the kernel's clock if [`INTERVAL_NS`] has passed since
    /// the last time (or it never ran). Returns whether it changed the mapping.
    ///
    /// A difference over a millisecond is stepped, except backwards on a monotonic clock (the
    /// TSC ran on while `CLOCK_MONOTONIC` did not, across a suspend): the mapping then holds
    /// where it is until the kernel's clock catches up, so time stamps never go back.
    pub fn refresh(&self) -> bool {
        let Some(hz) = tsc_frequency() else {
            return false;
        };
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let interval_ticks = (hz as u128 * INTERVAL_NS as u128 / 1_000_000_000) as u64;
        let tsc = rdtsc() as u64;
        if last.is_some_and(|l| tsc.wrapping_sub(l) < interval_ticks) {
            return false;
        }
        let real = (self.read)();
        let interval = (INTERVAL_NS as i128 * self.per_second as i128 / 1_000_000_000) as i64;
        let step = self.per_second / 1000;
        let mut nominal = slope(interval, 0, interval_ticks);
        let mut hold = false;
        let (base, correction) = match *last {
            None => (real, 0),
            Some(_) => {
                let here = map(tsc, self.segment());
                let error = real - here;
                if self.monotonic && error < -step {
                    hold = true;
                    (here, 0)
                } else if error.abs() > step {
                    (real, 0)
                } else {
                    let most = interval * MAX_SLEW_PPM as i64 / 1_000_000;
                    (here, error.clamp(-most, most))
                }
            }
        };
        let mut corr = slope(interval, correction, interval_ticks) as i64 - nominal as i64;
        if hold {
            (nominal, corr) = (0, 0);
        }
        let m = &self.map;
        let s = m.seq.load(Ordering::Relaxed);
        m.seq.store(s + 1, Ordering::Relaxed);
        fence(Ordering::Release);
        m.base_tsc.store(tsc, Ordering::Relaxed);
        m.base.store(base as u64, Ordering::Relaxed);
        m.mult.store(nominal, Ordering::Relaxed);
        m.corr.store(corr as u64, Ordering::Relaxed);
        m.span.store(interval_ticks, Ordering::Relaxed);
        m.seq.store(s + 2, Ordering::Release);
        *last = Some(tsc);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Follows the kernel's clock within a millisecond (in practice a few microseconds) and
    /// never goes back.
    fn follows(clock: &'static Mapped, what: &str) {
        if tsc_frequency().is_none() {
            eprintln!("skipped: no invariant TSC on this machine");
            return;
        }
        clock.refresh();
        let mut prev = clock.now();
        let mut worst = 0i64;
        for _ in 0..25 {
            std::thread::sleep(Duration::from_millis(20));
            clock.refresh();
            for _ in 0..1000 {
                let t = clock.now();
                assert!(t >= prev, "{what} went back from {prev} to {t}");
                prev = t;
            }
            // Ours against the kernel's read just before and just after, so that being
            // preempted between two reads is not taken for an error of the mapping.
            let (lo, ours, hi) = ((clock.read)(), clock.now(), (clock.read)());
            worst = worst.max((lo - ours).max(ours - hi).max(0));
        }
        let ms = clock.per_second / 1000;
        assert!(worst < ms, "{worst} units from {what}");
    }

    #[test]
    fn follows_clock_realtime_and_never_goes_back() {
        follows(&REALTIME, "CLOCK_REALTIME");
    }

    #[test]
    fn follows_clock_monotonic_and_never_goes_back() {
        follows(&MONOTONIC, "CLOCK_MONOTONIC");
    }

    /// A kernel clock the test sets: nanoseconds.
    static FAKE: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);
    fn fake() -> i64 {
        FAKE.load(Ordering::SeqCst)
    }

    /// The mapping runs seconds ahead of the kernel's clock (the TSC went on across a suspend
    /// the kernel's monotonic clock left out): a monotonic mapping holds instead of stepping
    /// back, and moves on once the kernel's clock has caught up; another steps back.
    #[test]
    fn a_monotonic_mapping_holds_rather_than_go_back() {
        if tsc_frequency().is_none() {
            eprintln!("skipped: no invariant TSC on this machine");
            return;
        }
        static HOLDS: Mapped = Mapped::new(fake, 1_000_000_000, true);
        static STEPS: Mapped = Mapped::new(fake, 1_000_000_000, false);
        let pause = || std::thread::sleep(Duration::from_millis(110));
        FAKE.store(monotonic_ns(), Ordering::SeqCst);
        assert!(HOLDS.refresh() && STEPS.refresh());
        pause();
        let before = (HOLDS.now(), STEPS.now());
        FAKE.store(before.0 - 10_000_000_000, Ordering::SeqCst);
        assert!(HOLDS.refresh() && STEPS.refresh());
        let held = HOLDS.now();
        assert!(held >= before.0, "went back from {} to {held}", before.0);
        pause();
        assert_eq!(HOLDS.now(), held, "held while the kernel's clock is behind");
        assert!(
            STEPS.now() < before.1 - 9_000_000_000,
            "the other one stepped back"
        );
        // Caught up (and past): it moves on from there.
        FAKE.store(held + 2_000_000_000, Ordering::SeqCst);
        assert!(HOLDS.refresh());
        pause();
        assert!(HOLDS.now() > held + 2_000_000_000);
    }

    #[test]
    fn slope_advances_the_interval_plus_the_correction() {
        let ticks = 300_000_000u64;
        let nominal = slope(1_000_000, 0, ticks);
        for correction in [-500i64, 0, 500] {
            let g = Segment {
                base_tsc: 0,
                base: 0,
                mult: nominal,
                corr: slope(1_000_000, correction, ticks) as i64 - nominal as i64,
                span: ticks,
            };
            let advanced = map(ticks, g);
            assert!(
                (advanced - (1_000_000 + correction)).abs() <= 2,
                "{advanced}"
            );
            // Past the interval only the nominal slope runs: a late refresh finds the error
            // corrected once, not again and again.
            let later = map(3 * ticks, g);
            assert!((later - (3_000_000 + correction)).abs() <= 3, "{later}");
        }
    }
}
