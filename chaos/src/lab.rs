//! A scenario's workbench: its own folder, the `evtrace` command and producers pointed at it, a
//! daemon that dies with it, and what the scenarios read back (files, `/proc`).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use evtrace::consume::{Item, LogReader};
use evtrace_testkit::{dies_with_test, Scratch};

use crate::{Role, ROLE_VAR};

/// One scenario's folder and the commands that work in it.
pub struct Lab {
    exe: PathBuf,
    dir: PathBuf,
    scratch: RefCell<Option<Scratch>>,
}

impl Lab {
    /// A fresh folder for scenario `name`, with `exe` (the `evtrace-chaos` binary) for its roles.
    pub fn new(exe: &Path, name: &str) -> Lab {
        let scratch = Scratch::new(&format!("chaos-{name}"));
        Lab {
            exe: exe.to_path_buf(),
            dir: scratch.path().to_path_buf(),
            scratch: RefCell::new(Some(scratch)),
        }
    }

    /// The folder (the daemon's runtime directory too).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Keeps the folder after the scenario (it failed: what it recorded is evidence).
    pub fn keep_if(&self, keep: bool) {
        if keep {
            if let Some(s) = self.scratch.borrow_mut().take() {
                eprintln!("kept {} for the failure to be looked into", s.display());
                std::mem::forget(s);
            }
        }
    }

    fn role(&self, role: Role) -> Command {
        let mut c = Command::new(&self.exe);
        dies_with_test(&mut c);
        c.env(ROLE_VAR, role.value())
            .env("EVTRACE_RUNTIME_DIR", &self.dir)
            .env("EVTRACE_CONFIG_DIR", self.dir.join("conf"));
        c
    }

    /// The `evtrace` command for this folder's daemon.
    pub fn evtrace(&self) -> Command {
        self.role(Role::Evtrace)
    }

    /// A producer process (see [`crate::producer`]) with arguments `args`.
    pub fn producer(&self, args: &[&str]) -> Command {
        let mut c = self.role(Role::Producer);
        c.args(args).stdout(Stdio::piped());
        c
    }

    /// `evtrace ARGS`, its standard output if it succeeded, else what it said.
    pub fn run(&self, args: &[&str]) -> Result<String, String> {
        output(self.evtrace().args(args))
    }

    /// Starts a daemon in the folder and waits until it answers.
    pub fn daemon(&self) -> Result<Daemon, String> {
        self.daemon_with(&[])
    }

    /// [`Lab::daemon`] with extra `evtrace daemon` flags (`--shared`).
    pub fn daemon_with(&self, flags: &[&str]) -> Result<Daemon, String> {
        self.daemon_with_env(flags, &[])
    }

    /// [`Lab::daemon_with`], the daemon's environment with `env` added
    /// (`EVTRACE_MAX_CONNECTIONS`).
    pub fn daemon_with_env(&self, flags: &[&str], env: &[(&str, &str)]) -> Result<Daemon, String> {
        let err = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("daemon.err"))
            .map_err(|e| e.to_string())?;
        let child = self
            .evtrace()
            .args(["daemon", "--dir"])
            .arg(&self.dir)
            .args(flags)
            .envs(env.iter().copied())
            .stderr(err)
            .spawn()
            .map_err(|e| format!("cannot start the daemon: {e}"))?;
        let mut d = Daemon { child };
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.run(&["list"]).is_err() {
            if let Ok(Some(status)) = d.child.try_wait() {
                return Err(format!(
                    "the daemon exited at once ({status}): {}",
                    self.daemon_said()
                ));
            }
            if Instant::now() > deadline {
                return Err("the daemon did not answer within 10 s".into());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(d)
    }

    /// What the daemons of this folder wrote to stderr.
    pub fn daemon_said(&self) -> String {
        std::fs::read_to_string(self.dir.join("daemon.err")).unwrap_or_default()
    }
}

/// A daemon, killed (SIGKILL) when dropped.
pub struct Daemon {
    child: Child,
}

impl Daemon {
    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether it still runs.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGKILL, and waits for it.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A command's standard output if it succeeded, else its status and what it said.
pub fn output(c: &mut Command) -> Result<String, String> {
    let out = c
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{c:?}: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() {
        Ok(text)
    } else {
        Err(format!(
            "{} ({}): {}{text}",
            describe(c),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn describe(c: &Command) -> String {
    c.get_args()
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The number after `name` in `evtrace query`/`stop` output (`Events Lost:    12`).
pub fn field(stats: &str, name: &str) -> Option<u64> {
    stats
        .lines()
        .find_map(|l| l.trim_start().strip_prefix(name))
        .and_then(|v| v.trim().parse().ok())
}

/// A `/proc/PID/status` figure in KB (`VmRSS`, `VmHWM`), if the process is there.
pub fn status_kb(pid: u32, key: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// How many descriptors process `pid` holds open.
pub fn open_fds(pid: u32) -> Option<usize> {
    Some(std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count())
}

/// How many threads process `pid` runs.
pub fn threads(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|v| v.trim().parse().ok())
}

/// What a file (or NEWFILE series) holds of the chaos producers' events.
#[derive(Debug, Default)]
pub struct Readback {
    /// Counters recorded, per (process, writer thread).
    pub ticks: BTreeMap<(u32, u32), Vec<u64>>,
    /// Damage the reader reported: (kind, count); a cut last buffer is `truncated buffer`.
    pub damage: Vec<(String, u64)>,
    /// Why the files could not be opened at all, if so.
    pub error: Option<String>,
}

impl Readback {
    /// Events recorded in all.
    pub fn events(&self) -> u64 {
        self.ticks.values().map(|v| v.len() as u64).sum()
    }

    /// Counters recorded twice (must be none).
    pub fn duplicates(&self) -> u64 {
        self.ticks
            .values()
            .map(|v| {
                let mut s = v.clone();
                s.sort_unstable();
                s.dedup();
                (v.len() - s.len()) as u64
            })
            .sum()
    }

    /// Counters missing below the highest one recorded, per writer, summed: events that were
    /// written and never reached the file, which the loss counters must cover.
    pub fn gaps(&self) -> u64 {
        self.ticks
            .values()
            .map(|v| v.iter().max().map_or(0, |m| m + 1) - v.len() as u64)
            .sum()
    }

    /// Damage other than the kinds in `allowed`.
    pub fn damage_except(&self, allowed: &[&str]) -> Vec<(String, u64)> {
        self.damage
            .iter()
            .filter(|(k, _)| !allowed.contains(&k.as_str()))
            .cloned()
            .collect()
    }
}

/// Reads `files` (one session's: a NEWFILE series merged) for the chaos provider's events, in
/// groups of as many files as a reader opens at once.
pub fn read_back(files: &[PathBuf]) -> Readback {
    let mut r = Readback::default();
    for group in files.chunks(LogReader::MAX_FILES) {
        read_group(group, &mut r);
    }
    r
}

fn read_group(files: &[PathBuf], r: &mut Readback) {
    let reader = LogReader::options().keep_going(true).open(files);
    let mut reader = match reader {
        Ok(x) => x,
        Err(e) => {
            r.error = Some(e.to_string());
            return;
        }
    };
    let guid = crate::producer::chaos_events::PROVIDER.guid();
    for item in reader.by_ref() {
        if let Item::Event(e) = item {
            if e.provider_id == guid && e.payload.len() >= 12 {
                let thread = u32::from_le_bytes(e.payload[0..4].try_into().unwrap());
                let n = u64::from_le_bytes(e.payload[4..12].try_into().unwrap());
                r.ticks.entry((e.process_id, thread)).or_default().push(n);
            }
        }
    }
    for (_, kind, n) in reader.diagnostics().counts() {
        r.damage.push((kind.to_string(), n));
    }
    if let Some(e) = reader.file_errors().first() {
        r.error = Some(e.to_string());
    }
}

/// The files of a session whose log file is `file`: itself, or for a NEWFILE name with `%d`
/// every `_N` file there is, in order.
pub fn session_files(file: &Path) -> Vec<PathBuf> {
    let name = file.to_string_lossy();
    if !name.contains("%d") {
        return vec![file.to_path_buf()];
    }
    (1..)
        .map(|i| PathBuf::from(name.replace("%d", &i.to_string())))
        .take_while(|p| p.exists())
        .collect()
}
