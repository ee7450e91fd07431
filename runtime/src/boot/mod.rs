//! Sessions the daemon starts by itself when it starts (the "boot"): the Global Logger, configured
//! by persistent entries in a configuration directory that stands for ETW's registry key
//! `HKLM\SYSTEM\CurrentControlSet\Control\WMI\GlobalLogger`.
//!
//! The directory is `EVTRACE_CONFIG_DIR` if set, else `/etc/evtrace` for root, else
//! `$XDG_CONFIG_HOME/evtrace` (or `~/.config/evtrace`). The Global Logger's entries are the lines
//! `Name = value` of the file `GlobalLogger` there (numbers in decimal or `0x` hex; `#` starts a
//! comment). AutoLogger sessions are the files of the folder `AutoLogger` there, each named as
//! its session, with the same entries. The daemon writes `Status` (and `FileCounter`) back after
//! each start.

mod entries;
mod global_logger;

use std::path::PathBuf;

pub use entries::Entries;
pub use global_logger::{BootKind, GlobalLoggerConfig, AUTOLOGGER_MAX_FILES, GLOBAL_LOGGER_NAME};

/// The configuration directory this process uses.
pub fn config_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("EVTRACE_CONFIG_DIR") {
        return PathBuf::from(d);
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return PathBuf::from("/etc/evtrace");
    }
    match std::env::var_os("XDG_CONFIG_HOME") {
        Some(x) => PathBuf::from(x).join("evtrace"),
        None => PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
            .join(".config")
            .join("evtrace"),
    }
}

/// The folder of AutoLogger sessions in `dir`: one entries file per session, named as it.
pub fn autologger_dir(dir: &std::path::Path) -> PathBuf {
    dir.join("AutoLogger")
}

/// The Global Logger's entries file in `dir`.
pub fn global_logger_file(dir: &std::path::Path) -> PathBuf {
    dir.join("GlobalLogger")
}
