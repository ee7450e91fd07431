//! The write path: a record reserved in each session its enable word names, on the current
//! processor's buffer, and copied there (events, events with a related activity id, messages,
//! the kernel logger's system-header records); losses counted where a record cannot be placed.

use std::sync::atomic::Ordering;

use super::buffers::ReserveError;
use super::core::{current_cpu, unpublished, SessionCore, TABLE};
use super::properties::LogFileMode;
use super::quiesce::WriteGuard;
use crate::clock::{self, TimeSource};
use crate::error::{Error, ErrorCode, Result};
use crate::etl;
use crate::Guid;

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

/// A system-header record (the kernel logger's classic records): its own process, thread and
/// time stamp rather than the writer's.
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
    // Inside a write guard like every writer, so that sealing a buffer waits for this copy.
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
