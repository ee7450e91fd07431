//! Activities: ETW's way of saying "this work began, this work ended". An activity is a 128-bit
//! id; a Start event makes a fresh one and carries the enclosing activity's id as its related
//! activity id, every event written while the activity is current on the thread carries its id,
//! and the Stop event carries it too. WPA and PerfView draw the Start/Stop pair as a region.
//!
//! ```
//! use evtrace_runtime::activity;
//!
//! let outer = activity::enter(activity::new_id());
//! assert_eq!(activity::current(), outer.id());
//! {
//!     let inner = activity::enter(activity::new_id());
//!     assert_eq!(activity::current(), inner.id());
//! }
//! assert_eq!(activity::current(), outer.id());
//! ```
//!
//! The current activity belongs to the thread. Across `.await` a task may move to another
//! worker thread, and other tasks run on this one in between, so an async block is given its
//! activity with [`carry`] (or [`ActivityGuard::carry`]): the activity is made current around
//! each poll of the future, and nowhere else.

use std::cell::Cell;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Once;
use std::task::{Context, Poll};

use crate::Guid;

thread_local! {
    /// The thread's current activity; zero when none. `const`-initialized and without a
    /// destructor, so reading it is one load at a fixed offset from the thread pointer.
    static CURRENT: Cell<Guid> = const { Cell::new(Guid::ZERO) };
}

/// The activity current on this thread, or [`Guid::ZERO`] when there is none.
#[inline(always)]
pub fn current() -> Guid {
    CURRENT.with(Cell::get)
}

/// Makes `id` the thread's current activity and returns the one it replaces: for code that
/// enters and leaves activities in separate calls (a `tracing` layer's span enter and exit) and so
/// cannot hold an [`ActivityGuard`]. It must put the previous one back itself.
#[inline]
pub fn replace_current(id: Guid) -> Guid {
    CURRENT.with(|c| c.replace(id))
}

/// Makes `id` the thread's current activity until the guard is dropped, which restores the
/// activity that was current before.
pub fn enter(id: Guid) -> ActivityGuard {
    let prev = CURRENT.with(|c| c.replace(id));
    ActivityGuard {
        id,
        prev: Some(prev),
        _thread: PhantomData,
    }
}

/// The thread's current activity, made so by [`enter`] or by a Start event; dropping it restores
/// the previous one. It is bound to its thread (not `Send`): to keep an activity across `.await`
/// hand it to the future with [`ActivityGuard::carry`].
#[must_use = "the activity ends when the guard is dropped; bind it: `let _activity = ...`"]
#[derive(Debug)]
pub struct ActivityGuard {
    id: Guid,
    /// The activity to restore; `None` for a guard that changed nothing.
    prev: Option<Guid>,
    _thread: PhantomData<*const ()>,
}

impl ActivityGuard {
    /// A guard that changed nothing: what a Start event no session wants gives.
    pub fn inactive() -> ActivityGuard {
        ActivityGuard {
            id: Guid::ZERO,
            prev: None,
            _thread: PhantomData,
        }
    }

    /// The activity's id ([`Guid::ZERO`] for an inactive guard).
    pub fn id(&self) -> Guid {
        self.id
    }

    /// Whether the guard made an activity current.
    pub fn is_active(&self) -> bool {
        self.prev.is_some()
    }

    /// Leaves the activity on this thread and gives it to `fut` instead: it is current around
    /// each poll of `fut`, on whichever thread polls it.
    pub fn carry<F: Future>(self, fut: F) -> Carried<F> {
        let id = self.is_active().then_some(self.id);
        drop(self);
        Carried { id, fut }
    }
}

impl Default for ActivityGuard {
    fn default() -> ActivityGuard {
        ActivityGuard::inactive()
    }
}

impl Drop for ActivityGuard {
    fn drop(&mut self) {
        if let Some(prev) = self.prev {
            CURRENT.with(|c| c.set(prev));
        }
    }
}

/// Makes `id` current around each poll of `fut`: an activity that lasts across `.await`.
pub fn carry<F: Future>(id: Guid, fut: F) -> Carried<F> {
    Carried { id: Some(id), fut }
}

pin_project_lite::pin_project! {
    /// A future with its activity: see [`carry`].
    #[derive(Debug)]
    #[must_use = "futures do nothing unless polled"]
    pub struct Carried<F> {
        id: Option<Guid>,
        #[pin]
        fut: F,
    }
}

impl<F: Future> Future for Carried<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let _guard = this.id.map(enter);
        this.fut.poll(cx)
    }
}

/// The process's seed; 0 until the first id (and again in a forked child, which must not
/// repeat its parent's ids).
static SEED: AtomicU64 = AtomicU64::new(0);
/// Ids made with the current seed.
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A fresh activity id, formatted as a version-4 GUID: 60 bits of the process's random seed
/// (from the kernel's random source, mixed with the process id) and 62 bits of a per-process
/// counter masked by the seed. Ids of one process never repeat (the counter does not wrap in
/// practice: 2^62 ids); ids of two processes differ unless their random seeds agree in 60 bits.
pub fn new_id() -> Guid {
    let mut seed = SEED.load(Ordering::Acquire);
    if seed == 0 {
        seed = init_seed();
    }
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let lo = ((n ^ mix(seed)) & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000;
    // Data1 and Data2 from the top 48 bits of the seed, Data3 its low 12 bits under the version
    // nibble, Data4 (its first two bits the variant) from `lo`, big-endian as GUID text reads.
    Guid::from_fields(
        (seed >> 32) as u32,
        (seed >> 16) as u16,
        (seed as u16 & 0x0FFF) | 0x4000,
        lo.to_be_bytes(),
    )
}

/// SplitMix64's finalizer: a bijection that spreads every input bit over the output.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cold]
fn init_seed() -> u64 {
    static AT_FORK: Once = Once::new();
    AT_FORK.call_once(|| {
        extern "C" fn reseed_in_child() {
            // An atomic store is async-signal-safe, as a fork handler must be.
            SEED.store(0, Ordering::Release);
        }
        // SAFETY: registers a handler that only stores to an atomic; it stays valid for the
        // life of the process.
        unsafe {
            libc::pthread_atfork(None, None, Some(reseed_in_child));
        }
    });
    let mut buf = [0u8; 8];
    let random = match rustix::rand::getrandom(&mut buf, rustix::rand::GetRandomFlags::empty()) {
        Ok(8) => u64::from_le_bytes(buf),
        // No random source: the time and the stack's address are what is left to tell runs apart.
        _ => crate::clock::monotonic_ns() as u64 ^ (&buf as *const _ as u64).rotate_left(32),
    };
    let pid = u64::from(std::process::id());
    let fresh = match mix(random ^ pid.rotate_left(40)) {
        0 => 1,
        s => s,
    };
    match SEED.compare_exchange(0, fresh, Ordering::AcqRel, Ordering::Acquire) {
        Ok(_) => {
            COUNTER.store(0, Ordering::Relaxed);
            fresh
        }
        Err(other) => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_are_v4_and_distinct() {
        let ids: HashSet<Guid> = (0..100_000).map(|_| new_id()).collect();
        assert_eq!(ids.len(), 100_000);
        for id in ids.iter().take(100) {
            let text = id.to_string();
            // xxxxxxxx-xxxx-4xxx-[89ab]xxx-xxxxxxxxxxxx, with or without braces.
            let t = text.trim_matches(|c| c == '{' || c == '}');
            assert_eq!(&t[14..15], "4", "{t}");
            assert!("89abAB".contains(&t[19..20]), "{t}");
        }
    }

    #[test]
    fn guards_nest_and_restore() {
        assert_eq!(current(), Guid::ZERO);
        let a = enter(new_id());
        let b = enter(new_id());
        assert_eq!(current(), b.id());
        drop(b);
        assert_eq!(current(), a.id());
        let inactive = ActivityGuard::inactive();
        drop(inactive);
        assert_eq!(current(), a.id());
        drop(a);
        assert_eq!(current(), Guid::ZERO);
    }

    #[test]
    fn carried_future_sees_its_activity_only_while_polled() {
        let id = new_id();
        let mut fut = std::pin::pin!(carry(id, async { current() }));
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        assert_eq!(fut.as_mut().poll(&mut cx), Poll::Ready(id));
        assert_eq!(current(), Guid::ZERO);
    }
}
