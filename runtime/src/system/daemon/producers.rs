//! Producer processes: their outboxes, their shares of sessions (memfds of buffers), the enables
//! handed to them, and the finished buffers copied out of their shares into the sessions.

use std::os::fd::{AsFd, OwnedFd};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::MutexGuard;

use super::table::{named, Hosted, State};
use super::Shared;
use crate::client::protocol::{Reply, WireEnable, WireProps, ANY_PROVIDER};
use crate::client::wire::Channel;
use crate::error::{Error, ErrorCode, Result};
use crate::provider::MAX_SESSIONS_PER_PROVIDER;
use crate::session::region::Region;
use crate::session::same_name;
use crate::Guid;

/// The key of an enable of every provider (`ANY_PROVIDER` on the wire): no provider has the
/// nil GUID.
const ANY: Guid = Guid::from_bytes([0; 16]);

/// A producer's share of one session as the daemon holds it: the memfd's mapping here, its
/// buffer size, and the last EventsLost figure the producer reported.
pub(super) struct Share {
    region: Region,
    buffer_bytes: usize,
    events_lost: u64,
}

/// Messages to one producer, sent in order by a thread of its own: the daemon never waits for a
/// producer while it holds its state. A producer that lets 256 messages pile up unread is cut
/// off (its connection shut down, its shares ended as if it had died).
pub(super) struct Outbox {
    queue: SyncSender<(Reply, Option<OwnedFd>)>,
    channel: Channel,
}

impl Outbox {
    pub(super) fn start(channel: Channel, conn: u64) -> std::io::Result<Outbox> {
        let (queue, pending) = sync_channel::<(Reply, Option<OwnedFd>)>(256);
        let writer = channel.try_clone()?;
        std::thread::Builder::new()
            .name(format!("evtrace-out-{conn}"))
            .spawn(move || {
                for (msg, fd) in pending {
                    if writer.send(&msg, fd.as_ref().map(|f| f.as_fd())).is_err() {
                        writer.shutdown();
                        return;
                    }
                }
            })?;
        Ok(Outbox { queue, channel })
    }

    /// Queues `msg` (with `fd` attached); false if it cannot reach the producer.
    pub(super) fn send(&self, msg: Reply, fd: Option<OwnedFd>) -> bool {
        match self.queue.try_send((msg, fd)) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                self.channel.shutdown();
                false
            }
            Err(TrySendError::Disconnected(_)) => false,
        }
    }
}

/// What became of a producer's `Ready`.
pub(super) enum Taken {
    /// Its buffers are copied out.
    Yes,
    /// The session, or the producer's share of it, is gone (a stop that did not wait for it).
    No,
    /// It named buffers outside its share (said why): a broken or hostile producer.
    Outside(String),
}

/// A connected producer process.
pub(super) struct Producer {
    pub(super) outbox: Outbox,
    pub(super) pid: u32,
    /// Its user, from the socket's credentials (SO_PEERCRED), not from what it says.
    pub(super) uid: u32,
    pub(super) providers: Vec<Guid>,
}

impl Shared {
    /// EnableTrace for a system session: stored with the session, applied to every producer
    /// that has the provider now or registers it later.
    pub(super) fn enable(
        &self,
        name: &str,
        guid: &str,
        settings: Option<WireEnable>,
    ) -> Result<Reply> {
        let g: Guid = if guid == ANY_PROVIDER {
            ANY
        } else {
            guid.parse().map_err(|_| {
                Error::invalid(format!(
                    "{guid:?} is not a provider GUID: write it as xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx, or {:?} for every provider",
                    ANY_PROVIDER
                ))
            })?
        };
        if let Some(s) = &settings {
            s.filter.check()?;
        }
        let mut st = self.lock();
        let st = &mut *st;
        let enabled_elsewhere = st
            .sessions
            .iter()
            .filter(|h| !same_name(h.session.name(), name))
            .filter(|h| h.enables.iter().any(|(e, _)| *e == g))
            .count();
        let h = named(&mut st.sessions, name)?;
        if h.is_kernel {
            return Err(Error::invalid(format!(
                "session {name} is the kernel logger: its events are chosen by its enable flags (`evtrace start \"{}\" --kernel-flags ...`), not by enabling providers",
                crate::kernel::KERNEL_LOGGER_NAME
            )));
        }
        match settings {
            Some(s) => {
                let already = h.enables.iter().any(|(e, _)| *e == g);
                if !already && enabled_elsewhere >= MAX_SESSIONS_PER_PROVIDER {
                    return Err(Error::new(
                        ErrorCode::NoSystemResources,
                        format!("provider {g} is already enabled by {MAX_SESSIONS_PER_PROVIDER} sessions, the most one provider can have"),
                    ));
                }
                h.enables.retain(|(e, _)| *e != g);
                h.enables.push((g, s.clone()));
                for (&conn, p) in st.producers.iter() {
                    for &pg in p.providers.iter().filter(|&&pg| g == ANY || pg == g) {
                        apply(h, conn, p, pg, Some(s.clone()));
                    }
                }
            }
            None => {
                h.enables.retain(|(e, _)| *e != g);
                for (&conn, p) in st.producers.iter() {
                    if !h.shares.contains_key(&conn) {
                        continue;
                    }
                    // Every provider goes but those the session names itself.
                    let gone = p.providers.iter().filter(|&&pg| {
                        pg == g || (g == ANY && !h.enables.iter().any(|(e, _)| *e == pg))
                    });
                    for &pg in gone {
                        tell_disable(p, h.id, pg);
                    }
                }
            }
        }
        Ok(Reply::Ok)
    }

    /// A producer registered provider `g`: every session that wants it is applied.
    pub(super) fn register(&self, conn: u64, g: Guid) {
        let mut st = self.lock();
        let st = &mut *st;
        let Some(p) = st.producers.get_mut(&conn) else {
            return;
        };
        if p.providers.contains(&g) {
            // Said before: nothing new to apply (and nothing to re-send).
            return;
        }
        p.providers.push(g);
        let p = &st.producers[&conn];
        for h in st.sessions.iter_mut() {
            let wanted = h.enables.iter().find(|(e, _)| *e == g);
            if let Some((_, s)) = wanted.or_else(|| h.enables.iter().find(|(e, _)| *e == ANY)) {
                apply(h, conn, p, g, Some(s.clone()));
            }
        }
    }

    /// Copies finished buffers out of a producer's share and writes them to the session.
    /// Nothing is taken if the session or the share is gone, or if any buffer named lies
    /// outside the share.
    pub(super) fn take_buffers(
        &self,
        conn: u64,
        session: u64,
        buffers: &[(u32, u32)],
        events_lost: u64,
    ) -> Taken {
        let mut st = self.lock();
        let Some(h) = st.by_id(session) else {
            return Taken::No;
        };
        let Some(share) = h.shares.get_mut(&conn) else {
            return Taken::No;
        };
        let count = share.region.len() / share.buffer_bytes.max(1);
        if let Some(&(index, _)) = buffers.iter().find(|(i, _)| *i as usize >= count) {
            return Taken::Outside(format!(
                "it named buffer {index} of its share of session {}, which has buffers 0 to {}",
                h.session.name(),
                count.saturating_sub(1)
            ));
        }
        let delta = events_lost.saturating_sub(share.events_lost);
        share.events_lost = share.events_lost.max(events_lost);
        let mut copies = Vec::with_capacity(buffers.len());
        let mut missing = 0;
        for &(index, used) in buffers {
            let used = (used as usize).min(share.buffer_bytes);
            match share
                .region
                .copy_buffer(index as usize, share.buffer_bytes, used)
            {
                Some(b) => {
                    copies.push(b);
                    // Taken buffers are left zeroed: whatever a dead producer leaves in its
                    // share is then exactly what it had not handed over (see `gone`).
                    share.region.zero(index as usize * share.buffer_bytes, used);
                }
                // A buffer the producer names outside its share: lost, its events unknown.
                None => missing += 1,
            }
        }
        if self.hand_over(st, session, copies, delta, missing) {
            Taken::Yes
        } else {
            Taken::No
        }
    }

    /// Puts buffers taken from a share into session `session` (id): to the real-time consumer
    /// now, to the file or ring outside the daemon's lock; `lost` adds to its EventsLost, and
    /// `missing` buffers that could not be copied out of the share count as lost buffers.
    /// Returns false if the session is gone.
    pub(super) fn hand_over(
        &self,
        mut st: MutexGuard<'_, State>,
        session: u64,
        copies: Vec<Vec<u8>>,
        lost: u64,
        missing: u64,
    ) -> bool {
        let Some(h) = st.by_id(session) else {
            return false;
        };
        if lost > 0 {
            h.session.add_events_lost(lost);
        }
        for _ in 0..missing {
            // Their events are unknown.
            h.session.add_lost_buffer(0);
        }
        let kept = h.kept();
        if let Some(rt) = h.rt.as_mut() {
            // Never waits: a consumer that cannot take a buffer now gets it from the backlog.
            for b in &copies {
                rt.deliver(b.clone(), &h.session, kept);
            }
        }
        let engine = h.session.clone();
        drop(st);
        // Outside the daemon's lock: the engine's queue may wait for a slow disk, and other
        // producers and controllers need not wait with it.
        if kept {
            for b in copies {
                let events = crate::etl::buffer_events(&b);
                if engine.submit_buffer(b).is_err() {
                    // The session stopped itself (full disk, failed write): counted, not dropped
                    // silently.
                    engine.add_lost_buffer(events);
                }
            }
        }
        true
    }

    pub(super) fn flushed(&self, conn: u64, session: u64) {
        let mut st = self.lock();
        if let Some(h) = st.by_id(session) {
            h.flushing.retain(|c| *c != conn);
        }
        drop(st);
        self.detached.notify_all();
    }

    pub(super) fn finished(&self, conn: u64, session: u64, events_lost: u64) {
        let mut st = self.lock();
        if let Some(h) = st.by_id(session) {
            if let Some(share) = h.shares.remove(&conn) {
                let delta = events_lost.saturating_sub(share.events_lost);
                if delta > 0 {
                    h.session.add_events_lost(delta);
                }
            }
        }
        drop(st);
        self.detached.notify_all();
    }

    /// A connection closed. For a producer: its shares end. If it died without handing over
    /// its last buffers (killed, even mid-write), the events left in its share are counted in
    /// the session's EventsLost; the session and its file go on.
    pub(super) fn gone(&self, conn: u64) {
        let mut st = self.lock();
        for h in st.sessions.iter_mut() {
            if let Some(rt) = h.rt.as_mut() {
                rt.detach(conn);
            }
        }
        if st.producers.remove(&conn).is_some() {
            for h in st.sessions.iter_mut() {
                if let Some(share) = h.shares.remove(&conn) {
                    let left = unshipped_events(&share);
                    if left > 0 {
                        h.session.add_events_lost(left);
                    }
                }
            }
        }
        drop(st);
        self.detached.notify_all();
    }
}

/// Tells producer `p` that session `id` no longer wants provider `g`.
fn tell_disable(p: &Producer, id: u64, g: Guid) {
    let guid = g.to_string();
    let _ = p.outbox.send(Reply::Disable { session: id, guid }, None);
}

/// Gives producer `p` its share of `h` if it has none yet, then the provider's settings.
fn apply(h: &mut Hosted, conn: u64, p: &Producer, g: Guid, s: Option<WireEnable>) {
    if let Some(s) = &s {
        // A process the filter does not take gets no share and no enable: its events stay
        // disabled at one relaxed load. One it had before is told to stop.
        if s.filter.filters_processes() && !s.filter.takes_process(p.pid) {
            if h.shares.contains_key(&conn) {
                tell_disable(p, h.id, g);
            }
            return;
        }
    }
    if let Some(allowed) = &h.secure {
        if p.uid != 0 && !allowed.contains(&p.uid) {
            if !h.shares.contains_key(&conn) {
                h.refused += 1;
                eprintln!(
                    "evtrace daemon: process {} (uid {}) may not log to secure session {}",
                    p.pid,
                    p.uid,
                    h.session.name()
                );
            }
            return;
        }
    }
    if !h.shares.contains_key(&conn) {
        let buffer_bytes = h.share.buffer_size_kb as usize * 1024;
        let len = h.share.maximum_buffers as usize * buffer_bytes;
        let made = Region::create(&format!("evtrace-{}-{}", h.id, p.pid), len);
        let (region, fd) = match made {
            Ok(x) => x,
            Err(e) => {
                eprintln!(
                    "evtrace daemon: no shared buffers for process {} in session {}: {e}",
                    p.pid,
                    h.session.name()
                );
                return;
            }
        };
        let attach = Reply::Attach {
            session: h.id,
            props: WireProps::from(&h.share),
            sequence_index: h.sequence_index,
        };
        if !p.outbox.send(attach, Some(fd)) {
            return;
        }
        h.shares.insert(
            conn,
            Share {
                region,
                buffer_bytes,
                events_lost: 0,
            },
        );
    }
    if let Some(settings) = s {
        let _ = p.outbox.send(
            Reply::Enable {
                session: h.id,
                guid: g.to_string(),
                settings,
                // The Global Logger sends providers no enable notification.
                notify: !same_name(h.session.name(), crate::boot::GLOBAL_LOGGER_NAME),
            },
            None,
        );
    }
}

/// Events in a share's buffers that were never handed over: taken buffers are zeroed, so every
/// record still there is one (a record cut short by a kill counts too).
fn unshipped_events(share: &Share) -> u64 {
    let n = share.region.len() / share.buffer_bytes.max(1);
    (0..n)
        .filter_map(|i| {
            share
                .region
                .copy_out(i * share.buffer_bytes, share.buffer_bytes)
        })
        .map(|b| crate::etl::count_records(&b, b.len()))
        .sum()
}
