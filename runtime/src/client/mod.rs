//! The daemon's clients' side, below both the daemon and the consumers: where the daemon
//! listens ([`paths`]), the socket's framing ([`wire`]), the messages ([`protocol`]), the
//! real-time stream's packets ([`realtime`]) and the controller calls by session name
//! ([`control`]). The daemon ([`crate::system`]) and the real-time consumer
//! ([`crate::consume`]) both build on it; it knows nothing of either.

pub mod control;
pub mod paths;
pub mod protocol;
pub mod realtime;
pub mod wire;
