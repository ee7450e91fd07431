//! Where flushed buffers go: log files in every file mode of the seed's table.
//!
//! The flusher owns a [`LogFile`] and hands it whole buffers; the file decides their position
//! (sequential, circular, new file at the size limit, append) and keeps the header buffer up to
//! date. Nothing here runs on the event write path.

mod logfile;

pub(crate) use logfile::{Encoder, FileStats, LogFile, Placed};
