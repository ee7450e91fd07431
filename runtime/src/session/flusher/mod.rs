//! The flusher: one thread per session that takes completed buffers to the file (or keeps them in
//! the ring), runs the flush timer and carries out controller commands in order.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::compressor::{set_priority, Compressor, Encoded};
use super::core::{retire, SessionCore, SessionState};
use super::properties::LogFileMode;
use super::quiesce;
use crate::error::{Error, ErrorCode, Result};
use crate::etl::{self, buffer_flags, BufferHeader, LogfileHeader, BUFFER_HEADER_SIZE};
use crate::sink::{LogFile, Outbound, Placed, Shipped};

mod files;
mod seal;

use seal::{stamp, write_buffer_header};

/// How often the flusher looks for completed buffers when no writer woke it.
const IDLE_WAKE: Duration = Duration::from_millis(5);

/// Batches of at least this many buffers are compressed on two threads (see `compressor`): a
/// backlog this deep means the flusher is behind its writers.
const PARALLEL_BATCH: usize = 8;

/// A controller request, answered on its channel once done.
pub(crate) enum Command {
    /// Write every buffer completed so far (the controller sealed and waited first).
    Flush(SyncSender<Result<()>>),
    /// Switch to another log file (a BUFFERING session dumps its ring there).
    SwitchFile(PathBuf, SyncSender<Result<()>>),
    /// NEWFILE: write what is completed, then go on in the next file of the series.
    IncrementFile(SyncSender<Result<()>>),
    /// Change the flush timer (seconds; 0 = only when full).
    FlushTimer(u32),
    /// Stop: write everything, finish the file, exit.
    Stop(SyncSender<Result<()>>),
    /// A finished buffer from elsewhere (a producer process of a system session): write it as
    /// one of this session's.
    Submit(Vec<u8>),
}

/// What the flusher leaves behind when it exits.
#[derive(Debug, Default, Clone)]
pub(crate) struct Outcome {
    pub(crate) files: Vec<PathBuf>,
    pub(crate) error: Option<String>,
}

pub(crate) struct Flusher {
    core: Arc<SessionCore>,
    file: Option<LogFile>,
    /// Where a BUFFERING session writes its snapshots.
    snapshot_path: Option<PathBuf>,
    header: LogfileHeader,
    commands: Receiver<Command>,
    interval: Option<Duration>,
    outcome: Outcome,
    /// Output vectors of `encode_batch`, kept between batches.
    spare: Vec<Vec<u8>>,
    /// The compression helper, once a batch needed it.
    compressor: Option<Compressor>,
    /// A proxy session's receiver (the daemon), which takes buffers instead of a file.
    outbound: Option<Box<dyn Outbound>>,
    priority: Priority,
}

impl Flusher {
    pub(crate) fn new(
        core: Arc<SessionCore>,
        file: Option<LogFile>,
        snapshot_path: Option<PathBuf>,
        header: LogfileHeader,
        commands: Receiver<Command>,
        interval: Option<Duration>,
        outbound: Option<Box<dyn Outbound>>,
    ) -> Flusher {
        Flusher {
            core,
            file,
            snapshot_path,
            header,
            commands,
            interval,
            outcome: Outcome::default(),
            spare: Vec::new(),
            compressor: None,
            outbound,
            priority: Priority {
                raised: false,
                last_lost: 0,
                until: None,
            },
        }
    }

    pub(crate) fn run(mut self) -> Outcome {
        let ring = self.core.mode.contains(LogFileMode::BUFFERING);
        let mut next_tick = self.interval.map(|d| Instant::now() + d);
        loop {
            self.core.source.keep_fresh();
            if !ring {
                self.drain();
                if self.core.state() == SessionState::Running {
                    // Keep a batch's worth of buffers (and each processor's next one) free
                    // ahead of the writers.
                    let pool = &self.core.pool;
                    pool.replenish(pool.slots.len() + (pool.capacity() / 8).clamp(1, 16));
                    self.priority.follow(self.core.events_lost());
                }
            }
            while let Ok(cmd) = self.commands.try_recv() {
                match cmd {
                    Command::Flush(ack) => {
                        let r = if ring {
                            self.snapshot(None)
                        } else {
                            self.drain_for_flush()
                        };
                        let _ = ack.send(r);
                    }
                    Command::SwitchFile(path, ack) => {
                        let _ = ack.send(self.switch_file(path));
                    }
                    Command::IncrementFile(ack) => {
                        let _ = ack.send(self.increment_file());
                    }
                    Command::FlushTimer(s) => {
                        self.interval = (s != 0).then(|| Duration::from_secs(s as u64));
                        next_tick = self.interval.map(|d| Instant::now() + d);
                    }
                    Command::Submit(mut bytes) => self.write_submitted(&mut bytes),
                    Command::Stop(ack) => {
                        self.shutdown(SessionState::Stopped);
                        let r = match &self.outcome.error {
                            Some(e) => Err(Error::new(ErrorCode::Io, e.clone())),
                            None => Ok(()),
                        };
                        let _ = ack.send(r);
                        return self.outcome;
                    }
                }
            }
            if self.core.state() != SessionState::Running {
                // Stopped itself (file full, write failure): wait for the controller's Stop.
                std::thread::park_timeout(Duration::from_millis(200));
                continue;
            }
            let now = Instant::now();
            if let (Some(t), Some(d)) = (next_tick, self.interval) {
                if now >= t {
                    self.core.pool.seal_all();
                    next_tick = Some(now + d);
                }
            }
            // Writers wake the flusher for a batch of buffers; between batches it looks every few
            // milliseconds, so a slow trickle of buffers is written promptly too.
            let wait = next_tick
                .map(|t| t.saturating_duration_since(Instant::now()))
                .unwrap_or(IDLE_WAKE);
            std::thread::park_timeout(wait.min(IDLE_WAKE));
        }
    }

    /// Writes every sealed buffer: takes them as a batch, waits one grace period so that every
    /// writer that reserved in them has finished copying, then writes them in order.
    fn drain(&mut self) {
        let batch = self.take_sealed();
        if self.outbound.is_some() {
            self.ship(&batch);
            for i in batch {
                self.core.pool.release(i);
            }
            return;
        }
        let mut encoded = self.encode_batch(&batch).into_iter();
        for i in batch {
            self.write_out(i, encoded.next());
            self.core.pool.release(i);
        }
    }

    /// A proxy session: stamps the batch's buffers and hands them to the daemon, which copies
    /// them out before answering. If it cannot take them (gone), they are lost and counted, and
    /// the session stops itself.
    fn ship(&mut self, batch: &[u32]) {
        let core = &*self.core;
        let shipped: Vec<Shipped> = batch
            .iter()
            .filter(|&&i| core.pool.buffer(i).used() > BUFFER_HEADER_SIZE)
            .map(|&i| {
                let used = core.pool.buffer(i).used() as u32;
                stamp(core, i);
                Shipped { index: i, used }
            })
            .collect();
        if shipped.is_empty() {
            return;
        }
        if !self.writable() {
            for s in &shipped {
                self.count_lost_buffer(s.index);
            }
            return;
        }
        let lost = core.events_lost();
        let Some(out) = self.outbound.as_mut() else {
            return;
        };
        match out.ship(&shipped, lost) {
            Ok(()) => {
                core.counters
                    .buffers_written
                    .fetch_add(shipped.len() as u64, Ordering::Relaxed);
            }
            Err(e) => {
                for s in &shipped {
                    self.count_lost_buffer(s.index);
                }
                self.stop_itself(
                    SessionState::StoppedWriteFailed,
                    Some(format!("the daemon did not take the buffers: {e}")),
                );
            }
        }
    }

    /// COMPRESSED under load: a large batch is compressed on two threads (see `compressor`).
    /// Returns one entry per buffer of `batch`, or nothing: then each buffer is encoded while
    /// it is placed.
    fn encode_batch(&mut self, batch: &[u32]) -> Vec<Encoded> {
        let Some(encoder) = self.file.as_ref().map(LogFile::encoder) else {
            return Vec::new();
        };
        if !encoder.compresses() || batch.len() < PARALLEL_BATCH || !self.writable() {
            return Vec::new();
        }
        if self.compressor.is_none() {
            match Compressor::start(self.core.clone(), stamp) {
                Ok(c) => self.compressor = Some(c),
                Err(_) => return Vec::new(),
            }
        }
        let room: Vec<Encoded> = batch
            .iter()
            .map(|_| Encoded::Raw(self.spare.pop().unwrap_or_default()))
            .collect();
        let Some(compressor) = self.compressor.as_mut() else {
            return Vec::new();
        };
        match compressor.encode(
            &self.core,
            stamp,
            encoder,
            batch,
            room,
            self.priority.raised,
        ) {
            Some(out) => out,
            None => {
                self.compressor = None;
                Vec::new()
            }
        }
    }

    /// Whether buffers still go to the file (not after the session stopped itself).
    fn writable(&self) -> bool {
        !self.core.state().stopped_itself()
    }

    fn take_sealed(&self) -> Vec<u32> {
        let mut batch = Vec::new();
        while let Some(i) = self.core.pool.full.pop() {
            batch.push(i);
        }
        if !batch.is_empty() {
            quiesce::synchronize();
        }
        batch
    }

    /// Places one sealed buffer in the file; `encoded` is what `encode_batch` made of it, if it
    /// ran (the buffer is then stamped already).
    fn write_out(&mut self, index: u32, encoded: Option<Encoded>) {
        if let Some(placed) = self.place(index, encoded) {
            self.settle(placed, |f| f.count_lost_buffer(index));
        }
    }

    /// What a placement means for the session: a buffer written, or one lost (counted by
    /// `lose`) and the session stopped (full sequential file, failed write).
    fn settle(&mut self, placed: std::io::Result<Placed>, lose: impl FnOnce(&Self)) {
        match placed {
            Ok(Placed::Written) => {
                self.core
                    .counters
                    .buffers_written
                    .fetch_add(1, Ordering::Relaxed);
            }
            Ok(Placed::Full) => {
                lose(self);
                self.stop_itself(SessionState::StoppedFileFull, None);
            }
            Err(e) => {
                let path = self.file.as_ref().map(|f| f.path().display().to_string());
                let msg = write_failure(&path.unwrap_or_default(), &e);
                lose(self);
                self.stop_itself(SessionState::StoppedWriteFailed, Some(msg));
            }
        }
    }

    /// Writes buffer `index` to the file. Returns nothing when there was nothing to write (an
    /// empty buffer, no file) or the session had stopped itself (the buffer is counted lost);
    /// otherwise the outcome.
    fn place(&mut self, index: u32, encoded: Option<Encoded>) -> Option<std::io::Result<Placed>> {
        if self.core.pool.buffer(index).used() <= BUFFER_HEADER_SIZE {
            self.recycle(encoded);
            return None;
        }
        // Before the file test: a session that stopped itself has finished (and let go of) its
        // file, and the rest of the batch it was writing is lost, not merely unwritten.
        if !self.writable() {
            self.recycle(encoded);
            self.count_lost_buffer(index);
            return None;
        }
        if self.file.is_none() {
            self.recycle(encoded);
            return None;
        }
        let core = &*self.core;
        let file = self.file.as_mut()?;
        let placed = match encoded {
            None => file.place(stamp(core, index)),
            Some(Encoded::Compressed(v)) => {
                let r = file.place_encoded(&v);
                self.spare.push(v);
                r
            }
            Some(Encoded::Raw(v)) => {
                self.spare.push(v);
                // SAFETY: as in `stamp`: a complete buffer the flusher owns until it releases it;
                // `encode_batch` stamped it already.
                file.place_encoded(unsafe { core.pool.buffer(index).bytes_mut() })
            }
        };
        Some(placed)
    }

    /// Keeps an encoding buffer for the next batch.
    fn recycle(&mut self, encoded: Option<Encoded>) {
        if let Some(Encoded::Raw(v) | Encoded::Compressed(v)) = encoded {
            self.spare.push(v);
        }
    }

    /// Writes a buffer a producer process filled, numbered in this session's sequence. A buffer
    /// that does not parse is not written: it counts in LogBuffersLost.
    fn write_submitted(&mut self, bytes: &mut [u8]) {
        let header = match BufferHeader::parse(bytes) {
            Ok(h) if h.saved_offset as usize <= bytes.len() => h,
            _ => {
                self.core.lose_buffer(0);
                return;
            }
        };
        // Its events are counted only if it is lost.
        let saved = header.saved_offset as usize;
        if self.core.mode.contains(LogFileMode::BUFFERING) {
            // Kept in the ring until a flush saves it.
            let used = saved.min(bytes.len());
            let cpu = u32::from(header.processor_index);
            if !self.core.pool.adopt(&bytes[..used], cpu) {
                self.core.lose_buffer(etl::count_records(bytes, saved));
            }
            return;
        }
        let mut h = header;
        h.sequence_number = self.core.pool.next_sequence() as i64;
        h.write_to(bytes);
        if !self.writable() {
            self.core.lose_buffer(etl::count_records(bytes, saved));
            return;
        }
        let Some(file) = self.file.as_mut() else {
            return;
        };
        let placed = file.place(bytes);
        self.settle(placed, |f| {
            f.core.lose_buffer(etl::count_records(bytes, saved))
        });
    }

    /// A buffer that will never reach the file: LogBuffersLost, and its events in EventsLost.
    fn count_lost_buffer(&self, index: u32) {
        let buf = self.core.pool.buffer(index);
        // SAFETY: callers pass buffers from `take_sealed` (complete after its grace period),
        // which the flusher owns until it releases them.
        let bytes = unsafe { buf.bytes_mut() };
        self.core.lose_buffer(etl::count_records(bytes, buf.used()));
    }

    fn drain_for_flush(&mut self) -> Result<()> {
        self.drain();
        if let Some(e) = &self.outcome.error {
            return Err(Error::new(ErrorCode::Io, e.clone()));
        }
        Ok(())
    }

    /// The session stops on its own (full sequential file, failed write): no more events are
    /// taken, the rest is counted as lost, the file is finished with what it holds.
    fn stop_itself(&mut self, why: SessionState, error: Option<String>) {
        if error.is_some() {
            self.outcome.error = error;
        }
        if self.core.leave_running(why) {
            retire(&self.core);
            self.drain_remaining_as_lost();
            self.finish_file();
        }
    }

    fn drain_remaining_as_lost(&mut self) {
        for i in self.take_sealed() {
            if self.core.pool.buffer(i).used() > BUFFER_HEADER_SIZE {
                self.count_lost_buffer(i);
            }
            self.core.pool.release(i);
        }
    }

    fn shutdown(&mut self, why: SessionState) {
        if self.core.leave_running(why) {
            retire(&self.core);
            if self.core.mode.contains(LogFileMode::BUFFERING) {
                // A buffering session writes nothing at stop: its ring is only saved on flush.
                while let Some(i) = self.core.pool.full.pop() {
                    self.core.pool.release(i);
                }
            } else {
                self.drain();
                self.write_pending_losses();
            }
            self.finish_file();
        }
    }

    /// Losses not yet reported in band (no buffer came after them) get a buffer of their own.
    fn write_pending_losses(&mut self) {
        let lost = self.core.pool.take_pending_lost();
        if lost == 0 || self.file.is_none() || self.outcome.error.is_some() {
            return;
        }
        let cap = self.core.pool.buffer(0).capacity();
        let mut bytes = vec![0u8; cap];
        let n = etl::write_lost_record(
            &mut bytes[BUFFER_HEADER_SIZE..],
            self.core.source.now(),
            etl::LossKind::Events,
            lost,
            self.core.pid,
            quiesce::thread_id(),
        );
        let used = BUFFER_HEADER_SIZE + n;
        let sequence = self.core.pool.next_sequence();
        write_buffer_header(
            &self.core,
            &mut bytes,
            used,
            sequence,
            0,
            buffer_flags::EVENTS_LOST,
        );
        etl::fill_tail(&mut bytes, used);
        if let Some(file) = self.file.as_mut() {
            match file.place(&mut bytes) {
                Ok(Placed::Written) => {
                    self.core
                        .counters
                        .buffers_written
                        .fetch_add(1, Ordering::Relaxed);
                }
                Ok(Placed::Full) => {
                    self.core
                        .counters
                        .log_buffers_lost
                        .fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => self.outcome.error = Some(e.to_string()),
            }
        }
    }
}

/// The flusher's scheduling priority follows the losses. When writers lose events for want of
/// free buffers, the flusher runs ahead of them for a while (as ETW's logger threads run at high
/// priority): a flusher starved by its own writers turns their CPU time into lost events.
/// Otherwise it stays at normal priority, where waking it does not preempt a writer. Without the
/// privilege to raise it (CAP_SYS_NICE) nothing changes.
struct Priority {
    raised: bool,
    last_lost: u64,
    until: Option<Instant>,
}

impl Priority {
    /// How long the flusher stays ahead after the last loss it saw.
    const HOLD: Duration = Duration::from_secs(1);

    fn follow(&mut self, events_lost: u64) {
        let now = Instant::now();
        if events_lost != self.last_lost {
            self.last_lost = events_lost;
            self.until = Some(now + Self::HOLD);
        }
        let want = self.until.is_some_and(|t| now < t);
        if want != self.raised {
            set_priority(want);
            self.raised = want;
        }
    }
}

/// Why a write to the log file failed, led by ETW's code: ERROR_DISK_FULL for a full file system
/// or quota (what a controller looks for), ERROR_IO otherwise.
fn write_failure(path: &str, e: &std::io::Error) -> String {
    use std::io::ErrorKind;
    let full = matches!(e.raw_os_error(), Some(libc::ENOSPC) | Some(libc::EDQUOT))
        || matches!(e.kind(), ErrorKind::StorageFull | ErrorKind::QuotaExceeded);
    let code = if full {
        crate::ErrorCode::DiskFull
    } else {
        crate::ErrorCode::Io
    };
    format!("{}: writing {path}: {e}", code.name())
}
