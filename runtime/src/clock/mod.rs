//! The three ETW clock types, read the Linux way.
//!
//! | ETW ClientContext | here | PerfFreq in the file |
//! |---|---|---|
//! | 1, performance counter (default) | `CLOCK_MONOTONIC` in ns, from the TSC where the kernel keeps time with it (see [`wall`]) | 1 000 000 000 |
//! | 2, system time | `CLOCK_REALTIME` as FILETIME (100 ns since 1601), from the TSC where the kernel keeps time with it (see [`wall`]) | 10 000 000 |
//! | 3, CPU cycle counter | `rdtsc` | TSC rate |
//!
//! Reading the TSC costs a third of `clock_gettime` here, so where the kernel's own clocksource
//! is `tsc` (invariant and synchronised across processors) clocks 1 and 2 are mapped from it and
//! kept in line with the kernel's clocks; elsewhere they are `clock_gettime`. Clock 3 is the TSC
//! itself: its rate is calibrated against `CLOCK_MONOTONIC` at start and measured again over the
//! whole session when a file is finished, so the header's PerfFreq converts time stamps without
//! drift. It falls back to system time where the TSC is not invariant or not x86, as ETW falls
//! back where the cycle counter is unsupported.

use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub mod wall;

/// 100 ns intervals between 1601-01-01 and 1970-01-01.
pub const FILETIME_UNIX_EPOCH: i64 = 116_444_736_000_000_000;

/// Which clock stamps a session's events (ETW's `Wnode.ClientContext`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ClockType {
    /// 1: the performance counter; here `CLOCK_MONOTONIC` in nanoseconds. The default.
    #[default]
    PerfCounter,
    /// 2: system time, in FILETIME units.
    SystemTime,
    /// 3: the CPU cycle counter (TSC).
    CpuCycle,
}

impl ClockType {
    /// The ETW `ClientContext` number (1, 2 or 3).
    pub fn number(self) -> u32 {
        match self {
            ClockType::PerfCounter => 1,
            ClockType::SystemTime => 2,
            ClockType::CpuCycle => 3,
        }
    }

    /// The clock type of an ETW `ClientContext` number.
    pub fn from_number(n: u32) -> Option<ClockType> {
        match n {
            1 => Some(ClockType::PerfCounter),
            2 => Some(ClockType::SystemTime),
            3 => Some(ClockType::CpuCycle),
            _ => None,
        }
    }

    /// [`from_number`](Self::from_number), or why `n` is no clock type (for messages).
    pub fn from_number_checked(n: u32) -> Result<ClockType, String> {
        ClockType::from_number(n).ok_or_else(|| {
            format!("clock type {n} is not one of 1 (performance counter), 2 (system time), 3 (CPU cycles)")
        })
    }

    /// The clock actually used: CPU cycles fall back to system time without an invariant TSC.
    pub fn effective(self) -> ClockType {
        match self {
            ClockType::CpuCycle if tsc_frequency().is_none() => ClockType::SystemTime,
            other => other,
        }
    }

    /// Ticks per second of this clock, as written in the file's PerfFreq.
    pub fn frequency(self) -> i64 {
        self.source().frequency()
    }

    /// Where this clock's time stamps come from on this machine.
    pub fn source(self) -> TimeSource {
        match self.effective() {
            ClockType::PerfCounter if tsc_keeps_kernel_time() => TimeSource::TscMonotonicNs,
            ClockType::PerfCounter => TimeSource::MonotonicNs,
            ClockType::SystemTime if tsc_keeps_kernel_time() => TimeSource::TscFileTime,
            ClockType::SystemTime => TimeSource::FileTime,
            ClockType::CpuCycle => TimeSource::Tsc,
        }
    }

    /// Reads the clock (through its [`TimeSource`]).
    #[inline(always)]
    pub fn now(self) -> i64 {
        self.source().now()
    }
}

/// On the wire and in files a clock is its ETW number (1, 2 or 3).
impl serde::Serialize for ClockType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_u32(self.number())
    }
}

impl<'de> serde::Deserialize<'de> for ClockType {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let n = u32::deserialize(d)?;
        ClockType::from_number_checked(n).map_err(serde::de::Error::custom)
    }
}

/// What a session's time stamps are read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeSource {
    /// `CLOCK_MONOTONIC` in nanoseconds.
    MonotonicNs,
    /// `CLOCK_MONOTONIC` in nanoseconds, mapped from the time stamp counter ([`wall`]).
    TscMonotonicNs,
    /// `CLOCK_REALTIME` as a FILETIME.
    FileTime,
    /// `CLOCK_REALTIME` as a FILETIME, mapped from the time stamp counter ([`wall`]).
    TscFileTime,
    /// The time stamp counter.
    Tsc,
}

impl TimeSource {
    /// Reads it: one branch on a value the session holds, and the read.
    #[inline(always)]
    pub fn now(self) -> i64 {
        match self {
            TimeSource::MonotonicNs => monotonic_ns(),
            TimeSource::TscMonotonicNs => wall::MONOTONIC.now(),
            TimeSource::FileTime => filetime_now(),
            TimeSource::TscFileTime => wall::REALTIME.now(),
            TimeSource::Tsc => rdtsc(),
        }
    }

    /// Keeps the source true: sessions call this when they start and then every few
    /// milliseconds from their flusher. Only the TSC-mapped clocks have work to do (at most
    /// every [`wall::INTERVAL_NS`]).
    pub fn keep_fresh(self) {
        if let Some(mapped) = self.mapped() {
            mapped.refresh();
        }
    }

    /// The TSC mapping this source reads, if it is one.
    fn mapped(self) -> Option<&'static wall::Mapped> {
        match self {
            TimeSource::TscFileTime => Some(&wall::REALTIME),
            TimeSource::TscMonotonicNs => Some(&wall::MONOTONIC),
            _ => None,
        }
    }

    /// Ticks per second, as calibrated (TSC) or by definition.
    pub fn frequency(self) -> i64 {
        match self {
            TimeSource::MonotonicNs | TimeSource::TscMonotonicNs => 1_000_000_000,
            TimeSource::FileTime | TimeSource::TscFileTime => 10_000_000,
            TimeSource::Tsc => tsc_frequency().unwrap_or(1_000_000_000) as i64,
        }
    }

    /// What the source is, for people.
    pub fn name(self) -> &'static str {
        match self {
            TimeSource::MonotonicNs => "CLOCK_MONOTONIC",
            TimeSource::TscMonotonicNs => "CLOCK_MONOTONIC from the TSC",
            TimeSource::FileTime => "CLOCK_REALTIME",
            TimeSource::TscFileTime => "CLOCK_REALTIME from the TSC",
            TimeSource::Tsc => "TSC",
        }
    }
}

/// A (source reading, `CLOCK_MONOTONIC`) pair taken together, to measure a source's rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RatePoint {
    raw: i64,
    mono_ns: i64,
}

impl RatePoint {
    /// Reads both clocks now.
    pub fn now(source: TimeSource) -> RatePoint {
        RatePoint {
            raw: source.now(),
            mono_ns: monotonic_ns(),
        }
    }

    /// The source's rate between `start` and now, once enough time has passed to beat the
    /// start-up calibration (a tenth of a second); otherwise the calibrated rate.
    pub fn rate_since(start: RatePoint, source: TimeSource) -> i64 {
        if source != TimeSource::Tsc {
            return source.frequency();
        }
        let end = RatePoint::now(source);
        let dt = end.mono_ns - start.mono_ns;
        if dt < 100_000_000 {
            return source.frequency();
        }
        ((end.raw - start.raw) as i128 * 1_000_000_000 / dt as i128) as i64
    }
}

/// Whether the kernel keeps time with the TSC (its clocksource is `tsc`): then the TSC is
/// invariant and synchronised across processors, and reading it directly is as good as
/// `CLOCK_MONOTONIC` at a fraction of the cost.
pub fn tsc_keeps_kernel_time() -> bool {
    static YES: OnceLock<bool> = OnceLock::new();
    *YES.get_or_init(|| {
        let source = std::fs::read_to_string(
            "/sys/devices/system/clocksource/clocksource0/current_clocksource",
        )
        .unwrap_or_default();
        source.trim() == "tsc" && tsc_frequency().is_some()
    })
}

/// `CLOCK_MONOTONIC` in nanoseconds (the vDSO makes this a user-space read).
#[inline(always)]
pub fn monotonic_ns() -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec and CLOCK_MONOTONIC always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec * 1_000_000_000 + ts.tv_nsec
}

/// The current time as a Windows FILETIME (100 ns intervals since 1601-01-01 UTC).
#[inline(always)]
pub fn filetime_now() -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec and CLOCK_REALTIME always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
    FILETIME_UNIX_EPOCH + ts.tv_sec * 10_000_000 + ts.tv_nsec / 100
}

/// Converts a FILETIME to a `SystemTime`.
pub fn filetime_to_system(ft: i64) -> SystemTime {
    let since_unix = ft - FILETIME_UNIX_EPOCH;
    if since_unix >= 0 {
        UNIX_EPOCH + Duration::from_nanos(since_unix as u64 * 100)
    } else {
        UNIX_EPOCH - Duration::from_nanos(since_unix.unsigned_abs() * 100)
    }
}

/// Converts a `SystemTime` to a FILETIME.
pub fn system_to_filetime(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => FILETIME_UNIX_EPOCH + (d.as_nanos() / 100) as i64,
        Err(e) => FILETIME_UNIX_EPOCH - (e.duration().as_nanos() / 100) as i64,
    }
}

/// The time stamp counter, or system time where there is none.
#[inline(always)]
pub fn rdtsc() -> i64 {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: RDTSC has no preconditions on x86_64; it only reads a counter.
        unsafe { core::arch::x86_64::_rdtsc() as i64 }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        filetime_now()
    }
}

/// The TSC frequency in Hz, if the TSC is invariant (constant and non-stop) on this machine.
/// Calibrated once against `CLOCK_MONOTONIC` over 20 ms.
pub fn tsc_frequency() -> Option<u64> {
    static FREQ: OnceLock<Option<u64>> = OnceLock::new();
    *FREQ.get_or_init(|| {
        if !cfg!(target_arch = "x86_64") {
            return None;
        }
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let flags = cpuinfo
            .lines()
            .find(|l| l.starts_with("flags"))
            .unwrap_or("");
        let invariant = flags.split_whitespace().any(|f| f == "constant_tsc")
            && flags.split_whitespace().any(|f| f == "nonstop_tsc");
        if !invariant {
            return None;
        }
        let (t0, c0) = (monotonic_ns(), rdtsc());
        std::thread::sleep(Duration::from_millis(20));
        let (t1, c1) = (monotonic_ns(), rdtsc());
        let ns = (t1 - t0).max(1) as u128;
        Some(((c1 - c0).max(0) as u128 * 1_000_000_000 / ns) as u64)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filetime_round_trips_through_system_time() {
        let ft = filetime_now();
        let back = system_to_filetime(filetime_to_system(ft));
        assert_eq!(ft, back);
        assert_eq!(system_to_filetime(UNIX_EPOCH), FILETIME_UNIX_EPOCH);
    }

    #[test]
    fn clocks_advance_at_their_stated_frequency() {
        for clock in [
            ClockType::PerfCounter,
            ClockType::SystemTime,
            ClockType::CpuCycle,
        ] {
            let c = clock.effective();
            let (a, t0) = (c.now(), monotonic_ns());
            std::thread::sleep(Duration::from_millis(30));
            let (b, t1) = (c.now(), monotonic_ns());
            let measured_ns = (b - a) as f64 * 1e9 / c.frequency() as f64;
            let real_ns = (t1 - t0) as f64;
            let ratio = measured_ns / real_ns;
            assert!((0.9..1.1).contains(&ratio), "{clock:?}: ratio {ratio}");
        }
    }

    #[test]
    fn clock_numbers_match_etw() {
        for n in 1..=3 {
            assert_eq!(ClockType::from_number(n).unwrap().number(), n);
        }
        assert_eq!(ClockType::from_number(0), None);
        assert_eq!(ClockType::from_number(4), None);
    }
}
