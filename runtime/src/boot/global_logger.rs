//! Boot sessions' entries (the seed's Global Logger table) turned into a session, with their
//! defaults: the Global Logger, and AutoLogger sessions, which follow the same table with their
//! own rules.

use std::path::{Path, PathBuf};

use super::Entries;
use crate::clock::ClockType;
use crate::error::{Error, Result};
use crate::session::{LogFileMode, SessionProperties};

/// The Global Logger's reserved session name.
pub const GLOBAL_LOGGER_NAME: &str = "GlobalLogger";

/// The entries the Global Logger knows (the seed's table), plus `Provider`.
const KNOWN: &[&str] = &[
    "Start",
    "BufferSize",
    "ClockType",
    "EnableKernelFlags",
    "FileCounter",
    "FileMax",
    "FileName",
    "FlushTimer",
    "LogFileMode",
    "MaximumBuffers",
    "MaximumFileSize",
    "MinimumBuffers",
    "Status",
    "Provider",
];

/// Which boot session the entries describe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootKind {
    /// The Global Logger: file only (no real-time, no buffering); FileMax any.
    Global,
    /// An AutoLogger session: NEWFILE refused, FileMax at most 16.
    Auto,
}

/// The most files an AutoLogger session keeps.
pub const AUTOLOGGER_MAX_FILES: u32 = 16;

/// What a boot does with a boot session's entries.
#[derive(Debug, Clone)]
pub struct GlobalLoggerConfig {
    /// The session to start.
    pub props: SessionProperties,
    /// Providers to enable, `NAME-OR-GUID[:LEVEL[:ANY[:ALL]]]`.
    pub providers: Vec<String>,
    /// The FileCounter to write back (0 when FileMax is 0).
    pub file_counter: u32,
}

fn number(e: &Entries, name: &str, default: u32) -> Result<u32> {
    let Some(v) = e.get(name) else {
        return Ok(default);
    };
    crate::number::parse_u32(v).ok_or_else(|| {
        Error::invalid(format!(
            "{name} = {v:?} is not a number (a REG_DWORD: decimal, or hex with 0x)"
        ))
    })
}

impl GlobalLoggerConfig {
    /// Whether the daemon would start the boot session these entries describe: its entries'
    /// rules and the session's (sizes, mode combinations), with the reason when not. What
    /// `evtrace globallogger create` checks before it writes, so a mistake is reported then and
    /// not only as a Status at the next boot.
    pub fn check(name: &str, kind: BootKind, e: &Entries, config_dir: &Path) -> Result<()> {
        if let Some(c) = Self::boot_session(name, kind, e, config_dir)? {
            // The daemon's rules for the logger it would be.
            let (kernel, system) = crate::kernel::logger_kind(&c.props, kind == BootKind::Global);
            if system {
                crate::kernel::logger_rules(&c.props, kernel)?;
            }
            crate::session::properties::validate(
                c.props,
                crate::session::SessionKind::System,
                crate::session::processor_count(),
            )?;
        }
        Ok(())
    }

    /// The boot session `name` of `kind` that entries `e` describe: `None` when they do not ask
    /// for one (no `Start`, or `Start = 0`), else the session or why the entries are invalid.
    /// `config_dir` gives the default log file's place.
    pub fn boot_session(
        name: &str,
        kind: BootKind,
        e: &Entries,
        config_dir: &Path,
    ) -> Result<Option<GlobalLoggerConfig>> {
        if e.is_empty() {
            return Ok(None);
        }
        let whose = match kind {
            BootKind::Global => "Global Logger".to_string(),
            BootKind::Auto => format!("AutoLogger session {name}"),
        };
        for (k, _) in e.iter() {
            if !KNOWN.iter().any(|n| n.eq_ignore_ascii_case(k)) {
                return Err(Error::invalid(format!(
                    "unknown {whose} entry {k:?}; the entries are {}",
                    KNOWN.join(", ")
                )));
            }
        }
        if e.get("Start").is_none() {
            return Err(Error::invalid(format!(
                "the {whose}'s entries lack Start, the one entry required (1 = on, 0 = off)"
            )));
        }
        match number(e, "Start", 0)? {
            0 => return Ok(None),
            1 => {}
            n => {
                return Err(Error::invalid(format!(
                    "Start = {n}: it must be 0 (off) or 1 (on)"
                )))
            }
        }
        let kernel_flags = match e.get("EnableKernelFlags") {
            None => 0,
            Some(_) if kind == BootKind::Auto => {
                return Err(Error::invalid(
                    "EnableKernelFlags: only the Global Logger can be turned into the kernel logger; AutoLogger sessions enable providers",
                ))
            }
            Some(v) => {
                let flags = crate::kernel::KernelFlags::parse(v)
                    .and_then(|f| {
                        if f.is_empty() {
                            Err(Error::invalid("no flag is set"))
                        } else {
                            f.checked()
                        }
                    })
                    .map_err(|err| {
                        Error::new(err.code(), format!("EnableKernelFlags = {v}: {}", err.message()))
                    })?;
                if e.all("Provider").next().is_some() {
                    return Err(Error::invalid(
                        "EnableKernelFlags makes the Global Logger the kernel logger, whose events are chosen by its flags: remove the Provider entries",
                    ));
                }
                flags.bits()
            }
        };
        let mode = LogFileMode::from_bits_retain(number(e, "LogFileMode", 0)?);
        if kind == BootKind::Auto && mode.contains(LogFileMode::NEWFILE) {
            return Err(Error::invalid(
                "LogFileMode includes EVENT_TRACE_FILE_MODE_NEWFILE, which AutoLogger sessions do not support: use FileMax to keep several files",
            ));
        }
        for (flag, why) in [
            (LogFileMode::REAL_TIME, "real-time"),
            (LogFileMode::BUFFERING, "buffered"),
        ] {
            if kind == BootKind::Global && mode.contains(flag) {
                return Err(Error::invalid(format!(
                    "LogFileMode includes {}: the Global Logger always writes a log file and supports no {why} sessions",
                    flag.flag_name()
                )));
            }
        }
        let clock = number(e, "ClockType", 1)?;
        let clock = ClockType::from_number_checked(clock)
            .map_err(|why| Error::invalid(format!("ClockType = {clock}: {why}")))?;
        let file_max = number(e, "FileMax", 0)?;
        if kind == BootKind::Auto && file_max > AUTOLOGGER_MAX_FILES {
            return Err(Error::invalid(format!(
                "FileMax = {file_max}: an AutoLogger session keeps at most {AUTOLOGGER_MAX_FILES} files"
            )));
        }
        let counter = number(e, "FileCounter", 0)?;
        // FileCounter counts the files made, up to FileMax, then starts over (overwriting the
        // oldest): each boot writes the next one.
        let file_counter = if file_max == 0 {
            0
        } else if counter >= file_max {
            1
        } else {
            counter + 1
        };
        // Each boot session's own file unless told otherwise: two defaults never collide.
        let base = e
            .get("FileName")
            .map(PathBuf::from)
            .unwrap_or_else(|| config_dir.join("logs").join(format!("{name}.etl")));
        let file = if file_max == 0 {
            base
        } else {
            let mut s = base.into_os_string();
            s.push(format!(".{file_counter:04}"));
            PathBuf::from(s)
        };
        // The default folder is evtrace's own, made on demand; a FileName's folder must exist,
        // as for any session.
        if e.get("FileName").is_none() {
            if let Some(dir) = file.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
        }
        let props = SessionProperties::new(name)
            .log_file(file)
            .mode(mode)
            .buffer_size_kb(number(e, "BufferSize", 64)?)
            .buffers(
                number(e, "MinimumBuffers", 3)?,
                number(e, "MaximumBuffers", 25)?,
            )
            .maximum_file_size(number(e, "MaximumFileSize", 0)?)
            .flush_timer(number(e, "FlushTimer", 0)?)
            .clock(clock);
        let props = SessionProperties {
            enable_flags: kernel_flags,
            ..props
        };
        Ok(Some(GlobalLoggerConfig {
            props,
            providers: e.all("Provider").map(str::to_string).collect(),
            file_counter,
        }))
    }
}
