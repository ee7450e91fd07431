//! Starting and changing hosted sessions: START with its names and limits (reserved names,
//! system loggers, the table's size), QUERY, UPDATE, INCREMENT_FILE and FLUSH.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use super::table::{named, not_found, stats, Hosted};
use super::{Shared, MAX_HOSTED_SESSIONS, MAX_SYSTEM_LOGGERS};
use crate::client::protocol::{Reply, WireProps};
use crate::error::{Error, ErrorCode, Result};
use crate::session::{
    processor_count, properties, same_name, LogFileMode, Session, SessionKind, SessionUpdate,
};
use crate::system::realtime::RealTime;

impl Shared {
    /// Starts a session for a controller of user and group `starter` (its log files are that
    /// user's when the daemon runs as root).
    pub(super) fn start(
        &self,
        wire: &WireProps,
        starter: (u32, u32),
        allow_users: Vec<u32>,
    ) -> Result<Reply> {
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        let owner = (root && starter.0 != 0).then_some(starter);
        self.start_named(wire, starter.0, allow_users, None, owner)
    }

    /// Starts a session for a controller (`boot` None) or from the boot configuration.
    pub(super) fn start_named(
        &self,
        wire: &WireProps,
        starter: u32,
        allow_users: Vec<u32>,
        boot: Option<crate::boot::BootKind>,
        file_owner: Option<(u32, u32)>,
    ) -> Result<Reply> {
        let props = wire.to_props()?;
        if boot.is_none() && props.mode.contains(LogFileMode::NONSTOPPABLE) {
            return Err(Error::invalid(format!(
                "{}: EVENT_TRACE_NONSTOPPABLE_MODE is for boot sessions only, as ETW's is for AutoLogger: write it in an AutoLogger entry (`evtrace autologger create NAME --mode 0x40 ...`)",
                props.name
            )));
        }
        let reserved = boot == Some(crate::boot::BootKind::Global);
        if !reserved && same_name(&props.name, crate::boot::GLOBAL_LOGGER_NAME) {
            return Err(Error::new(
                ErrorCode::AlreadyExists,
                format!(
                    "{} is the Global Logger's reserved name: configure it with `evtrace globallogger create`; it starts with the daemon",
                    crate::boot::GLOBAL_LOGGER_NAME
                ),
            ));
        }
        if let Some(f) = &props.log_file {
            may_write(f, starter)?;
        }
        let mut allowed = allow_users;
        allowed.push(starter);
        // Checked under the lock that adds the session, so none slips past a shutdown.
        let mut st = self.lock();
        if st.closing {
            return Err(Error::new(
                ErrorCode::ShutdownInProgress,
                format!("{} cannot start: the daemon is shutting down", props.name),
            ));
        }
        if st
            .sessions
            .iter()
            .any(|h| same_name(h.session.name(), &props.name))
        {
            return Err(Error::new(
                ErrorCode::AlreadyExists,
                format!("a system session named {} is already running", props.name),
            ));
        }
        if st.sessions.len() >= self.max_sessions {
            return Err(Error::new(
                ErrorCode::NoSystemResources,
                format!(
                    "cannot start {}: {} system sessions are running, the most this daemon allows (EVTRACE_MAX_SESSIONS)",
                    props.name, self.max_sessions
                ),
            ));
        }
        if let Some(f) = &props.log_file {
            st.file_free(f, None)?;
        }
        // The kernel logger proper (NT Kernel Logger, or the Global Logger with
        // EnableKernelFlags) is one; any session may be a system logger (SYSTEM_LOGGER_MODE),
        // eight at most, and system loggers take kernel events by their EnableFlags.
        let (is_kernel, system_logger) = crate::kernel::logger_kind(&props, reserved);
        if is_kernel {
            if let Some(k) = st.sessions.iter().find(|h| h.is_kernel) {
                return Err(Error::new(
                    ErrorCode::AlreadyExists,
                    format!(
                        "the kernel logger is already running (as session {}); there is only one",
                        k.session.name()
                    ),
                ));
            }
        }
        if system_logger {
            crate::kernel::logger_rules(&props, is_kernel)?;
            let running = st.sessions.iter().filter(|h| h.system_logger()).count();
            if running >= MAX_SYSTEM_LOGGERS {
                return Err(Error::new(
                    ErrorCode::NoSystemResources,
                    format!(
                        "cannot start {}: {MAX_SYSTEM_LOGGERS} system loggers (the kernel logger and EVENT_TRACE_SYSTEM_LOGGER_MODE sessions) are running, the most there can be",
                        props.name
                    ),
                ));
            }
        } else if props.enable_flags != 0 {
            return Err(Error::invalid(format!(
                "EnableFlags {:#x} selects kernel events, which only system loggers record: the kernel logger (session \"{}\", or the Global Logger with EnableKernelFlags) and sessions with EVENT_TRACE_SYSTEM_LOGGER_MODE; enable providers in other sessions",
                props.enable_flags,
                crate::kernel::KERNEL_LOGGER_NAME
            )));
        }
        let mut props = props;
        let real_time = props.mode.contains(LogFileMode::REAL_TIME);
        if real_time {
            // ETW: with REAL_TIME, buffers are flushed at least once a second (so a timer of 0,
            // flush when full, or of more than a second becomes 1).
            props.flush_timer_s = 1;
        }
        let resolved = properties::validate(props.clone(), SessionKind::System, processor_count())?;
        let flags = crate::kernel::KernelFlags::from_bits_retain(props.enable_flags);
        let session = Arc::new(Session::start_hosted(props, file_owner)?);
        let rt = real_time.then(|| real_time_for(&session, resolved.props.maximum_buffers));
        st.next_id += 1;
        let id = st.next_id;
        let mut share = resolved.props.clone();
        if share.mode.contains(LogFileMode::BUFFERING) {
            // The ring (MinimumBuffers) is the daemon's; a producer's share needs the room of
            // an ordinary pool to get its events there.
            share.maximum_buffers = share.maximum_buffers.max(64);
        }
        let sequence_index = (1..=MAX_HOSTED_SESSIONS as u32)
            .find(|i| !st.sessions.iter().any(|h| h.sequence_index == *i))
            .unwrap_or(0);
        if sequence_index != 0 {
            // Sequence numbers start at 1 for every session.
            self.counters
                .counter(sequence_index as usize)
                .store(0, std::sync::atomic::Ordering::Relaxed);
        }
        // The kernel logger records tracelog's default set when given no flags; another system
        // logger records kernel events only when given flags.
        let kernel_share = (is_kernel || flags.bits() != 0).then(|| share.clone());
        let h = Hosted {
            owner: starter,
            id,
            session,
            sequence_index,
            secure: resolved
                .props
                .mode
                .contains(LogFileMode::SECURE)
                .then_some(allowed),
            refused: 0,
            rt,
            rt_lost_before: 0,
            share,
            enables: Vec::new(),
            shares: HashMap::new(),
            flushing: Vec::new(),
            is_kernel,
            kernel: None,
            stopping: false,
            changing: false,
            ending_rt: false,
            maximum_buffers_set: None,
        };
        let s = stats(&h);
        st.sessions.push(h);
        drop(st);
        match kernel_share {
            Some(share) => self.start_kernel(id, &s.session.name, flags, &share),
            None => Ok(Reply::Stats { stats: s }),
        }
    }

    pub(super) fn query(&self, name: &str) -> Result<Reply> {
        self.with(name, |h, _| Ok(Reply::Stats { stats: stats(h) }))
    }

    /// UPDATE: every change is checked before any is made.
    pub(super) fn update(&self, name: &str, uid: u32, u: SessionUpdate) -> Result<Reply> {
        if same_name(name, crate::boot::GLOBAL_LOGGER_NAME) {
            return Err(Error::new(
                ErrorCode::InvalidParameter,
                "the Global Logger cannot be updated: change its entries (`evtrace globallogger create`) and restart the daemon",
            ));
        }
        let Some(flags) = u.enable_flags else {
            return self.update_rest(name, uid, u);
        };
        // The one change that can still fail once checked (its sources may not open) is made
        // first, and undone if the rest then fails.
        self.with(name, |h, _| {
            if h.system_logger() {
                Ok(())
            } else {
                Err(Error::invalid(format!(
                    "session {name} is not a system logger: EnableFlags can be updated only on the kernel logger and EVENT_TRACE_SYSTEM_LOGGER_MODE sessions"
                )))
            }
        })?;
        crate::kernel::KernelFlags::from_bits_retain(flags).checked()?;
        let before = self.set_kernel_flags(name, flags)?;
        let rest = SessionUpdate {
            enable_flags: None,
            ..u
        };
        self.update_rest(name, uid, rest).inspect_err(|_| {
            let _ = self.set_kernel_flags(name, before);
        })
    }

    /// UPDATE of everything but EnableFlags: every change is checked before any is made.
    fn update_rest(&self, name: &str, uid: u32, mut u: SessionUpdate) -> Result<Reply> {
        let mut guard = self.lock();
        let st = &mut *guard;
        if let Some(f) = &u.log_file {
            may_write(f, uid)?;
            st.file_free(f, Some(name))?;
        }
        let h = named(&mut st.sessions, name)?;
        if h.stopping {
            return Err(not_found(name));
        }
        // A real-time session's buffers reach its consumer at least once a second, whatever
        // the flush timer asked for.
        let real_time_after = u.real_time.unwrap_or(h.rt.is_some());
        let timer_after = match u.flush_timer_s {
            0 => h.share.flush_timer_s,
            s => s,
        };
        if real_time_after && timer_after != 1 {
            u.flush_timer_s = 1;
        }
        let mut share = h.share.clone();
        if u.maximum_buffers != 0 {
            // Producer shares made from now on get the new count (shares made earlier keep
            // theirs: their memory is mapped in the producer); the same limits as at start.
            share.maximum_buffers = u.maximum_buffers;
            share = properties::validate(share, SessionKind::System, processor_count())?.props;
        }
        let maximum_buffers_set = (u.maximum_buffers != 0).then_some(share.maximum_buffers);
        let keeps_somewhere = u.log_file.is_some() || h.kept();
        if u.real_time == Some(false) && h.rt.is_some() && !keeps_somewhere {
            return Err(Error::invalid(format!(
                "turning real-time delivery off would leave session {name} nowhere to put its events: it has no log file and is not buffering; give it a log file first"
            )));
        }
        h.session.update(SessionUpdate {
            log_file: u.log_file.clone(),
            flush_timer_s: u.flush_timer_s,
            maximum_buffers: 0,
            real_time: None,
            enable_flags: None,
        })?;
        // Checked and done in the engine: now the producers and the real-time side follow.
        if u.flush_timer_s != 0 {
            share.flush_timer_s = u.flush_timer_s;
            for conn in h.shares.keys() {
                if let Some(p) = st.producers.get(conn) {
                    let _ = p.outbox.send(
                        Reply::FlushTimer {
                            session: h.id,
                            seconds: u.flush_timer_s,
                        },
                        None,
                    );
                }
            }
        }
        h.share = share;
        if maximum_buffers_set.is_some() {
            h.maximum_buffers_set = maximum_buffers_set;
        }
        // The kernel logger's share follows too, outside the daemon's lock (its flusher may be
        // waiting for that lock to hand buffers over).
        let kernel = (u.flush_timer_s != 0)
            .then(|| h.kernel.as_ref().and_then(|k| k.share()))
            .flatten();
        if u.real_time == Some(true) && h.rt.is_none() {
            h.rt = Some(real_time_for(&h.session, h.share.maximum_buffers));
        }
        // Real-time delivery turned off: its consumer gets what is left (waiting for it a
        // little) outside the daemon's lock. Its losses stay in the session's figures.
        let ended = match (u.real_time, h.rt.take()) {
            (Some(false), Some(mut rt)) => {
                h.rt_lost_before += std::mem::take(&mut rt.buffers_lost);
                h.ending_rt = true;
                Some((rt, h.session.clone(), h.id))
            }
            (_, rt) => {
                h.rt = rt;
                None
            }
        };
        drop(guard);
        if let Some((mut rt, session, id)) = ended {
            rt.end(&session, keeps_somewhere);
            drop(session);
            if let Some(h) = self.lock().by_id(id) {
                h.rt_lost_before += rt.buffers_lost;
                h.ending_rt = false;
            }
            self.detached.notify_all();
        }
        if let Some(k) = kernel {
            let _ = k.update(SessionUpdate {
                flush_timer_s: u.flush_timer_s,
                ..Default::default()
            });
        }
        Ok(Reply::Ok)
    }

    /// INCREMENT_FILE: what the producers hold is flushed to the current file first.
    pub(super) fn increment_file(&self, name: &str) -> Result<Reply> {
        // Refused before the flush, which would otherwise still happen (and save a ring).
        self.with(name, |h, _| {
            properties::may_increment_file(h.share.mode, name)
        })?;
        self.flush(name)?;
        let engine = self.with(name, |h, _| Ok(h.session.clone()))?;
        engine.increment_file()?;
        Ok(Reply::Ok)
    }

    /// FLUSH: producers hand over what their shares hold (waited for at most
    /// [`DETACH_WAIT`](super::DETACH_WAIT)), then the session writes its buffers (a BUFFERING
    /// session saves its ring).
    pub(super) fn flush(&self, name: &str) -> Result<Reply> {
        let mut st = self.lock();
        let st_ref = &mut *st;
        let h = named(&mut st_ref.sessions, name)?;
        let id = h.id;
        h.flushing = h.shares.keys().copied().collect();
        for conn in &h.flushing {
            if let Some(p) = st_ref.producers.get(conn) {
                let _ = p.outbox.send(Reply::FlushShare { session: id }, None);
            }
        }
        let mut st = self.wait_while(st, |st| {
            st.sessions.iter().find(|h| h.id == id).is_some_and(|h| {
                h.flushing
                    .iter()
                    .any(|c| st.producers.contains_key(c) && h.shares.contains_key(c))
            })
        });
        let h = st.by_id(id).ok_or_else(|| not_found(name))?;
        h.flushing.clear();
        let engine = h.session.clone();
        let kernel = h.kernel.as_ref().and_then(|k| k.share());
        drop(st);
        if let Some(k) = kernel {
            // The kernel logger's partly filled buffers, handed over like a producer's.
            k.flush()?;
        }
        // Writing out (a ring, possibly) waits for the disk: not under the daemon's lock.
        engine.flush()?;
        Ok(Reply::Ok)
    }
}

/// Whether user `uid` may have the daemon write `file`: an absolute path (the daemon's working
/// directory is not the controller's), and for users other than root, a file of their own in a
/// directory of their own, since the daemon writes with its own rights.
fn may_write(file: &Path, uid: u32) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    if !file.is_absolute() {
        return Err(Error::new(
            ErrorCode::BadPathname,
            format!(
                "{}: give the log file as an absolute path (the daemon does not share your working directory)",
                file.display()
            ),
        ));
    }
    if uid == 0 {
        return Ok(());
    }
    let denied = |what: &str| {
        Error::new(
            ErrorCode::AccessDenied,
            format!("{}: {what}; the daemon writes log files for a user only in that user's own directories", file.display()),
        )
    };
    let dir = file.parent().unwrap_or(Path::new("/"));
    match std::fs::metadata(dir) {
        Ok(m) if m.uid() == uid => {}
        _ => return Err(denied("its directory is not yours")),
    }
    match std::fs::symlink_metadata(file) {
        Ok(m) if m.uid() != uid || m.file_type().is_symlink() => {
            Err(denied("the file is not yours"))
        }
        _ => Ok(()),
    }
}

/// Real-time delivery for `session`, keeping up to `backlog` buffers for a consumer.
fn real_time_for(session: &Session, backlog: u32) -> RealTime {
    let h = session.logfile_header();
    let mut bytes = vec![0u8; h.buffer_size.max(4096) as usize];
    crate::etl::write_header_buffer(&mut bytes, &h);
    // Only what the header buffer holds (about a kilobyte), not its padding to BufferSize.
    let used = crate::etl::BufferHeader::parse(&bytes)
        .map(|b| b.saved_offset as usize)
        .unwrap_or(bytes.len())
        .min(bytes.len());
    bytes.truncate(used);
    RealTime::new(bytes, backlog as usize, h.buffer_size as usize)
}
