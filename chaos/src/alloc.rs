//! A global allocator that remembers the largest single allocation: how the hostile-files
//! scenario shows that no length read from a file is allocated without a cap. A binary that
//! runs the scenarios installs it:
//!
//! ```ignore
//! #[global_allocator]
//! static ALLOC: evtrace_chaos::alloc::Counting = evtrace_chaos::alloc::Counting;
//! ```

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

static LARGEST: AtomicUsize = AtomicUsize::new(0);
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// The system allocator, with the largest request remembered.
pub struct Counting;

// SAFETY: every call is passed to the system allocator unchanged; the bookkeeping is two atomics.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: the caller's contract is the system allocator's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[inline]
fn note(size: usize) {
    if !INSTALLED.load(Ordering::Relaxed) {
        INSTALLED.store(true, Ordering::Relaxed);
    }
    LARGEST.fetch_max(size, Ordering::Relaxed);
}

/// Whether [`Counting`] is this process's allocator (it has seen an allocation).
pub fn installed() -> bool {
    INSTALLED.load(Ordering::Relaxed)
}

/// The largest allocation since the last call, and starts counting afresh.
pub fn take_largest() -> usize {
    LARGEST.swap(0, Ordering::Relaxed)
}
