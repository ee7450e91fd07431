//! System sessions: the daemon that hosts them for the whole machine, the provider side that
//! logs to them from any process, and the controller calls (start, stop, query, ...) by name.
//!
//! The daemon listens on a Unix socket in its runtime directory ([`paths`]); controllers and
//! producers speak [`protocol`] over it ([`wire`]). See [`daemon`] for how events travel.

pub use crate::client::{control, paths, protocol, wire};
pub mod daemon;
mod kernel_share;
pub mod realtime;
