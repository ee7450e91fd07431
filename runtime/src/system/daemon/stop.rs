//! Stopping sessions: STOP by a controller, and [`Stopper::stop_all`] when the daemon ends
//! (NONSTOPPABLE sessions too); producers hand over their last buffers before a file is finished.

use std::sync::Arc;

use super::table::{not_found, Figures, State};
use super::Shared;
use crate::client::protocol::{Reply, WireStats};
use crate::error::{Error, ErrorCode, Result};
use crate::session::{same_name, LogFileMode, Session};

/// Ends a running daemon's sessions cleanly: see [`Daemon::stopper`](super::Daemon::stopper).
pub struct Stopper(pub(super) Arc<Shared>);

impl Stopper {
    /// Stops every session, NONSTOPPABLE ones too, finishing their files and handing their last
    /// buffers to real-time consumers, and refuses new sessions from then on. Returns each
    /// session's final figures, or why it could not be stopped.
    pub fn stop_all(&self) -> Vec<(String, Result<WireStats>)> {
        self.0.stop_all()
    }
}

impl Shared {
    /// Stops every session, NONSTOPPABLE ones too (as ETW's do when the system shuts down), and
    /// starts no more: what the daemon does before it exits.
    fn stop_all(&self) -> Vec<(String, Result<WireStats>)> {
        let names: Vec<String> = {
            let mut st = self.lock();
            st.closing = true;
            // Those a controller is stopping already are waited for below.
            st.sessions
                .iter()
                .filter(|h| !h.stopping)
                .map(|h| h.session.name().to_string())
                .collect()
        };
        let ended = names
            .into_iter()
            .map(|name| {
                let r = self.end(&name, true).map(|reply| match reply {
                    Reply::Stats { stats } => stats,
                    _ => unreachable!("a stop answers with the session's figures"),
                });
                (name, r)
            })
            .collect();
        // A controller's stop that was under way finishes its file before the daemon goes.
        let mut st = self.lock();
        while st.ending > 0 {
            st = self.detached.wait(st).unwrap_or_else(|e| e.into_inner());
        }
        ended
    }

    /// Stops a session: producers hand over their last buffers first (or are waited for at
    /// most [`DETACH_WAIT`](super::DETACH_WAIT)), then the file is finished.
    pub(super) fn stop(&self, name: &str) -> Result<Reply> {
        self.end(name, false)
    }

    /// [`stop`](Self::stop); `shutdown` also ends a NONSTOPPABLE session.
    pub(super) fn end(&self, name: &str, shutdown: bool) -> Result<Reply> {
        let mut st = self.lock();
        let i = st
            .sessions
            .iter()
            .position(|h| same_name(h.session.name(), name))
            .ok_or_else(|| not_found(name))?;
        if !shutdown
            && st.sessions[i]
                .share
                .mode
                .contains(LogFileMode::NONSTOPPABLE)
        {
            return Err(Error::new(
                ErrorCode::AccessDenied,
                format!(
                    "session {name} is EVENT_TRACE_NONSTOPPABLE_MODE and cannot be stopped; it ends when the daemon does (SIGTERM to the daemon stops every session)"
                ),
            ));
        }
        if st.sessions[i].stopping {
            return Err(Error::new(
                ErrorCode::InstanceNotFound,
                format!("session {name} is already stopping"),
            ));
        }
        st.sessions[i].stopping = true;
        st.ending += 1;
        let id = st.sessions[i].id;
        drop(st);
        let r = self.end_stopping(name, id, shutdown);
        self.lock().ending -= 1;
        self.detached.notify_all();
        r
    }

    /// The rest of [`end`](Self::end), once session `id` is marked as stopping.
    fn end_stopping(&self, name: &str, id: u64, shutdown: bool) -> Result<Reply> {
        let mut st = self.lock();
        // A change of its kernel sources, or the end of its real-time delivery, finishes first;
        // then the sources go, their last buffers reaching the session before it leaves.
        let changing = |st: &State| {
            st.sessions
                .iter()
                .any(|h| h.id == id && (h.changing || h.ending_rt))
        };
        while changing(&st) {
            st = self.wait_while(st, changing);
        }
        loop {
            let h = st.by_id(id).ok_or_else(|| not_found(name))?;
            let Some(k) = h.kernel.take() else { break };
            drop(st);
            k.stop();
            st = self.lock();
        }
        let i = st.index_of(id).ok_or_else(|| not_found(name))?;
        let sharing: Vec<u64> = st.sessions[i].shares.keys().copied().collect();
        for conn in &sharing {
            if let Some(p) = st.producers.get(conn) {
                let _ = p.outbox.send(Reply::Detach { session: id }, None);
            }
        }
        let mut st = self.wait_while(st, |st| {
            st.sessions
                .iter()
                .find(|h| h.id == id)
                .is_some_and(|h| h.shares.keys().any(|c| st.producers.contains_key(c)))
        });
        let i = st.index_of(id).ok_or_else(|| not_found(name))?;
        let mut h = st.sessions.remove(i);
        drop(st);
        let kept = h.kept();
        if let Some(rt) = h.rt.as_mut() {
            rt.end(&h.session, kept);
        }
        let figures = Figures::of(&h);
        let final_stats = if shutdown {
            Session::shutdown_shared(h.session)?
        } else {
            Session::stop_shared(h.session)?
        };
        Ok(Reply::Stats {
            stats: figures.on(final_stats),
        })
    }
}
