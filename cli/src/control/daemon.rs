//! `evtrace daemon`, and reaching the daemon from the other verbs (started on demand).

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Args;
use evtrace_runtime::system::control::Controller;
use evtrace_runtime::system::daemon::{self, Daemon};
use evtrace_runtime::system::paths;
use evtrace_runtime::{Error, ErrorCode};

use super::report::{done, fail};

/// `evtrace daemon`.
#[derive(Args)]
pub struct DaemonArgs {
    /// Runtime directory holding the socket (default: EVTRACE_RUNTIME_DIR, /run/evtrace for
    /// root, else $XDG_RUNTIME_DIR/evtrace).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Let processes of every user connect (socket 0666, directory 0755); by default only the
    /// daemon's user and root can.
    #[arg(long)]
    shared: bool,
}

/// Runs the daemon in the foreground.
pub fn daemon(args: DaemonArgs) -> ExitCode {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    // Taken before the boot sessions start, so that a signal meanwhile waits for the handler
    // instead of killing the daemon with their files unfinished.
    let signals = match signal_hook::iterator::Signals::new([SIGTERM, SIGINT, SIGHUP]) {
        Ok(s) => s,
        Err(e) => {
            return fail(&Error::new(
                ErrorCode::Io,
                format!("cannot handle signals: {e}"),
            ))
        }
    };
    let dir = args.dir.unwrap_or_else(paths::own_runtime_dir);
    let d = match Daemon::bind_with(&dir, args.shared) {
        Ok(d) => d,
        Err(e) => return fail(&e),
    };
    let socket = paths::socket_path(&dir);
    if let Err(e) = end_on_signal(signals, d.stopper(), socket.clone()) {
        return fail(&e);
    }
    eprintln!("evtrace daemon: listening on {}", socket.display());
    done(d.run())
}

/// On SIGTERM, SIGINT or SIGHUP the daemon stops every session (their files finished, their
/// consumers given the last buffers) and exits; a second signal meanwhile exits at once.
fn end_on_signal(
    mut signals: signal_hook::iterator::Signals,
    stopper: daemon::Stopper,
    socket: PathBuf,
) -> Result<(), Error> {
    std::thread::Builder::new()
        .name("evtrace-signals".into())
        .spawn(move || {
            let mut stopper = Some(stopper);
            for signal in signals.forever() {
                let Some(stopper) = stopper.take() else {
                    eprintln!("evtrace daemon: second signal: exiting before every session stopped");
                    std::process::exit(1);
                };
                eprintln!("evtrace daemon: signal {signal}: stopping every session");
                let socket = socket.clone();
                std::thread::spawn(move || {
                    let mut failed = false;
                    for (name, r) in stopper.stop_all() {
                        match r {
                            Ok(s) => eprintln!(
                                "evtrace daemon: stopped {name}: {} buffers written, {} events lost",
                                s.session.buffers_written, s.session.events_lost
                            ),
                            Err(e) => {
                                failed = true;
                                eprintln!("evtrace daemon: {name}: {}", e.message());
                            }
                        }
                    }
                    let _ = std::fs::remove_file(&socket);
                    std::process::exit(i32::from(failed));
                });
            }
        })
        .map(drop)
        .map_err(|e| Error::new(ErrorCode::Io, format!("cannot start the signal thread: {e}")))
}

/// A controller for the daemon, started on demand if none runs.
pub(crate) fn controller() -> Result<Controller, Error> {
    let dir = paths::runtime_dir();
    if daemon::is_running(&dir) {
        return Controller::connect_in(&dir);
    }
    // None answers: this user's own daemon is started.
    let dir = paths::own_runtime_dir();
    if !daemon::is_running(&dir) {
        let exe = std::env::current_exe()
            .map_err(|e| Error::new(ErrorCode::Io, format!("cannot find this program: {e}")))?;
        // The daemon outlives this command: it gets a process group of its own (a terminal's
        // Ctrl-C or a `timeout` aimed at this command must not reach it) and writes what it
        // says to daemon.log in its directory, not to this command's stderr.
        let log = daemon_log(&dir)?;
        std::process::Command::new(exe)
            .arg("daemon")
            .arg("--dir")
            .arg(&dir)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .process_group(0)
            .spawn()
            .map_err(|e| Error::new(ErrorCode::Io, format!("cannot start the daemon: {e}")))?;
        let deadline = Instant::now() + Duration::from_secs(5);
        while !daemon::is_running(&dir) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    Controller::connect_in(&dir)
}

/// `daemon.log` in the runtime directory `dir` (made if missing), opened for appending.
fn daemon_log(dir: &Path) -> Result<std::fs::File, Error> {
    paths::prepare_dir(dir)
        .map_err(|e| Error::io("cannot prepare the runtime directory", dir, e))?;
    let log = dir.join("daemon.log");
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .map_err(|e| Error::io("cannot open", &log, e))
}
