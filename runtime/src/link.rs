//! A process's link to the daemon, the provider side of system sessions: a process that
//! registers providers connects to the daemon when one is running, without waiting when none is
//! (it keeps looking, once a second, and registers when one starts, as LTTng-UST applications do
//! with their session daemon).
//!
//! The daemon answers with shares of the sessions that want this process's providers: a memfd
//! for each, in which a proxy session (the in-process engine, buffers in that shared memory) takes
//! the events, then enable and disable messages that set the providers' enable words as a local
//! session would. The proxy's finished buffers are reported to the daemon, which copies them out.
//! Set `EVTRACE_NO_DAEMON=1` to keep a process from looking for the daemon at all.
//!
//! With `EVTRACE_DAEMON_SYNC_MS=N` (what `evtrace record` gives its command), a provider's
//! registration waits up to N ms until the daemon has answered it (shares attached, enables
//! applied), so that a recorded program's first events are not written before the sessions
//! that want them reach it. The wait is in registration (a site's first use), never in a write.
//!
//! The link sits below the providers: a registering provider calls [`registered`], and the link
//! reaches the provider registry back only through the [`Registry`] hooks the registry installs
//! when it first holds state, before any provider can register.

use std::collections::HashMap;
use std::io;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use crate::client::paths;
use crate::client::protocol::{Reply, Request, WireProps, COUNTER_PAGE};
use crate::client::wire::Channel;
use crate::error::Result;
use crate::model::{EnableFilter, EnableSettings};
use crate::session::region::Region;
use crate::session::{Outbound, Session, Shipped};
use crate::Guid;

/// What the link needs of the provider registry: the providers registered, and enabling or
/// disabling one in a share of a session as a session's own controller would (`notify`: tell
/// the provider's enable callback).
pub(crate) struct Registry {
    pub(crate) registered: fn() -> Vec<Guid>,
    pub(crate) enable: fn(&Session, Guid, EnableSettings, &EnableFilter, bool) -> Result<()>,
    pub(crate) disable: fn(&Session, Guid) -> Result<()>,
}

static REGISTRY: OnceLock<Registry> = OnceLock::new();

/// Installs the registry's hooks (once; later calls are ignored).
pub(crate) fn install(hooks: Registry) {
    let _ = REGISTRY.set(hooks);
}

fn registry() -> &'static Registry {
    // Installed by the registry as it first holds state, and a link starts only from a
    // registration, which goes through the registry first.
    REGISTRY
        .get()
        .expect("the provider registry installs its hooks before any registration")
}

/// How often a process without a daemon looks for one.
const RETRY: Duration = Duration::from_secs(1);

struct Client {
    /// The connection while there is one: what registrations are sent on.
    channel: Mutex<Option<Channel>>,
}

static CLIENT: OnceLock<Client> = OnceLock::new();

/// `Sync` tokens: the last sent and the last answered, and the condition waiters wait on.
static SYNC: (Mutex<(u64, u64)>, std::sync::Condvar) =
    (Mutex::new((0, 0)), std::sync::Condvar::new());

/// `EVTRACE_DAEMON_SYNC_MS`: how long a registration waits for the daemon's answer.
fn sync_wait() -> Option<Duration> {
    static WAIT: OnceLock<Option<Duration>> = OnceLock::new();
    *WAIT.get_or_init(|| {
        let ms: u64 = std::env::var("EVTRACE_DAEMON_SYNC_MS").ok()?.parse().ok()?;
        (ms > 0).then(|| Duration::from_millis(ms))
    })
}

/// The next `Sync` token (sent by the caller).
fn next_token() -> u64 {
    let mut t = SYNC.0.lock().unwrap_or_else(|e| e.into_inner());
    t.0 += 1;
    t.0
}

/// Waits up to `wait` for the answer to `Sync` number `token` (0: to any).
fn wait_synced(token: u64, wait: Duration) {
    let t = SYNC.0.lock().unwrap_or_else(|e| e.into_inner());
    let _ = SYNC.1.wait_timeout_while(t, wait, |t| t.1 < token.max(1));
}

/// Called when a provider registers in this process: starts looking for the daemon (once), and
/// tells a connected daemon about the provider.
pub(crate) fn registered(guid: Guid) {
    if std::env::var_os("EVTRACE_NO_DAEMON").is_some_and(|v| v != "0") {
        return;
    }
    let wait = sync_wait();
    let mut first = false;
    let client = CLIENT.get_or_init(|| {
        first = true;
        Client {
            channel: Mutex::new(None),
        }
    });
    if first {
        let _ = std::thread::Builder::new()
            .name("evtrace-daemon-link".into())
            .spawn(|| link(CLIENT.get().expect("set above")));
        if let Some(wait) = wait {
            // The link's first `Sync` follows its registrations.
            wait_synced(0, wait);
        }
        return;
    }
    let sent = {
        let ch = client.channel.lock().unwrap_or_else(|e| e.into_inner());
        ch.as_ref().and_then(|ch| {
            let _ = ch.send(
                &Request::Register {
                    guid: guid.to_string(),
                },
                None,
            );
            let token = wait.map(|_| next_token())?;
            ch.send(&Request::Sync { token }, None).ok().map(|()| token)
        })
    };
    if let (Some(token), Some(wait)) = (sent, wait) {
        wait_synced(token, wait);
    }
}

/// Keeps the link to the daemon: connect, announce, serve; after a disconnect, start over.
fn link(client: &'static Client) {
    loop {
        match paths::connect(&paths::runtime_dir()) {
            Ok(ch) => {
                if let Err(e) = serve(client, ch) {
                    if e.kind() != io::ErrorKind::UnexpectedEof {
                        eprintln!("evtrace: connection to the daemon ended: {e}");
                    }
                }
                *client.channel.lock().unwrap_or_else(|e| e.into_inner()) = None;
                // Not straight back: a daemon that keeps closing the connection is not hammered.
                std::thread::sleep(RETRY);
            }
            Err(_) => std::thread::sleep(RETRY),
        }
    }
}

/// This process's shares of system sessions, by the daemon's session id, and where each one's
/// `Taken` answers go (kept until a stopping share has shipped its last buffers).
#[derive(Default)]
struct Shares {
    sessions: HashMap<u64, Arc<Session>>,
    takers: HashMap<u64, Sender<bool>>,
}

fn serve(client: &'static Client, ch: Channel) -> io::Result<()> {
    ch.send(
        &Request::Producer {
            pid: std::process::id(),
        },
        None,
    )?;
    {
        // Sent under the lock, so that a provider registering meanwhile is sent once, after
        // these, by `registered`.
        let mut slot = client.channel.lock().unwrap_or_else(|e| e.into_inner());
        for guid in (registry().registered)() {
            ch.send(
                &Request::Register {
                    guid: guid.to_string(),
                },
                None,
            )?;
        }
        if sync_wait().is_some() {
            ch.send(
                &Request::Sync {
                    token: next_token(),
                },
                None,
            )?;
        }
        *slot = Some(ch.try_clone()?);
    }
    let shares: Arc<Mutex<Shares>> = Arc::default();
    let mut counters: Option<Arc<Region>> = None;
    let result = loop {
        let (msg, fd) = match ch.recv::<Reply>() {
            Ok(Some(m)) => m,
            Ok(None) => break Err(io::ErrorKind::UnexpectedEof.into()),
            Err(e) => break Err(e),
        };
        match msg {
            Reply::Synced { token } => {
                let mut t = SYNC.0.lock().unwrap_or_else(|e| e.into_inner());
                t.1 = t.1.max(token);
                SYNC.1.notify_all();
            }
            Reply::Counters => {
                if let Some(fd) = fd {
                    counters = Region::map(&fd, COUNTER_PAGE).ok().map(Arc::new);
                }
            }
            Reply::Attach {
                session,
                props,
                sequence_index,
            } => {
                let Some(fd) = fd else { continue };
                let sequences = counters
                    .clone()
                    .filter(|_| sequence_index != 0)
                    .map(|c| (c, sequence_index as usize));
                match attach(&ch, session, &props, fd, sequences) {
                    Ok((s, taker)) => {
                        let mut sh = lock(&shares);
                        sh.sessions.insert(session, Arc::new(s));
                        sh.takers.insert(session, taker);
                    }
                    Err(e) => {
                        eprintln!("evtrace: cannot log to system session {}: {e}", props.name);
                        // Tell the daemon, so it does not wait for this share.
                        let _ = ch.send(
                            &Request::Finished {
                                session,
                                events_lost: 0,
                            },
                            None,
                        );
                    }
                }
            }
            Reply::Enable {
                session,
                guid,
                settings,
                notify,
            } => {
                let sh = lock(&shares);
                if let (Some(s), Ok(g)) = (sh.sessions.get(&session), guid.parse::<Guid>()) {
                    let e = EnableSettings::from(&settings);
                    let _ = (registry().enable)(s, g, e, &settings.filter, notify);
                }
            }
            Reply::Disable { session, guid } => {
                let sh = lock(&shares);
                if let (Some(s), Ok(g)) = (sh.sessions.get(&session), guid.parse::<Guid>()) {
                    let _ = (registry().disable)(s, g);
                }
            }
            Reply::Taken { session } => {
                if let Some(t) = lock(&shares).takers.get(&session) {
                    let _ = t.send(true);
                }
            }
            Reply::Refused { session } => {
                // The share is gone on the daemon's side: its flusher counts the buffers lost;
                // then the share ends here too, so that a later Attach can start it afresh.
                let s = {
                    let mut sh = lock(&shares);
                    if let Some(t) = sh.takers.get(&session) {
                        let _ = t.send(false);
                    }
                    sh.sessions.remove(&session)
                };
                if let Some(s) = s {
                    end_share_later(&shares, session, s);
                }
            }
            Reply::FlushTimer { session, seconds } => {
                if let Some(s) = lock(&shares).sessions.get(&session) {
                    let _ = s.update(crate::session::SessionUpdate {
                        flush_timer_s: seconds,
                        ..Default::default()
                    });
                }
            }
            Reply::FlushShare { session } => {
                let Some(s) = lock(&shares).sessions.get(&session).cloned() else {
                    let _ = ch.send(&Request::Flushed { session }, None);
                    continue;
                };
                // As for Detach: flushing waits for `Taken`, which this thread reads.
                let ch = ch.try_clone();
                let _ = std::thread::Builder::new()
                    .name("evtrace-flush-share".into())
                    .spawn(move || {
                        let _ = s.flush();
                        if let Ok(ch) = ch {
                            let _ = ch.send(&Request::Flushed { session }, None);
                        }
                    });
            }
            Reply::Detach { session } => {
                let Some(s) = lock(&shares).sessions.remove(&session) else {
                    let _ = ch.send(
                        &Request::Finished {
                            session,
                            events_lost: 0,
                        },
                        None,
                    );
                    continue;
                };
                end_share_later(&shares, session, s);
            }
            _ => {}
        }
    };
    // The daemon is gone: the shares end here; what they held is lost with it (counted by them).
    let left: Vec<Arc<Session>> = lock(&shares).sessions.drain().map(|(_, s)| s).collect();
    lock(&shares).takers.clear();
    for s in left {
        let _ = Session::stop_shared(s);
    }
    result
}

/// Ends a share on a thread of its own: stopping ships the last buffers and waits for `Taken`,
/// which the connection's reader must stay free to read. Its `Taken` route goes once it is done.
fn end_share_later(shares: &Arc<Mutex<Shares>>, session: u64, s: Arc<Session>) {
    let shares = shares.clone();
    let _ = std::thread::Builder::new()
        .name("evtrace-detach".into())
        .spawn(move || {
            let _ = Session::stop_shared(s);
            lock(&shares).takers.remove(&session);
        });
}

fn lock(s: &Mutex<Shares>) -> std::sync::MutexGuard<'_, Shares> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

/// Starts this process's share of a session in the memfd the daemon sent.
fn attach(
    ch: &Channel,
    session: u64,
    props: &WireProps,
    fd: std::os::fd::OwnedFd,
    sequences: Option<(Arc<Region>, usize)>,
) -> crate::Result<(Session, Sender<bool>)> {
    let p = props.to_props()?;
    let len = p.maximum_buffers as usize * p.buffer_size_kb as usize * 1024;
    let region = Region::map(&fd, len).map_err(|e| {
        crate::Error::new(
            crate::ErrorCode::NoSystemResources,
            format!("cannot map the shared buffers: {e}"),
        )
    })?;
    let (tx, rx) = channel();
    let out = DaemonOutbound {
        session,
        channel: ch
            .try_clone()
            .map_err(|e| crate::Error::new(crate::ErrorCode::Io, format!("socket: {e}")))?,
        taken: rx,
    };
    let s = Session::start_proxy(p, Arc::new(region), Box::new(out), sequences)?;
    Ok((s, tx))
}

/// A share's way to the daemon.
struct DaemonOutbound {
    session: u64,
    channel: Channel,
    /// The daemon's answers to `Ready`: taken or not.
    taken: Receiver<bool>,
}

impl Outbound for DaemonOutbound {
    fn ship(&mut self, buffers: &[Shipped], events_lost: u64) -> io::Result<()> {
        self.channel.send(
            &Request::Ready {
                session: self.session,
                buffers: buffers.iter().map(|b| (b.index, b.used)).collect(),
                events_lost,
            },
            None,
        )?;
        // No time limit: a daemon that dies closes the connection, which ends the wait; one
        // that is slow holds these buffers, and writers meanwhile count what they cannot place.
        // Giving up early would count as lost buffers the daemon may still write.
        match self.taken.recv() {
            Ok(true) => Ok(()),
            Ok(false) => Err(io::Error::other(
                "the daemon no longer has this share of the session",
            )),
            Err(_) => Err(io::ErrorKind::BrokenPipe.into()),
        }
    }

    fn finish(&mut self, events_lost: u64) {
        let _ = self.channel.send(
            &Request::Finished {
                session: self.session,
                events_lost,
            },
            None,
        );
    }
}
