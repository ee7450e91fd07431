//! The session table: what the daemon holds of each hosted session, how a session is found
//! (by name or id), who may control it, and the figures the daemon adds to the engine's.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use super::producers::{Producer, Share};
use crate::client::protocol::{WireEnable, WireStats};
use crate::error::{Error, ErrorCode, Result};
use crate::session::{same_name, LogFileMode, Session, SessionProperties};
use crate::system::realtime::RealTime;
use crate::Guid;

/// What the daemon's one lock guards: the session table and the connected producers.
#[derive(Default)]
pub(super) struct State {
    pub(super) sessions: Vec<Hosted>,
    pub(super) producers: HashMap<u64, Producer>,
    pub(super) next_id: u64,
    /// The daemon is ending ([`Stopper::stop_all`](super::Stopper::stop_all)): no session
    /// starts any more.
    pub(super) closing: bool,
    /// Stops under way (each until its file is finished), which the daemon's end waits for.
    pub(super) ending: usize,
}

impl State {
    /// The session `id`, if it still runs.
    pub(super) fn by_id(&mut self, id: u64) -> Option<&mut Hosted> {
        self.sessions.iter_mut().find(|h| h.id == id)
    }

    /// Where session `id` is in the table, if it still runs.
    pub(super) fn index_of(&self, id: u64) -> Option<usize> {
        self.sessions.iter().position(|h| h.id == id)
    }

    /// ERROR_BAD_PATHNAME if `file` is the log file of a session (other than `except`).
    pub(super) fn file_free(&self, file: &Path, except: Option<&str>) -> Result<()> {
        let taken = self.sessions.iter().any(|h| {
            except.is_none_or(|n| !same_name(h.session.name(), n))
                && h.session.log_file().is_some_and(|g| same_file(&g, file))
        });
        if taken {
            return Err(Error::new(
                ErrorCode::BadPathname,
                format!(
                    "{} is the log file of another session; give this one a file of its own",
                    file.display()
                ),
            ));
        }
        Ok(())
    }
}

/// A system session and what the daemon knows of it.
pub(super) struct Hosted {
    pub(super) id: u64,
    /// The engine session (shared so that buffers reach its file outside the daemon's lock).
    pub(super) session: Arc<Session>,
    /// The properties a producer's share is made with.
    pub(super) share: SessionProperties,
    pub(super) enables: Vec<(Guid, WireEnable)>,
    /// EVENT_TRACE_SECURE_MODE: the users whose processes may log to it (root always may).
    pub(super) secure: Option<Vec<u32>>,
    /// The user who started it: with root, the only one who may change it.
    pub(super) owner: u32,
    /// Producer processes refused by `secure`.
    pub(super) refused: u32,
    /// REAL_TIME: delivery to the consumer.
    pub(super) rt: Option<RealTime>,
    /// RealTimeBuffersLost of real-time delivery that UPDATE has since turned off.
    pub(super) rt_lost_before: u64,
    /// Its LOCAL_SEQUENCE counter in the counter page (1..).
    pub(super) sequence_index: u32,
    /// Per producer (connection id): its share's region here and its last EventsLost figure.
    pub(super) shares: HashMap<u64, Share>,
    /// Producers asked to flush their share and not yet done.
    pub(super) flushing: Vec<u64>,
    /// Whether this session is the kernel logger (its sources may still be opening).
    pub(super) is_kernel: bool,
    /// The kernel logger's sources, once open.
    pub(super) kernel: Option<crate::kernel::KernelLogger>,
    /// A stop is under way: no change may start.
    pub(super) stopping: bool,
    /// Its kernel sources are being replaced (UPDATE of EnableFlags): a stop waits for it.
    pub(super) changing: bool,
    /// Its real-time delivery is ending (UPDATE `--rt off`): a stop waits for it.
    pub(super) ending_rt: bool,
    /// MaximumBuffers as UPDATE last set it (for producers that attach from then on).
    pub(super) maximum_buffers_set: Option<u32>,
}

impl Hosted {
    /// The kernel logger, or a session with EVENT_TRACE_SYSTEM_LOGGER_MODE.
    pub(super) fn system_logger(&self) -> bool {
        self.is_kernel || self.share.mode.contains(LogFileMode::SYSTEM_LOGGER)
    }

    /// Whether its buffers are kept other than by real-time delivery: a log file, or the ring.
    pub(super) fn kept(&self) -> bool {
        self.session.log_file().is_some() || self.share.mode.contains(LogFileMode::BUFFERING)
    }

    pub(super) fn may_control(&self, uid: u32) -> Result<()> {
        if uid == 0 || uid == self.owner {
            return Ok(());
        }
        Err(Error::new(
            ErrorCode::AccessDenied,
            format!(
                "session {} belongs to user {}: only that user or root may control, query or consume it",
                self.session.name(),
                self.owner
            ),
        ))
    }
}

pub(super) fn stats(h: &Hosted) -> WireStats {
    Figures::of(h).on(h.session.query())
}

/// What the daemon adds to the engine's figures of a session: real-time delivery, producers,
/// the mode in force (UPDATE may have turned real-time delivery on or off), kernel flags.
pub(super) struct Figures {
    /// MaximumBuffers as UPDATE set it, if it did (for shares made afterwards).
    maximum_buffers: Option<u32>,
    rt_lost: u64,
    consumers: u32,
    real_time: bool,
    producers: u32,
    refused: u32,
    enable_flags: u32,
}

impl Figures {
    pub(super) fn of(h: &Hosted) -> Figures {
        Figures {
            maximum_buffers: h.maximum_buffers_set,
            rt_lost: h.rt_lost_before + h.rt.as_ref().map_or(0, |rt| rt.buffers_lost),
            consumers: h.rt.as_ref().map_or(0, |rt| u32::from(rt.has_consumer())),
            real_time: h.rt.is_some(),
            producers: h.shares.len() as u32,
            refused: h.refused,
            enable_flags: h.kernel.as_ref().map_or(0, |k| k.flags().bits()),
        }
    }

    pub(super) fn on(&self, mut session: crate::session::SessionStats) -> WireStats {
        if let Some(max) = self.maximum_buffers {
            session.maximum_buffers = max;
        }
        session.real_time_buffers_lost += self.rt_lost;
        session.mode.set(LogFileMode::REAL_TIME, self.real_time);
        WireStats {
            session,
            producers: self.producers,
            refused_producers: self.refused,
            consumers: self.consumers,
            enable_flags: self.enable_flags,
        }
    }
}

/// The session named `name` (names compare case-insensitively). On the table alone, so that
/// the producers can be borrowed beside it.
pub(super) fn named<'a>(sessions: &'a mut [Hosted], name: &str) -> Result<&'a mut Hosted> {
    sessions
        .iter_mut()
        .find(|h| same_name(h.session.name(), name))
        .ok_or_else(|| not_found(name))
}

pub(super) fn not_found(name: &str) -> Error {
    Error::new(
        ErrorCode::InstanceNotFound,
        format!("no system session named {name} is running"),
    )
}

fn same_file(a: &Path, b: &Path) -> bool {
    let abs = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    abs(a) == abs(b)
}
