//! The daemon: hosts the system sessions of the machine and serves controllers and producers.
//!
//! Each system session is an engine session (its file, flusher and counters) in this process.
//! Events come from producer processes: when a session wants a provider that a producer has
//! registered, the daemon gives that producer a share of the session, a memfd holding its
//! buffers (per processor, as in-process sessions have them), and tells it which providers to
//! enable. The producer writes there with the in-process write path; its finished buffers are
//! copied out by the daemon and written to the session's file in the session's sequence. Each
//! producer has its own memfd, so no producer can read or corrupt another's events.

use std::collections::HashMap;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::paths;
use super::protocol::{Reply, Request, WireEnable, WireProps, WireStats};
use super::realtime::RealTime;
use super::wire::{Channel, Listener};
use crate::error::{Error, ErrorCode, Result};
use crate::provider::MAX_SESSIONS_PER_PROVIDER;
use crate::session::region::Region;
use crate::session::same_name;
use crate::session::{
    processor_count, properties, LogFileMode, Session, SessionKind, SessionProperties,
    SessionUpdate,
};
use crate::Guid;

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

use crate::client::protocol::COUNTER_PAGE;

/// How long a stopping session waits for its producers to hand over their last buffers.
const DETACH_WAIT: Duration = Duration::from_secs(5);

/// A running daemon.
pub struct Daemon {
    dir: PathBuf,
    listener: Listener,
    state: Arc<Shared>,
    max_connections: usize,
}

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

#[derive(Default)]
struct State {
    sessions: Vec<Hosted>,
    producers: HashMap<u64, Producer>,
    next_id: u64,
    /// The daemon is ending ([`Stopper::stop_all`]): no session starts any more.
    closing: bool,
    /// Stops under way (each until its file is finished), which the daemon's end waits for.
    ending: usize,
}

impl State {
    /// The session `id`, if it still runs.
    fn by_id(&mut self, id: u64) -> Option<&mut Hosted> {
        self.sessions.iter_mut().find(|h| h.id == id)
    }

    /// Where session `id` is in the table, if it still runs.
    fn index_of(&self, id: u64) -> Option<usize> {
        self.sessions.iter().position(|h| h.id == id)
    }

    /// ERROR_BAD_PATHNAME if `file` is the log file of a session (other than `except`).
    fn file_free(&self, file: &Path, except: Option<&str>) -> Result<()> {
        let taken = self.sessions.iter().any(|h| {
            except.is_none_or(|n| !same_name(h.session.name(), n))
                && h.session.log_file().is_some_and(|g| same_file(&g, file))
        });
        if taken {
            return Err(Error::new(
                ErrorCode::BadPathname,
                format!(
                    "{} is the log file of another session; give this one a file of its own",
                    file.display()
                ),
            ));
        }
        Ok(())
    }
}

/// The key of an enable of every provider (`ANY_PROVIDER` on the wire): no provider has the
/// nil GUID.
const ANY: Guid = Guid::from_bytes([0; 16]);

/// A system session and what the daemon knows of it.
struct Hosted {
    id: u64,
    /// The engine session (shared so that buffers reach its file outside the daemon's lock).
    session: Arc<Session>,
    /// The properties a producer's share is made with.
    share: SessionProperties,
    enables: Vec<(Guid, WireEnable)>,
    /// EVENT_TRACE_SECURE_MODE: the users whose processes may log to it (root always may).
    secure: Option<Vec<u32>>,
    /// The user who started it: with root, the only one who may change it.
    owner: u32,
    /// Producer processes refused by `secure`.
    refused: u32,
    /// REAL_TIME: delivery to the consumer.
    rt: Option<RealTime>,
    /// RealTimeBuffersLost of real-time delivery that UPDATE has since turned off.
    rt_lost_before: u64,
    /// Its LOCAL_SEQUENCE counter in the counter page (1..).
    sequence_index: u32,
    /// Per producer (connection id): its share's region here and its last EventsLost figure.
    shares: HashMap<u64, Share>,
    /// Producers asked to flush their share and not yet done.
    flushing: Vec<u64>,
    /// Whether this session is the kernel logger (its sources may still be opening).
    is_kernel: bool,
    /// The kernel logger's sources, once open.
    kernel: Option<crate::kernel::KernelLogger>,
    /// A stop is under way: no change may start.
    stopping: bool,
    /// Its kernel sources are being replaced (UPDATE of EnableFlags): a stop waits for it.
    changing: bool,
    /// Its real-time delivery is ending (UPDATE `--rt off`): a stop waits for it.
    ending_rt: bool,
    /// MaximumBuffers as UPDATE last set it (for producers that attach from then on).
    maximum_buffers_set: Option<u32>,
}

struct Share {
    region: Region,
    buffer_bytes: usize,
    events_lost: u64,
}

/// Messages to one producer, sent in order by a thread of its own: the daemon never waits for a
/// producer while it holds its state. A producer that lets 256 messages pile up unread is cut
/// off (its connection shut down, its shares ended as if it had died).
struct Outbox {
    queue: SyncSender<(Reply, Option<OwnedFd>)>,
    channel: Channel,
}

impl Outbox {
    fn start(channel: Channel, conn: u64) -> std::io::Result<Outbox> {
        let (queue, pending) = sync_channel::<(Reply, Option<OwnedFd>)>(256);
        let writer = channel.try_clone()?;
        std::thread::Builder::new()
            .name(format!("evtrace-out-{conn}"))
            .spawn(move || {
                for (msg, fd) in pending {
                    if writer.send(&msg, fd.as_ref().map(|f| f.as_fd())).is_err() {
                        writer.shutdown();
                        return;
                    }
                }
            })?;
        Ok(Outbox { queue, channel })
    }

    /// Queues `msg` (with `fd` attached); false if it cannot reach the producer.
    fn send(&self, msg: Reply, fd: Option<OwnedFd>) -> bool {
        match self.queue.try_send((msg, fd)) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                self.channel.shutdown();
                false
            }
            Err(TrySendError::Disconnected(_)) => false,
        }
    }
}

/// What became of a producer's `Ready`.
enum Taken {
    /// Its buffers are copied out.
    Yes,
    /// The session, or the producer's share of it, is gone (a stop that did not wait for it).
    No,
    /// It named buffers outside its share (said why): a broken or hostile producer.
    Outside(String),
}

/// A connected producer process.
struct Producer {
    outbox: Outbox,
    pid: u32,
    /// Its user, from the socket's credentials (SO_PEERCRED), not from what it says.
    uid: u32,
    providers: Vec<Guid>,
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

/// Ends a running daemon's sessions cleanly: see [`Daemon::stopper`].
pub struct Stopper(Arc<Shared>);

impl Stopper {
    /// Stops every session, NONSTOPPABLE ones too, finishing their files and handing their last
    /// buffers to real-time consumers, and refuses new sessions from then on. Returns each
    /// session's final figures, or why it could not be stopped.
    pub fn stop_all(&self) -> Vec<(String, Result<WireStats>)> {
        self.0.stop_all()
    }
}

/// Says once, on stderr, why connection `conn` is being closed: the first bad message ends it,
/// so a client sending garbage costs one line, not one per packet.
fn refuse(conn: u64, ch: &Channel, why: &str) {
    let who = ch.peer().map_or_else(
        |_| "an unknown process".to_string(),
        |c| {
            format!(
                "process {} (uid {})",
                c.pid.as_raw_nonzero(),
                c.uid.as_raw()
            )
        },
    );
    eprintln!("evtrace daemon: connection {conn} from {who}: {why}; closing it");
}

fn serve(shared: Arc<Shared>, conn: u64, ch: Channel) {
    loop {
        let msg = match ch.recv::<Request>() {
            Ok(Some((m, _))) => m,
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                refuse(conn, &ch, &e.to_string());
                break;
            }
            Ok(None) | Err(_) => break,
        };
        let reply = match msg {
            Request::Producer { .. } => {
                let (Ok(channel), Ok(cred)) = (ch.try_clone(), ch.peer()) else {
                    break;
                };
                // The kernel's view of the peer, not the pid it says (in another pid namespace
                // the two differ legitimately).
                let pid = cred.pid.as_raw_nonzero().get() as u32;
                let Ok(outbox) = Outbox::start(channel, conn) else {
                    break;
                };
                if ch
                    .send(&Reply::Counters, Some(shared.counters_fd.as_fd()))
                    .is_err()
                {
                    break;
                }
                shared.lock().producers.insert(
                    conn,
                    Producer {
                        outbox,
                        pid,
                        uid: cred.uid.as_raw(),
                        providers: Vec::new(),
                    },
                );
                continue;
            }
            Request::Register { guid } => {
                let Ok(g) = guid.parse::<Guid>() else {
                    refuse(
                        conn,
                        &ch,
                        &format!("it registered {guid:?}, which is not a provider GUID"),
                    );
                    break;
                };
                shared.register(conn, g);
                continue;
            }
            Request::Sync { token } => {
                // Through the outbox, behind the Attach and Enable messages queued before it.
                if let Some(p) = shared.lock().producers.get(&conn) {
                    let _ = p.outbox.send(Reply::Synced { token }, None);
                }
                continue;
            }
            Request::Ready {
                session,
                buffers,
                events_lost,
            } => {
                let taken = shared.take_buffers(conn, session, &buffers, events_lost);
                let reply = match taken {
                    Taken::Yes => Reply::Taken { session },
                    Taken::No | Taken::Outside(_) => Reply::Refused { session },
                };
                let _ = ch.send(&reply, None);
                if let Taken::Outside(why) = taken {
                    // Not a producer's mistake one can recover from: its share is ended, what
                    // it held counted lost.
                    refuse(conn, &ch, &why);
                    break;
                }
                continue;
            }
            Request::Flushed { session } => {
                shared.flushed(conn, session);
                continue;
            }
            Request::Finished {
                session,
                events_lost,
            } => {
                shared.finished(conn, session, events_lost);
                continue;
            }
            Request::Start { props, allow_users } => {
                let Ok(starter) = ch.peer().map(|c| (c.uid.as_raw(), c.gid.as_raw())) else {
                    break;
                };
                shared
                    .start(&props, starter, allow_users)
                    .unwrap_or_else(|e| Reply::failed(&e))
            }
            Request::Consume { name } => match ch
                .peer()
                .map_err(|e| Error::new(ErrorCode::Io, format!("socket: {e}")))
                .and_then(|c| shared.consume(conn, &name, c.uid.as_raw(), &ch))
            {
                // Answered, and from now on this connection receives packets.
                Ok(()) => continue,
                Err(e) => Reply::failed(&e),
            },
            other => {
                let Ok(uid) = ch.peer().map(|c| c.uid.as_raw()) else {
                    break;
                };
                shared.control(other, uid)
            }
        };
        if ch.send(&reply, None).is_err() {
            break;
        }
    }
    shared.gone(conn);
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A controller request.
    fn control(&self, req: Request, uid: u32) -> Reply {
        // Only root and the user who started a session may change or query it; the list shows
        // other users only their own sessions.
        let name = match &req {
            Request::Stop { name }
            | Request::Query { name }
            | Request::Flush { name }
            | Request::IncrementFile { name }
            | Request::Update { name, .. }
            | Request::Enable { name, .. }
            | Request::Disable { name, .. } => Some(name.clone()),
            _ => None,
        };
        if let Some(name) = name {
            if let Err(e) = self.with(&name, |h, _| h.may_control(uid)) {
                return Reply::failed(&e);
            }
        }
        let r = match req {
            Request::Stop { name } => self.stop(&name),
            Request::Query { name } => self.query(&name),
            Request::List => Ok(Reply::Sessions {
                sessions: {
                    let st = self.lock();
                    st.sessions
                        .iter()
                        .filter(|h| h.may_control(uid).is_ok())
                        .map(stats)
                        .collect()
                },
            }),
            Request::Flush { name } => self.flush(&name),
            Request::IncrementFile { name } => self.increment_file(&name),
            Request::Update {
                name,
                log_file,
                flush_timer_s,
                maximum_buffers,
                real_time,
                enable_flags,
            } => {
                let u = SessionUpdate {
                    log_file,
                    flush_timer_s,
                    maximum_buffers,
                    real_time,
                    enable_flags,
                };
                self.update(&name, uid, u)
            }
            Request::Enable {
                name,
                guid,
                settings,
            } => self.enable(&name, &guid, Some(settings)),
            Request::Disable { name, guid } => self.enable(&name, &guid, None),
            _ => Err(Error::invalid("not a controller request")),
        };
        r.unwrap_or_else(|e| Reply::failed(&e))
    }

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

    /// The boot: starts the Global Logger and the AutoLogger sessions whose entries in
    /// `config_dir` say so, and writes each result back into its entries (Status, FileCounter).
    /// Whatever is wrong with the entries is reported there and on stderr; the daemon starts all
    /// the same.
    fn boot(&self, config_dir: &Path) {
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

    /// Starts a session for a controller of user and group `starter` (its log files are that
    /// user's when the daemon runs as root).
    fn start(&self, wire: &WireProps, starter: (u32, u32), allow_users: Vec<u32>) -> Result<Reply> {
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        let owner = (root && starter.0 != 0).then_some(starter);
        self.start_named(wire, starter.0, allow_users, None, owner)
    }

    /// Starts a session for a controller (`boot` None) or from the boot configuration.
    fn start_named(
        &self,
        wire: &WireProps,
        starter: u32,
        allow_users: Vec<u32>,
        boot: Option<crate::boot::BootKind>,
        file_owner: Option<(u32, u32)>,
    ) -> Result<Reply> {
        let props = wire.to_props()?;
        if boot.is_none() && props.mode.contains(LogFileMode::NONSTOPPABLE) {
            return Err(Error::invalid(format!(
                "{}: EVENT_TRACE_NONSTOPPABLE_MODE is for boot sessions only, as ETW's is for AutoLogger: write it in an AutoLogger entry (`evtrace autologger create NAME --mode 0x40 ...`)",
                props.name
            )));
        }
        let reserved = boot == Some(crate::boot::BootKind::Global);
        if !reserved && same_name(&props.name, crate::boot::GLOBAL_LOGGER_NAME) {
            return Err(Error::new(
                ErrorCode::AlreadyExists,
                format!(
                    "{} is the Global Logger's reserved name: configure it with `evtrace globallogger create`; it starts with the daemon",
                    crate::boot::GLOBAL_LOGGER_NAME
                ),
            ));
        }
        if let Some(f) = &props.log_file {
            may_write(f, starter)?;
        }
        let mut allowed = allow_users;
        allowed.push(starter);
        // Checked under the lock that adds the session, so none slips past a shutdown.
        let mut st = self.lock();
        if st.closing {
            return Err(Error::new(
                ErrorCode::ShutdownInProgress,
                format!("{} cannot start: the daemon is shutting down", props.name),
            ));
        }
        if st
            .sessions
            .iter()
            .any(|h| same_name(h.session.name(), &props.name))
        {
            return Err(Error::new(
                ErrorCode::AlreadyExists,
                format!("a system session named {} is already running", props.name),
            ));
        }
        if st.sessions.len() >= self.max_sessions {
            return Err(Error::new(
                ErrorCode::NoSystemResources,
                format!(
                    "cannot start {}: {} system sessions are running, the most this daemon allows (EVTRACE_MAX_SESSIONS)",
                    props.name, self.max_sessions
                ),
            ));
        }
        if let Some(f) = &props.log_file {
            st.file_free(f, None)?;
        }
        // The kernel logger proper (NT Kernel Logger, or the Global Logger with
        // EnableKernelFlags) is one; any session may be a system logger (SYSTEM_LOGGER_MODE),
        // eight at most, and system loggers take kernel events by their EnableFlags.
        let (is_kernel, system_logger) = crate::kernel::logger_kind(&props, reserved);
        if is_kernel {
            if let Some(k) = st.sessions.iter().find(|h| h.is_kernel) {
                return Err(Error::new(
                    ErrorCode::AlreadyExists,
                    format!(
                        "the kernel logger is already running (as session {}); there is only one",
                        k.session.name()
                    ),
                ));
            }
        }
        if system_logger {
            crate::kernel::logger_rules(&props, is_kernel)?;
            let running = st.sessions.iter().filter(|h| h.system_logger()).count();
            if running >= MAX_SYSTEM_LOGGERS {
                return Err(Error::new(
                    ErrorCode::NoSystemResources,
                    format!(
                        "cannot start {}: {MAX_SYSTEM_LOGGERS} system loggers (the kernel logger and EVENT_TRACE_SYSTEM_LOGGER_MODE sessions) are running, the most there can be",
                        props.name
                    ),
                ));
            }
        } else if props.enable_flags != 0 {
            return Err(Error::invalid(format!(
                "EnableFlags {:#x} selects kernel events, which only system loggers record: the kernel logger (session \"{}\", or the Global Logger with EnableKernelFlags) and sessions with EVENT_TRACE_SYSTEM_LOGGER_MODE; enable providers in other sessions",
                props.enable_flags,
                crate::kernel::KERNEL_LOGGER_NAME
            )));
        }
        let mut props = props;
        let real_time = props.mode.contains(LogFileMode::REAL_TIME);
        if real_time {
            // ETW: with REAL_TIME, buffers are flushed at least once a second (so a timer of 0,
            // flush when full, or of more than a second becomes 1).
            props.flush_timer_s = 1;
        }
        let resolved = properties::validate(props.clone(), SessionKind::System, processor_count())?;
        let flags = crate::kernel::KernelFlags::from_bits_retain(props.enable_flags);
        let session = Arc::new(Session::start_hosted(props, file_owner)?);
        let rt = real_time.then(|| real_time_for(&session, resolved.props.maximum_buffers));
        st.next_id += 1;
        let id = st.next_id;
        let mut share = resolved.props.clone();
        if share.mode.contains(LogFileMode::BUFFERING) {
            // The ring (MinimumBuffers) is the daemon's; a producer's share needs the room of
            // an ordinary pool to get its events there.
            share.maximum_buffers = share.maximum_buffers.max(64);
        }
        let sequence_index = (1..=MAX_HOSTED_SESSIONS as u32)
            .find(|i| !st.sessions.iter().any(|h| h.sequence_index == *i))
            .unwrap_or(0);
        if sequence_index != 0 {
            // Sequence numbers start at 1 for every session.
            self.counters
                .counter(sequence_index as usize)
                .store(0, std::sync::atomic::Ordering::Relaxed);
        }
        // The kernel logger records tracelog's default set when given no flags; another system
        // logger records kernel events only when given flags.
        let kernel_share = (is_kernel || flags.bits() != 0).then(|| share.clone());
        let h = Hosted {
            owner: starter,
            id,
            session,
            sequence_index,
            secure: resolved
                .props
                .mode
                .contains(LogFileMode::SECURE)
                .then_some(allowed),
            refused: 0,
            rt,
            rt_lost_before: 0,
            share,
            enables: Vec::new(),
            shares: HashMap::new(),
            flushing: Vec::new(),
            is_kernel,
            kernel: None,
            stopping: false,
            changing: false,
            ending_rt: false,
            maximum_buffers_set: None,
        };
        let s = stats(&h);
        st.sessions.push(h);
        drop(st);
        match kernel_share {
            Some(share) => self.start_kernel(id, &s.session.name, flags, &share),
            None => Ok(Reply::Stats { stats: s }),
        }
    }

    /// Opens the kernel logger's sources for session `id`, already in the table (so that its
    /// rundown's buffers find it), outside the daemon's lock: the rundown reads all of /proc.
    fn start_kernel(
        &self,
        id: u64,
        name: &str,
        flags: crate::kernel::KernelFlags,
        share: &SessionProperties,
    ) -> Result<Reply> {
        match self.open_kernel(id, name, flags, share) {
            Ok(()) => self
                .lock()
                .sessions
                .iter()
                .find(|h| h.id == id)
                .map(|h| Reply::Stats { stats: stats(h) })
                .ok_or_else(|| not_found(name)),
            Err(e) => {
                // Not half a kernel logger: the session goes too.
                let mut st = self.lock();
                if let Some(i) = st.index_of(id) {
                    let h = st.sessions.remove(i);
                    drop(st);
                    let _ = Session::stop_shared(h.session);
                }
                Err(e)
            }
        }
    }

    /// Opens kernel sources for session `id` (named `name`) and gives them to it, in place of
    /// any it had. An error leaves the session as it was. Called without the daemon's lock:
    /// sources are stopped (which hands their last buffers over, taking the lock) only outside
    /// it.
    fn open_kernel(
        &self,
        id: u64,
        name: &str,
        flags: crate::kernel::KernelFlags,
        share: &SessionProperties,
    ) -> Result<()> {
        let me = self.me.clone();
        let hand_over: super::kernel_share::HandOver = Box::new(move |copies, lost, missing| {
            me.upgrade()
                .is_some_and(|d| d.hand_over(d.lock(), id, copies, lost, missing))
        });
        let k = super::kernel_share::start(name, flags, share, hand_over)?;
        let mut st = self.lock();
        let Some(h) = st.sessions.iter_mut().find(|h| h.id == id && !h.stopping) else {
            // Stopped, or stopping, while it started: nothing to feed.
            drop(st);
            k.stop();
            return Err(not_found(name));
        };
        let previous = h.kernel.replace(k);
        drop(st);
        if let Some(p) = previous {
            p.stop();
        }
        Ok(())
    }

    /// UPDATE of a system logger's EnableFlags: its sources are replaced by ones for `flags`
    /// (the old ones stop first, handing over what they hold). The kernel logger records
    /// tracelog's default set for 0; another system logger, no kernel events. One change at a
    /// time per session, and none once it is stopping; if the new sources cannot be opened,
    /// the old flags are restored.
    /// Returns the flags it served before (0 for none).
    fn set_kernel_flags(&self, name: &str, flags: u32) -> Result<u32> {
        let (id, old, is_kernel, share) = {
            let mut st = self.lock();
            let h = named(&mut st.sessions, name)?;
            // A stopping session is going away, as `update_rest` treats it; a change under way
            // is one to wait for.
            if h.stopping {
                return Err(not_found(name));
            }
            if h.changing {
                return Err(Error::new(
                    ErrorCode::InvalidParameter,
                    format!("session {name} is already changing its EnableFlags; try again once that is done"),
                ));
            }
            h.changing = true;
            (h.id, h.kernel.take(), h.is_kernel, h.share.clone())
        };
        let before = old.as_ref().map(|k| k.flags());
        if let Some(k) = old {
            k.stop();
        }
        let wanted = crate::kernel::KernelFlags::from_bits_retain(flags);
        let result = if wanted.is_empty() && !is_kernel {
            Ok(())
        } else {
            self.open_kernel(id, name, wanted, &share).map_err(|e| {
                let restored = before.map(|f| self.open_kernel(id, name, f, &share));
                match restored {
                    Some(Err(again)) => Error::new(
                        e.code(),
                        format!(
                            "{}; and its former flags could not be restored ({}): it records no kernel events now",
                            e.message(),
                            again.message()
                        ),
                    ),
                    _ => e,
                }
            })
        };
        if let Some(h) = self.lock().by_id(id) {
            h.changing = false;
        }
        self.detached.notify_all();
        result.map(|()| before.map_or(0, |f| f.bits()))
    }

    fn query(&self, name: &str) -> Result<Reply> {
        self.with(name, |h, _| Ok(Reply::Stats { stats: stats(h) }))
    }

    /// UPDATE: every change is checked before any is made.
    fn update(&self, name: &str, uid: u32, u: SessionUpdate) -> Result<Reply> {
        if same_name(name, crate::boot::GLOBAL_LOGGER_NAME) {
            return Err(Error::new(
                ErrorCode::InvalidParameter,
                "the Global Logger cannot be updated: change its entries (`evtrace globallogger create`) and restart the daemon",
            ));
        }
        let Some(flags) = u.enable_flags else {
            return self.update_rest(name, uid, u);
        };
        // The one change that can still fail once checked (its sources may not open) is made
        // first, and undone if the rest then fails.
        self.with(name, |h, _| {
            if h.system_logger() {
                Ok(())
            } else {
                Err(Error::invalid(format!(
                    "session {name} is not a system logger: EnableFlags can be updated only on the kernel logger and EVENT_TRACE_SYSTEM_LOGGER_MODE sessions"
                )))
            }
        })?;
        crate::kernel::KernelFlags::from_bits_retain(flags).checked()?;
        let before = self.set_kernel_flags(name, flags)?;
        let rest = SessionUpdate {
            enable_flags: None,
            ..u
        };
        self.update_rest(name, uid, rest).inspect_err(|_| {
            let _ = self.set_kernel_flags(name, before);
        })
    }

    /// UPDATE of everything but EnableFlags: every change is checked before any is made.
    fn update_rest(&self, name: &str, uid: u32, mut u: SessionUpdate) -> Result<Reply> {
        let mut guard = self.lock();
        let st = &mut *guard;
        if let Some(f) = &u.log_file {
            may_write(f, uid)?;
            st.file_free(f, Some(name))?;
        }
        let h = named(&mut st.sessions, name)?;
        if h.stopping {
            return Err(not_found(name));
        }
        // A real-time session's buffers reach its consumer at least once a second, whatever
        // the flush timer asked for.
        let real_time_after = u.real_time.unwrap_or(h.rt.is_some());
        let timer_after = match u.flush_timer_s {
            0 => h.share.flush_timer_s,
            s => s,
        };
        if real_time_after && timer_after != 1 {
            u.flush_timer_s = 1;
        }
        let mut share = h.share.clone();
        if u.maximum_buffers != 0 {
            // Producer shares made from now on get the new count (shares made earlier keep
            // theirs: their memory is mapped in the producer); the same limits as at start.
            share.maximum_buffers = u.maximum_buffers;
            share = properties::validate(share, SessionKind::System, processor_count())?.props;
        }
        let maximum_buffers_set = (u.maximum_buffers != 0).then_some(share.maximum_buffers);
        let keeps_somewhere = u.log_file.is_some() || h.kept();
        if u.real_time == Some(false) && h.rt.is_some() && !keeps_somewhere {
            return Err(Error::invalid(format!(
                "turning real-time delivery off would leave session {name} nowhere to put its events: it has no log file and is not buffering; give it a log file first"
            )));
        }
        h.session.update(SessionUpdate {
            log_file: u.log_file.clone(),
            flush_timer_s: u.flush_timer_s,
            maximum_buffers: 0,
            real_time: None,
            enable_flags: None,
        })?;
        // Checked and done in the engine: now the producers and the real-time side follow.
        if u.flush_timer_s != 0 {
            share.flush_timer_s = u.flush_timer_s;
            for conn in h.shares.keys() {
                if let Some(p) = st.producers.get(conn) {
                    let _ = p.outbox.send(
                        Reply::FlushTimer {
                            session: h.id,
                            seconds: u.flush_timer_s,
                        },
                        None,
                    );
                }
            }
        }
        h.share = share;
        if maximum_buffers_set.is_some() {
            h.maximum_buffers_set = maximum_buffers_set;
        }
        // The kernel logger's share follows too, outside the daemon's lock (its flusher may be
        // waiting for that lock to hand buffers over).
        let kernel = (u.flush_timer_s != 0)
            .then(|| h.kernel.as_ref().and_then(|k| k.share()))
            .flatten();
        if u.real_time == Some(true) && h.rt.is_none() {
            h.rt = Some(real_time_for(&h.session, h.share.maximum_buffers));
        }
        // Real-time delivery turned off: its consumer gets what is left (waiting for it a
        // little) outside the daemon's lock. Its losses stay in the session's figures.
        let ended = match (u.real_time, h.rt.take()) {
            (Some(false), Some(mut rt)) => {
                h.rt_lost_before += std::mem::take(&mut rt.buffers_lost);
                h.ending_rt = true;
                Some((rt, h.session.clone(), h.id))
            }
            (_, rt) => {
                h.rt = rt;
                None
            }
        };
        drop(guard);
        if let Some((mut rt, session, id)) = ended {
            rt.end(&session, keeps_somewhere);
            drop(session);
            if let Some(h) = self.lock().by_id(id) {
                h.rt_lost_before += rt.buffers_lost;
                h.ending_rt = false;
            }
            self.detached.notify_all();
        }
        if let Some(k) = kernel {
            let _ = k.update(SessionUpdate {
                flush_timer_s: u.flush_timer_s,
                ..Default::default()
            });
        }
        Ok(Reply::Ok)
    }

    /// Attaches connection `conn` as the real-time consumer of session `name`. The reply goes
    /// out here, before the header and backlog packets.
    fn consume(&self, conn: u64, name: &str, uid: u32, ch: &Channel) -> Result<()> {
        let consumer = ch
            .try_clone()
            .map_err(|e| Error::new(ErrorCode::Io, format!("socket: {e}")))?;
        self.with(name, |h, _| {
            // Its events are the owner's to read (as its file is).
            h.may_control(uid)?;
            let kept = h.kept();
            let Some(rt) = h.rt.as_mut() else {
                return Err(Error::invalid(format!(
                    "session {name} is not a real-time session (start it with EVENT_TRACE_REAL_TIME_MODE, `--rt`)"
                )));
            };
            if rt.has_consumer() {
                return Err(Error::new(
                    ErrorCode::AlreadyExists,
                    format!("session {name} already has a real-time consumer"),
                ));
            }
            if ch.send(&Reply::Ok, None).is_ok() {
                rt.attach(conn, consumer, &h.session, kept);
            }
            Ok(())
        })
    }

    /// INCREMENT_FILE: what the producers hold is flushed to the current file first.
    fn increment_file(&self, name: &str) -> Result<Reply> {
        // Refused before the flush, which would otherwise still happen (and save a ring).
        self.with(name, |h, _| {
            properties::may_increment_file(h.share.mode, name)
        })?;
        self.flush(name)?;
        let engine = self.with(name, |h, _| Ok(h.session.clone()))?;
        engine.increment_file()?;
        Ok(Reply::Ok)
    }

    /// FLUSH: producers hand over what their shares hold (waited for at most [`DETACH_WAIT`]),
    /// then the session writes its buffers (a BUFFERING session saves its ring).
    fn flush(&self, name: &str) -> Result<Reply> {
        let mut st = self.lock();
        let st_ref = &mut *st;
        let h = named(&mut st_ref.sessions, name)?;
        let id = h.id;
        h.flushing = h.shares.keys().copied().collect();
        for conn in &h.flushing {
            if let Some(p) = st_ref.producers.get(conn) {
                let _ = p.outbox.send(Reply::FlushShare { session: id }, None);
            }
        }
        let mut st = self.wait_while(st, |st| {
            st.sessions.iter().find(|h| h.id == id).is_some_and(|h| {
                h.flushing
                    .iter()
                    .any(|c| st.producers.contains_key(c) && h.shares.contains_key(c))
            })
        });
        let h = st.by_id(id).ok_or_else(|| not_found(name))?;
        h.flushing.clear();
        let engine = h.session.clone();
        let kernel = h.kernel.as_ref().and_then(|k| k.share());
        drop(st);
        if let Some(k) = kernel {
            // The kernel logger's partly filled buffers, handed over like a producer's.
            k.flush()?;
        }
        // Writing out (a ring, possibly) waits for the disk: not under the daemon's lock.
        engine.flush()?;
        Ok(Reply::Ok)
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

    fn flushed(&self, conn: u64, session: u64) {
        let mut st = self.lock();
        if let Some(h) = st.by_id(session) {
            h.flushing.retain(|c| *c != conn);
        }
        drop(st);
        self.detached.notify_all();
    }

    /// Stops every session, NONSTOPPABLE ones too (as ETW's do when the system shuts down), and
    /// starts no more: what the daemon does before it exits.
    fn stop_all(&self) -> Vec<(String, Result<WireStats>)> {
        let names: Vec<String> = {
            let mut st = self.lock();
            st.closing = true;
            // Those a controller is stopping already are waited for below.
            st.sessions
                .iter()
                .filter(|h| !h.stopping)
                .map(|h| h.session.name().to_string())
                .collect()
        };
        let ended = names
            .into_iter()
            .map(|name| {
                let r = self.end(&name, true).map(|reply| match reply {
                    Reply::Stats { stats } => stats,
                    _ => unreachable!("a stop answers with the session's figures"),
                });
                (name, r)
            })
            .collect();
        // A controller's stop that was under way finishes its file before the daemon goes.
        let mut st = self.lock();
        while st.ending > 0 {
            st = self.detached.wait(st).unwrap_or_else(|e| e.into_inner());
        }
        ended
    }

    /// Stops a session: producers hand over their last buffers first (or are waited for at
    /// most [`DETACH_WAIT`]), then the file is finished.
    fn stop(&self, name: &str) -> Result<Reply> {
        self.end(name, false)
    }

    /// [`stop`](Self::stop); `shutdown` also ends a NONSTOPPABLE session.
    fn end(&self, name: &str, shutdown: bool) -> Result<Reply> {
        let mut st = self.lock();
        let i = st
            .sessions
            .iter()
            .position(|h| same_name(h.session.name(), name))
            .ok_or_else(|| not_found(name))?;
        if !shutdown
            && st.sessions[i]
                .share
                .mode
                .contains(LogFileMode::NONSTOPPABLE)
        {
            return Err(Error::new(
                ErrorCode::AccessDenied,
                format!(
                    "session {name} is EVENT_TRACE_NONSTOPPABLE_MODE and cannot be stopped; it ends when the daemon does (SIGTERM to the daemon stops every session)"
                ),
            ));
        }
        if st.sessions[i].stopping {
            return Err(Error::new(
                ErrorCode::InstanceNotFound,
                format!("session {name} is already stopping"),
            ));
        }
        st.sessions[i].stopping = true;
        st.ending += 1;
        let id = st.sessions[i].id;
        drop(st);
        let r = self.end_stopping(name, id, shutdown);
        self.lock().ending -= 1;
        self.detached.notify_all();
        r
    }

    /// The rest of [`end`](Self::end), once session `id` is marked as stopping.
    fn end_stopping(&self, name: &str, id: u64, shutdown: bool) -> Result<Reply> {
        let mut st = self.lock();
        // A change of its kernel sources, or the end of its real-time delivery, finishes first;
        // then the sources go, their last buffers reaching the session before it leaves.
        let changing = |st: &State| {
            st.sessions
                .iter()
                .any(|h| h.id == id && (h.changing || h.ending_rt))
        };
        while changing(&st) {
            st = self.wait_while(st, changing);
        }
        loop {
            let h = st.by_id(id).ok_or_else(|| not_found(name))?;
            let Some(k) = h.kernel.take() else { break };
            drop(st);
            k.stop();
            st = self.lock();
        }
        let i = st.index_of(id).ok_or_else(|| not_found(name))?;
        let sharing: Vec<u64> = st.sessions[i].shares.keys().copied().collect();
        for conn in &sharing {
            if let Some(p) = st.producers.get(conn) {
                let _ = p.outbox.send(Reply::Detach { session: id }, None);
            }
        }
        let mut st = self.wait_while(st, |st| {
            st.sessions
                .iter()
                .find(|h| h.id == id)
                .is_some_and(|h| h.shares.keys().any(|c| st.producers.contains_key(c)))
        });
        let i = st.index_of(id).ok_or_else(|| not_found(name))?;
        let mut h = st.sessions.remove(i);
        drop(st);
        let kept = h.kept();
        if let Some(rt) = h.rt.as_mut() {
            rt.end(&h.session, kept);
        }
        let figures = Figures::of(&h);
        let final_stats = if shutdown {
            Session::shutdown_shared(h.session)?
        } else {
            Session::stop_shared(h.session)?
        };
        Ok(Reply::Stats {
            stats: figures.on(final_stats),
        })
    }

    /// EnableTrace for a system session: stored with the session, applied to every producer
    /// that has the provider now or registers it later.
    fn enable(&self, name: &str, guid: &str, settings: Option<WireEnable>) -> Result<Reply> {
        let g: Guid = if guid == super::protocol::ANY_PROVIDER {
            ANY
        } else {
            guid.parse().map_err(|_| {
                Error::invalid(format!(
                    "{guid:?} is not a provider GUID: write it as xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx, or {:?} for every provider",
                    super::protocol::ANY_PROVIDER
                ))
            })?
        };
        if let Some(s) = &settings {
            s.filter.check()?;
        }
        let mut st = self.lock();
        let st = &mut *st;
        let enabled_elsewhere = st
            .sessions
            .iter()
            .filter(|h| !same_name(h.session.name(), name))
            .filter(|h| h.enables.iter().any(|(e, _)| *e == g))
            .count();
        let h = named(&mut st.sessions, name)?;
        if h.is_kernel {
            return Err(Error::invalid(format!(
                "session {name} is the kernel logger: its events are chosen by its enable flags (`evtrace start \"{}\" --kernel-flags ...`), not by enabling providers",
                crate::kernel::KERNEL_LOGGER_NAME
            )));
        }
        match settings {
            Some(s) => {
                let already = h.enables.iter().any(|(e, _)| *e == g);
                if !already && enabled_elsewhere >= MAX_SESSIONS_PER_PROVIDER {
                    return Err(Error::new(
                        ErrorCode::NoSystemResources,
                        format!("provider {g} is already enabled by {MAX_SESSIONS_PER_PROVIDER} sessions, the most one provider can have"),
                    ));
                }
                h.enables.retain(|(e, _)| *e != g);
                h.enables.push((g, s.clone()));
                for (&conn, p) in st.producers.iter() {
                    for &pg in p.providers.iter().filter(|&&pg| g == ANY || pg == g) {
                        apply(h, conn, p, pg, Some(s.clone()));
                    }
                }
            }
            None => {
                h.enables.retain(|(e, _)| *e != g);
                for (&conn, p) in st.producers.iter() {
                    if !h.shares.contains_key(&conn) {
                        continue;
                    }
                    // Every provider goes but those the session names itself.
                    let gone = p.providers.iter().filter(|&&pg| {
                        pg == g || (g == ANY && !h.enables.iter().any(|(e, _)| *e == pg))
                    });
                    for &pg in gone {
                        tell_disable(p, h.id, pg);
                    }
                }
            }
        }
        Ok(Reply::Ok)
    }

    /// A producer registered provider `g`: every session that wants it is applied.
    fn register(&self, conn: u64, g: Guid) {
        let mut st = self.lock();
        let st = &mut *st;
        let Some(p) = st.producers.get_mut(&conn) else {
            return;
        };
        if p.providers.contains(&g) {
            // Said before: nothing new to apply (and nothing to re-send).
            return;
        }
        p.providers.push(g);
        let p = &st.producers[&conn];
        for h in st.sessions.iter_mut() {
            let wanted = h.enables.iter().find(|(e, _)| *e == g);
            if let Some((_, s)) = wanted.or_else(|| h.enables.iter().find(|(e, _)| *e == ANY)) {
                apply(h, conn, p, g, Some(s.clone()));
            }
        }
    }

    /// Copies finished buffers out of a producer's share and writes them to the session.
    /// Nothing is taken if the session or the share is gone, or if any buffer named lies
    /// outside the share.
    fn take_buffers(
        &self,
        conn: u64,
        session: u64,
        buffers: &[(u32, u32)],
        events_lost: u64,
    ) -> Taken {
        let mut st = self.lock();
        let Some(h) = st.by_id(session) else {
            return Taken::No;
        };
        let Some(share) = h.shares.get_mut(&conn) else {
            return Taken::No;
        };
        let count = share.region.len() / share.buffer_bytes.max(1);
        if let Some(&(index, _)) = buffers.iter().find(|(i, _)| *i as usize >= count) {
            return Taken::Outside(format!(
                "it named buffer {index} of its share of session {}, which has buffers 0 to {}",
                h.session.name(),
                count.saturating_sub(1)
            ));
        }
        let delta = events_lost.saturating_sub(share.events_lost);
        share.events_lost = share.events_lost.max(events_lost);
        let mut copies = Vec::with_capacity(buffers.len());
        let mut missing = 0;
        for &(index, used) in buffers {
            let used = (used as usize).min(share.buffer_bytes);
            match share
                .region
                .copy_buffer(index as usize, share.buffer_bytes, used)
            {
                Some(b) => {
                    copies.push(b);
                    // Taken buffers are left zeroed: whatever a dead producer leaves in its
                    // share is then exactly what it had not handed over (see `gone`).
                    share.region.zero(index as usize * share.buffer_bytes, used);
                }
                // A buffer the producer names outside its share: lost, its events unknown.
                None => missing += 1,
            }
        }
        if self.hand_over(st, session, copies, delta, missing) {
            Taken::Yes
        } else {
            Taken::No
        }
    }

    /// Puts buffers taken from a share into session `session` (id): to the real-time consumer
    /// now, to the file or ring outside the daemon's lock; `lost` adds to its EventsLost, and
    /// `missing` buffers that could not be copied out of the share count as lost buffers.
    /// Returns false if the session is gone.
    fn hand_over(
        &self,
        mut st: MutexGuard<'_, State>,
        session: u64,
        copies: Vec<Vec<u8>>,
        lost: u64,
        missing: u64,
    ) -> bool {
        let Some(h) = st.by_id(session) else {
            return false;
        };
        if lost > 0 {
            h.session.add_events_lost(lost);
        }
        for _ in 0..missing {
            // Their events are unknown.
            h.session.add_lost_buffer(0);
        }
        let kept = h.kept();
        if let Some(rt) = h.rt.as_mut() {
            // Never waits: a consumer that cannot take a buffer now gets it from the backlog.
            for b in &copies {
                rt.deliver(b.clone(), &h.session, kept);
            }
        }
        let engine = h.session.clone();
        drop(st);
        // Outside the daemon's lock: the engine's queue may wait for a slow disk, and other
        // producers and controllers need not wait with it.
        if kept {
            for b in copies {
                let events = crate::etl::buffer_events(&b);
                if engine.submit_buffer(b).is_err() {
                    // The session stopped itself (full disk, failed write): counted, not dropped
                    // silently.
                    engine.add_lost_buffer(events);
                }
            }
        }
        true
    }

    fn finished(&self, conn: u64, session: u64, events_lost: u64) {
        let mut st = self.lock();
        if let Some(h) = st.by_id(session) {
            if let Some(share) = h.shares.remove(&conn) {
                let delta = events_lost.saturating_sub(share.events_lost);
                if delta > 0 {
                    h.session.add_events_lost(delta);
                }
            }
        }
        drop(st);
        self.detached.notify_all();
    }

    /// A connection closed. For a producer: its shares end. If it died without handing over
    /// its last buffers (killed, even mid-write), the events left in its share are counted in
    /// the session's EventsLost; the session and its file go on.
    fn gone(&self, conn: u64) {
        let mut st = self.lock();
        for h in st.sessions.iter_mut() {
            if let Some(rt) = h.rt.as_mut() {
                rt.detach(conn);
            }
        }
        if st.producers.remove(&conn).is_some() {
            for h in st.sessions.iter_mut() {
                if let Some(share) = h.shares.remove(&conn) {
                    let left = unshipped_events(&share);
                    if left > 0 {
                        h.session.add_events_lost(left);
                    }
                }
            }
        }
        drop(st);
        self.detached.notify_all();
    }
}

impl Hosted {
    /// The kernel logger, or a session with EVENT_TRACE_SYSTEM_LOGGER_MODE.
    fn system_logger(&self) -> bool {
        self.is_kernel || self.share.mode.contains(LogFileMode::SYSTEM_LOGGER)
    }

    /// Whether its buffers are kept other than by real-time delivery: a log file, or the ring.
    fn kept(&self) -> bool {
        self.session.log_file().is_some() || self.share.mode.contains(LogFileMode::BUFFERING)
    }

    fn may_control(&self, uid: u32) -> Result<()> {
        if uid == 0 || uid == self.owner {
            return Ok(());
        }
        Err(Error::new(
            ErrorCode::AccessDenied,
            format!(
                "session {} belongs to user {}: only that user or root may control, query or consume it",
                self.session.name(),
                self.owner
            ),
        ))
    }
}

/// Whether user `uid` may have the daemon write `file`: an absolute path (the daemon's working
/// directory is not the controller's), and for users other than root, a file of their own in a
/// directory of their own, since the daemon writes with its own rights.
fn may_write(file: &Path, uid: u32) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    if !file.is_absolute() {
        return Err(Error::new(
            ErrorCode::BadPathname,
            format!(
                "{}: give the log file as an absolute path (the daemon does not share your working directory)",
                file.display()
            ),
        ));
    }
    if uid == 0 {
        return Ok(());
    }
    let denied = |what: &str| {
        Error::new(
            ErrorCode::AccessDenied,
            format!("{}: {what}; the daemon writes log files for a user only in that user's own directories", file.display()),
        )
    };
    let dir = file.parent().unwrap_or(Path::new("/"));
    match std::fs::metadata(dir) {
        Ok(m) if m.uid() == uid => {}
        _ => return Err(denied("its directory is not yours")),
    }
    match std::fs::symlink_metadata(file) {
        Ok(m) if m.uid() != uid || m.file_type().is_symlink() => {
            Err(denied("the file is not yours"))
        }
        _ => Ok(()),
    }
}

/// Tells producer `p` that session `id` no longer wants provider `g`.
fn tell_disable(p: &Producer, id: u64, g: Guid) {
    let guid = g.to_string();
    let _ = p.outbox.send(Reply::Disable { session: id, guid }, None);
}

/// Gives producer `p` its share of `h` if it has none yet, then the provider's settings.
fn apply(h: &mut Hosted, conn: u64, p: &Producer, g: Guid, s: Option<WireEnable>) {
    if let Some(s) = &s {
        // A process the filter does not take gets no share and no enable: its events stay
        // disabled at one relaxed load. One it had before is told to stop.
        if s.filter.filters_processes() && !s.filter.takes_process(p.pid) {
            if h.shares.contains_key(&conn) {
                tell_disable(p, h.id, g);
            }
            return;
        }
    }
    if let Some(allowed) = &h.secure {
        if p.uid != 0 && !allowed.contains(&p.uid) {
            if !h.shares.contains_key(&conn) {
                h.refused += 1;
                eprintln!(
                    "evtrace daemon: process {} (uid {}) may not log to secure session {}",
                    p.pid,
                    p.uid,
                    h.session.name()
                );
            }
            return;
        }
    }
    if !h.shares.contains_key(&conn) {
        let buffer_bytes = h.share.buffer_size_kb as usize * 1024;
        let len = h.share.maximum_buffers as usize * buffer_bytes;
        let made = Region::create(&format!("evtrace-{}-{}", h.id, p.pid), len);
        let (region, fd) = match made {
            Ok(x) => x,
            Err(e) => {
                eprintln!(
                    "evtrace daemon: no shared buffers for process {} in session {}: {e}",
                    p.pid,
                    h.session.name()
                );
                return;
            }
        };
        let attach = Reply::Attach {
            session: h.id,
            props: WireProps::from(&h.share),
            sequence_index: h.sequence_index,
        };
        if !p.outbox.send(attach, Some(fd)) {
            return;
        }
        h.shares.insert(
            conn,
            Share {
                region,
                buffer_bytes,
                events_lost: 0,
            },
        );
    }
    if let Some(settings) = s {
        let _ = p.outbox.send(
            Reply::Enable {
                session: h.id,
                guid: g.to_string(),
                settings,
                // The Global Logger sends providers no enable notification.
                notify: !same_name(h.session.name(), crate::boot::GLOBAL_LOGGER_NAME),
            },
            None,
        );
    }
}

/// Events in a share's buffers that were never handed over: taken buffers are zeroed, so every
/// record still there is one (a record cut short by a kill counts too).
fn unshipped_events(share: &Share) -> u64 {
    let n = share.region.len() / share.buffer_bytes.max(1);
    (0..n)
        .filter_map(|i| {
            share
                .region
                .copy_out(i * share.buffer_bytes, share.buffer_bytes)
        })
        .map(|b| crate::etl::count_records(&b, b.len()))
        .sum()
}

/// Real-time delivery for `session`, keeping up to `backlog` buffers for a consumer.
fn real_time_for(session: &Session, backlog: u32) -> RealTime {
    let h = session.logfile_header();
    let mut bytes = vec![0u8; h.buffer_size.max(4096) as usize];
    crate::etl::write_header_buffer(&mut bytes, &h);
    // Only what the header buffer holds (about a kilobyte), not its padding to BufferSize.
    let used = crate::etl::BufferHeader::parse(&bytes)
        .map(|b| b.saved_offset as usize)
        .unwrap_or(bytes.len())
        .min(bytes.len());
    bytes.truncate(used);
    RealTime::new(bytes, backlog as usize, h.buffer_size as usize)
}

fn stats(h: &Hosted) -> WireStats {
    Figures::of(h).on(h.session.query())
}

/// What the daemon adds to the engine's figures of a session: real-time delivery, producers,
/// the mode in force (UPDATE may have turned real-time delivery on or off), kernel flags.
struct Figures {
    /// MaximumBuffers as UPDATE set it, if it did (for shares made afterwards).
    maximum_buffers: Option<u32>,
    rt_lost: u64,
    consumers: u32,
    real_time: bool,
    producers: u32,
    refused: u32,
    enable_flags: u32,
}

impl Figures {
    fn of(h: &Hosted) -> Figures {
        Figures {
            maximum_buffers: h.maximum_buffers_set,
            rt_lost: h.rt_lost_before + h.rt.as_ref().map_or(0, |rt| rt.buffers_lost),
            consumers: h.rt.as_ref().map_or(0, |rt| u32::from(rt.has_consumer())),
            real_time: h.rt.is_some(),
            producers: h.shares.len() as u32,
            refused: h.refused,
            enable_flags: h.kernel.as_ref().map_or(0, |k| k.flags().bits()),
        }
    }

    fn on(&self, mut session: crate::session::SessionStats) -> WireStats {
        if let Some(max) = self.maximum_buffers {
            session.maximum_buffers = max;
        }
        session.real_time_buffers_lost += self.rt_lost;
        session.mode.set(LogFileMode::REAL_TIME, self.real_time);
        WireStats {
            session,
            producers: self.producers,
            refused_producers: self.refused,
            consumers: self.consumers,
            enable_flags: self.enable_flags,
        }
    }
}

/// The session named `name` (names compare case-insensitively). On the table alone, so that
/// the producers can be borrowed beside it.
fn named<'a>(sessions: &'a mut [Hosted], name: &str) -> Result<&'a mut Hosted> {
    sessions
        .iter_mut()
        .find(|h| same_name(h.session.name(), name))
        .ok_or_else(|| not_found(name))
}

fn not_found(name: &str) -> Error {
    Error::new(
        ErrorCode::InstanceNotFound,
        format!("no system session named {name} is running"),
    )
}

fn same_file(a: &Path, b: &Path) -> bool {
    let abs = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    abs(a) == abs(b)
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
