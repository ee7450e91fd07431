//! Where flushed buffers go: log files in every file mode of the seed's table, or, for a
//! producer's share of a system session, the daemon that hosts it.
//!
//! The flusher owns a [`LogFile`] and hands it whole buffers; the file decides their position
//! (sequential, circular, new file at the size limit, append) and keeps the header buffer up to
//! date. A proxy session's flusher hands its buffers to an [`Outbound`] instead. Nothing here
//! runs on the event write path.

mod logfile;
mod outbound;

pub(crate) use logfile::{Encoder, FileStats, LogFile, Placed};
pub use outbound::{Outbound, Shipped};
