//! The controller calls by session name (ControlTrace with a name, QueryAllTraces), on the
//! sessions of this process.

use std::sync::Arc;

use super::{live, SessionKind, SessionStats, SessionUpdate, Shared};
use crate::error::{Error, ErrorCode, Result};

fn find(name: &str) -> Result<Arc<Shared>> {
    live()
        .iter()
        .find(|s| same_name(&s.core.name, name))
        .cloned()
        .ok_or_else(|| {
            Error::new(
                ErrorCode::InstanceNotFound,
                format!("no session named {name} is running in this process"),
            )
        })
}

/// Session names compare case-insensitively, as ETW's do.
pub(crate) fn same_name(a: &str, b: &str) -> bool {
    a.to_lowercase() == b.to_lowercase()
}

/// `ControlTrace(QUERY)` by name.
pub fn query(name: &str) -> Result<SessionStats> {
    Ok(find(name)?.stats())
}

/// `ControlTrace(FLUSH)` by name.
pub fn flush(name: &str) -> Result<()> {
    find(name)?.flush()
}

/// `ControlTrace(INCREMENT_FILE)` by name.
pub fn increment_file(name: &str) -> Result<()> {
    find(name)?.increment_file()
}

/// `ControlTrace(UPDATE)` by name.
pub fn update(name: &str, update: SessionUpdate) -> Result<()> {
    find(name)?.update(update)
}

/// `ControlTrace(STOP)` by name. The controller's [`Session`](super::Session) handle then reports the same figures.
pub fn stop(name: &str) -> Result<SessionStats> {
    find(name)?.stop()
}

/// `QueryAllTraces`: the system sessions this engine hosts. Like ETW it never lists private
/// sessions; [`list_private`] does.
pub fn list() -> Vec<SessionStats> {
    list_kind(SessionKind::System)
}

/// The private sessions running in this process.
pub fn list_private() -> Vec<SessionStats> {
    list_kind(SessionKind::Private)
}

fn list_kind(kind: SessionKind) -> Vec<SessionStats> {
    live()
        .iter()
        .filter(|s| s.core.kind == kind)
        .map(|s| s.stats())
        .collect()
}
