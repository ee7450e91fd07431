//! `evtrace globallogger` and `evtrace autologger`: the entries of the sessions that start with
//! the daemon.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use evtrace_runtime::provider::EnableSettings;
use evtrace_runtime::{Error, ErrorCode};

use super::report::fail;
use super::session::absolute;

/// `evtrace globallogger`.
#[derive(Args)]
pub struct GlobalLoggerArgs {
    #[command(subcommand)]
    action: GlobalLoggerAction,
}

/// What to do with the Global Logger's entries.
#[derive(clap::Subcommand)]
enum GlobalLoggerAction {
    /// Write the entries (Start = 1): the Global Logger starts with the daemon from now on.
    Create(GlobalLoggerCreate),
    /// Print the entries, Status and FileCounter included.
    Show,
    /// Remove every entry (tracelog -remove GlobalLogger): no Global Logger at the next start.
    Remove,
}

/// `evtrace autologger`.
#[derive(Args)]
pub struct AutoLoggerArgs {
    #[command(subcommand)]
    action: AutoLoggerAction,
}

/// What to do with an AutoLogger session's entries.
#[derive(clap::Subcommand)]
enum AutoLoggerAction {
    /// Write the session's entries (Start = 1): it starts with the daemon from now on.
    Create {
        /// Session name.
        name: String,
        #[command(flatten)]
        entries: GlobalLoggerCreate,
    },
    /// Print the session's entries, Status and FileCounter included.
    Show {
        /// Session name.
        name: String,
    },
    /// Remove the session's entries: it does not start at the next daemon start.
    Remove {
        /// Session name.
        name: String,
    },
}

/// Runs `evtrace autologger ...`.
pub fn auto_logger(a: AutoLoggerArgs) -> ExitCode {
    use evtrace_runtime::boot;
    let dir = boot::autologger_dir(&boot::config_dir());
    let (name, action) = match a.action {
        AutoLoggerAction::Create { name, entries } => (name, GlobalLoggerAction::Create(entries)),
        AutoLoggerAction::Show { name } => (name, GlobalLoggerAction::Show),
        AutoLoggerAction::Remove { name } => (name, GlobalLoggerAction::Remove),
    };
    if name.is_empty() || name.contains('/') || name.starts_with('.') {
        return fail(&Error::new(
            ErrorCode::InvalidName,
            format!("{name:?} cannot name an AutoLogger session: no slash, no leading dot"),
        ));
    }
    boot_entries(&dir.join(&name), &name, action)
}

/// The entries of a boot session (`evtrace globallogger create` / `evtrace autologger create`).
#[derive(Args)]
struct GlobalLoggerCreate {
    /// FileName (default: logs/NAME.etl in the configuration directory, NAME the session's name).
    #[arg(short = 'f', long = "file")]
    file: Option<PathBuf>,
    /// BufferSize in KB.
    #[arg(short = 'b', long = "buffer-kb")]
    buffer_kb: Option<u32>,
    /// MinimumBuffers.
    #[arg(long)]
    min: Option<u32>,
    /// MaximumBuffers.
    #[arg(long)]
    max: Option<u32>,
    /// FlushTimer in seconds.
    #[arg(long)]
    ft: Option<u32>,
    /// LogFileMode (the Logging Mode Constants; decimal or 0x hex).
    #[arg(long)]
    mode: Option<String>,
    /// MaximumFileSize.
    #[arg(long = "max-file-size")]
    max_file_size: Option<u32>,
    /// ClockType: 1 performance counter, 2 system time, 3 CPU cycles.
    #[arg(long = "clock-type")]
    clock_type: Option<u32>,
    /// FileMax: keep this many files, FileName.0001 on (0: one file, overwritten each start).
    #[arg(long = "file-max")]
    file_max: Option<u32>,
    /// A provider to enable at start, `PROVIDER[:LEVEL[:ANY[:ALL]]]`. Repeatable.
    #[arg(long = "provider", short = 'p')]
    providers: Vec<String>,
    /// EnableKernelFlags: makes the Global Logger the kernel logger, recording these kernel
    /// events (names joined with commas, `default`, or a number; see `start --kernel-flags`).
    #[arg(long = "kernel-flags", value_name = "FLAGS")]
    kernel_flags: Option<String>,
}

/// Runs `evtrace globallogger ...`.
pub fn global_logger(a: GlobalLoggerArgs) -> ExitCode {
    use evtrace_runtime::boot;
    let file = boot::global_logger_file(&boot::config_dir());
    boot_entries(&file, boot::GLOBAL_LOGGER_NAME, a.action)
}

/// Creates, shows or removes the entries of boot session `name` in `file`.
fn boot_entries(file: &std::path::Path, name: &str, action: GlobalLoggerAction) -> ExitCode {
    use evtrace_runtime::boot::{config_dir, BootKind, Entries, GlobalLoggerConfig};
    let result = match action {
        GlobalLoggerAction::Create(c) => {
            let mut e = Entries::default();
            e.set("Start", "1");
            let numbers = [
                ("BufferSize", c.buffer_kb),
                ("MinimumBuffers", c.min),
                ("MaximumBuffers", c.max),
                ("FlushTimer", c.ft),
                ("MaximumFileSize", c.max_file_size),
                ("ClockType", c.clock_type),
                ("FileMax", c.file_max),
            ];
            for (name, v) in numbers {
                if let Some(v) = v {
                    e.set(name, v.to_string());
                }
            }
            if let Some(m) = &c.mode {
                e.set("LogFileMode", m.clone());
            }
            if let Some(k) = &c.kernel_flags {
                e.set("EnableKernelFlags", k.clone());
            }
            if let Some(f) = &c.file {
                e.set("FileName", absolute(f).display().to_string());
            }
            for p in &c.providers {
                if let Err(err) = EnableSettings::parse_spec(p) {
                    return fail(&err);
                }
                e.push("Provider", p.clone());
            }
            let kind = if name == evtrace_runtime::boot::GLOBAL_LOGGER_NAME {
                BootKind::Global
            } else {
                BootKind::Auto
            };
            if let Err(err) = GlobalLoggerConfig::check(name, kind, &e, &config_dir()) {
                return fail(&Error::new(
                    err.code(),
                    format!(
                        "{name} would not start with these entries, so none were written: {}",
                        err.message()
                    ),
                ));
            }
            e.write(file)
                .map(|()| println!("wrote {}: {name} starts with the daemon", file.display()))
        }
        GlobalLoggerAction::Show => Entries::read(file).map(|e| {
            if e.is_empty() {
                println!("no {name} entries in {}", file.display());
            }
            for (k, v) in e.iter() {
                println!("{k} = {v}");
            }
        }),
        GlobalLoggerAction::Remove => match std::fs::remove_file(file) {
            Ok(()) => {
                println!("removed {}", file.display());
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                println!("no {name} entries to remove");
                Ok(())
            }
            Err(e) => Err(e),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("evtrace: {name}: {}: {e}", file.display());
            ExitCode::FAILURE
        }
    }
}
