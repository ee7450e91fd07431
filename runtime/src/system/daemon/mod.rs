//! The daemon: hosts the system sessions of the machine and serves controllers and producers.
//!
//! Each system session is an engine session (its file, flusher and counters) in this process.
//! Events come from producer processes: when a session wants a provider that a producer has
//! registered, the daemon gives that producer a share of the session, a memfd holding its
//! buffers (per processor, as in-process sessions have them), and tells it which providers to
//! enable. The producer writes there with the in-process write path; its finished buffers are
//! copied out by the daemon and written to the session's file in the session's sequence. Each
//! producer has its own memfd, so no producer can read or corrupt another's events.
//!
//! This file holds the [`Daemon`] (bind, accept loop), its limits and the state its connection
//! threads share. The rooms: `requests` (a connection's requests and their answers), `table`
//! (the session table and its figures), `sessions` (start, query, UPDATE, FLUSH), `kernel_logger`
//! (a system logger's kernel sources), `producers` (shares, enables, buffers copied out), `boot`
//! (Global Logger and AutoLogger sessions at start) and `stop` (stopping sessions, [`Stopper`]).

mod boot;
mod kernel_logger;
mod producers;
mod requests;
mod sessions;
mod stop;
mod table;

pub use stop::Stopper;

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::paths;
use super::wire::{Channel, Listener};
use crate::error::{Error, ErrorCode, Result};
use crate::session::region::Region;
use producers::Producer;
use requests::serve;
use table::{named, Hosted, State};

/// System sessions at once unless `EVTRACE_MAX_SESSIONS` says otherwise (ETW's default).
pub const DEFAULT_MAX_SESSIONS: usize = 64;

/// The most `EVTRACE_MAX_SESSIONS` may allow.
pub const MAX_HOSTED_SESSIONS: usize = 192;

/// Connections served at once unless `EVTRACE_MAX_CONNECTIONS` says otherwise: every producer
/// process holds one, each controller one while it runs. Beyond it new connections are closed at
/// once (said once on stderr), so idle clients cannot make the daemon grow without bound.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;

/// System loggers at once: the kernel logger and EVENT_TRACE_SYSTEM_LOGGER_MODE sessions.
pub const MAX_SYSTEM_LOGGERS: usize = 8;

pub(crate) use crate::client::protocol::COUNTER_PAGE;

/// How long a stopping session waits for its producers to hand over their last buffers.
const DETACH_WAIT: Duration = Duration::from_secs(5);

/// A running daemon.
pub struct Daemon {
    dir: PathBuf,
    listener: Listener,
    state: Arc<Shared>,
    max_connections: usize,
}

/// What the daemon's threads share: its state behind one lock, the counter page, and the
/// condition that producers' answers signal.
struct Shared {
    /// Itself, for what must reach the daemon later (the kernel logger's buffers).
    me: std::sync::Weak<Shared>,
    state: Mutex<State>,
    /// TraceMessage sequence counters shared with every producer (see `Reply::Counters`).
    counters: Region,
    counters_fd: std::os::fd::OwnedFd,
    /// Signalled when a producer finishes its share of a session.
    detached: Condvar,
    max_sessions: usize,
}

impl Daemon {
    /// Binds the socket in `dir` (created owner-only if missing); only the daemon's user (and
    /// root) can connect. Fails with ALREADY_EXISTS if a daemon answers there already.
    pub fn bind(dir: &Path) -> Result<Daemon> {
        Daemon::bind_with(dir, false)
    }

    /// [`Daemon::bind`]; with `shared`, processes of every user may connect (the directory is
    /// made searchable and the socket writable by all): controllers are then limited by the
    /// sessions' own rules, and SECURE sessions by their allowed users.
    pub fn bind_with(dir: &Path, shared: bool) -> Result<Daemon> {
        paths::prepare_dir(dir)
            .map_err(|e| Error::io("cannot prepare the runtime directory", dir, e))?;
        let socket = paths::socket_path(dir);
        if Channel::connect(&socket).is_ok() {
            return Err(Error::new(
                ErrorCode::AlreadyExists,
                format!(
                    "an evtrace daemon is already running at {}",
                    socket.display()
                ),
            ));
        }
        let listener =
            Listener::bind(&socket).map_err(|e| Error::io("cannot listen on", &socket, e))?;
        let (dir_mode, socket_mode) = if shared {
            (0o755, 0o666)
        } else {
            (0o700, 0o600)
        };
        for (p, m) in [(dir, dir_mode), (socket.as_path(), socket_mode)] {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(m))
                .map_err(|e| Error::io("cannot set the permissions of", p, e))?;
        }
        let max_sessions = std::env::var("EVTRACE_MAX_SESSIONS")
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(DEFAULT_MAX_SESSIONS)
            .clamp(1, MAX_HOSTED_SESSIONS);
        let (counters, counters_fd) = Region::create("evtrace-counters", COUNTER_PAGE)
            .map_err(|e| Error::new(ErrorCode::NoSystemResources, format!("memfd: {e}")))?;
        let max_connections = std::env::var("EVTRACE_MAX_CONNECTIONS")
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(DEFAULT_MAX_CONNECTIONS)
            .max(1);
        let d = Daemon {
            dir: dir.to_path_buf(),
            max_connections,
            listener,
            state: Arc::new_cyclic(|me| Shared {
                me: me.clone(),
                counters,
                counters_fd,
                state: Mutex::new(State::default()),
                detached: Condvar::new(),
                max_sessions,
            }),
        };
        d.state.boot(&crate::boot::config_dir());
        Ok(d)
    }

    /// The runtime directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// What ends the daemon's sessions from elsewhere (a signal handler's thread) while
    /// [`run`](Self::run) serves.
    pub fn stopper(&self) -> Stopper {
        Stopper(self.state.clone())
    }

    /// Serves connections until the process ends, each on a thread of its own, at most
    /// [`DEFAULT_MAX_CONNECTIONS`] (or `EVTRACE_MAX_CONNECTIONS`) at once.
    pub fn run(self) -> Result<()> {
        let mut next_conn = 1u64;
        let open = Arc::new(AtomicUsize::new(0));
        // Said once per episode, not once per connection: (refused meanwhile, accept failing).
        let mut refused = 0u64;
        let mut failing = false;
        loop {
            let ch = match self.listener.accept() {
                Ok(ch) => ch,
                Err(e) => {
                    if !failing {
                        eprintln!("evtrace daemon: accept failed: {e}; retrying every 100 ms");
                        failing = true;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                    continue;
                }
            };
            failing = false;
            if open.load(Ordering::Relaxed) >= self.max_connections {
                if refused == 0 {
                    eprintln!(
                        "evtrace daemon: {} connections are open, the most it serves (EVTRACE_MAX_CONNECTIONS); closing new ones until some end",
                        self.max_connections
                    );
                }
                refused += 1;
                continue;
            }
            if refused > 0 {
                eprintln!(
                    "evtrace daemon: serving new connections again; {refused} were closed at once meanwhile"
                );
                refused = 0;
            }
            let shared = self.state.clone();
            let conn = next_conn;
            next_conn += 1;
            let counted = Counted::new(&open);
            let _ = std::thread::Builder::new()
                .name(format!("evtrace-conn-{conn}"))
                .spawn(move || {
                    let _counted = counted;
                    serve(shared, conn, ch)
                });
        }
    }
}

/// One open connection in the count, until dropped (its thread ends, or never started).
struct Counted(Arc<AtomicUsize>);

impl Counted {
    fn new(open: &Arc<AtomicUsize>) -> Counted {
        open.fetch_add(1, Ordering::Relaxed);
        Counted(open.clone())
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Shared {
    /// The state, also after a thread panicked while holding it.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` on session `name` beside the producers, under the lock.
    fn with<T>(
        &self,
        name: &str,
        f: impl FnOnce(&mut Hosted, &mut HashMap<u64, Producer>) -> Result<T>,
    ) -> Result<T> {
        let mut st = self.lock();
        let st = &mut *st;
        let h = named(&mut st.sessions, name)?;
        f(h, &mut st.producers)
    }

    /// Waits, at most [`DETACH_WAIT`], while `pending` says producers still owe an answer
    /// (their answers and departures signal `detached`).
    fn wait_while<'a>(
        &'a self,
        mut st: MutexGuard<'a, State>,
        pending: impl Fn(&State) -> bool,
    ) -> MutexGuard<'a, State> {
        let deadline = Instant::now() + DETACH_WAIT;
        loop {
            let now = Instant::now();
            if !pending(&st) || now >= deadline {
                return st;
            }
            st = self
                .detached
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

/// Whether a daemon answers at `dir`.
pub fn is_running(dir: &Path) -> bool {
    Channel::connect(&paths::socket_path(dir)).is_ok()
}

impl std::fmt::Debug for Daemon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Daemon").field("dir", &self.dir).finish()
    }
}
