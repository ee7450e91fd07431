//! The pool and the reserve under many threads: no record torn or lost uncounted, in both modes; an
//! exhausted pool counts its losses; a ring reuses its oldest buffer.

use super::*;
use std::sync::Arc;

struct NoStamp;
impl LossStamp for NoStamp {
    fn write_loss(&self, _dst: &mut [u8], _count: u64) -> usize {
        0
    }
}

/// Writers fill records with (thread, sequence) patterns; a drainer checks every completed
/// buffer: records intact (no torn or interleaved bytes), and written + lost = attempted.
/// Both pool modes: grace-period completion (log files) and counted commits (ring).
fn reserve_and_commit_without_tearing(mode: PoolMode) {
    use super::super::quiesce::{synchronize, WriteGuard};
    const THREADS: u64 = 6;
    const PER_THREAD: u64 = 40_000;
    let pool = Arc::new(Pool::new(4, 16, 4096, 2, mode, None));
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let drainer = {
        let (pool, done) = (pool.clone(), done.clone());
        std::thread::spawn(move || {
            let mut seen = std::collections::HashMap::<u64, Vec<u64>>::new();
            loop {
                let finished = done.load(Ordering::Acquire);
                if mode == PoolMode::Ring && !finished {
                    // A ring is read when it is saved, not while it is written (its writers
                    // reuse the oldest buffers, which a concurrent reader would hold).
                    std::thread::yield_now();
                    continue;
                }
                let mut batch = Vec::new();
                while let Some(i) = pool.full.pop() {
                    batch.push(i);
                }
                if mode == PoolMode::Flushed && !batch.is_empty() {
                    synchronize();
                }
                for i in batch {
                    let b = pool.buffer(i);
                    let used = b.used();
                    // SAFETY: popped from `full` and (log-file mode) a grace period later:
                    // we own it until release.
                    let bytes = unsafe { b.bytes_mut() };
                    let mut off = BUFFER_HEADER_SIZE;
                    while off < used {
                        let word =
                            |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap());
                        let len = word(off) as usize;
                        let (t, n) = (word(off + 8), word(off + 16));
                        for k in (24..len).step_by(8) {
                            assert_eq!(word(off + k), t ^ n, "torn record");
                        }
                        seen.entry(t).or_default().push(n);
                        off += len;
                    }
                    pool.release(i);
                }
                if finished {
                    break;
                }
                std::thread::yield_now();
            }
            seen
        })
    };
    let writers: Vec<_> = (0..THREADS)
        .map(|t| {
            let pool = pool.clone();
            std::thread::spawn(move || {
                let mut lost = 0u64;
                for n in 0..PER_THREAD {
                    let len = 24 + 8 * (n % 7) as u32;
                    let (_guard, _) = WriteGuard::enter();
                    match pool.reserve((t % 2) as usize, len, &NoStamp, || 0) {
                        Ok(mut r) => {
                            let b = r.bytes();
                            b[..8].copy_from_slice(&(len as u64).to_le_bytes());
                            b[8..16].copy_from_slice(&t.to_le_bytes());
                            b[16..24].copy_from_slice(&n.to_le_bytes());
                            for k in (24..len as usize).step_by(8) {
                                b[k..k + 8].copy_from_slice(&(t ^ n).to_le_bytes());
                            }
                            pool.commit(r);
                        }
                        Err(ReserveError::NoBuffer) => lost += 1,
                        Err(ReserveError::Closed) => unreachable!(),
                    }
                }
                lost
            })
        })
        .collect();
    let lost: u64 = writers.into_iter().map(|w| w.join().unwrap()).sum();
    pool.close();
    done.store(true, Ordering::Release);
    let seen = drainer.join().unwrap();
    let written: u64 = seen.values().map(|v| v.len() as u64).sum();
    if mode == PoolMode::Flushed {
        assert_eq!(
            written + lost,
            THREADS * PER_THREAD,
            "written {written} + lost {lost}"
        );
    } else {
        // A ring reuses its oldest buffers: what the drainer saw is a subset.
        assert_eq!(lost, 0, "a ring never runs out");
    }
    for (t, mut ns) in seen {
        let before = ns.len();
        ns.sort_unstable();
        ns.dedup();
        assert_eq!(ns.len(), before, "thread {t}: a record was delivered twice");
    }
}

#[test]
fn many_threads_reserve_and_commit_without_tearing() {
    reserve_and_commit_without_tearing(PoolMode::Flushed);
}

#[test]
fn many_threads_in_a_ring_without_tearing() {
    reserve_and_commit_without_tearing(PoolMode::Ring);
}

#[test]
fn exhausted_pool_loses_and_counts() {
    let pool = Pool::new(2, 2, 4096, 1, PoolMode::Flushed, None);
    let mut ok = 0;
    let mut lost = 0;
    for _ in 0..1000 {
        match pool.reserve(0, 64, &NoStamp, || 0) {
            Ok(r) => {
                pool.commit(r);
                ok += 1
            }
            Err(_) => lost += 1,
        }
    }
    // Two buffers of (4096 - 72) / 64 = 62 records each, nobody drains.
    assert_eq!(ok, 124);
    assert_eq!(lost, 1000 - 124);
    assert_eq!(
        pool.full.len(),
        2,
        "both buffers filled, sealed and waiting for the flusher"
    );
}

#[test]
fn ring_mode_reuses_the_oldest_buffer() {
    let pool = Pool::new(3, 3, 4096, 1, PoolMode::Ring, None);
    for _ in 0..1000 {
        let r = pool
            .reserve(0, 64, &NoStamp, || 0)
            .expect("ring never runs out");
        pool.commit(r);
    }
    assert!(pool.overwritten.load(Ordering::Relaxed) > 0);
    assert!(pool.full.len() <= 3);
}
