//! `evtrace start --profile` (the sessions of recording profiles, started and left running, as
//! `wpr -start` leaves them) and `evtrace start --watch` (the status line of running sessions
//! until Ctrl-C; the sessions go on).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use evtrace_runtime::system::control::Controller;
use evtrace_runtime::ErrorCode;

use super::profile::Plan;
use super::session_set::SessionSet;
use super::status::{self, StatusLine};

/// What `evtrace start --profile` was given.
pub struct ProfileStart<'a> {
    /// The `--profile` arguments, merged in order.
    pub profiles: &'a [String],
    /// The first session's log file (the others get `.SESSION` before the extension).
    pub file: &'a Path,
    /// BufferSize in KB of every session, overriding the profiles.
    pub buffer_kb: Option<u32>,
    /// MaximumBuffers of every session, overriding the profiles.
    pub max_buffers: Option<u32>,
    /// Show the status line until Ctrl-C.
    pub watch: bool,
}

/// Starts the sessions of the profiles, with the same code as `evtrace record`, and leaves them
/// running.
pub fn run(a: ProfileStart<'_>) -> ExitCode {
    let mut plan = match Plan::load_all(a.profiles) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("evtrace start: {e}");
            return ExitCode::from(2);
        }
    };
    for w in &plan.warnings {
        eprintln!("evtrace start: warning: {w}");
    }
    plan.override_buffers(a.buffer_kb, a.max_buffers);
    let files = super::output_files(a.file, &plan.collectors);
    let set = match SessionSet::start(&plan, &files, None) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("evtrace start: {e}");
            return ExitCode::FAILURE;
        }
    };
    let names = set.names();
    for ((name, file), c) in names.iter().zip(&files).zip(&plan.collectors) {
        let how = if c.memory {
            "memory ring (`evtrace flush` saves it to"
        } else {
            "logging to"
        };
        let close = if c.memory { ")" } else { "" };
        println!("started {name}: {how} {}{close}", file.display());
    }
    println!(
        "the sessions keep running; `evtrace stop NAME` ends each ({})",
        names.join(", ")
    );
    // Dropped, not stopped: the sessions belong to the daemon now.
    drop(set);
    if a.watch {
        return watch(&names, &files);
    }
    ExitCode::SUCCESS
}

/// Shows the status line of sessions `names` (writing `files`, or an empty path for a session
/// with no file) until Ctrl-C or until every one of them has stopped. The sessions keep
/// running.
pub fn watch(names: &[String], files: &[PathBuf]) -> ExitCode {
    let interrupts = Arc::new(AtomicUsize::new(0));
    if let Err(e) = super::watch_interrupts(&interrupts) {
        eprintln!("evtrace start: cannot handle Ctrl-C: {e}");
        return ExitCode::FAILURE;
    }
    let controller = match Controller::connect() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("evtrace start: {}: {}", e.code().name(), e.message());
            return ExitCode::FAILURE;
        }
    };
    let mut line = StatusLine::new(names, files).for_start();
    let terminal = status::stderr_is_terminal();
    let mut next = Instant::now();
    loop {
        if interrupts.load(Ordering::SeqCst) > 0 {
            break;
        }
        if Instant::now() >= next {
            let stats: Vec<_> = names
                .iter()
                .map(|n| (n.clone(), controller.query(n)))
                .collect();
            if stats.iter().all(|(_, s)| {
                s.as_ref()
                    .is_err_and(|e| e.code() == ErrorCode::InstanceNotFound)
            }) {
                status::clear_line();
                eprintln!("evtrace start: every watched session has stopped");
                return ExitCode::SUCCESS;
            }
            if terminal {
                line.refresh(&stats);
            } else {
                // Not a terminal: one line per second, for a log.
                eprintln!("{}", line.text(&stats));
            }
            next += Duration::from_secs(1);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    if terminal {
        status::clear_line();
    }
    eprintln!(
        "evtrace start: stopped watching; {} still running (`evtrace stop NAME` ends it)",
        names.join(", ")
    );
    ExitCode::SUCCESS
}
