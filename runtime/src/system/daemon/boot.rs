//! Boot sessions: the Global Logger and the AutoLogger sessions the configuration starts with
//! the daemon, each result written back into its entries.

use std::path::{Path, PathBuf};

use super::Shared;
use crate::client::protocol::WireProps;
use crate::error::Result;

impl Shared {
    /// The boot: starts the Global Logger and the AutoLogger sessions whose entries in
    /// `config_dir` say so, and writes each result back into its entries (Status, FileCounter).
    /// Whatever is wrong with the entries is reported there and on stderr; the daemon starts all
    /// the same.
    pub(super) fn boot(&self, config_dir: &Path) {
        use crate::boot::{self, BootKind};
        self.boot_one(
            &boot::global_logger_file(config_dir),
            boot::GLOBAL_LOGGER_NAME,
            BootKind::Global,
            config_dir,
        );
        let Ok(dir) = std::fs::read_dir(boot::autologger_dir(config_dir)) else {
            return;
        };
        let mut files: Vec<PathBuf> = dir.filter_map(|e| Some(e.ok()?.path())).collect();
        files.sort();
        for f in files {
            let name = f
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            // Dot files are not sessions (an entries file being written is `.NAME.tmp`).
            if name.starts_with('.') {
                continue;
            }
            self.boot_one(&f, &name, BootKind::Auto, config_dir);
        }
    }

    fn boot_one(&self, file: &Path, name: &str, kind: crate::boot::BootKind, config_dir: &Path) {
        let mut entries = match crate::boot::Entries::read(file) {
            Ok(e) => e,
            Err(e) => {
                eprintln!("evtrace daemon: {name}: {e}");
                return;
            }
        };
        let started =
            crate::boot::GlobalLoggerConfig::boot_session(name, kind, &entries, config_dir)
                .and_then(|c| {
                    let Some(c) = c else { return Ok(None) };
                    // Every provider entry is read before anything starts.
                    let providers = c
                        .providers
                        .iter()
                        .map(|p| crate::provider::EnableSettings::parse_spec(p))
                        .collect::<Result<Vec<_>>>()?;
                    self.start_named(&WireProps::from(&c.props), 0, Vec::new(), Some(kind), None)?;
                    for (g, settings) in providers {
                        if let Err(e) = self.enable(name, &g.to_string(), Some(settings.into())) {
                            // Started but not set up as configured: not half a session, even a
                            // NONSTOPPABLE one.
                            let _ = self.end(name, true);
                            return Err(e);
                        }
                    }
                    Ok(Some(c.file_counter))
                });
        let status = match &started {
            Ok(None) => return,
            Ok(Some(counter)) => {
                if *counter != 0 {
                    entries.set("FileCounter", counter.to_string());
                }
                0
            }
            Err(e) => {
                eprintln!(
                    "evtrace daemon: {name} did not start: {}: {}",
                    e.code().name(),
                    e.message()
                );
                e.code().win32()
            }
        };
        entries.set("Status", status.to_string());
        if let Err(e) = entries.write(file) {
            eprintln!("evtrace daemon: cannot write {name}'s Status back: {e}");
        }
    }
}
