//! Consuming a live session: attach to a REAL_TIME system session by name and receive its
//! events as producers hand their buffers to the daemon (within the session's flush timer).
//!
//! Buffers from different processes and processors arrive interleaved, so events are held for a
//! short reordering window and delivered oldest first; when the session stops, everything left
//! is delivered in order and the iterator ends. Buffers the daemon could not keep for the
//! consumer arrive in band as [`Item::Loss`] (of buffers, then of events).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use super::diag::Diagnostics;
use super::file::buffer_items;
use super::item::{Item, Loss, LossSource};
use crate::client::control::Controller;
use crate::client::paths;
use crate::client::realtime::{BUFFER, END, HEADER, LOST, PART};
use crate::client::wire::Channel;
use crate::error::{Error, ErrorCode, Result};
use crate::etl::{parse_header_buffer, read, LogfileHeader, LossKind};

/// Largest packet accepted: a 16 MB buffer and its tag.
const MAX_PACKET: usize = 16 * 1024 * 1024 + 16;

/// Events of a live session, oldest first.
pub struct RealTimeReader {
    channel: Channel,
    header: LogfileHeader,
    /// Held events by (time, arrival), until older than the newest by the window.
    held: BTreeMap<(i64, u64), Item>,
    arrivals: u64,
    newest: i64,
    window_ns: i64,
    ended: bool,
    diag: Diagnostics,
    buffers: u64,
    /// The pieces of a buffer so far, sent as PART packets before its last piece.
    partial: Vec<u8>,
}

impl RealTimeReader {
    /// Attaches to session `name` of the daemon in this process's runtime directory.
    pub fn attach(name: &str) -> Result<RealTimeReader> {
        RealTimeReader::attach_in(&paths::runtime_dir(), name)
    }

    /// Attaches to session `name` of the daemon in `dir`.
    pub fn attach_in(dir: &Path, name: &str) -> Result<RealTimeReader> {
        let channel = Controller::connect_in(dir)?.consume(name)?;
        let first = channel
            .recv_packet(MAX_PACKET)
            .map_err(|e| {
                Error::new(
                    ErrorCode::Io,
                    format!("the connection to the daemon failed: {e}"),
                )
            })?
            .filter(|p| p.first() == Some(&HEADER))
            .ok_or_else(|| Error::new(ErrorCode::Io, "the daemon sent no session header"))?;
        let header = parse_header_buffer(&first[1..]).map_err(|e| {
            Error::new(
                ErrorCode::Io,
                format!("the session header does not parse: {e}"),
            )
        })?;
        Ok(RealTimeReader {
            channel,
            header,
            held: BTreeMap::new(),
            arrivals: 0,
            newest: i64::MIN,
            window_ns: 2_000_000_000,
            ended: false,
            diag: Diagnostics::default(),
            buffers: 0,
            partial: Vec::new(),
        })
    }

    /// How long events are held to be put in order (2 s by default; 0 delivers in arrival
    /// order).
    pub fn reorder_window(mut self, window: Duration) -> Self {
        self.window_ns = window.as_nanos().min(i64::MAX as u128) as i64;
        self
    }

    /// The reordering window in the session's clock ticks.
    fn window_ticks(&self) -> i64 {
        let freq = self.header.perf_freq.max(1) as i128;
        (self.window_ns as i128 * freq / 1_000_000_000).min(i64::MAX as i128) as i64
    }

    /// The session's header: its clock, rates, start time, name.
    pub fn header(&self) -> &LogfileHeader {
        &self.header
    }

    /// What could not be decoded, counted.
    pub fn diagnostics(&self) -> &Diagnostics {
        &self.diag
    }

    /// Buffers received so far.
    pub fn buffers_received(&self) -> u64 {
        self.buffers
    }

    fn hold(&mut self, item: Item) {
        // Raw time stamps: one session, one clock, and no rounding to make two of them equal.
        let t = item.timestamp();
        self.newest = self.newest.max(t);
        self.arrivals += 1;
        self.held.insert((t, self.arrivals), item);
    }

    /// Receives one packet and holds what it carries.
    fn receive(&mut self) {
        let packet = match self.channel.recv_packet(MAX_PACKET) {
            Ok(Some(p)) if !p.is_empty() => p,
            Ok(_) | Err(_) => {
                // The daemon went away: deliver what is held.
                if !self.partial.is_empty() {
                    self.partial.clear();
                    self.diag.add(
                        0,
                        0,
                        "cut buffer",
                        "the stream ended part-way through a buffer",
                    );
                }
                self.ended = true;
                return;
            }
        };
        if packet[0] != PART && packet[0] != BUFFER && !self.partial.is_empty() {
            // A buffer whose last piece never came (the session stopped waiting for us).
            self.partial.clear();
            self.diag.add(
                0,
                0,
                "cut buffer",
                "the daemon stopped sending a buffer part-way",
            );
        }
        match packet[0] {
            PART => self.partial.extend_from_slice(&packet[1..]),
            BUFFER => {
                self.buffers += 1;
                // The buffer: this packet's bytes after its tag, after any pieces before it.
                let whole;
                let bytes: &[u8] = if self.partial.is_empty() {
                    &packet[1..]
                } else {
                    let mut w = std::mem::take(&mut self.partial);
                    w.extend_from_slice(&packet[1..]);
                    whole = w;
                    &whole
                };
                match read::parse_buffer(bytes, 0) {
                    Ok(pb) => {
                        for p in &pb.problems {
                            self.diag.add(0, p.offset, p.kind.name(), p.reason.clone());
                        }
                        let items = buffer_items(&self.header, 0, &pb, &mut self.diag, None);
                        for it in items {
                            self.hold(it);
                        }
                    }
                    Err(p) => self.diag.add(0, p.offset, p.kind.name(), p.reason),
                }
            }
            LOST if packet.len() >= 17 => {
                let buffers = u64::from_le_bytes(packet[1..9].try_into().unwrap_or_default());
                let events = u64::from_le_bytes(packet[9..17].try_into().unwrap_or_default());
                let at = self.newest.max(0);
                let time = self.header.to_unix_nanos(at);
                for (kind, count) in [(LossKind::Buffers, buffers), (LossKind::Events, events)] {
                    self.hold(Item::Loss(Loss {
                        file: 0,
                        cpu: 0,
                        kind,
                        count: Some(count),
                        timestamp: at,
                        time,
                        source: LossSource::Record,
                    }));
                }
            }
            END => self.ended = true,
            other => self
                .diag
                .add(0, 0, "unknown packet", format!("tag {other}")),
        }
    }
}

impl Iterator for RealTimeReader {
    type Item = Item;

    /// The next event in time order; blocks until one is old enough to be sure of its place (or
    /// the session ends). `None` once the session has stopped and everything was delivered.
    fn next(&mut self) -> Option<Item> {
        loop {
            if let Some((&(t, _), _)) = self.held.first_key_value() {
                if self.ended || t <= self.newest.saturating_sub(self.window_ticks()) {
                    return self.held.pop_first().map(|(_, it)| it);
                }
            }
            if self.ended {
                return None;
            }
            self.receive();
        }
    }
}

impl std::fmt::Debug for RealTimeReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RealTimeReader")
            .field("logger", &self.header.logger_name)
            .field("held", &self.held.len())
            .finish()
    }
}
