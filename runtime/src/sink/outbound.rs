//! The other place finished buffers go: the daemon that hosts a system session. A producer
//! process's share of that session (a proxy session) keeps its buffers in memory shared with the
//! daemon, so shipping a buffer is telling the daemon its index.

use std::io;

/// One finished buffer of a proxy session, stamped and ready for the daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shipped {
    /// Its index in the shared region (buffer `i` starts at `i * BufferSize`).
    pub index: u32,
    /// Bytes used, header included (the header's SavedOffset says the same).
    pub used: u32,
}

/// Receives a proxy session's finished buffers.
pub trait Outbound: Send {
    /// Hands `buffers` over, with the proxy's EventsLost so far. Returns once the receiver has
    /// copied them out of the shared region, so the buffers can be reused; an error means they
    /// were not taken (the receiver is gone).
    fn ship(&mut self, buffers: &[Shipped], events_lost: u64) -> io::Result<()>;

    /// The proxy session has ended: no more buffers; `events_lost` is its final count.
    fn finish(&mut self, events_lost: u64);
}
