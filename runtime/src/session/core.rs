//! A running session's shared state, the table writers find sessions in, and the write path.

use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use super::buffers::{LossStamp, Pool, ReserveError};
use super::properties::{LogFileMode, Resolved, SessionKind};
use super::quiesce::WriteGuard;
use super::region::Region;
use crate::clock::{self, ClockType, RatePoint, TimeSource};
use crate::error::{Error, ErrorCode, Result};
use crate::etl;
use crate::Guid;

/// Session slots writers can address: one bit each in an event's enable word.
pub(crate) const MAX_SLOTS: usize = 63;

/// Running sessions by slot. A pointer is published after the session is fully built and
/// unpublished before a grace period that precedes its release.
static TABLE: [AtomicPtr<SessionCore>; MAX_SLOTS] =
    [const { AtomicPtr::new(std::ptr::null_mut()) }; MAX_SLOTS];

/// Writes that found their session's slot empty: the session left the write path between the
/// writer's enable check and its write. A session that stopped itself (full file, failed write)
/// counts them in its EventsLost, since its writers could not know; after a controller's stop
/// they merely came too late. Reset when a session takes the slot.
static UNPUBLISHED: [AtomicU64; MAX_SLOTS] = [const { AtomicU64::new(0) }; MAX_SLOTS];

/// A write for `slot` found no session there.
#[cold]
fn unpublished(slot: usize) {
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
    independent: bool,
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
    fn lose(&self, cpu: usize) {
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
    fn sequence_counter(&self) -> &AtomicU32 {
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
    fn slot_of(&self, cpu: usize) -> usize {
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
fn current_cpu() -> usize {
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

/// The largest record ETW records, header included.
pub(crate) const MAX_EVENT_SIZE: usize = 0xFFFF;

fn too_large(size: usize) -> Error {
    Error::new(
        ErrorCode::ArithmeticOverflow,
        format!("event of {size} bytes (header and metadata included) exceeds ETW's 64 KB limit ({MAX_EVENT_SIZE} bytes)"),
    )
}

fn larger_than_buffer(size: usize, core: &SessionCore) -> Error {
    Error::new(
        ErrorCode::MoreData,
        format!(
            "event of {size} bytes does not fit in a {} KB buffer of session {} (counted in EventsLost); start the session with a larger BufferSize",
            core.pool.capacity_kb(),
            core.name
        ),
    )
}

/// A write that found no free buffer. The message is static: formatting one per lost event
/// would slow the writers exactly when they are already losing.
fn no_buffer() -> Error {
    Error::new(
        ErrorCode::NotEnoughMemory,
        "no free buffer in the session (every buffer is full and MaximumBuffers is reached): the event was dropped and counted in the session's EventsLost; raise MaximumBuffers or BufferSize if this persists",
    )
}

/// A record to put into one or more sessions.
pub(crate) trait Record {
    /// Bytes the record takes in `core` (before 8-byte alignment).
    fn size(&self, core: &SessionCore) -> usize;
    /// Writes the record for `core` at `dst` (exactly `align8(size)` bytes), stamped `timestamp`.
    fn write(&self, core: &SessionCore, dst: &mut [u8], tid: u32, timestamp: i64);
}

/// An EVENT_HEADER record: the event's constant template, then its payload.
pub(crate) struct EventRecord<'a> {
    pub(crate) template: &'a [u8],
    pub(crate) activity: Guid,
    pub(crate) payload: &'a [&'a [u8]],
    pub(crate) size: usize,
}

impl Record for EventRecord<'_> {
    #[inline(always)]
    fn size(&self, _core: &SessionCore) -> usize {
        self.size
    }

    #[inline(always)]
    fn write(&self, core: &SessionCore, dst: &mut [u8], tid: u32, timestamp: i64) {
        etl::write_event_from_template(
            dst,
            self.template,
            core.header_flags,
            tid,
            core.pid,
            timestamp,
            &self.activity,
            self.payload,
        );
    }
}

/// Writes an event (its record template and payload) to every session in `mask`.
#[inline]
pub(crate) fn write_event(
    mask: u64,
    template: &[u8],
    activity: Guid,
    payload: &[&[u8]],
) -> Result<()> {
    let mut payload_len = 0;
    for p in payload {
        payload_len += p.len();
    }
    let size = template.len() + payload_len;
    write_record(
        mask,
        &EventRecord {
            template,
            activity,
            payload,
            size,
        },
    )
}

/// An EVENT_HEADER record with a related activity id (a Start event's): as [`EventRecord`], with
/// the RELATED_ACTIVITYID extended item in front of the template's items.
pub(crate) struct RelatedEventRecord<'a> {
    pub(crate) event: EventRecord<'a>,
    pub(crate) related: Guid,
}

impl Record for RelatedEventRecord<'_> {
    #[inline(always)]
    fn size(&self, _core: &SessionCore) -> usize {
        self.event.size + etl::RELATED_ACTIVITY_ITEM_SIZE
    }

    #[inline(always)]
    fn write(&self, core: &SessionCore, dst: &mut [u8], tid: u32, timestamp: i64) {
        let e = &self.event;
        etl::write_event_from_template_related(
            dst,
            e.template,
            core.header_flags,
            tid,
            core.pid,
            timestamp,
            &e.activity,
            &self.related,
            e.payload,
        );
    }
}

/// [`write_event`] with a related activity id; a zero one is not recorded.
pub(crate) fn write_event_related(
    mask: u64,
    template: &[u8],
    activity: Guid,
    related: Guid,
    payload: &[&[u8]],
) -> Result<()> {
    if related == Guid::ZERO {
        return write_event(mask, template, activity, payload);
    }
    let size = template.len() + payload.iter().map(|p| p.len()).sum::<usize>();
    let event = EventRecord {
        template,
        activity,
        payload,
        size,
    };
    write_record(mask, &RelatedEventRecord { event, related })
}

/// Puts `rec` into every session of `mask`, with ETW's rule for failures: a session without
/// INDEPENDENT_SESSION receives the event only if every session could take it.
#[inline]
pub(crate) fn write_record(mask: u64, rec: &impl Record) -> Result<()> {
    let (guard, tid) = WriteGuard::enter();
    let cpu = current_cpu();
    if mask & (mask - 1) == 0 {
        // One session: the common case, no bookkeeping.
        let slot = mask.trailing_zeros() as usize;
        let p = TABLE[slot].load(Ordering::Acquire);
        if p.is_null() {
            unpublished(slot);
            return Ok(());
        }
        // SAFETY: published pointers stay valid until a grace period after unpublishing, and
        // we are inside a write guard.
        let core = unsafe { &*p };
        return write_one(core, cpu, rec, tid);
    }
    write_many(&guard, mask, cpu, rec, tid)
}

/// The aligned length of `rec` in `core`, or why it cannot be recorded there (counted, and
/// reported in band like any other loss).
#[inline(always)]
fn fit(core: &SessionCore, slot: usize, rec: &impl Record) -> Result<usize> {
    let size = rec.size(core);
    let len = etl::align8(size);
    if size > MAX_EVENT_SIZE {
        core.lose(slot);
        return Err(too_large(size));
    }
    if len > core.pool.max_record() {
        core.lose(slot);
        return Err(larger_than_buffer(size, core));
    }
    Ok(len)
}

/// One session: the write path is made once per time source, so the clock read inside the
/// reservation is straight-line code rather than a branch on the source.
#[inline(always)]
fn write_one(core: &SessionCore, cpu: usize, rec: &impl Record, tid: u32) -> Result<()> {
    match core.source {
        TimeSource::Tsc => write_one_with(core, cpu, rec, tid, clock::rdtsc),
        TimeSource::TscFileTime => {
            write_one_with(core, cpu, rec, tid, || clock::wall::REALTIME.now())
        }
        TimeSource::TscMonotonicNs => {
            write_one_with(core, cpu, rec, tid, || clock::wall::MONOTONIC.now())
        }
        TimeSource::MonotonicNs => write_one_with(core, cpu, rec, tid, clock::monotonic_ns),
        TimeSource::FileTime => write_one_with(core, cpu, rec, tid, clock::filetime_now),
    }
}

#[inline(always)]
fn write_one_with(
    core: &SessionCore,
    cpu: usize,
    rec: &impl Record,
    tid: u32,
    now: impl Fn() -> i64,
) -> Result<()> {
    let slot = core.slot_of(cpu);
    let len = fit(core, slot, rec)?;
    match core.pool.reserve(slot, len as u32, core, now) {
        Ok(mut r) => {
            let ts = r.timestamp;
            rec.write(core, r.bytes(), tid, ts);
            core.pool.commit(r);
            Ok(())
        }
        Err(ReserveError::NoBuffer) => {
            core.lose(slot);
            Err(no_buffer())
        }
        Err(ReserveError::Closed) => {
            closed(core, slot);
            Ok(())
        }
    }
}

/// A record whose header is given whole (the kernel logger's events): its own process, thread
/// and time stamp rather than the writer's.
/// A system-header record (the kernel logger's classic records).
struct SystemRecordW<'a> {
    header: &'a etl::kernel::SystemHeaderFields,
    payload: &'a [&'a [u8]],
    size: usize,
}

impl Record for SystemRecordW<'_> {
    fn size(&self, _core: &SessionCore) -> usize {
        self.size
    }

    fn write(&self, _core: &SessionCore, dst: &mut [u8], _tid: u32, _timestamp: i64) {
        etl::kernel::write_system_record(dst, self.header, self.payload);
    }
}

/// Writes a system-header record into `core`'s buffer for processor `cpu`, stamped with the
/// header's time stamp (the reservation takes it as its clock reading, so it must not go back).
pub(crate) fn write_system(
    core: &SessionCore,
    cpu: usize,
    header: &etl::kernel::SystemHeaderFields,
    payload: &[&[u8]],
) -> Result<()> {
    let size = etl::kernel::system_record_size(payload.iter().map(|p| p.len()).sum());
    let rec = SystemRecordW {
        header,
        payload,
        size,
    };
    let (_guard, _) = WriteGuard::enter();
    let ts = header.timestamp;
    write_one_with(core, cpu, &rec, header.thread_id, || ts)
}

/// A write that found the session closing. After a controller's stop the event simply came too
/// late; after the session stopped itself (full file, failed write) it is a loss, and counted.
#[cold]
fn closed(core: &SessionCore, slot: usize) {
    if core.state().stopped_itself() {
        core.lose(slot);
    }
}

/// Calls `f` for each published session of `mask`; the references live as long as the guard.
fn for_each_session<'g>(_guard: &'g WriteGuard, mask: u64, mut f: impl FnMut(&'g SessionCore)) {
    let mut m = mask;
    while m != 0 {
        let slot = m.trailing_zeros() as usize;
        m &= m - 1;
        let p = TABLE[slot].load(Ordering::Acquire);
        if p.is_null() {
            unpublished(slot);
        } else {
            // SAFETY: as in `write_record`: the guard keeps published sessions alive.
            f(unsafe { &*p });
        }
    }
}

#[cold]
fn write_many(
    guard: &WriteGuard,
    mask: u64,
    cpu: usize,
    rec: &impl Record,
    tid: u32,
) -> Result<()> {
    // Reserve everywhere first, so that a failure can withhold the event from the sessions
    // that are not independent.
    let mut taken = Vec::with_capacity(mask.count_ones() as usize);
    let mut failure: Option<Error> = None;
    for_each_session(guard, mask, |core| {
        let slot = core.slot_of(cpu);
        let len = match fit(core, slot, rec) {
            Ok(len) => len,
            Err(e) => {
                failure.get_or_insert(e);
                return;
            }
        };
        let source = core.source;
        match core.pool.reserve(slot, len as u32, core, || source.now()) {
            Ok(r) => taken.push((core, r)),
            Err(ReserveError::NoBuffer) => {
                core.lose(slot);
                failure.get_or_insert_with(no_buffer);
            }
            Err(ReserveError::Closed) => closed(core, slot),
        }
    });
    for (core, mut r) in taken {
        let ts = r.timestamp;
        if failure.is_none() || core.independent {
            rec.write(core, r.bytes(), tid, ts);
        } else {
            // Withheld because another session failed: the space becomes an in-band loss record.
            write_withheld(core, r.bytes(), tid, ts);
            core.counters.events_lost.fetch_add(1, Ordering::Relaxed);
        }
        core.pool.commit(r);
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Fills a reservation with a loss record for one event. The record takes the whole reservation
/// (its Size says so); a reservation shorter than a full loss record keeps the header only, which
/// readers count as one lost event.
fn write_withheld(core: &SessionCore, dst: &mut [u8], tid: u32, timestamp: i64) {
    let mut rec = [0u8; etl::LOST_RECORD_SIZE];
    etl::write_lost_record(&mut rec, timestamp, etl::LossKind::Events, 1, core.pid, tid);
    let n = dst.len().min(rec.len());
    dst[..n].copy_from_slice(&rec[..n]);
    dst[n..].fill(0);
    let size = dst.len() as u16;
    dst[..2].copy_from_slice(&size.to_le_bytes());
}

/// A TraceMessage record; its size depends on whether the session stamps sequence numbers.
pub(crate) struct MessageRecord<'a> {
    pub(crate) guid: Guid,
    pub(crate) number: u16,
    pub(crate) meta: &'a [u8],
    pub(crate) args: &'a [&'a [u8]],
    pub(crate) args_len: usize,
}

impl MessageRecord<'_> {
    fn flags(core: &SessionCore) -> u16 {
        use etl::message_flags::{GUID, SEQUENCE, SYSTEMINFO, TIMESTAMP};
        let base = GUID | TIMESTAMP | SYSTEMINFO;
        if core
            .mode
            .intersects(LogFileMode::GLOBAL_SEQUENCE | LogFileMode::LOCAL_SEQUENCE)
        {
            base | SEQUENCE
        } else {
            base
        }
    }
}

impl Record for MessageRecord<'_> {
    fn size(&self, core: &SessionCore) -> usize {
        etl::message_record_size(Self::flags(core), self.meta.len() + self.args_len)
    }

    fn write(&self, core: &SessionCore, dst: &mut [u8], tid: u32, timestamp: i64) {
        let flags = Self::flags(core);
        // Taken only once the record has its space, so recorded messages number without gaps.
        let sequence = if flags & etl::message_flags::SEQUENCE == 0 {
            0
        } else {
            core.sequence_counter()
                .fetch_add(1, Ordering::Relaxed)
                .wrapping_add(1)
        };
        let h = etl::MessageHeaderFields {
            flags,
            message_number: self.number,
            sequence,
            guid: self.guid,
            component_id: 0,
            timestamp,
            thread_id: tid,
            process_id: core.pid,
        };
        let mut parts: [&[u8]; 130] = [&[]; 130];
        parts[0] = self.meta;
        let n = self.args.len().min(parts.len() - 1);
        parts[1..=n].copy_from_slice(&self.args[..n]);
        etl::write_message_record(dst, &h, &parts[..=n]);
    }
}

/// Writes a TraceMessage record to every session in `mask`.
pub(crate) fn write_message(
    mask: u64,
    guid: Guid,
    number: u16,
    meta: &[u8],
    args: &[&[u8]],
) -> Result<()> {
    let args_len = args.iter().map(|a| a.len()).sum();
    write_record(
        mask,
        &MessageRecord {
            guid,
            number,
            meta,
            args,
            args_len,
        },
    )
}
