//! The real-time stream's packets. After answering `Consume` with `Ok`, the daemon sends binary
//! packets, each one whole message: a tag byte, then the log-file header buffer ([`HEADER`]), a
//! buffer ([`BUFFER`]), a loss report of two little-endian u64 (buffers, events; [`LOST`]), or
//! the end of the session ([`END`]). A buffer larger than [`PIECE`] goes in pieces: [`PART`]
//! packets, then its last piece as [`BUFFER`] (a socket's send buffer, without CAP_NET_ADMIN,
//! may be smaller than BufferSize).

/// Packet tag: the session's log-file header buffer (first packet).
pub const HEADER: u8 = 1;
/// Packet tag: one buffer of events.
pub const BUFFER: u8 = 2;
/// Packet tag: buffers lost before the next one (u64 buffers, u64 events).
pub const LOST: u8 = 3;
/// Packet tag: the session has stopped; nothing follows.
pub const END: u8 = 4;
/// Packet tag: a piece of a buffer, whose following pieces come next (the last as [`BUFFER`]).
pub const PART: u8 = 5;
/// The largest piece of a buffer in one packet: well within any socket's send buffer.
pub const PIECE: usize = 256 * 1024;
