//! The evtrace engine: Event Tracing for Windows' model on Linux.
//!
//! - [`provider`]: registration, enable state, the event write entry points.
//! - [`session`]: session properties and modes, buffers, the flusher.
//! - [`etl`]: the `.etl` file format, pure (no I/O policy).
//! - [`consume`]: reading log files back, merged by time and decoded.

pub mod etl;
mod guid;

pub use guid::{Guid, ParseGuidError};
