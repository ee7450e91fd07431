//! Sessions: the controller operations of ETW (start, stop, flush, query, update, enable) for
//! private in-process sessions and for the engine that hosts system sessions.
//!
//! ```no_run
//! use evtrace_runtime::session::{LogFileMode, Session, SessionProperties};
//! use evtrace_runtime::provider::{EnableSettings, Provider};
//!
//! let provider = Provider::leak("MyCompany-MyApp");
//! let session = Session::start_private(
//!     SessionProperties::new("MySession").log_file("trace.etl").mode(LogFileMode::SEQUENTIAL),
//! )?;
//! session.enable_provider(provider.guid(), EnableSettings::new(5, 0, 0))?;
//! // ... write events ...
//! let stats = session.stop()?;
//! println!("{} buffers written, {} events lost", stats.buffers_written, stats.events_lost);
//! # Ok::<(), evtrace_runtime::Error>(())
//! ```

mod buffers;
mod by_name;
mod compressor;
mod core;
mod flusher;
mod quiesce;
pub mod region;
mod start;
mod write;

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

pub(crate) use self::core::on_session_stopped;
pub(crate) use self::core::SessionCore;
pub use self::core::SessionState;
pub use crate::clock::ClockType;
use crate::error::{Error, ErrorCode, Result};
use crate::etl::LogfileHeader;
pub use crate::model::properties;
pub use crate::sink::{Outbound, Shipped};
pub(crate) use by_name::same_name;
pub use by_name::{flush, increment_file, list, list_private, query, stop, update};
use flusher::{Command, Outcome};
pub use properties::{LogFileMode, SessionKind, SessionProperties};
use region::Region;
pub(crate) use write::{write_event, write_event_related, write_message};

/// At most this many private sessions run in one process.
pub const MAX_PRIVATE_SESSIONS: usize = 8;

/// A session's figures, as `ControlTrace(QUERY)` returns them (and as the daemon sends them).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SessionStats {
    /// Session name.
    pub name: String,
    /// Running, or why it stopped.
    pub state: SessionState,
    /// Logging modes in force.
    pub mode: LogFileMode,
    /// The clock stamping events (after any fallback).
    pub clock: ClockType,
    /// The log file being written (with `_<pid>` if ETW's rule added it), if any.
    pub log_file: Option<PathBuf>,
    /// Every file written, once stopped (several for NEWFILE).
    pub files: Vec<PathBuf>,
    /// Buffer size in KB.
    pub buffer_size_kb: u32,
    /// MinimumBuffers in force.
    pub minimum_buffers: u32,
    /// MaximumBuffers in force.
    pub maximum_buffers: u32,
    /// Flush timer in seconds (0 = only when full).
    pub flush_timer_s: u32,
    /// Buffers allocated (NumberOfBuffers).
    pub number_of_buffers: u32,
    /// Buffers free now (FreeBuffers).
    pub free_buffers: u32,
    /// Events not recorded: no free buffer, too large, or in a buffer the file could not take.
    pub events_lost: u64,
    /// Buffers written to the log file (BuffersWritten).
    pub buffers_written: u64,
    /// Buffers that could not be written to the log file (LogBuffersLost).
    pub log_buffers_lost: u64,
    /// Buffers that could not be delivered to real-time consumers (RealTimeBuffersLost).
    pub real_time_buffers_lost: u64,
    /// BUFFERING: ring buffers reused while still holding unsaved events.
    pub buffers_overwritten: u64,
    /// The flusher thread's id (LoggerThreadId).
    pub logger_thread_id: u32,
    /// Why the session stopped itself, if a write failed.
    pub error: Option<String>,
}

/// Changes `ControlTrace(UPDATE)` may make. Zero and `None` mean unchanged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionUpdate {
    /// A new log file: the session switches to it (a BUFFERING session saves its ring there).
    pub log_file: Option<PathBuf>,
    /// A new flush timer in seconds; 0 = unchanged.
    pub flush_timer_s: u32,
    /// A new MaximumBuffers (system sessions only); 0 = unchanged.
    pub maximum_buffers: u32,
    /// Turn real-time delivery on or off (system sessions only).
    pub real_time: Option<bool>,
    /// New EnableFlags (system loggers only, [`crate::model::KernelFlags`] bits).
    pub enable_flags: Option<u32>,
}

struct Shared {
    core: Arc<SessionCore>,
    commands: SyncSender<Command>,
    flusher: Mutex<Option<JoinHandle<Outcome>>>,
    flusher_thread: std::thread::Thread,
    flusher_tid: u32,
    log_file: Mutex<Option<PathBuf>>,
    flush_timer_s: Mutex<u32>,
    final_stats: Mutex<Option<SessionStats>>,
    /// This process's share of a system session hosted by the daemon.
    proxy: bool,
    /// The log-file header as the session started (clock, rates, start time).
    header: LogfileHeader,
}

/// Sessions of this process, running or stopped but not yet collected by their controller.
static LIVE: Mutex<Vec<Arc<Shared>>> = Mutex::new(Vec::new());

fn live() -> std::sync::MutexGuard<'static, Vec<Arc<Shared>>> {
    LIVE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Processor ids the kernel may report (the per-processor buffer slots).
pub fn processor_count() -> usize {
    // SAFETY: sysconf has no memory-safety preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_CONF) };
    if n > 0 {
        n as usize
    } else {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    }
}

/// What makes a session a producer's share of a system session.
struct Proxy {
    region: Arc<Region>,
    outbound: Box<dyn Outbound>,
    sequences: Option<(Arc<Region>, usize)>,
}

/// A running session, owned by its controller. Dropping it stops the session (and finishes its
/// file), unless it was stopped already.
pub struct Session {
    shared: Arc<Shared>,
}

impl Session {
    /// Starts a private (in-process) session. Up to 8 per process; file only; REAL_TIME,
    /// PREALLOCATE, APPEND, NONSTOPPABLE and INDEPENDENT_SESSION are refused, USE_PAGED_MEMORY is
    /// accepted and ignored. A file another process already logs to gets `_<pid>` appended.
    pub fn start_private(props: SessionProperties) -> Result<Session> {
        Session::start(props, SessionKind::Private)
    }

    /// Starts a session of `kind` in this process's engine.
    pub fn start(props: SessionProperties, kind: SessionKind) -> Result<Session> {
        Session::start_with(props, kind, None, None)
    }

    /// Starts a system session for the daemon, which delivers its real-time buffers itself:
    /// EVENT_TRACE_REAL_TIME_MODE is accepted (with or without a log file). With `file_owner`
    /// (user, group), every log file it creates is given to that user: the controller's, not
    /// the daemon's.
    pub fn start_hosted(
        props: SessionProperties,
        file_owner: Option<(u32, u32)>,
    ) -> Result<Session> {
        Session::start_with(props, SessionKind::System, None, Some(file_owner))
    }

    /// Starts this process's share of a system session that the daemon hosts: its buffers lie in
    /// `region` (shared with the daemon) and its finished buffers go to `outbound`, not to a
    /// file. `props` are the system session's, validated by the daemon.
    ///
    /// `sequences` is the daemon's counter page and this session's index in it, so that
    /// TraceMessage sequence numbers are machine-wide (GLOBAL_SEQUENCE, index 0) or
    /// session-wide (LOCAL_SEQUENCE) across every producer process.
    pub fn start_proxy(
        props: SessionProperties,
        region: Arc<Region>,
        outbound: Box<dyn Outbound>,
        sequences: Option<(Arc<Region>, usize)>,
    ) -> Result<Session> {
        let proxy = Proxy {
            region,
            outbound,
            sequences,
        };
        Session::start_with(props, SessionKind::System, Some(proxy), None)
    }

    /// The session's name.
    pub fn name(&self) -> &str {
        &self.shared.core.name
    }

    /// The log file being written, with `_<pid>` if ETW's naming rule applied.
    pub fn log_file(&self) -> Option<PathBuf> {
        self.shared
            .log_file
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// This session's slot in the providers' enable words, for an enable or disable: it must
    /// be running and hosted in this process (a proxy's providers are the daemon's to enable).
    pub(crate) fn slot_for_enable(&self) -> Result<u8> {
        self.shared.running()?;
        self.shared.in_process()?;
        Ok(self.shared.core.slot)
    }

    /// Writes a finished buffer that a producer process filled (the daemon's path for system
    /// sessions): numbered in this session's sequence, placed as the file mode says. A buffer
    /// that does not parse counts in LogBuffersLost.
    pub fn submit_buffer(&self, bytes: Vec<u8>) -> Result<()> {
        self.shared.running()?;
        self.shared
            .commands
            .send(Command::Submit(bytes))
            .map_err(|_| self.shared.gone())?;
        self.shared.flusher_thread.unpark();
        Ok(())
    }

    /// The session's log-file header as it started: what a consumer needs to convert its time
    /// stamps (clock type, PerfFreq, start time).
    pub fn logfile_header(&self) -> LogfileHeader {
        self.shared.header.clone()
    }

    /// A buffer from a producer that this session could not take (it stopped itself after a
    /// failed write): LogBuffersLost, and its events in EventsLost.
    pub fn add_lost_buffer(&self, events: u64) {
        self.shared.core.lose_buffer(events);
    }

    /// The clock the session's time stamps come from.
    pub(crate) fn time_source(&self) -> crate::clock::TimeSource {
        self.shared.core.source
    }

    /// Writes one classic kernel record (a system header and its MOF payload) made outside any
    /// provider (the kernel logger's): its header names the process, thread and time stamp,
    /// which must not go back from one call to the next. It goes into processor `cpu`'s buffer;
    /// a failure is counted in EventsLost.
    pub(crate) fn write_system(
        &self,
        cpu: usize,
        header: &crate::etl::kernel::SystemHeaderFields,
        payload: &[&[u8]],
    ) -> Result<()> {
        write::write_system(&self.shared.core, cpu, header, payload)
    }

    /// Adds events that producer processes lost (no free buffer in their share) to EventsLost.
    pub fn add_events_lost(&self, n: u64) {
        self.shared
            .core
            .counters
            .events_lost
            .fetch_add(n, Ordering::Relaxed);
    }

    /// `ControlTrace(FLUSH)`: writes every buffer holding events now (a BUFFERING session saves
    /// its ring to its log file, and keeps it). Returns once written.
    pub fn flush(&self) -> Result<()> {
        self.shared.flush()
    }

    /// `ControlTrace(INCREMENT_FILE)`: a NEWFILE session writes what it holds to its current
    /// file and goes on in the next one now, without waiting for MaximumFileSize.
    pub fn increment_file(&self) -> Result<()> {
        self.shared.increment_file()
    }

    /// Stops a session shared through an `Arc` once every other holder has let go of it (a
    /// flush in progress, say, finishes first).
    pub fn stop_shared(session: Arc<Session>) -> Result<SessionStats> {
        Session::when_free(session, Session::stop)
    }

    /// [`stop_shared`](Self::stop_shared) for a host that is exiting: ends the session whatever
    /// its mode, NONSTOPPABLE too, as the system's shutdown ends ETW's.
    pub fn shutdown_shared(session: Arc<Session>) -> Result<SessionStats> {
        Session::when_free(session, |s| s.shared.finish())
    }

    /// Runs `f` on the session once every other holder has let go of it.
    fn when_free(
        mut session: Arc<Session>,
        f: impl FnOnce(Session) -> Result<SessionStats>,
    ) -> Result<SessionStats> {
        loop {
            match Arc::try_unwrap(session) {
                Ok(s) => return f(s),
                Err(back) => {
                    session = back;
                    std::thread::sleep(std::time::Duration::from_millis(2));
                }
            }
        }
    }

    /// `ControlTrace(QUERY)`: the session's figures now.
    pub fn query(&self) -> SessionStats {
        self.shared.stats()
    }

    /// `ControlTrace(UPDATE)`: private sessions may change only the log file name and the flush
    /// timer.
    pub fn update(&self, update: SessionUpdate) -> Result<()> {
        self.shared.update(update)
    }

    /// `ControlTrace(STOP)`: writes what the buffers hold, finishes the file and returns the final
    /// figures. A session that stopped itself (full file, failed write) reports why in `state`;
    /// a write that failed, then or during the stop, is in `error`, with what it lost counted.
    pub fn stop(self) -> Result<SessionStats> {
        self.shared.stop()
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if !self.shared.core.mode.contains(LogFileMode::NONSTOPPABLE) {
            let _ = self.shared.stop();
        }
    }
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("name", &self.shared.core.name)
            .field("slot", &self.shared.core.slot)
            .finish()
    }
}

impl Shared {
    /// Providers of this process can be enabled for the session (not one the daemon hosts,
    /// whose providers live in producer processes).
    fn in_process(&self) -> Result<()> {
        if self.core.slot as usize >= self::core::MAX_SLOTS {
            return Err(Error::new(
                ErrorCode::NotSupported,
                format!(
                    "session {} is hosted for producer processes: enable its providers through the daemon",
                    self.core.name
                ),
            ));
        }
        Ok(())
    }

    fn running(&self) -> Result<()> {
        match self.core.state() {
            SessionState::Running => Ok(()),
            state => Err(Error::new(
                ErrorCode::InstanceNotFound,
                format!("session {} is not running ({state:?})", self.core.name),
            )),
        }
    }

    fn request(&self, make: impl FnOnce(SyncSender<Result<()>>) -> Command) -> Result<()> {
        let (tx, rx) = sync_channel(1);
        self.commands.send(make(tx)).map_err(|_| self.gone())?;
        self.flusher_thread.unpark();
        rx.recv().map_err(|_| self.gone())?
    }

    fn gone(&self) -> Error {
        Error::new(
            ErrorCode::InstanceNotFound,
            format!("session {} has stopped", self.core.name),
        )
    }

    fn flush(&self) -> Result<()> {
        self.running()?;
        self.seal_and_wait();
        self.request(Command::Flush)
    }

    fn increment_file(&self) -> Result<()> {
        self.running()?;
        self.seal_and_wait();
        self.request(Command::IncrementFile)
    }

    /// Seals every buffer holding events; on return every write that reserved in one has
    /// finished, and the buffers wait for the flusher.
    fn seal_and_wait(&self) {
        self.core.pool.seal_all();
        quiesce::synchronize();
    }

    fn update(&self, u: SessionUpdate) -> Result<()> {
        self.running()?;
        let private = self.core.kind == SessionKind::Private;
        let daemons = u.maximum_buffers != 0 || u.real_time.is_some() || u.enable_flags.is_some();
        if private && daemons {
            return Err(Error::invalid(
                "a private session can update only its log file name and flush timer (ControlTrace UPDATE rules)",
            ));
        }
        if daemons {
            return Err(Error::new(
                ErrorCode::NotSupported,
                "MaximumBuffers, REAL_TIME and EnableFlags updates are carried out by the system-session daemon",
            ));
        }
        if let Some(path) = &u.log_file {
            let mode = self.core.mode;
            properties::check_log_file(path, mode)?;
            // Events logged before the switch belong to the old file (or the ring snapshot).
            self.seal_and_wait();
            self.request(|ack| Command::SwitchFile(path.clone(), ack))?;
            *self.log_file.lock().unwrap_or_else(|e| e.into_inner()) = Some(path.clone());
        }
        if u.flush_timer_s != 0 {
            *self.flush_timer_s.lock().unwrap_or_else(|e| e.into_inner()) = u.flush_timer_s;
            self.commands
                .send(Command::FlushTimer(u.flush_timer_s))
                .map_err(|_| self.gone())?;
            self.flusher_thread.unpark();
        }
        Ok(())
    }

    fn stop(self: &Arc<Self>) -> Result<SessionStats> {
        if self.core.mode.contains(LogFileMode::NONSTOPPABLE) {
            return Err(Error::new(
                ErrorCode::AccessDenied,
                format!(
                    "session {} is EVENT_TRACE_NONSTOPPABLE_MODE and cannot be stopped",
                    self.core.name
                ),
            ));
        }
        self.finish()
    }

    /// Writes what the buffers hold, finishes the file and returns the final figures, whatever
    /// the mode.
    fn finish(self: &Arc<Self>) -> Result<SessionStats> {
        let Some(handle) = self
            .flusher
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        else {
            return self
                .final_stats
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone()
                .ok_or_else(|| self.gone());
        };
        let ack = self.request(Command::Stop);
        let outcome = handle.join().unwrap_or_default();
        live().retain(|s| !Arc::ptr_eq(s, self));
        let mut stats = self.stats();
        stats.files = outcome.files;
        stats.error = outcome.error.clone();
        *self.final_stats.lock().unwrap_or_else(|e| e.into_inner()) = Some(stats.clone());
        // A write that failed (a full disk met while the last buffers were written) is in the
        // figures' `error`, its buffers in LogBuffersLost: the controller gets the figures that
        // say what was lost, not an error in their place.
        match ack {
            Err(e) if stats.error.is_none() => Err(e),
            _ => Ok(stats),
        }
    }

    fn stats(&self) -> SessionStats {
        let c = &self.core;
        let r = c.resolved.lock().unwrap_or_else(|e| e.into_inner());
        let p = &r.props;
        SessionStats {
            name: c.name.clone(),
            state: c.state(),
            mode: c.mode,
            clock: c.clock,
            log_file: self
                .log_file
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
            files: Vec::new(),
            buffer_size_kb: p.buffer_size_kb,
            minimum_buffers: p.minimum_buffers,
            maximum_buffers: p.maximum_buffers,
            flush_timer_s: *self.flush_timer_s.lock().unwrap_or_else(|e| e.into_inner()),
            number_of_buffers: c.pool.allocated(),
            free_buffers: c.pool.free_count() as u32,
            events_lost: c.events_lost(),
            buffers_written: c.counters.buffers_written.load(Ordering::Relaxed),
            log_buffers_lost: c.counters.log_buffers_lost.load(Ordering::Relaxed),
            real_time_buffers_lost: c.counters.real_time_buffers_lost.load(Ordering::Relaxed),
            buffers_overwritten: c.pool.overwritten.load(Ordering::Relaxed),
            logger_thread_id: self.flusher_tid,
            error: None,
        }
    }
}
