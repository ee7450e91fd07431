//! evtrace: Event Tracing for Windows' model for Rust on Linux.
//!
//! This is the one crate an application adds. It re-exports the engine's public API (providers,
//! sessions, consumers, the ETL format) and the macros.

pub use evtrace_runtime::{clock, consume, etl, provider, session, Error, ErrorCode, Guid, Result};
