//! A system logger's kernel sources: opened for a session at its start (outside the daemon's
//! lock), replaced when UPDATE changes its EnableFlags, their buffers handed to the session.

use super::table::{named, not_found, stats};
use super::Shared;
use crate::client::protocol::Reply;
use crate::error::{Error, ErrorCode, Result};
use crate::session::{Session, SessionProperties};
use crate::system::kernel_share;

impl Shared {
    /// Opens the kernel logger's sources for session `id`, already in the table (so that its
    /// rundown's buffers find it), outside the daemon's lock: the rundown reads all of /proc.
    pub(super) fn start_kernel(
        &self,
        id: u64,
        name: &str,
        flags: crate::kernel::KernelFlags,
        share: &SessionProperties,
    ) -> Result<Reply> {
        match self.open_kernel(id, name, flags, share) {
            Ok(()) => self
                .lock()
                .sessions
                .iter()
                .find(|h| h.id == id)
                .map(|h| Reply::Stats { stats: stats(h) })
                .ok_or_else(|| not_found(name)),
            Err(e) => {
                // Not half a kernel logger: the session goes too.
                let mut st = self.lock();
                if let Some(i) = st.index_of(id) {
                    let h = st.sessions.remove(i);
                    drop(st);
                    let _ = Session::stop_shared(h.session);
                }
                Err(e)
            }
        }
    }

    /// Opens kernel sources for session `id` (named `name`) and gives them to it, in place of
    /// any it had. An error leaves the session as it was. Called without the daemon's lock:
    /// sources are stopped (which hands their last buffers over, taking the lock) only outside
    /// it.
    fn open_kernel(
        &self,
        id: u64,
        name: &str,
        flags: crate::kernel::KernelFlags,
        share: &SessionProperties,
    ) -> Result<()> {
        let me = self.me.clone();
        let hand_over: kernel_share::HandOver = Box::new(move |copies, lost, missing| {
            me.upgrade()
                .is_some_and(|d| d.hand_over(d.lock(), id, copies, lost, missing))
        });
        let k = kernel_share::start(name, flags, share, hand_over)?;
        let mut st = self.lock();
        let Some(h) = st.sessions.iter_mut().find(|h| h.id == id && !h.stopping) else {
            // Stopped, or stopping, while it started: nothing to feed.
            drop(st);
            k.stop();
            return Err(not_found(name));
        };
        let previous = h.kernel.replace(k);
        drop(st);
        if let Some(p) = previous {
            p.stop();
        }
        Ok(())
    }

    /// UPDATE of a system logger's EnableFlags: its sources are replaced by ones for `flags`
    /// (the old ones stop first, handing over what they hold). The kernel logger records
    /// tracelog's default set for 0; another system logger, no kernel events. One change at a
    /// time per session, and none once it is stopping; if the new sources cannot be opened,
    /// the old flags are restored.
    /// Returns the flags it served before (0 for none).
    pub(super) fn set_kernel_flags(&self, name: &str, flags: u32) -> Result<u32> {
        let (id, old, is_kernel, share) = {
            let mut st = self.lock();
            let h = named(&mut st.sessions, name)?;
            // A stopping session is going away, as `update_rest` treats it; a change under way
            // is one to wait for.
            if h.stopping {
                return Err(not_found(name));
            }
            if h.changing {
                return Err(Error::new(
                    ErrorCode::InvalidParameter,
                    format!("session {name} is already changing its EnableFlags; try again once that is done"),
                ));
            }
            h.changing = true;
            (h.id, h.kernel.take(), h.is_kernel, h.share.clone())
        };
        let before = old.as_ref().map(|k| k.flags());
        if let Some(k) = old {
            k.stop();
        }
        let wanted = crate::kernel::KernelFlags::from_bits_retain(flags);
        let result = if wanted.is_empty() && !is_kernel {
            Ok(())
        } else {
            self.open_kernel(id, name, wanted, &share).map_err(|e| {
                let restored = before.map(|f| self.open_kernel(id, name, f, &share));
                match restored {
                    Some(Err(again)) => Error::new(
                        e.code(),
                        format!(
                            "{}; and its former flags could not be restored ({}): it records no kernel events now",
                            e.message(),
                            again.message()
                        ),
                    ),
                    _ => e,
                }
            })
        };
        if let Some(h) = self.lock().by_id(id) {
            h.changing = false;
        }
        self.detached.notify_all();
        result.map(|()| before.map_or(0, |f| f.bits()))
    }
}
