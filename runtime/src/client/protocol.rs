//! The messages between the daemon, controllers and producer processes.
//!
//! Controllers send a request and read one reply. A producer announces itself, registers its
//! providers, and from then on the daemon tells it which sessions want which providers
//! (`Attach` carries the memfd of the producer's share of a session) while the producer reports
//! finished buffers (`Ready`, answered by `Taken` once the daemon has copied them out).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::clock::ClockType;
use crate::error::{Error, ErrorCode};
use crate::model::{EnableFilter, EnableSettings};
use crate::session::{LogFileMode, SessionProperties, SessionStats};

/// Session properties on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireProps {
    /// Session name.
    pub name: String,
    /// Log file, if any.
    pub log_file: Option<PathBuf>,
    /// LogFileMode bits.
    pub mode: u32,
    /// BufferSize in KB.
    pub buffer_size_kb: u32,
    /// MinimumBuffers.
    pub minimum_buffers: u32,
    /// MaximumBuffers.
    pub maximum_buffers: u32,
    /// MaximumFileSize.
    pub maximum_file_size: u32,
    /// FlushTimer in seconds.
    pub flush_timer_s: u32,
    /// ClientContext clock number (1, 2 or 3).
    pub clock: u32,
    /// EnableFlags (the kernel logger's events).
    #[serde(default)]
    pub enable_flags: u32,
    /// The process whose descendants' kernel events a system logger records (evtrace's own).
    #[serde(default)]
    pub kernel_tree_of: Option<u32>,
}

impl From<&SessionProperties> for WireProps {
    fn from(p: &SessionProperties) -> WireProps {
        WireProps {
            name: p.name.clone(),
            log_file: p.log_file.clone(),
            mode: p.mode.bits(),
            buffer_size_kb: p.buffer_size_kb,
            minimum_buffers: p.minimum_buffers,
            maximum_buffers: p.maximum_buffers,
            maximum_file_size: p.maximum_file_size,
            flush_timer_s: p.flush_timer_s,
            clock: p.clock.number(),
            enable_flags: p.enable_flags,
            kernel_tree_of: p.kernel_tree_of,
        }
    }
}

impl WireProps {
    /// Back to properties; unknown mode bits are kept, so validation names them.
    pub fn to_props(&self) -> Result<SessionProperties, Error> {
        let clock = ClockType::from_number_checked(self.clock).map_err(Error::invalid)?;
        Ok(SessionProperties {
            name: self.name.clone(),
            log_file: self.log_file.clone(),
            mode: LogFileMode::from_bits_retain(self.mode),
            buffer_size_kb: self.buffer_size_kb,
            minimum_buffers: self.minimum_buffers,
            maximum_buffers: self.maximum_buffers,
            maximum_file_size: self.maximum_file_size,
            flush_timer_s: self.flush_timer_s,
            clock,
            enable_flags: self.enable_flags,
            kernel_tree_of: self.kernel_tree_of,
        })
    }
}

/// A session's figures on the wire (ControlTrace QUERY): the engine's, with what the daemon
/// adds (mode and real-time losses as the daemon delivers them, its producers and consumers).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireStats {
    /// The engine's figures. EventsLost includes the producers' losses, which they report.
    #[serde(flatten)]
    pub session: SessionStats,
    /// Producer processes logging to the session now.
    pub producers: u32,
    /// Producer processes a SECURE session refused (their user is not allowed).
    pub refused_producers: u32,
    /// Real-time consumers attached (REAL_TIME sessions: 0 or 1).
    pub consumers: u32,
    /// The kernel logger's enable flags in force (0 for other sessions).
    pub enable_flags: u32,
}

/// The daemon's counter page (the sequence counters shared with producers: the global counter
/// and one per possible session), which both sides map whole.
pub(crate) const COUNTER_PAGE: usize = 4096;

/// The provider "GUID" of an enable meaning every provider the processes its filter takes
/// register (`evtrace record -- COMMAND` records its command's providers this way).
pub const ANY_PROVIDER: &str = "*";

/// Provider enable settings on the wire (EnableTraceEx2's arguments).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireEnable {
    /// Level (0 = all).
    pub level: u8,
    /// MatchAnyKeyword (0 = all).
    pub any: u64,
    /// MatchAllKeyword.
    pub all: u64,
    /// The enable's filter (processes, event ids); absent: none.
    #[serde(default, skip_serializing_if = "EnableFilter::is_empty")]
    pub filter: EnableFilter,
}

impl From<EnableSettings> for WireEnable {
    fn from(s: EnableSettings) -> WireEnable {
        WireEnable {
            level: s.level,
            any: s.match_any,
            all: s.match_all,
            filter: EnableFilter::default(),
        }
    }
}

impl From<&WireEnable> for EnableSettings {
    fn from(w: &WireEnable) -> EnableSettings {
        EnableSettings::new(w.level, w.any, w.all)
    }
}

/// What controllers and producers send to the daemon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// The first message of a producer process.
    Producer {
        /// Its process id (checked against the socket's credentials).
        pid: u32,
    },
    /// A provider of the producer registered (GUID as text).
    Register {
        /// Provider GUID.
        guid: String,
    },
    /// Answer `Synced` with `token` once what was asked before is answered (a producer started
    /// with `EVTRACE_DAEMON_SYNC_MS` waits for it, so that its first events find the sessions
    /// that want them).
    Sync {
        /// Echoed in `Synced`.
        token: u64,
    },
    /// Finished buffers of the producer's share of `session`: (index, bytes used) each.
    Ready {
        /// The daemon's session id, from `Attach`.
        session: u64,
        /// Buffers, by index into the shared region, and their used bytes.
        buffers: Vec<(u32, u32)>,
        /// The share's EventsLost so far.
        events_lost: u64,
    },
    /// The producer has handed over everything its share of `session` held (answer to
    /// `FlushShare`).
    Flushed {
        /// The daemon's session id.
        session: u64,
    },
    /// The producer's share of `session` has ended (answer to `Detach`, or the process exits).
    Finished {
        /// The daemon's session id.
        session: u64,
        /// The share's final EventsLost.
        events_lost: u64,
    },
    /// StartTrace.
    Start {
        /// The session's properties.
        props: WireProps,
        /// EVENT_TRACE_SECURE_MODE: user ids, besides root and the starting user, whose
        /// processes may log to the session.
        #[serde(default)]
        allow_users: Vec<u32>,
    },
    /// ControlTrace STOP.
    Stop {
        /// Session name.
        name: String,
    },
    /// ControlTrace QUERY.
    Query {
        /// Session name.
        name: String,
    },
    /// QueryAllTraces.
    List,
    /// ControlTrace FLUSH.
    Flush {
        /// Session name.
        name: String,
    },
    /// ControlTrace INCREMENT_FILE (NEWFILE sessions).
    IncrementFile {
        /// Session name.
        name: String,
    },
    /// ControlTrace UPDATE.
    Update {
        /// Session name.
        name: String,
        /// New log file.
        log_file: Option<PathBuf>,
        /// New flush timer (0 = unchanged).
        flush_timer_s: u32,
        /// New MaximumBuffers (0 = unchanged).
        maximum_buffers: u32,
        /// Turn real-time delivery on or off.
        #[serde(default)]
        real_time: Option<bool>,
        /// New EnableFlags (system loggers).
        #[serde(default)]
        enable_flags: Option<u32>,
    },
    /// EnableTrace (enable).
    Enable {
        /// Session name.
        name: String,
        /// Provider GUID.
        guid: String,
        /// Level and keywords.
        settings: WireEnable,
    },
    /// OpenTrace of a real-time session: this connection becomes the session's real-time
    /// consumer. After `Ok` the daemon sends binary packets (see `realtime`).
    Consume {
        /// Session name.
        name: String,
    },
    /// EnableTrace (disable).
    Disable {
        /// Session name.
        name: String,
        /// Provider GUID.
        guid: String,
    },
}

/// What the daemon sends back, or on its own to producers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Reply {
    /// Done.
    Ok,
    /// Refused, with the ETW error's Win32 number and a sentence saying why.
    Failed {
        /// Win32 error number.
        code: u32,
        /// What was wrong and what is allowed.
        message: String,
    },
    /// One session's figures.
    Stats {
        /// The figures.
        stats: WireStats,
    },
    /// Every system session's figures.
    Sessions {
        /// The figures.
        sessions: Vec<WireStats>,
    },
    /// To a producer: start your share of `session` in the memfd that comes with this message.
    Attach {
        /// The daemon's session id.
        session: u64,
        /// The session's properties (buffer size and count, clock, sequence modes).
        props: WireProps,
        /// The session's LOCAL_SEQUENCE counter in the counter page (see `Counters`).
        #[serde(default)]
        sequence_index: u32,
    },
    /// To a producer, once: the memfd of the daemon's counter page (u32 counters: index 0 is
    /// the machine-wide GLOBAL_SEQUENCE counter, the others one per session).
    Counters,
    /// To a producer: `session` wants provider `guid` with these settings.
    Enable {
        /// The daemon's session id.
        session: u64,
        /// Provider GUID.
        guid: String,
        /// Level and keywords.
        settings: WireEnable,
        /// Whether the provider's enable callback is told (not for the Global Logger).
        #[serde(default = "yes")]
        notify: bool,
    },
    /// To a producer: every message before its `Sync { token }` has been answered.
    Synced {
        /// The `Sync`'s token.
        token: u64,
    },
    /// To a producer: `session` no longer wants provider `guid`.
    Disable {
        /// The daemon's session id.
        session: u64,
        /// Provider GUID.
        guid: String,
    },
    /// To a producer: hand over what your share of `session` holds now (a controller's FLUSH);
    /// answer `Flushed`.
    FlushShare {
        /// The daemon's session id.
        session: u64,
    },
    /// To a producer: the session's flush timer changed (UPDATE); shares follow it.
    FlushTimer {
        /// The daemon's session id.
        session: u64,
        /// Seconds (0: only when full).
        seconds: u32,
    },
    /// To a producer: `session` is stopping; flush your share and answer `Finished`.
    Detach {
        /// The daemon's session id.
        session: u64,
    },
    /// To a producer: the buffers of its last `Ready` for `session` are copied out.
    Taken {
        /// The daemon's session id.
        session: u64,
    },
    /// To a producer: the buffers of its last `Ready` for `session` were not taken (the session,
    /// or this producer's share of it, is gone): they are lost, and the share should end.
    Refused {
        /// The daemon's session id.
        session: u64,
    },
}

impl Reply {
    /// The reply for an error.
    pub fn failed(e: &Error) -> Reply {
        Reply::Failed {
            code: e.code().win32(),
            message: e.message().to_string(),
        }
    }

    /// An error reply back to an [`Error`]; anything else unexpected is an I/O error.
    pub fn into_result(self) -> Result<Reply, Error> {
        match self {
            Reply::Failed { code, message } => Err(Error::new(
                ErrorCode::from_win32(code).unwrap_or(ErrorCode::Io),
                message,
            )),
            other => Ok(other),
        }
    }
}

fn yes() -> bool {
    true
}
