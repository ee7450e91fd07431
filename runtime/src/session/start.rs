//! Starting a session: its properties checked, a slot, its buffer pool and file, and the
//! flusher thread; and the exit hook that stops a process's own sessions when it ends.

use std::sync::mpsc::sync_channel;
use std::sync::{Arc, Mutex};

use super::flusher::Flusher;
use super::{
    live, processor_count, properties, quiesce, same_name, LogFileMode, Proxy, Session,
    SessionCore, SessionKind, SessionProperties, Shared, MAX_PRIVATE_SESSIONS,
};
use crate::error::{Error, ErrorCode, Result};
use crate::etl::LogfileHeader;
use crate::sink::LogFile;

impl Session {
    pub(super) fn start_with(
        props: SessionProperties,
        kind: SessionKind,
        proxy: Option<Proxy>,
        hosted: Option<Option<(u32, u32)>>,
    ) -> Result<Session> {
        let cpus = processor_count();
        let mut resolved = if proxy.is_some() {
            properties::validate_proxy(props, cpus)?
        } else {
            properties::validate(props, kind, cpus)?
        };
        // Hosted by the daemon (`Some`), possibly for another user's files.
        let (hosted, file_owner) = (hosted.is_some(), hosted.flatten());
        resolved.file_owner = file_owner;
        let is_proxy = proxy.is_some();
        let (region, outbound, sequences) = match proxy {
            Some(p) => (Some(p.region), Some(p.outbound), p.sequences),
            None => (None, None, None),
        };
        if let Some(r) = &region {
            let least = resolved.buffer_bytes * resolved.slots;
            if r.len() < least {
                return Err(Error::invalid(format!(
                    "the shared buffer area of {} bytes cannot hold a {} KB buffer per processor",
                    r.len(),
                    resolved.buffer_bytes / 1024
                )));
            }
        }
        if !hosted && !is_proxy && resolved.props.enable_flags != 0 {
            // Kernel events come from the daemon's sources; without them the flags would ask
            // for events that never come.
            return Err(Error::new(
                ErrorCode::NotSupported,
                "EnableFlags: kernel events are recorded by system loggers the daemon hosts; start the session through it (system::control::Controller, `evtrace start`), or leave EnableFlags 0 here and run kernel::KernelLogger::start into it",
            ));
        }
        if !hosted && resolved.props.mode.contains(LogFileMode::REAL_TIME) {
            // Without a consumer to deliver to, every buffer would be dropped: refuse rather
            // than lose events silently.
            return Err(Error::new(
                ErrorCode::NotSupported,
                "EVENT_TRACE_REAL_TIME_MODE needs the system-session daemon, which this build does not have yet; log to a file instead",
            ));
        }
        let name = resolved.props.name.clone();
        let mut live = live();
        if live.iter().any(|s| same_name(&s.core.name, &name)) {
            return Err(Error::new(
                ErrorCode::AlreadyExists,
                format!("a session named {name} is already running"),
            ));
        }
        if kind == SessionKind::Private
            && live
                .iter()
                .filter(|s| s.core.kind == SessionKind::Private)
                .count()
                >= MAX_PRIVATE_SESSIONS
        {
            return Err(Error::new(
                ErrorCode::NoSystemResources,
                format!("cannot start {name}: a process may run at most {MAX_PRIVATE_SESSIONS} private sessions"),
            ));
        }
        let ids = if hosted {
            super::core::MAX_SLOTS..=u8::MAX as usize
        } else {
            0..=super::core::MAX_SLOTS - 1
        };
        let slot = ids
            .into_iter()
            .find(|&i| {
                (hosted || super::core::slot_is_free(i))
                    && !live.iter().any(|s| s.core.slot as usize == i)
            })
            .ok_or_else(|| {
                Error::new(
                    ErrorCode::NoSystemResources,
                    format!(
                        "cannot start {name}: all {} session slots of this process are in use",
                        super::core::MAX_SLOTS
                    ),
                )
            })?;
        quiesce::prepare();
        let mut core = SessionCore::new(slot as u8, kind, resolved.clone(), region);
        core.shared_sequences = sequences;
        let core = Arc::new(core);
        let p = &resolved.props;
        let header = LogfileHeader {
            buffer_size: resolved.buffer_bytes as u32,
            number_of_processors: cpus as u32,
            maximum_file_size: p.maximum_file_size,
            log_file_mode: p.mode.bits(),
            start_buffers: p.minimum_buffers,
            perf_freq: core.source.frequency(),
            start_time: crate::clock::filetime_now(),
            start_timestamp: core.source.now(),
            clock_type: core.clock.number(),
            logger_name: name.clone(),
            log_file_name: p
                .log_file
                .as_ref()
                .map(|f| f.display().to_string())
                .unwrap_or_default(),
            logger_id: slot as u16 + 1,
            process_id: std::process::id(),
            boot_time: boot_time_filetime(),
            cpu_speed_mhz: (crate::clock::tsc_frequency().unwrap_or(0) / 1_000_000) as u32,
            timer_resolution: 156_250,
            ..LogfileHeader::default()
        };
        let file = match (&p.log_file, resolved.writes_file) {
            (Some(path), true) => Some(LogFile::open(&resolved, kind, path, header.clone())?),
            _ => None,
        };
        let log_file = file
            .as_ref()
            .map(|f| f.path().to_path_buf())
            .or_else(|| p.log_file.clone());
        let snapshot_path = if p.mode.contains(LogFileMode::BUFFERING) {
            p.log_file.clone()
        } else {
            None
        };
        let (tx, rx) = sync_channel(16);
        let (tid_tx, tid_rx) = sync_channel(1);
        let flusher = Flusher::new(
            core.clone(),
            file,
            snapshot_path,
            header.clone(),
            rx,
            p.flush_interval(),
            outbound,
        );
        let handle = std::thread::Builder::new()
            .name(format!("evtrace-flush-{slot}"))
            .spawn(move || {
                let _ = tid_tx.send(quiesce::thread_id());
                flusher.run()
            })
            .map_err(|e| {
                Error::new(
                    ErrorCode::NoSystemResources,
                    format!("cannot start the flusher thread: {e}"),
                )
            })?;
        let flusher_tid = tid_rx.recv().unwrap_or(0);
        let _ = core.pool.waker.set(handle.thread().clone());
        core.publish();
        let shared = Arc::new(Shared {
            core,
            commands: tx,
            flusher_thread: handle.thread().clone(),
            flusher: Mutex::new(Some(handle)),
            flusher_tid,
            log_file: Mutex::new(log_file),
            flush_timer_s: Mutex::new(p.flush_timer_s),
            final_stats: Mutex::new(None),
            proxy: is_proxy,
            header,
        });
        live.push(shared.clone());
        if kind == SessionKind::Private || is_proxy {
            register_exit_hook();
        }
        Ok(Session { shared })
    }
}

/// Private sessions still running when the process exits are stopped, so their files are whole.
fn register_exit_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    extern "C" fn stop_all() {
        let sessions: Vec<Arc<Shared>> = live().clone();
        for s in sessions {
            // A process's own sessions end with it; so do its shares of system sessions, which
            // hand their last buffers to the daemon first.
            if s.core.kind == SessionKind::Private || s.proxy {
                let _ = s.stop();
            }
        }
    }
    ONCE.call_once(|| {
        // SAFETY: registering a plain extern "C" function with no captured state.
        unsafe { libc::atexit(stop_all) };
    });
}

/// The boot time as a FILETIME (from /proc/stat's btime).
fn boot_time_filetime() -> i64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let btime = stat
        .lines()
        .find_map(|l| {
            l.strip_prefix("btime ")
                .and_then(|v| v.trim().parse::<i64>().ok())
        })
        .unwrap_or(0);
    crate::clock::FILETIME_UNIX_EPOCH + btime * 10_000_000
}
