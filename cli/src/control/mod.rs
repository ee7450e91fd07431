//! The controller commands, shaped after tracelog: one module per verb group.

mod boot;
mod daemon;
mod modes;
mod provider;
mod report;
mod session;

pub use boot::{auto_logger, global_logger, AutoLoggerArgs, GlobalLoggerArgs};
pub(crate) use daemon::controller;
pub use daemon::{daemon, DaemonArgs};
pub use provider::{disable, enable, EnableArgs};
pub use session::{
    flush, increment_file, list, query, start, stop, update, NameArgs, StartArgs, UpdateArgs,
};
