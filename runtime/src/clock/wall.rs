//! System time from the TSC: `CLOCK_REALTIME` as a FILETIME for a third of `clock_gettime`'s cost.
//!
//! A write reads the TSC and maps it with a linear function, `base_ft + (tsc - base_tsc) * mult
//! >> 32`, published under a sequence lock. Flushers of sessions on this clock call [`refresh`]
//! every few milliseconds; at most every [`INTERVAL_NS`] it compares the mapping with
//! `CLOCK_REALTIME` and starts the next segment where the current one is (so time stamps stay
//! continuous) with a slope that closes the difference over the next interval, slewing at most
//! [`MAX_SLEW_PPM`] as NTP does. A difference beyond [`STEP_FT`] (the wall clock was set, or the
//! mapping was left alone too long) is stepped at once, as `clock_gettime` would show it.
//!
//! Used only where the kernel itself keeps time with the TSC (see `tsc_keeps_kernel_time`).

use std::sync::atomic::{fence, AtomicU64, Ordering};
use std::sync::Mutex;

use super::{filetime_now, rdtsc, tsc_frequency};

/// How often the mapping is compared with `CLOCK_REALTIME`.
pub const INTERVAL_NS: u64 = 100_000_000;
/// The largest slope correction, parts per million.
pub const MAX_SLEW_PPM: u64 = 500;
/// A difference larger than this (100 ns units: 1 ms) is stepped, not slewed.
pub const STEP_FT: i64 = 10_000;

/// The published mapping; `seq` is odd while it is being changed. Time advances at the nominal
/// slope `mult`, plus the correction `corr` (signed, same 32.32 units) over the first `span`
/// ticks of the segment only: a refresh that comes late does not keep correcting.
struct Mapping {
    seq: AtomicU64,
    base_tsc: AtomicU64,
    base_ft: AtomicU64,
    mult: AtomicU64,
    corr: AtomicU64,
    span: AtomicU64,
}

static MAP: Mapping = Mapping {
    seq: AtomicU64::new(0),
    base_tsc: AtomicU64::new(0),
    base_ft: AtomicU64::new(0),
    mult: AtomicU64::new(0),
    corr: AtomicU64::new(0),
    span: AtomicU64::new(0),
};

/// One segment of the mapping.
#[derive(Clone, Copy)]
struct Segment {
    base_tsc: u64,
    base_ft: u64,
    mult: u64,
    corr: i64,
    span: u64,
}

impl Segment {
    fn load() -> Segment {
        Segment {
            base_tsc: MAP.base_tsc.load(Ordering::Relaxed),
            base_ft: MAP.base_ft.load(Ordering::Relaxed),
            mult: MAP.mult.load(Ordering::Relaxed),
            corr: MAP.corr.load(Ordering::Relaxed) as i64,
            span: MAP.span.load(Ordering::Relaxed),
        }
    }
}

/// Serialises refreshes (several flushers may call) and remembers the TSC of the last one.
static LAST: Mutex<Option<u64>> = Mutex::new(None);

#[inline(always)]
fn map(tsc: u64, g: Segment) -> i64 {
    let d = tsc.wrapping_sub(g.base_tsc);
    // A TSC read before the base (another processor, a few ticks apart) maps to the base.
    let d = if (d as i64) < 0 { 0 } else { d };
    // One multiplication either way: within the span at the corrected slope, past it at the
    // nominal slope from where the span ended.
    if d <= g.span {
        let slope = g.mult.wrapping_add(g.corr as u64);
        g.base_ft as i64 + ((d as u128 * slope as u128) >> 32) as i64
    } else {
        let corrected = ((g.span as i128 * g.corr as i128) >> 32) as i64;
        g.base_ft as i64 + corrected + ((d as u128 * g.mult as u128) >> 32) as i64
    }
}

/// The current time as a FILETIME, from the TSC.
#[inline(always)]
pub fn now() -> i64 {
    loop {
        // The common case reads only what the corrected slope needs; past the segment's span
        // (a refresh is late) the whole segment is read on the slow path.
        let s = MAP.seq.load(Ordering::Acquire);
        let base_tsc = MAP.base_tsc.load(Ordering::Relaxed);
        let base_ft = MAP.base_ft.load(Ordering::Relaxed);
        let slope = MAP
            .mult
            .load(Ordering::Relaxed)
            .wrapping_add(MAP.corr.load(Ordering::Relaxed));
        let span = MAP.span.load(Ordering::Relaxed);
        let tsc = rdtsc() as u64;
        fence(Ordering::Acquire);
        if s & 1 == 0 && MAP.seq.load(Ordering::Relaxed) == s {
            let d = tsc.wrapping_sub(base_tsc);
            // Before the first refresh the span is 0, so this is never taken unmapped.
            if d <= span {
                return base_ft as i64 + ((d as u128 * slope as u128) >> 32) as i64;
            }
            return beyond_span(tsc);
        }
        std::hint::spin_loop();
    }
}

/// `now` past the segment's span (a late refresh), before the first refresh, or a TSC read a
/// few ticks before the segment's base on another processor.
#[cold]
fn beyond_span(tsc: u64) -> i64 {
    loop {
        let s = MAP.seq.load(Ordering::Acquire);
        let g = Segment::load();
        fence(Ordering::Acquire);
        if s & 1 == 0 && MAP.seq.load(Ordering::Relaxed) == s {
            if g.mult == 0 {
                return unmapped();
            }
            return map(tsc, g);
        }
        std::hint::spin_loop();
    }
}

/// The first read: makes the mapping, or reads `CLOCK_REALTIME` where there is no invariant TSC.
#[cold]
fn unmapped() -> i64 {
    refresh();
    if MAP.mult.load(Ordering::Acquire) != 0 {
        now()
    } else {
        filetime_now()
    }
}

/// The slope (FILETIME units per TSC tick, as a 32.32 fixed-point number) that advances
/// `interval_ft + correction` over `interval_ticks`.
fn slope(interval_ft: i64, correction: i64, interval_ticks: u64) -> u64 {
    (((interval_ft + correction).max(1) as u128) << 32) as u64 / interval_ticks.max(1)
}

/// Brings the mapping in line with `CLOCK_REALTIME` if [`INTERVAL_NS`] has passed since the last
/// time (or it never ran). Returns whether it changed the mapping.
pub fn refresh() -> bool {
    let Some(hz) = tsc_frequency() else {
        return false;
    };
    let mut last = LAST.lock().unwrap_or_else(|e| e.into_inner());
    let interval_ticks = (hz as u128 * INTERVAL_NS as u128 / 1_000_000_000) as u64;
    let tsc = rdtsc() as u64;
    if last.is_some_and(|l| tsc.wrapping_sub(l) < interval_ticks) {
        return false;
    }
    let real = filetime_now();
    let interval_ft = (INTERVAL_NS / 100) as i64;
    let nominal = slope(interval_ft, 0, interval_ticks);
    let (base_ft, correction) = match *last {
        None => (real, 0),
        Some(_) => {
            let here = map(tsc, Segment::load());
            let error = real - here;
            if error.abs() > STEP_FT {
                (real, 0)
            } else {
                let most = interval_ft * MAX_SLEW_PPM as i64 / 1_000_000;
                (here, error.clamp(-most, most))
            }
        }
    };
    let corr = slope(interval_ft, correction, interval_ticks) as i64 - nominal as i64;
    let s = MAP.seq.load(Ordering::Relaxed);
    MAP.seq.store(s + 1, Ordering::Relaxed);
    fence(Ordering::Release);
    MAP.base_tsc.store(tsc, Ordering::Relaxed);
    MAP.base_ft.store(base_ft as u64, Ordering::Relaxed);
    MAP.mult.store(nominal, Ordering::Relaxed);
    MAP.corr.store(corr as u64, Ordering::Relaxed);
    MAP.span.store(interval_ticks, Ordering::Relaxed);
    MAP.seq.store(s + 2, Ordering::Release);
    *last = Some(tsc);
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn follows_clock_realtime_and_never_goes_back() {
        if tsc_frequency().is_none() {
            eprintln!("skipped: no invariant TSC on this machine");
            return;
        }
        refresh();
        let mut prev = now();
        let mut worst = 0i64;
        for _ in 0..25 {
            std::thread::sleep(Duration::from_millis(20));
            refresh();
            for _ in 0..1000 {
                let t = now();
                assert!(t >= prev, "went back from {prev} to {t}");
                prev = t;
            }
            let (ours, real) = (now(), filetime_now());
            worst = worst.max((ours - real).abs());
        }
        // Within 1 ms of CLOCK_REALTIME (in practice a few microseconds).
        assert!(worst < 10_000, "{worst} x 100 ns from CLOCK_REALTIME");
    }

    #[test]
    fn slope_advances_the_interval_plus_the_correction() {
        let ticks = 300_000_000u64;
        let nominal = slope(1_000_000, 0, ticks);
        for correction in [-500i64, 0, 500] {
            let g = Segment {
                base_tsc: 0,
                base_ft: 0,
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
