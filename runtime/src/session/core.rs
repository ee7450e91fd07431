//! A running session's shared state and the table writers find sessions in: publishing a session
//! there, and taking it off again (retire). The write itself is in `write`.

use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use super::buffers::{LossStamp, Pool};
use super::properties::{LogFileMode, Resolved, SessionKind};
use super::quiesce;
use super::region::Region;
use crate::clock::{ClockType, RatePoint, TimeSource};
use crate::etl;

/// Session slots writers can address: one bit each in an event's enable word.
pub(crate) const MAX_SLOTS: usize = 63;

/// Running sessions by slot. A pointer is published after the session is fully built and
/// unpublished before a grace period that precedes its release.
pub(super) static TABLE: [AtomicPtr<SessionCore>; MAX_SLOTS] =
    [const { AtomicPtr::new(std::ptr::null_mut()) }; MAX_SLOTS];

/// Writes that found their session's slot empty: the session left the write path between the
/// writer's enable check and its write. A session that stopped itself (full file, failed write)
/// counts them in its EventsLost, since its writers could not know; after a controller's stop
/// they merely came too late. Reset when a session takes the slot.
static UNPUBLISHED: [AtomicU64; MAX_SLOTS] = [const { AtomicU64::new(0) }; MAX_SLOTS];

/// A write for `slot` found no session there.
#[cold]
pub(super) fn unpublished(slot: usize) {
    if let Some(n) = UNPUBLISHED.get(slot) {
        n.fetch_add(1, Ordering::Relaxed);
    }
}

/// Process-wide TraceMessage sequence for GLOBAL_SEQUENCE sessions of this process.
pub(crate) static GLOBAL_SEQUENCE: AtomicU32 = AtomicU32::new(0);

/// Lifecycle of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[repr(u8)]
pub enum SessionState {
    /// Recording.
    Running = 0,
    /// Stopped by a controller.
    Stopped = 1,
    /// A sequential file reached MaximumFileSize and the session stopped itself.
    StoppedFileFull = 2,
    /// A write to the log file failed (disk full, I/O error) and the session stopped itself.
    StoppedWriteFailed = 3,
}

impl SessionState {
    fn from_u8(v: u8) -> SessionState {
        match v {
            0 => SessionState::Running,
            1 => SessionState::Stopped,
            2 => SessionState::StoppedFileFull,
            _ => SessionState::StoppedWriteFailed,
        }
    }

    /// Whether the session stopped itself (full file, failed write) rather than by a controller:
    /// what its writers still send is then lost, and counted.
    pub(crate) fn stopped_itself(self) -> bool {
        matches!(
            self,
            SessionState::StoppedFileFull | SessionState::StoppedWriteFailed
        )
    }
}

/// Loss and flow counters, updated without locks.
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) events_lost: AtomicU64,
    pub(crate) buffers_written: AtomicU64,
    pub(crate) log_buffers_lost: AtomicU64,
    pub(crate) real_time_buffers_lost: AtomicU64,
}

/// The state of one session shared by writers, the flusher and the controller.
pub(crate) struct SessionCore {
    pub(crate) slot: u8,
    pub(crate) kind: SessionKind,
    pub(crate) resolved: Mutex<Resolved>,
    pub(crate) mode: LogFileMode,
    pub(crate) name: String,
    pub(crate) clock: ClockType,
    /// What `clock` reads on this machine.
    pub(crate) source: TimeSource,
    /// Where the source's rate is measured from, to refine PerfFreq when a file is finished.
    pub(crate) rate_start: RatePoint,
    pub(crate) pool: Pool,
    pub(crate) counters: Counters,
    pub(crate) local_sequence: AtomicU32,
    /// A producer's share of a system session: the machine-wide global counter (index 0) and
    /// this session's local counter (the index given) in the daemon's counter page.
    pub(crate) shared_sequences: Option<(Arc<Region>, usize)>,
    pub(crate) state: AtomicU8,
    pub(crate) pid: u32,
    /// Header flags this session's records carry beyond their template's:
    /// `EVENT_HEADER_FLAG_PRIVATE_SESSION` for a private session, as ETW marks them.
    pub(crate) header_flags: u16,
    pub(super) independent: bool,
}

impl SessionCore {
    pub(crate) fn new(
        slot: u8,
        kind: SessionKind,
        resolved: Resolved,
        region: Option<Arc<Region>>,
    ) -> SessionCore {
        let p = &resolved.props;
        let mode = p.mode;
        let pool_mode = if mode.contains(LogFileMode::BUFFERING) {
            super::buffers::PoolMode::Ring
        } else {
            super::buffers::PoolMode::Flushed
        };
        let pool = Pool::new(
            p.minimum_buffers,
            p.maximum_buffers,
            resolved.buffer_bytes,
            resolved.slots,
            pool_mode,
            region,
        );
        p.clock.source().keep_fresh();
        SessionCore {
            slot,
            kind,
            mode,
            name: p.name.clone(),
            clock: p.clock.effective(),
            source: p.clock.source(),
            rate_start: RatePoint::now(p.clock.source()),
            pool,
            counters: Counters::default(),
            local_sequence: AtomicU32::new(0),
            shared_sequences: None,
            state: AtomicU8::new(SessionState::Running as u8),
            pid: std::process::id(),
            header_flags: match kind {
                SessionKind::Private => etl::event_flags::PRIVATE_SESSION,
                SessionKind::System => 0,
            },
            independent: mode.contains(LogFileMode::INDEPENDENT_SESSION),
            resolved: Mutex::new(resolved),
        }
    }

    /// The session's state.
    pub(crate) fn state(&self) -> SessionState {
        SessionState::from_u8(self.state.load(Ordering::Acquire))
    }

    /// Moves Running to `to`; false if the session had already left Running.
    pub(crate) fn leave_running(&self, to: SessionState) -> bool {
        self.state
            .compare_exchange(
                SessionState::Running as u8,
                to as u8,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok()
    }

    #[inline]
    pub(super) fn lose(&self, cpu: usize) {
        let slot = &self.pool.slots[cpu];
        slot.lost.fetch_add(1, Ordering::Relaxed);
        slot.pending_lost.fetch_add(1, Ordering::Relaxed);
    }

    /// A buffer that will never reach the file: LogBuffersLost, and its events in EventsLost.
    pub(crate) fn lose_buffer(&self, events: u64) {
        self.counters
            .log_buffers_lost
            .fetch_add(1, Ordering::Relaxed);
        self.counters
            .events_lost
            .fetch_add(events, Ordering::Relaxed);
    }

    /// Where TraceMessage sequence numbers come from: machine-wide (GLOBAL_SEQUENCE) or this
    /// session's (LOCAL_SEQUENCE), in the daemon's counter page when this is a producer's share.
    pub(super) fn sequence_counter(&self) -> &AtomicU32 {
        let global = self.mode.contains(LogFileMode::GLOBAL_SEQUENCE);
        match (&self.shared_sequences, global) {
            (Some((page, _)), true) => page.counter(0),
            (Some((page, local)), false) => page.counter(*local),
            (None, true) => &GLOBAL_SEQUENCE,
            (None, false) => &self.local_sequence,
        }
    }

    /// EventsLost: per-slot losses of the write path plus those counted elsewhere.
    pub(crate) fn events_lost(&self) -> u64 {
        let on_slots: u64 = self
            .pool
            .slots
            .iter()
            .map(|s| s.lost.load(Ordering::Relaxed))
            .sum();
        let late = if self.state().stopped_itself() {
            UNPUBLISHED
                .get(self.slot as usize)
                .map_or(0, |n| n.load(Ordering::Relaxed))
        } else {
            0
        };
        on_slots + late + self.counters.events_lost.load(Ordering::Relaxed)
    }

    #[inline(always)]
    pub(super) fn slot_of(&self, cpu: usize) -> usize {
        let n = self.pool.slots.len();
        if cpu < n {
            // Processor ids are below NPROCESSORS_CONF, the slot count: no division on the write
            // path (a `%` by a run-time value costs more than the rest of the lookup).
            cpu
        } else if n == 1 {
            0
        } else {
            cpu % n
        }
    }

    /// Publishes the session to writers.
    pub(crate) fn publish(self: &Arc<Self>) {
        // Sessions the daemon hosts take ids past the table: nothing in this process writes
        // to them directly (their events come from producers' buffers).
        let Some(entry) = TABLE.get(self.slot as usize) else {
            return;
        };
        UNPUBLISHED[self.slot as usize].store(0, Ordering::Relaxed);
        let raw = Arc::into_raw(self.clone()) as *mut SessionCore;
        entry.store(raw, Ordering::Release);
    }

    /// Unpublishes the session; returns the table's reference, to drop after a grace period.
    pub(crate) fn unpublish(&self) -> Option<Arc<SessionCore>> {
        let raw = TABLE
            .get(self.slot as usize)?
            .swap(std::ptr::null_mut(), Ordering::AcqRel);
        // SAFETY: the table's pointers come from Arc::into_raw in `publish`.
        (!raw.is_null()).then(|| unsafe { Arc::from_raw(raw) })
    }
}

impl LossStamp for SessionCore {
    fn write_loss(&self, dst: &mut [u8], count: u64) -> usize {
        let tid = super::quiesce::thread_id();
        etl::write_lost_record(
            dst,
            self.source.now(),
            etl::LossKind::Events,
            count,
            self.pid,
            tid,
        )
    }
}

/// Whether `slot` is free in the table.
pub(crate) fn slot_is_free(slot: usize) -> bool {
    TABLE[slot].load(Ordering::Acquire).is_null()
}

/// The processor the calling thread runs on (a hint: the thread may move right after).
#[inline(always)]
pub(super) fn current_cpu() -> usize {
    #[cfg(target_arch = "x86_64")]
    if has_rdpid() {
        let aux: u64;
        // SAFETY: RDPID is supported (checked by CPUID); it only reads IA32_TSC_AUX, which Linux
        // sets to (node << 12) | cpu.
        unsafe {
            std::arch::asm!("rdpid {}", out(reg) aux, options(nomem, nostack, preserves_flags))
        };
        return (aux & 0xFFF) as usize;
    }
    // SAFETY: sched_getcpu has no preconditions (glibc reads it from rseq or the vDSO).
    let c = unsafe { libc::sched_getcpu() };
    if c < 0 {
        0
    } else {
        c as usize
    }
}

/// Whether the processor has RDPID: a one-instruction read of the processor number, about a
/// third of `sched_getcpu`'s cost here.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn has_rdpid() -> bool {
    use std::sync::atomic::AtomicU8;
    static STATE: AtomicU8 = AtomicU8::new(0); // 0 unknown, 1 no, 2 yes
    match STATE.load(Ordering::Relaxed) {
        2 => true,
        1 => false,
        _ => {
            // RDPID is CPUID leaf 7, sub-leaf 0, ECX bit 22.
            let yes = std::arch::x86_64::__cpuid_count(7, 0).ecx & (1 << 22) != 0;
            STATE.store(if yes { 2 } else { 1 }, Ordering::Relaxed);
            yes
        }
    }
}

/// What a stopping session tells the providers (their registry installs it when it first holds
/// enable state): that its slot's bits are to be cleared and its stored enables forgotten.
static SESSION_STOPPED: std::sync::OnceLock<fn(u8)> = std::sync::OnceLock::new();

/// Installs the hook a stopping session calls with its slot (once; later calls are ignored).
pub(crate) fn on_session_stopped(hook: fn(u8)) {
    let _ = SESSION_STOPPED.set(hook);
}

/// Takes the session off the write path: providers stop sending it events, writers that are
/// mid-write finish, and every buffer is sealed and completed.
pub(crate) fn retire(core: &Arc<SessionCore>) {
    if let Some(stopped) = SESSION_STOPPED.get() {
        stopped(core.slot);
    }
    let table_ref = core.unpublish();
    core.pool.close();
    quiesce::synchronize();
    if quiesce::reclaim_is_safe() {
        drop(table_ref);
    } else {
        // Without membarrier a preempted writer could still hold the session: keep its memory.
        std::mem::forget(table_ref);
    }
}
