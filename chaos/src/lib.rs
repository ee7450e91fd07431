//! The chaos suite: evtrace under faults and hostile input.
//!
//! Each scenario does something that breaks a real deployment (a producer or the daemon killed
//! mid-write, a disk that fills, a client or a file built to hurt, another user, sustained
//! overload) and checks what evtrace promises then: nothing flushed is lost, every loss is
//! counted, files stay readable, nothing hangs, crashes or grows without bound. A scenario
//! returns an [`Outcome`]: its figures and every broken promise; the tests (`tests/chaos.rs`) run
//! each with a bounded [`Budget`], `evtrace-chaos --minutes N` at length.

#![warn(missing_docs)]

pub mod alloc;
pub mod lab;
pub mod producer;
mod report;
mod scenarios;

pub use scenarios::hostile_files::make_corpus;

use std::path::Path;
use std::time::Duration;

pub use lab::Lab;
pub use report::{Outcome, Report};

/// The environment variable that makes `evtrace-chaos` act as one of the processes a scenario
/// starts rather than run the suite.
pub const ROLE_VAR: &str = "EVTRACE_CHAOS_AS";

/// What the `evtrace-chaos` binary is when [`ROLE_VAR`] is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The `evtrace` command (daemon and controllers), the same code as the `evtrace` binary.
    Evtrace,
    /// A process writing events ([`producer`]).
    Producer,
}

impl Role {
    /// The role [`ROLE_VAR`] names, if it is set.
    pub fn from_env() -> Result<Option<Role>, String> {
        match std::env::var(ROLE_VAR) {
            Err(std::env::VarError::NotPresent) => Ok(None),
            Ok(v) if v == "evtrace" => Ok(Some(Role::Evtrace)),
            Ok(v) if v == "producer" => Ok(Some(Role::Producer)),
            Ok(v) => Err(format!(
                "unknown role {v:?}; the roles are evtrace and producer"
            )),
            Err(e) => Err(e.to_string()),
        }
    }

    fn value(self) -> &'static str {
        match self {
            Role::Evtrace => "evtrace",
            Role::Producer => "producer",
        }
    }
}

/// How much a scenario may do: the bounded form of the tests, or a share of a long run.
#[derive(Debug, Clone)]
pub struct Budget {
    minutes: f64,
    long: bool,
}

impl Budget {
    /// The bounded form run by `cargo test` (each scenario a few seconds to half a minute).
    pub fn bounded() -> Budget {
        Budget {
            minutes: 0.5,
            long: false,
        }
    }

    /// `minutes` for one scenario of a long run: it repeats its rounds until they are spent.
    pub fn long(minutes: f64) -> Budget {
        Budget {
            minutes,
            long: true,
        }
    }

    /// The minutes this budget gives.
    pub fn minutes(&self) -> f64 {
        self.minutes
    }

    /// Whether this is a long run (rounds repeat until the time is spent).
    pub fn is_long(&self) -> bool {
        self.long
    }

    /// The time this budget gives.
    pub fn time(&self) -> Duration {
        Duration::from_secs_f64(self.minutes * 60.0)
    }
}

/// The scenarios, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// Producers on a system session killed with SIGKILL mid-write, 50 in a row.
    ProducerKill,
    /// The daemon killed with SIGKILL while sessions of every kind record.
    DaemonKill,
    /// A small file system that fills, for private, system and NEWFILE sessions.
    DiskFull,
    /// Clients of the daemon's socket that send garbage, lie or hang on.
    HostileClients,
    /// The reader on mutated and crafted files.
    HostileFiles,
    /// Another user's sessions and files; planted symbolic links.
    Security,
    /// Writers as fast as they can into default sessions, private and system.
    Soak,
}

impl Scenario {
    /// Every scenario.
    pub const ALL: [Scenario; 7] = [
        Scenario::ProducerKill,
        Scenario::DaemonKill,
        Scenario::DiskFull,
        Scenario::HostileClients,
        Scenario::HostileFiles,
        Scenario::Security,
        Scenario::Soak,
    ];

    /// Its name on the command line and in the report.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::ProducerKill => "producer-kill",
            Scenario::DaemonKill => "daemon-kill",
            Scenario::DiskFull => "disk-full",
            Scenario::HostileClients => "hostile-clients",
            Scenario::HostileFiles => "hostile-files",
            Scenario::Security => "security",
            Scenario::Soak => "soak",
        }
    }

    /// Runs it with `exe` (the `evtrace-chaos` binary) in its roles.
    pub fn run(self, exe: &Path, budget: &Budget) -> Outcome {
        let lab = Lab::new(exe, self.name());
        let mut out = Outcome::new(self.name());
        match self {
            Scenario::ProducerKill => scenarios::producer_kill::run(&lab, budget, &mut out),
            Scenario::DaemonKill => scenarios::daemon_kill::run(&lab, budget, &mut out),
            Scenario::DiskFull => scenarios::disk_full::run(&lab, budget, &mut out),
            Scenario::HostileClients => scenarios::hostile_clients::run(&lab, budget, &mut out),
            Scenario::HostileFiles => scenarios::hostile_files::run(&lab, budget, &mut out),
            Scenario::Security => scenarios::security::run(&lab, budget, &mut out),
            Scenario::Soak => scenarios::soak::run(&lab, budget, &mut out),
        }
        lab.keep_if(!out.passed());
        out
    }
}
