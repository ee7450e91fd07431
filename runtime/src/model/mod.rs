//! The vocabulary every layer speaks, below all of them: a session's properties and logging
//! modes ([`properties`]), the kernel logger's flags ([`KernelFlags`]) and what a session asks of
//! a provider ([`filter`]) and of which processes and events ([`scope`]). It depends on nothing of the engine but the clock's and the error's
//! types, so that the file writer, the kernel logger and the daemon can share these types without
//! importing the layers that use them.

pub mod filter;
mod kernel_flags;
pub mod properties;
pub mod scope;

pub use filter::{EnableInfo, EnableSettings};
pub use kernel_flags::KernelFlags;
pub use properties::{LogFileMode, Resolved, SessionKind, SessionProperties};
pub use scope::{EnableFilter, EventIdFilter};
