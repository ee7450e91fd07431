//! The measurement harness every system shares: the same loops, bursts, thread pinning and
//! medians, so that differences in the table come from the systems and not from the harness.

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use crate::Opts;

/// The workload's 16-byte string field.
pub const TAG_STR: &str = "0123456789abcdef";

/// One system's event site. `write_n` logs events `start..start + n` from writer `thread`,
/// testing the enabled state before each event exactly as an application's call site would.
pub trait Workload: Sync {
    /// Logs `n` events (the loop lives in the implementation so it is compiled with the event).
    fn write_n(&self, start: u64, n: u64, thread: u32);
}

/// Waits up to 10 s for `ready` (an enable to reach this process); `Err` if it never is.
pub fn wait_until(ready: impl Fn() -> bool) -> Result<(), ()> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !ready() {
        if std::time::Instant::now() > deadline {
            return Err(());
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    Ok(())
}

/// Pins the calling thread to one processor, so "two threads on two cores" is what it says.
pub fn pin_to_cpu(cpu: usize) {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    // SAFETY: `set` is a properly sized, zero-initialised cpu_set_t and pid 0 means this thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu % cpus, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// The median of `v` (0 for an empty slice).
pub fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

/// Disabled-event cost: median over runs of ns per call of `write_n` while nothing is enabled.
pub fn disabled_ns(w: &dyn Workload, opts: &Opts) -> f64 {
    pin_to_cpu(0);
    // One warm-up call: evtrace attaches an event to its provider on first use.
    w.write_n(0, 1000, 0);
    let mut per_run: Vec<f64> = (0..opts.runs.max(1))
        .map(|_| {
            let t = Instant::now();
            w.write_n(0, opts.disabled_events, 0);
            t.elapsed().as_nanos() as f64 / opts.disabled_events as f64
        })
        .collect();
    median(&mut per_run)
}

/// What a burst measurement found.
#[derive(Debug, Clone, Copy)]
pub struct Bursts {
    /// Median over runs of the time per event of one thread, in ns.
    pub ns_per_event: f64,
    /// Median over runs of the events per second of all threads together.
    pub events_per_sec: f64,
    /// Events attempted in all.
    pub attempted: u64,
}

/// Enabled-event cost without losses: `threads` writers, each pinned to its own processor,
/// write bursts of `burst_events` together; between bursts all pause for at least `gap_ms` and
/// `gap_factor` times the burst's own time, which leaves the system's consumer time to drain its buffers, so
/// the figure is the write path and not the cost of dropping. `poll` runs on the calling thread
/// while the writers work (Perfetto drains its buffer there).
pub fn bursts(
    w: &dyn Workload,
    threads: usize,
    opts: &Opts,
    first: u64,
    poll: &mut dyn FnMut(),
) -> Bursts {
    let threads = threads.max(1);
    let runs = opts.runs.max(1);
    let bursts = opts.bursts.max(1);
    let n = opts.burst_events.max(1);
    // Per run and burst: the longest writer time, and the sum of all writers' times.
    let slots = (runs + 1) * bursts;
    let longest: Vec<AtomicU64> = (0..slots).map(|_| AtomicU64::new(0)).collect();
    let total: Vec<AtomicU64> = (0..slots).map(|_| AtomicU64::new(0)).collect();
    let barrier = Barrier::new(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (barrier, longest, total) = (&barrier, &longest, &total);
                s.spawn(move || {
                    pin_to_cpu(t);
                    let mut next = first + t as u64 * (1 << 40);
                    // The first `bursts` slots are a warm-up run, not counted: the first pass
                    // pays for page faults in buffers the system allocates lazily and for
                    // cold caches, which is start-up cost, not the write path.
                    for slot in 0..slots {
                        barrier.wait();
                        let t0 = Instant::now();
                        w.write_n(next, n, t as u32);
                        let dt = t0.elapsed().as_nanos() as u64;
                        next += n;
                        longest[slot].fetch_max(dt, Ordering::Relaxed);
                        total[slot].fetch_add(dt, Ordering::Relaxed);
                        barrier.wait();
                        if t == 0 {
                            let burst = Duration::from_nanos(longest[slot].load(Ordering::Relaxed));
                            std::thread::sleep(
                                burst
                                    .mul_f64(opts.gap_factor)
                                    .max(Duration::from_millis(opts.gap_ms)),
                            );
                        }
                    }
                })
            })
            .collect();
        while !handles.iter().all(|h| h.is_finished()) {
            poll();
            std::thread::sleep(Duration::from_millis(opts.perfetto_drain_ms.clamp(1, 1000)));
        }
    });
    let mut ns = Vec::new();
    let mut rate = Vec::new();
    for r in 0..runs {
        let run = (r + 1) * bursts..(r + 2) * bursts;
        let wall: u64 = run
            .clone()
            .map(|i| longest[i].load(Ordering::Relaxed))
            .sum();
        let busy: u64 = run.map(|i| total[i].load(Ordering::Relaxed)).sum();
        let events = (threads as u64 * bursts as u64 * n) as f64;
        ns.push(busy as f64 / events);
        rate.push(events * 1e9 / wall.max(1) as f64);
    }
    Bursts {
        ns_per_event: median(&mut ns),
        events_per_sec: median(&mut rate),
        attempted: (threads * slots) as u64 * n,
    }
}

/// Sustained logging: `threads` pinned writers log as fast as they can for `secs` (or, with
/// `pace` > 0, at `pace` events/s in all, each thread its share, catching up after a delay
/// rather than skipping); returns the events attempted and the time they took. `poll` runs on
/// the calling thread meanwhile.
pub fn sustain(
    w: &dyn Workload,
    threads: usize,
    secs: f64,
    pace: f64,
    poll: &mut dyn FnMut(),
    poll_every: Duration,
) -> (u64, Duration) {
    let stop = AtomicBool::new(false);
    let attempted = AtomicU64::new(0);
    let start = Instant::now();
    let threads = threads.max(1);
    let per_thread = pace / threads as f64;
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (stop, attempted) = (&stop, &attempted);
                s.spawn(move || {
                    pin_to_cpu(t);
                    // Chunks keep the clock check out of the per-event cost; paced writers take
                    // smaller ones, so the rate is even within a millisecond.
                    let chunk: u64 = if per_thread > 0.0 { 100 } else { 1000 };
                    let mut next = t as u64 * (1 << 40);
                    let mut n = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        if per_thread > 0.0 {
                            let due = start + Duration::from_secs_f64(n as f64 / per_thread);
                            let now = Instant::now();
                            if due > now {
                                std::thread::sleep(due - now);
                                continue;
                            }
                        }
                        w.write_n(next, chunk, t as u32);
                        next += chunk;
                        n += chunk;
                    }
                    attempted.fetch_add(n, Ordering::Relaxed);
                })
            })
            .collect();
        let deadline = start + Duration::from_secs_f64(secs);
        while Instant::now() < deadline {
            poll();
            std::thread::sleep(poll_every.min(deadline.saturating_duration_since(Instant::now())));
        }
        stop.store(true, Ordering::Relaxed);
        for h in handles {
            let _ = h.join();
        }
    });
    (attempted.into_inner(), start.elapsed())
}

/// The cost of one call of `f` (a clock read) in ns, the median over runs.
pub fn time_clock_read(opts: &Opts, f: &dyn Fn() -> i64) -> f64 {
    const N: u64 = 2_000_000;
    let mut v: Vec<f64> = (0..opts.runs.max(1))
        .map(|_| {
            let t = Instant::now();
            let mut acc = 0i64;
            for _ in 0..N {
                acc = acc.wrapping_add(black_box(f()));
            }
            black_box(acc);
            t.elapsed().as_nanos() as f64 / N as f64
        })
        .collect();
    median(&mut v)
}

/// Costs of one clock read in ns (median over runs): `clock_gettime(CLOCK_MONOTONIC)`,
/// `clock_gettime(CLOCK_REALTIME)`, `rdtsc`, measured in the calling process now.
pub fn clock_reads(opts: &Opts) -> (f64, f64, f64) {
    fn gettime(clock: libc::clockid_t) -> i64 {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable timespec and the clock ids used exist on Linux.
        unsafe { libc::clock_gettime(clock, &mut ts) };
        ts.tv_sec
            .wrapping_mul(1_000_000_000)
            .wrapping_add(ts.tv_nsec)
    }
    let time = |f: &dyn Fn() -> i64| time_clock_read(opts, f);
    pin_to_cpu(0);
    let mono = time(&|| gettime(libc::CLOCK_MONOTONIC));
    let real = time(&|| gettime(libc::CLOCK_REALTIME));
    let tsc = time(&|| evtrace::clock::rdtsc());
    (mono, real, tsc)
}
