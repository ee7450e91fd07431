//! The evtrace engine: Event Tracing for Windows' model on Linux.
//!
//! - [`model`]: the vocabulary every layer shares: session properties and modes, kernel flags,
//!   enable settings.
//! - [`provider`]: registration, enable state, the event write entry points.
//! - [`session`]: buffers, the flusher, the controller operations.
//! - [`etl`]: the `.etl` file format, pure (no I/O policy).
//! - [`consume`]: reading log files back, merged by time and decoded.
#![warn(missing_docs)]

pub mod activity;
pub mod boot;
mod client;
pub mod clock;
pub mod consume;
mod error;
pub mod etl;
pub mod kernel;
mod link;
pub mod model;
pub mod number;
pub mod provider;
pub mod session;
mod sink;
pub mod system;

pub use error::{Error, ErrorCode, Result};
pub use evtrace_schema::{Guid, ParseGuidError};
