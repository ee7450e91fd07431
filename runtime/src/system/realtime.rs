//! Real-time delivery: the daemon hands a REAL_TIME session's buffers to its consumer as they
//! come from producers (within the flush timer, 1 s by default), or keeps a bounded backlog
//! while no consumer is attached, which the next consumer receives first. A buffer that finds
//! the backlog full is lost: it counts in RealTimeBuffersLost and its events in EventsLost, and
//! the consumer learns of it in band before the next buffer it receives.
//!
//! After answering `Consume` with `Ok`, the daemon sends binary packets, each one whole message:
//! a tag byte, then the log-file header buffer ([`HEADER`]), a buffer ([`BUFFER`]), a loss report
//! of two little-endian u64 (buffers, events; [`LOST`]), or the end of the session ([`END`]).

use std::collections::VecDeque;

use super::wire::Channel;
use crate::session::Session;

/// Packet tag: the session's log-file header buffer (first packet).
pub const HEADER: u8 = 1;
/// Packet tag: one buffer of events.
pub const BUFFER: u8 = 2;
/// Packet tag: buffers lost before the next one (u64 buffers, u64 events).
pub const LOST: u8 = 3;
/// Packet tag: the session has stopped; nothing follows.
pub const END: u8 = 4;

/// A session's real-time side in the daemon.
pub(crate) struct RealTime {
    /// The consumer's connection id and channel, while one is attached.
    consumer: Option<(u64, Channel)>,
    backlog: VecDeque<Vec<u8>>,
    max_backlog: usize,
    /// Lost since the consumer last heard: (buffers, events).
    unreported: (u64, u64),
    /// RealTimeBuffersLost.
    pub(crate) buffers_lost: u64,
    header: Vec<u8>,
    /// The session's BufferSize: the socket must take packets this large.
    buffer_bytes: usize,
    /// A buffer did not fit the consumer's socket at all.
    too_large: bool,
}

impl RealTime {
    /// Real-time delivery of buffers of `buffer_bytes`, keeping at most `max_backlog` of them
    /// for a consumer to come.
    pub(crate) fn new(header: Vec<u8>, max_backlog: usize, buffer_bytes: usize) -> RealTime {
        RealTime {
            buffer_bytes,
            too_large: false,
            consumer: None,
            backlog: VecDeque::new(),
            max_backlog: max_backlog.max(1),
            unreported: (0, 0),
            buffers_lost: 0,
            header,
        }
    }

    /// Whether connection `conn` is the consumer.
    pub(crate) fn is_consumer(&self, conn: u64) -> bool {
        self.consumer.as_ref().is_some_and(|(c, _)| *c == conn)
    }

    /// Whether a consumer is attached.
    pub(crate) fn has_consumer(&self) -> bool {
        self.consumer.is_some()
    }

    /// Attaches a consumer: it receives the header, then the backlog.
    pub(crate) fn attach(
        &mut self,
        conn: u64,
        ch: Channel,
        session: &Session,
        kept_elsewhere: bool,
    ) {
        // Room for a few whole buffers: a packet is never split, and one larger than the send
        // buffer cannot be sent at all.
        ch.set_send_buffer(4 * (self.buffer_bytes + 64));
        // Only `end` waits for the consumer, and not forever.
        ch.set_send_timeout(std::time::Duration::from_secs(5));
        if ch.send_packet(&[&[HEADER], &self.header], false).is_err() {
            return;
        }
        self.consumer = Some((conn, ch));
        self.pump(session, kept_elsewhere);
    }

    /// The consumer's connection closed.
    pub(crate) fn detach(&mut self, conn: u64) {
        if self.is_consumer(conn) {
            self.consumer = None;
        }
    }

    /// A finished buffer for the consumer: sent now if it can take it, else kept in the backlog,
    /// else lost to real-time delivery and counted. `kept_elsewhere`: the session also writes it
    /// to a file or its ring, so its events are not lost to the session (only
    /// RealTimeBuffersLost counts it then).
    pub(crate) fn deliver(&mut self, buf: Vec<u8>, session: &Session, kept_elsewhere: bool) {
        self.pump(session, kept_elsewhere);
        if self.backlog.is_empty() && self.send(&buf) {
            return;
        }
        if std::mem::take(&mut self.too_large) {
            self.lose(&buf, session, kept_elsewhere);
            return;
        }
        if self.backlog.len() < self.max_backlog {
            self.backlog.push_back(buf);
            return;
        }
        self.lose(&buf, session, kept_elsewhere);
    }

    /// Counts `buf` as not delivered: RealTimeBuffersLost, its events in the consumer's next
    /// loss report and (unless kept elsewhere) in EventsLost.
    fn lose(&mut self, buf: &[u8], session: &Session, kept_elsewhere: bool) {
        let events = crate::etl::buffer_events(buf);
        self.buffers_lost += 1;
        self.unreported.0 += 1;
        self.unreported.1 += events;
        if !kept_elsewhere {
            session.add_events_lost(events);
        }
    }

    /// Sends what the backlog holds while the consumer takes it.
    fn pump(&mut self, session: &Session, kept_elsewhere: bool) {
        while let Some(b) = self.backlog.pop_front() {
            if self.send(&b) {
                continue;
            }
            if std::mem::take(&mut self.too_large) {
                self.lose(&b, session, kept_elsewhere);
                continue;
            }
            self.backlog.push_front(b);
            return;
        }
    }

    /// Sends one buffer (after any loss report) without waiting; false if not sent.
    fn send(&mut self, buf: &[u8]) -> bool {
        let Some((_, ch)) = &self.consumer else {
            return false;
        };
        if self.unreported != (0, 0) {
            let (b, e) = self.unreported;
            match ch.send_packet(&[&[LOST], &b.to_le_bytes(), &e.to_le_bytes()], true) {
                Ok(()) => self.unreported = (0, 0),
                Err(e) => return self.failed(e),
            }
        }
        match ch.send_packet(&[&[BUFFER], buf], true) {
            Ok(()) => true,
            // Larger than the socket can ever carry (its send buffer could not be raised that
            // far): not the consumer's fault; the caller counts the buffer lost.
            Err(e) if e.raw_os_error() == Some(libc::EMSGSIZE) => {
                self.too_large = true;
                false
            }
            Err(e) => self.failed(e),
        }
    }

    fn failed(&mut self, e: std::io::Error) -> bool {
        if e.kind() != std::io::ErrorKind::WouldBlock {
            // Gone (or broken): the next consumer gets the backlog.
            if let Some((_, ch)) = self.consumer.take() {
                ch.shutdown();
            }
        }
        false
    }

    /// The session stops (or real-time delivery is turned off): the consumer gets what is left
    /// (waiting for it, a little), then END. Whatever cannot be delivered is counted.
    pub(crate) fn end(&mut self, session: &Session, kept_elsewhere: bool) {
        let Some((_, ch)) = self.consumer.take() else {
            // Nobody came for the backlog.
            while let Some(b) = self.backlog.pop_front() {
                self.lose(&b, session, kept_elsewhere);
            }
            return;
        };
        if self.unreported != (0, 0) {
            let (b, e) = self.unreported;
            let _ = ch.send_packet(&[&[LOST], &b.to_le_bytes(), &e.to_le_bytes()], false);
        }
        while let Some(b) = self.backlog.pop_front() {
            if ch.send_packet(&[&[BUFFER], &b], false).is_err() {
                // The consumer stopped reading: what it did not get is lost, and counted.
                self.lose(&b, session, kept_elsewhere);
                while let Some(rest) = self.backlog.pop_front() {
                    self.lose(&rest, session, kept_elsewhere);
                }
                break;
            }
        }
        let _ = ch.send_packet(&[&[END]], false);
        // Whatever happened, the consumer then reads the end of the stream.
        ch.shutdown_write();
    }
}
