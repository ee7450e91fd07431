//! Grace periods for the write path, so that stopping a session can free its buffers while other
//! threads may still hold pointers into them.
//!
//! A writer marks itself "inside a write" with two plain stores to its own thread record (an odd
//! generation on entry, even on exit) and a compiler fence. The side that frees memory first
//! unpublishes it, then issues `membarrier(2)`, an asymmetric fence that makes every running
//! thread of the process execute a full memory barrier, then waits until every thread that was
//! inside a write has left it. Either the writer saw the unpublished pointer, or the reclaimer saw
//! the writer's odd generation (the classic membarrier-based RCU argument), so the write path pays
//! no atomic read-modify-write for this safety.

use std::cell::{Cell, RefCell};
use std::sync::atomic::{compiler_fence, fence, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

struct ThreadRecord {
    generation: AtomicU64,
}

static THREADS: Mutex<Vec<Arc<ThreadRecord>>> = Mutex::new(Vec::new());

struct Local {
    record: Arc<ThreadRecord>,
    tid: u32,
}

impl Local {
    fn new() -> Local {
        let record = Arc::new(ThreadRecord {
            generation: AtomicU64::new(0),
        });
        THREADS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(record.clone());
        // SAFETY: gettid has no preconditions.
        let tid = unsafe { libc::gettid() } as u32;
        Local { record, tid }
    }
}

impl Drop for Local {
    fn drop(&mut self) {
        let mut threads = THREADS.lock().unwrap_or_else(|e| e.into_inner());
        threads.retain(|r| !Arc::ptr_eq(r, &self.record));
    }
}

thread_local! {
    /// Owns the thread's record and unregisters it when the thread exits.
    static LOCAL: RefCell<Option<Local>> = const { RefCell::new(None) };
    /// The write path's view of the same record: a plain pointer and the cached thread id, so a
    /// write pays two thread-local reads and no borrow bookkeeping.
    static FAST: Cell<(*const ThreadRecord, u32)> = const { Cell::new((std::ptr::null(), 0)) };
}

#[cold]
fn register_thread() -> (*const ThreadRecord, u32) {
    let fast = LOCAL.with(|l| {
        let mut l = l.borrow_mut();
        let local = l.get_or_insert_with(Local::new);
        (Arc::as_ptr(&local.record), local.tid)
    });
    FAST.with(|f| f.set(fast));
    fast
}

#[inline(always)]
fn this_thread() -> (*const ThreadRecord, u32) {
    let fast = FAST.with(|f| f.get());
    if fast.0.is_null() {
        register_thread()
    } else {
        fast
    }
}

/// The calling thread's id (cached: `gettid` once per thread).
pub(crate) fn thread_id() -> u32 {
    this_thread().1
}

/// Marks the calling thread as inside a write until dropped. Not reentrant: the write path
/// enters once per event.
pub(crate) struct WriteGuard {
    record: *const ThreadRecord,
}

impl WriteGuard {
    /// Enters a write; also returns the thread id.
    #[inline(always)]
    pub(crate) fn enter() -> (WriteGuard, u32) {
        let (record, tid) = this_thread();
        // SAFETY: the record is kept alive by this thread's `LOCAL` until the thread exits, and
        // `FAST` is only read by this thread.
        let rec = unsafe { &*record };
        let g = rec.generation.load(Ordering::Relaxed);
        rec.generation.store(g | 1, Ordering::Relaxed);
        // Pairs with the reclaimer's membarrier: orders the store above before the loads of
        // session pointers that follow, at the cost of a compiler barrier only.
        compiler_fence(Ordering::SeqCst);
        (WriteGuard { record }, tid)
    }
}

impl Drop for WriteGuard {
    #[inline(always)]
    fn drop(&mut self) {
        // SAFETY: as in `enter`; guards do not cross threads (not Send).
        let rec = unsafe { &*self.record };
        let g = rec.generation.load(Ordering::Relaxed);
        rec.generation.store((g | 1) + 1, Ordering::Release);
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Barrier {
    PrivateExpedited,
    Global,
    None,
}

const MEMBARRIER_CMD_GLOBAL: libc::c_long = 1;
const MEMBARRIER_CMD_PRIVATE_EXPEDITED: libc::c_long = 8;
const MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED: libc::c_long = 16;

fn membarrier(cmd: libc::c_long) -> bool {
    // SAFETY: membarrier takes no pointers; an unsupported command just returns an error.
    unsafe {
        libc::syscall(
            libc::SYS_membarrier,
            cmd,
            0 as libc::c_long,
            0 as libc::c_long,
        ) == 0
    }
}

fn barrier_kind() -> Barrier {
    static KIND: OnceLock<Barrier> = OnceLock::new();
    *KIND.get_or_init(|| {
        if membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) {
            Barrier::PrivateExpedited
        } else if membarrier(MEMBARRIER_CMD_GLOBAL) {
            Barrier::Global
        } else {
            Barrier::None
        }
    })
}

/// Registers the process for expedited barriers. Called when a session starts, so that the first
/// stop does not pay for it.
pub(crate) fn prepare() {
    barrier_kind();
}

/// Whether grace periods are exact on this kernel. Without `membarrier` memory of stopped
/// sessions is kept instead of freed.
pub(crate) fn reclaim_is_safe() -> bool {
    barrier_kind() != Barrier::None
}

/// Waits until every write that could have seen memory unpublished before this call has ended.
pub(crate) fn synchronize() {
    match barrier_kind() {
        Barrier::PrivateExpedited => {
            membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED);
        }
        Barrier::Global => {
            membarrier(MEMBARRIER_CMD_GLOBAL);
        }
        Barrier::None => fence(Ordering::SeqCst),
    }
    let inside: Vec<(Arc<ThreadRecord>, u64)> = THREADS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .map(|r| (r.clone(), r.generation.load(Ordering::Acquire)))
        .filter(|(_, g)| g & 1 == 1)
        .collect();
    for (rec, g) in inside {
        let mut spins = 0u32;
        while rec.generation.load(Ordering::Acquire) == g {
            spins += 1;
            if spins < 100 {
                std::hint::spin_loop();
            } else {
                std::thread::sleep(std::time::Duration::from_micros(50));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicPtr};

    #[test]
    fn no_writer_sees_freed_memory() {
        // Writers read a published Box through the guard; the main thread swaps and frees boxes
        // after a grace period. A freed box is poisoned first, so a use after free shows up as a
        // poisoned read (and under Miri/ASan as an error).
        static SLOT: AtomicPtr<AtomicU64> = AtomicPtr::new(std::ptr::null_mut());
        static STOP: AtomicBool = AtomicBool::new(false);
        static READS: AtomicU64 = AtomicU64::new(0);
        SLOT.store(
            Box::into_raw(Box::new(AtomicU64::new(7))),
            Ordering::Release,
        );
        let writers: Vec<_> = (0..3)
            .map(|_| {
                std::thread::spawn(|| {
                    while !STOP.load(Ordering::Relaxed) {
                        let (_g, _) = WriteGuard::enter();
                        let p = SLOT.load(Ordering::Acquire);
                        if !p.is_null() {
                            // SAFETY: the grace period keeps `p` alive while the guard is held.
                            let v = unsafe { (*p).load(Ordering::Relaxed) };
                            assert_eq!(v, 7, "read a freed value");
                            READS.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                })
            })
            .collect();
        // Swap and free until the writers have raced with many frees (bounded in time, so a
        // loaded machine cannot stall the test).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let mut swaps = 0;
        while (swaps < 300 || READS.load(Ordering::Relaxed) < 100_000)
            && std::time::Instant::now() < deadline
        {
            let fresh = Box::into_raw(Box::new(AtomicU64::new(7)));
            let old = SLOT.swap(fresh, Ordering::AcqRel);
            synchronize();
            // SAFETY: `old` was unpublished before the grace period; no writer holds it now.
            unsafe {
                (*old).store(0xDEAD, Ordering::Relaxed);
                drop(Box::from_raw(old));
            }
            swaps += 1;
        }
        STOP.store(true, Ordering::Relaxed);
        for w in writers {
            w.join().unwrap();
        }
        assert!(READS.load(Ordering::Relaxed) > 0 && swaps >= 300);
        let last = SLOT.swap(std::ptr::null_mut(), Ordering::AcqRel);
        // SAFETY: all writers have joined.
        unsafe { drop(Box::from_raw(last)) };
    }
}
