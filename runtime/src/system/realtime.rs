//! Real-time delivery: the daemon hands a REAL_TIME session's buffers to its consumer as they
//! come from producers (within the flush timer, 1 s by default), or keeps a bounded backlog
//! while no consumer is attached, which the next consumer receives first. A buffer that finds
//! the backlog full is lost: it counts in RealTimeBuffersLost and its events in EventsLost, and
//! the consumer learns of it in band before the next buffer it receives.
//!
//! The packets it sends are the real-time stream's format, which consumers read too: [`HEADER`],
//! [`BUFFER`], [`LOST`], [`END`], [`PART`] and [`PIECE`] say it.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::wire::Channel;
use crate::session::Session;

pub use crate::client::realtime::{BUFFER, END, HEADER, LOST, PART, PIECE};

/// How long the end of real-time delivery waits, in all, for a consumer to take what is left.
const END_WAIT: Duration = Duration::from_secs(5);

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
    /// The session's BufferSize.
    buffer_bytes: usize,
    /// The buffer being sent, and how much of it the consumer has: it goes before the backlog,
    /// and starts over for the next consumer if this one leaves.
    in_flight: Option<(Vec<u8>, usize)>,
}

/// How sending the buffer in flight went.
enum Sent {
    /// All of it.
    Whole,
    /// Some or none of it: the socket is full, or there is no consumer.
    Waiting,
    /// Never: a piece does not fit this socket at all.
    Impossible,
}

impl RealTime {
    /// Real-time delivery of buffers of `buffer_bytes`, keeping at most `max_backlog` of them
    /// for a consumer to come.
    pub(crate) fn new(header: Vec<u8>, max_backlog: usize, buffer_bytes: usize) -> RealTime {
        RealTime {
            buffer_bytes,
            in_flight: None,
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
        // Room for a few buffers (or pieces) in flight.
        ch.set_send_buffer(4 * (self.buffer_bytes.min(PIECE) + 64));
        if ch.send_packet(&[&[HEADER], &self.header], false).is_err() {
            return;
        }
        self.consumer = Some((conn, ch));
        self.pump(session, kept_elsewhere);
    }

    /// The consumer's connection closed.
    pub(crate) fn detach(&mut self, conn: u64) {
        if self.is_consumer(conn) {
            self.gone();
        }
    }

    /// A finished buffer for the consumer: sent now if it can take it, else kept in the backlog,
    /// else lost to real-time delivery and counted. `kept_elsewhere`: the session also writes it
    /// to a file or its ring, so its events are not lost to the session (only
    /// RealTimeBuffersLost counts it then).
    pub(crate) fn deliver(&mut self, buf: Vec<u8>, session: &Session, kept_elsewhere: bool) {
        self.pump(session, kept_elsewhere);
        if self.in_flight.is_none() && self.backlog.is_empty() {
            self.in_flight = Some((buf, 0));
            self.pump(session, kept_elsewhere);
            return;
        }
        // The buffer in flight counts towards the backlog's limit.
        if self.backlog.len() + 1 < self.max_backlog {
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

    /// Sends the buffer in flight, then what the backlog holds, while the consumer takes them.
    fn pump(&mut self, session: &Session, kept_elsewhere: bool) {
        self.send_queued(None, session, kept_elsewhere);
    }

    /// Sends the buffer in flight, then the backlog's, until the queue is empty or the consumer
    /// cannot take more (without waiting, or by `deadline`). A buffer no socket can carry is
    /// counted lost.
    fn send_queued(&mut self, deadline: Option<Instant>, session: &Session, kept_elsewhere: bool) {
        loop {
            if self.in_flight.is_none() {
                match self.backlog.pop_front() {
                    Some(b) => self.in_flight = Some((b, 0)),
                    None => return,
                }
            }
            match self.advance(deadline) {
                Sent::Whole => self.in_flight = None,
                Sent::Waiting => return,
                Sent::Impossible => {
                    if let Some((b, _)) = self.in_flight.take() {
                        self.lose(&b, session, kept_elsewhere);
                    }
                }
            }
        }
    }

    /// The loss report packet: buffers and events lost since the consumer last heard.
    fn lost_packet(&self) -> [u8; 17] {
        let mut p = [LOST; 17];
        p[1..9].copy_from_slice(&self.unreported.0.to_le_bytes());
        p[9..17].copy_from_slice(&self.unreported.1.to_le_bytes());
        p
    }

    /// Sends what it can of the buffer in flight (preceded, when it starts, by any loss
    /// report): without waiting, or, given a deadline, waiting for room until then.
    fn advance(&mut self, deadline: Option<Instant>) -> Sent {
        let lost = (self.unreported != (0, 0)).then(|| self.lost_packet());
        let (Some((_, ch)), Some((buf, sent))) = (&self.consumer, &mut self.in_flight) else {
            return Sent::Waiting;
        };
        let send = |parts: &[&[u8]]| match deadline {
            None => ch.send_packet(parts, true),
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(std::io::ErrorKind::WouldBlock.into());
                }
                ch.set_send_timeout(left);
                ch.send_packet(parts, false)
            }
        };
        let mut result = Ok(());
        if let Some(lost) = lost.filter(|_| *sent == 0) {
            result = send(&[&lost]);
            if result.is_ok() {
                self.unreported = (0, 0);
            }
        }
        while result.is_ok() {
            let rest = &buf[*sent..];
            let piece = &rest[..rest.len().min(PIECE)];
            let tag = if piece.len() == rest.len() {
                BUFFER
            } else {
                PART
            };
            result = send(&[&[tag], piece]);
            if result.is_ok() {
                *sent += piece.len();
                if tag == BUFFER {
                    return Sent::Whole;
                }
            }
        }
        match result {
            // Larger than the socket can ever carry: not the consumer's fault.
            Err(e) if e.raw_os_error() == Some(libc::EMSGSIZE) => Sent::Impossible,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Sent::Waiting,
            // Gone (or broken): the next consumer gets the backlog.
            _ => {
                self.gone();
                Sent::Waiting
            }
        }
    }

    /// The consumer left: the buffer in flight starts over for the next one.
    fn gone(&mut self) {
        if let Some((_, ch)) = self.consumer.take() {
            ch.shutdown();
        }
        if let Some((_, sent)) = &mut self.in_flight {
            *sent = 0;
        }
    }

    /// The session stops (or real-time delivery is turned off): the consumer gets what is left
    /// (waiting for it [`END_WAIT`] at most in all), then END. Whatever cannot be delivered is
    /// counted.
    pub(crate) fn end(&mut self, session: &Session, kept_elsewhere: bool) {
        let deadline = Instant::now() + END_WAIT;
        self.send_queued(Some(deadline), session, kept_elsewhere);
        // What the consumer did not take in time (or took nobody): lost, and counted.
        let left: Vec<Vec<u8>> = self
            .in_flight
            .take()
            .map(|(b, _)| b)
            .into_iter()
            .chain(self.backlog.drain(..))
            .collect();
        for b in &left {
            self.lose(b, session, kept_elsewhere);
        }
        if let Some((_, ch)) = self.consumer.take() {
            // The last two packets wait only for what is left of the deadline.
            let left = deadline.saturating_duration_since(Instant::now());
            let late = left.is_zero();
            if !late {
                ch.set_send_timeout(left);
            }
            if self.unreported != (0, 0) {
                let _ = ch.send_packet(&[&self.lost_packet()], late);
            }
            let _ = ch.send_packet(&[&[END]], late);
            // Whatever happened, the consumer then reads the end of the stream.
            ch.shutdown_write();
        }
    }
}
