//! A span's activity: its id, its times, and the values recorded after it was created, kept in
//! the span's extensions between its Start and its Stop.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use evtrace_runtime::{activity, Guid};

use crate::encode::Slot;

/// Nanoseconds on the monotonic clock (the TSC mapped where the kernel keeps time with it).
pub fn now_ns() -> u64 {
    evtrace_runtime::clock::wall::MONOTONIC.now() as u64
}

/// What a recorded span keeps.
pub struct SpanActivity {
    /// The span's activity id.
    pub id: Guid,
    /// When it was created.
    pub created: u64,
    /// Time spent entered, summed over its enters (overlapping enters count once).
    busy: AtomicU64,
    /// When the current run of enters began.
    entered_at: AtomicU64,
    /// Enters not yet exited, on any thread.
    entered: AtomicU32,
    /// Values recorded after creation.
    pub recorded: Mutex<Recorded>,
    /// Set at close: a thread's cached handle on it is stale from then on (the span's id may
    /// be given to another span).
    closed: AtomicBool,
}

/// What a span's extensions hold: the activity, shared with the threads' caches.
pub struct Held(pub Arc<SpanActivity>);

/// Values recorded after a span's creation, encoded for its Stop.
#[derive(Default)]
pub struct Recorded {
    /// Payload bytes.
    pub bytes: Vec<u8>,
    /// Their fields.
    pub slots: Vec<Slot>,
    /// Values left out past the field limit.
    pub dropped: usize,
}

impl SpanActivity {
    /// A span created now with activity `id`.
    pub fn new(id: Guid) -> SpanActivity {
        SpanActivity {
            id,
            created: now_ns(),
            busy: AtomicU64::new(0),
            entered_at: AtomicU64::new(0),
            entered: AtomicU32::new(0),
            recorded: Mutex::new(Recorded::default()),
            closed: AtomicBool::new(false),
        }
    }

    /// The span closed: cached handles on it are stale.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
    }

    /// The span is entered on this thread: its activity becomes the thread's.
    pub fn enter(&self) {
        if self.entered.fetch_add(1, Ordering::AcqRel) == 0 {
            self.entered_at.store(now_ns(), Ordering::Relaxed);
        }
        let prev = activity::replace_current(self.id);
        STACK.with(|s| {
            if let Ok(mut s) = s.try_borrow_mut() {
                s.push(prev);
            }
        });
    }

    /// The span is exited on this thread: the activity before it comes back.
    pub fn exit(&self) {
        if self.entered.fetch_sub(1, Ordering::AcqRel) == 1 {
            let at = self.entered_at.load(Ordering::Relaxed);
            self.busy
                .fetch_add(now_ns().saturating_sub(at), Ordering::Relaxed);
        }
        let prev = STACK.with(|s| s.try_borrow_mut().ok().and_then(|mut s| s.pop()));
        activity::replace_current(prev.unwrap_or(Guid::ZERO));
    }

    /// (duration, busy, idle) in nanoseconds, at close.
    pub fn times(&self) -> (u64, u64, u64) {
        let duration = now_ns().saturating_sub(self.created);
        let busy = self.busy.load(Ordering::Relaxed).min(duration);
        (duration, busy, duration - busy)
    }
}

thread_local! {
    /// The activities entered spans replaced on this thread, innermost last.
    static STACK: RefCell<Vec<Guid>> = const { RefCell::new(Vec::new()) };
}

/// A cached span: (layer, span id) and its activity.
type CachedSpan = Option<((u64, u64), Arc<SpanActivity>)>;

/// Entries in a thread's cache of span activities (a power of two).
const SPAN_CACHE: usize = 64;

thread_local! {
    /// The activities of spans this thread entered lately, by span id: enter and exit of a span
    /// entered again (an async span polled many times) skip the registry's lookup.
    static CACHE: [RefCell<CachedSpan>; SPAN_CACHE] =
        const { [const { RefCell::new(None) }; SPAN_CACHE] };
}

/// Puts a new span's activity in this thread's cache: the thread that creates a span usually
/// enters it next.
pub fn remember(layer: u64, id: u64, a: &Arc<SpanActivity>) {
    let i = (id as usize ^ layer as usize) & (SPAN_CACHE - 1);
    CACHE.with(|c| {
        if let Ok(mut slot) = c[i].try_borrow_mut() {
            *slot = Some(((layer, id), a.clone()));
        }
    });
}

/// Runs `f` on the activity of span `id` of layer `layer` (span ids are per subscriber): from
/// the thread's cache, or from `lookup` (the span's extensions), which is then cached.
#[inline]
pub fn with_cached(
    layer: u64,
    id: u64,
    lookup: impl FnOnce() -> Option<Arc<SpanActivity>>,
    f: impl FnOnce(&SpanActivity),
) {
    let i = (id as usize ^ layer as usize) & (SPAN_CACHE - 1);
    let key = (layer, id);
    CACHE.with(|c| {
        let Ok(mut slot) = c[i].try_borrow_mut() else {
            // Re-entered: no caching this once.
            if let Some(a) = lookup() {
                f(&a);
            }
            return;
        };
        match &*slot {
            Some((cached, a)) if *cached == key && !a.closed.load(Ordering::Acquire) => f(a),
            _ => {
                let Some(a) = lookup() else {
                    return;
                };
                f(&a);
                *slot = Some((key, a));
            }
        }
    })
}
