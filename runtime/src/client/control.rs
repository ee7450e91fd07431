//! Controller calls for system sessions, by name, through the daemon: StartTrace, ControlTrace
//! (stop, query, flush, update), QueryAllTraces and EnableTrace.

use std::path::Path;

use super::paths;
use super::protocol::{Reply, Request, WireProps, WireStats};
use super::wire::Channel;
use crate::error::{Error, ErrorCode, Result};
use crate::model::EnableSettings;
use crate::session::SessionProperties;
use crate::Guid;

/// A connection to the daemon in a runtime directory.
#[derive(Debug)]
pub struct Controller {
    channel: Channel,
}

impl Controller {
    /// Connects to the daemon of this process's runtime directory ([`paths::runtime_dir`]).
    pub fn connect() -> Result<Controller> {
        Controller::connect_in(&paths::runtime_dir())
    }

    /// Connects to the daemon in `dir`.
    pub fn connect_in(dir: &Path) -> Result<Controller> {
        let socket = paths::socket_path(dir);
        let channel = paths::connect(dir).map_err(|e| {
            Error::new(
                ErrorCode::InstanceNotFound,
                format!(
                    "no evtrace daemon answers at {} ({e}); start one with `evtrace daemon`, or \
                     name another's directory in EVTRACE_RUNTIME_DIR",
                    socket.display()
                ),
            )
        })?;
        Ok(Controller { channel })
    }

    /// Asks to consume session `name` in real time; on success the connection becomes the
    /// stream of its packets (see [`super::realtime`]).
    pub(crate) fn consume(self, name: &str) -> Result<super::wire::Channel> {
        self.call(&Request::Consume { name: name.into() })?;
        Ok(self.channel)
    }

    fn call(&self, req: &Request) -> Result<Reply> {
        let lost = |e: std::io::Error| {
            Error::new(
                ErrorCode::Io,
                format!("the connection to the daemon failed: {e}"),
            )
        };
        self.channel.send(req, None).map_err(lost)?;
        match self.channel.recv::<Reply>().map_err(lost)? {
            Some((r, _)) => r.into_result(),
            None => Err(Error::new(
                ErrorCode::Io,
                "the daemon closed the connection without answering",
            )),
        }
    }

    fn stats(&self, req: &Request) -> Result<WireStats> {
        match self.call(req)? {
            Reply::Stats { stats } => Ok(stats),
            other => Err(unexpected(&other)),
        }
    }

    fn ok(&self, req: &Request) -> Result<()> {
        match self.call(req)? {
            Reply::Ok => Ok(()),
            other => Err(unexpected(&other)),
        }
    }

    /// StartTrace: starts system session `props.name`; returns its figures.
    pub fn start(&self, props: &SessionProperties) -> Result<WireStats> {
        self.start_secure(props, &[])
    }

    /// StartTrace with the users (besides root and the caller) whose processes may log to an
    /// EVENT_TRACE_SECURE_MODE session.
    pub fn start_secure(
        &self,
        props: &SessionProperties,
        allow_users: &[u32],
    ) -> Result<WireStats> {
        self.stats(&Request::Start {
            props: WireProps::from(props),
            allow_users: allow_users.to_vec(),
        })
    }

    /// ControlTrace(STOP): producers hand over their last buffers, the file is finished.
    pub fn stop(&self, name: &str) -> Result<WireStats> {
        self.stats(&Request::Stop { name: name.into() })
    }

    /// ControlTrace(QUERY).
    pub fn query(&self, name: &str) -> Result<WireStats> {
        self.stats(&Request::Query { name: name.into() })
    }

    /// ControlTrace(FLUSH).
    pub fn flush(&self, name: &str) -> Result<()> {
        self.ok(&Request::Flush { name: name.into() })
    }

    /// ControlTrace(INCREMENT_FILE): a NEWFILE session goes on in its next file now.
    pub fn increment_file(&self, name: &str) -> Result<()> {
        self.ok(&Request::IncrementFile { name: name.into() })
    }

    /// ControlTrace(UPDATE): a new log file, flush timer, MaximumBuffers (for producers that
    /// join from now on), real-time delivery on or off, or a system logger's EnableFlags
    /// (0 / None = unchanged).
    pub fn update(&self, name: &str, update: &crate::session::SessionUpdate) -> Result<()> {
        self.ok(&Request::Update {
            name: name.into(),
            log_file: update.log_file.clone(),
            flush_timer_s: update.flush_timer_s,
            maximum_buffers: update.maximum_buffers,
            real_time: update.real_time,
            enable_flags: update.enable_flags,
        })
    }

    /// QueryAllTraces: every system session.
    pub fn list(&self) -> Result<Vec<WireStats>> {
        match self.call(&Request::List)? {
            Reply::Sessions { sessions } => Ok(sessions),
            other => Err(unexpected(&other)),
        }
    }

    /// EnableTrace: session `name` wants provider `guid` with `settings` (stored until the
    /// provider registers in some process).
    pub fn enable(&self, name: &str, guid: Guid, settings: EnableSettings) -> Result<()> {
        self.ok(&Request::Enable {
            name: name.into(),
            guid: guid.to_string(),
            settings: settings.into(),
        })
    }

    /// EnableTraceEx2 with a filter: session `name` wants provider `guid` (`None`: every
    /// provider of the processes the filter takes) with `settings`, in the processes and for
    /// the event ids `filter` takes.
    pub fn enable_filtered(
        &self,
        name: &str,
        guid: Option<Guid>,
        settings: EnableSettings,
        filter: &crate::model::EnableFilter,
    ) -> Result<()> {
        let mut settings = super::protocol::WireEnable::from(settings);
        settings.filter = filter.clone();
        self.ok(&Request::Enable {
            name: name.into(),
            guid: guid.map_or_else(
                || super::protocol::ANY_PROVIDER.to_string(),
                |g| g.to_string(),
            ),
            settings,
        })
    }

    /// EnableTrace(disable).
    pub fn disable(&self, name: &str, guid: Guid) -> Result<()> {
        self.ok(&Request::Disable {
            name: name.into(),
            guid: guid.to_string(),
        })
    }
}

fn unexpected(r: &Reply) -> Error {
    Error::new(
        ErrorCode::Io,
        format!("the daemon answered with an unexpected message: {r:?}"),
    )
}
