//! The sessions of one recording, in the daemon: started together, and stopped (or, when the
//! recording cannot go on, abandoned) together, so that none is left half set up.

use std::path::PathBuf;

use evtrace_runtime::session::{LogFileMode, SessionProperties};
use evtrace_runtime::system::control::Controller;
use evtrace_runtime::system::protocol::WireStats;
use evtrace_runtime::Error;

use super::profile::{Collector, Plan};

/// Sessions started for a recording, with their files.
pub struct SessionSet {
    controller: Controller,
    /// Session name, whether it is a memory ring (saved before it stops), its file.
    started: Vec<(String, bool, PathBuf)>,
}

impl SessionSet {
    /// Starts every collector of `plan` (file `files[i]` for collector `i`) and enables its
    /// providers; with `kernel_tree_of`, kernel events are those of that process's descendants
    /// only. If any of it fails, what had started is stopped and its files removed.
    pub fn start(
        plan: &Plan,
        files: &[PathBuf],
        kernel_tree_of: Option<u32>,
    ) -> Result<SessionSet, String> {
        let controller = crate::control::controller().map_err(|e| describe(&e))?;
        let mut set = SessionSet {
            controller,
            started: Vec::new(),
        };
        for (c, file) in plan.collectors.iter().zip(files) {
            if let Err(e) = set.start_one(c, file, kernel_tree_of) {
                let mut why = format!("session {}: {}", c.session, describe(&e));
                if e.code() == evtrace_runtime::ErrorCode::AlreadyExists {
                    why += &format!(" (`evtrace stop \"{}\"` ends it)", c.session);
                }
                let stopped = set.abandon();
                return Err(if stopped.is_empty() {
                    why
                } else {
                    format!("{why}; stopped {} again", stopped.join(", "))
                });
            }
        }
        Ok(set)
    }

    fn start_one(
        &mut self,
        c: &Collector,
        file: &std::path::Path,
        kernel_tree_of: Option<u32>,
    ) -> Result<(), Error> {
        let mut mode = LogFileMode::empty();
        if c.memory {
            mode |= LogFileMode::BUFFERING;
        }
        let mut p = SessionProperties::new(c.session.clone())
            .log_file(file)
            // Buffers reach the file (and the status line) within a second.
            .flush_timer(1);
        if let Some(kb) = c.buffer_kb {
            p = p.buffer_size_kb(kb);
        }
        p = p.buffers(c.min_buffers.unwrap_or(0), c.max_buffers.unwrap_or(0));
        if !c.kernel.is_empty() {
            if !c.is_kernel_logger() {
                mode |= LogFileMode::SYSTEM_LOGGER;
            }
            p = p.enable_flags(c.kernel);
        }
        if let Some(pid) = kernel_tree_of.filter(|_| !c.kernel.is_empty() || c.is_kernel_logger()) {
            p = p.kernel_tree_of(pid);
        }
        p = p.mode(mode);
        self.controller.start(&p)?;
        self.started
            .push((c.session.clone(), c.memory, file.to_path_buf()));
        for pr in &c.providers {
            self.controller
                .enable_filtered(&c.session, pr.guid, pr.settings, &pr.filter)
                .map_err(|e| {
                    Error::new(e.code(), format!("provider {}: {}", pr.name, e.message()))
                })?;
        }
        Ok(())
    }

    /// The sessions' names, in order.
    pub fn names(&self) -> Vec<String> {
        self.started.iter().map(|(n, _, _)| n.clone()).collect()
    }

    /// Every session's figures now.
    pub fn query(&self) -> Vec<(String, Result<WireStats, Error>)> {
        self.started
            .iter()
            .map(|(n, _, _)| (n.clone(), self.controller.query(n)))
            .collect()
    }

    /// Stops every session (a memory ring is saved to its file first) and gives their last
    /// figures.
    pub fn stop(self) -> Vec<(String, Result<WireStats, Error>)> {
        self.started
            .iter()
            .map(|(n, memory, _)| {
                let saved = if *memory {
                    self.controller.flush(n)
                } else {
                    Ok(())
                };
                let stopped = self.controller.stop(n);
                (n.clone(), saved.and(stopped))
            })
            .collect()
    }

    /// Stops every session and removes its file: the recording did not happen. Returns the
    /// names of the sessions stopped.
    pub fn abandon(self) -> Vec<String> {
        self.started
            .iter()
            .map(|(n, _, f)| {
                let _ = self.controller.stop(n);
                let _ = std::fs::remove_file(f);
                n.clone()
            })
            .collect()
    }
}

/// An error as the other verbs print it: the ETW error's name, then why.
fn describe(e: &Error) -> String {
    format!("{}: {}", e.code().name(), e.message())
}
