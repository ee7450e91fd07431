//! The verbs of one session, shaped after tracelog: start, stop, query, flush, increment-file,
//! update, and list.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use evtrace_runtime::kernel::KernelFlags;
use evtrace_runtime::provider::EnableSettings;
use evtrace_runtime::session::{ClockType, LogFileMode, SessionProperties, SessionUpdate};
use evtrace_runtime::system::control::Controller;
use evtrace_runtime::system::protocol::WireStats;
use evtrace_runtime::{Error, ErrorCode};

use super::daemon::controller;
use super::modes::{with_flags, MODE_FLAGS};
use super::report::{done, fail, print_stats, report};

/// The clock of a session (tracelog's -UsePerfCounter, -UseSystemTime, -UseCPUCycle).
#[derive(Clone, Copy, ValueEnum)]
pub enum Clock {
    /// The performance counter (the default).
    Perf,
    /// System time.
    System,
    /// The CPU cycle counter.
    Cycle,
}

/// `evtrace start`.
#[derive(Args)]
pub struct StartArgs {
    /// Session name (not with --profile, whose profiles name their sessions).
    #[arg(required_unless_present = "profiles")]
    pub(super) name: Option<String>,
    /// Log file (-f).
    #[arg(short = 'f', long = "file")]
    pub(super) file: Option<PathBuf>,
    /// Sequential file of at most this size, MB (-seq).
    #[arg(long, value_name = "MB")]
    pub(super) seq: Option<u32>,
    /// Circular file of this size, MB (-cir).
    #[arg(long, value_name = "MB")]
    pub(super) cir: Option<u32>,
    /// A new file each time this size is reached, MB; the name needs %d (-newfile).
    #[arg(long, value_name = "MB")]
    pub(super) newfile: Option<u32>,
    /// Sizes in KB rather than MB.
    #[arg(long)]
    pub(super) kb: bool,
    /// Append to an existing file (-append).
    #[arg(long)]
    pub(super) append: bool,
    /// Reserve the file's whole size at start (-prealloc).
    #[arg(long)]
    pub(super) prealloc: bool,
    /// Compress each buffer (EVENT_TRACE_COMPRESSED_MODE).
    #[arg(long)]
    pub(super) compressed: bool,
    /// Deliver events to real-time consumers (-rt).
    #[arg(long)]
    pub(super) rt: bool,
    /// Keep events in a memory ring, saved on flush (-buffering).
    #[arg(long)]
    pub(super) buffering: bool,
    /// Buffer size in KB (-b).
    #[arg(short = 'b', long = "buffer-kb", value_name = "KB")]
    pub(super) buffer_kb: Option<u32>,
    /// Minimum buffers (-min).
    #[arg(long, value_name = "N")]
    pub(super) min: Option<u32>,
    /// Maximum buffers (-max).
    #[arg(long, value_name = "N")]
    pub(super) max: Option<u32>,
    /// Flush timer in seconds (-ft).
    #[arg(long, value_name = "S")]
    pub(super) ft: Option<u32>,
    /// Sequence numbers unique within the session (-ls).
    #[arg(long)]
    pub(super) ls: bool,
    /// Sequence numbers unique across sessions (-gs).
    #[arg(long)]
    pub(super) gs: bool,
    /// The clock stamping events.
    #[arg(long, value_enum, default_value = "perf")]
    pub(super) clock: Clock,
    /// Pageable buffers (-paged).
    #[arg(long)]
    pub(super) paged: bool,
    /// One buffer queue for all processors (-lowcapacity).
    #[arg(long)]
    pub(super) lowcapacity: bool,
    /// A failure in this session does not withhold events from others (-independent).
    #[arg(long)]
    pub(super) independent: bool,
    /// Only allowed users may log to the session (-secure): root, the user starting it, and
    /// those given with --allow-user.
    #[arg(long)]
    pub(super) secure: bool,
    /// A user (name or numeric id) whose processes may log to a --secure session. Repeatable.
    #[arg(long = "allow-user", value_name = "USER", requires = "secure")]
    pub(super) allow_users: Vec<String>,
    /// Also a system logger (-systemlogger).
    #[arg(long)]
    pub(super) systemlogger: bool,
    /// A provider to enable: a GUID or a provider name, with optional level and keywords,
    /// `PROVIDER[:LEVEL[:MATCH_ANY[:MATCH_ALL]]]` (-guid, -level, -matchanykw, -matchallkw).
    /// Repeat for more providers.
    #[arg(
        long = "provider",
        short = 'p',
        value_name = "PROVIDER[:LEVEL[:ANY[:ALL]]]"
    )]
    pub(super) providers: Vec<String>,
    /// Kernel events to record (-eflag): flag names joined with commas (process, thread,
    /// image_load, disk_io, disk_io_init, network_tcpip, cswitch, systemcall,
    /// memory_page_faults, memory_hard_faults, profile), `default`, or a number. For system
    /// loggers only: "NT Kernel Logger" (which records tracelog's default set of process,
    /// thread, disk_io and network_tcpip without it) and --systemlogger sessions.
    #[arg(long = "kernel-flags", value_name = "FLAGS")]
    pub(super) kernel_flags: Option<String>,
    /// Start the sessions of recording profiles instead, as `evtrace record --profile` does
    /// (built-in: general, cpu, network, disk; a .toml file; WPR's .wprp, FILE.wprp!PROFILE),
    /// and leave them running. Repeat to merge. Takes -f (default record.etl), -b and --max.
    #[arg(
        long = "profile",
        value_name = "PROFILE",
        conflicts_with_all = [
            "name", "seq", "cir", "newfile", "kb", "append", "prealloc", "compressed", "rt",
            "buffering", "min", "ft", "ls", "gs", "clock", "paged", "lowcapacity",
            "independent", "secure", "allow_users", "systemlogger", "providers", "kernel_flags",
        ]
    )]
    pub(super) profiles: Vec<String>,
    /// Then show the sessions' status line (events/s, buffers, losses, file size) until
    /// Ctrl-C; the sessions keep running.
    #[arg(long)]
    pub(super) watch: bool,
}

/// Commands that name a session.
#[derive(Args)]
pub struct NameArgs {
    /// Session name.
    name: String,
}

/// `evtrace update`.
#[derive(Args)]
pub struct UpdateArgs {
    /// Session name.
    name: String,
    /// Switch to this log file.
    #[arg(short = 'f', long = "file")]
    file: Option<PathBuf>,
    /// New flush timer in seconds (1 or more).
    #[arg(long, value_name = "S", value_parser = clap::value_parser!(u32).range(1..))]
    ft: Option<u32>,
    /// New MaximumBuffers (1 or more; for producers that attach from now on).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    max: Option<u32>,
    /// Turn real-time delivery on or off.
    #[arg(long, value_name = "on|off", value_parser = on_off)]
    rt: Option<bool>,
    /// New kernel enable flags of a system logger (the kernel logger, or a --systemlogger
    /// session), as for `start --kernel-flags`.
    #[arg(long = "kernel-flags", value_name = "FLAGS")]
    kernel_flags: Option<String>,
}

fn on_off(s: &str) -> Result<bool, String> {
    match s {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err(format!("`{s}`: say on or off")),
    }
}

/// A log file named on the command line, as the daemon needs it: relative to this command's
/// folder, as tracelog takes it (the daemon's own folder is elsewhere).
pub(super) fn absolute(f: &Path) -> PathBuf {
    std::path::absolute(f).unwrap_or_else(|_| f.to_path_buf())
}

/// A user's numeric id, from a number or a name in the user database.
fn user_id(u: &str) -> Result<u32, Error> {
    if let Ok(n) = u.parse() {
        return Ok(n);
    }
    let name = std::ffi::CString::new(u).map_err(|_| {
        Error::new(
            ErrorCode::InvalidParameter,
            format!("user {u:?} contains a NUL byte"),
        )
    })?;
    // SAFETY: a valid C string; getpwnam returns null or a pointer to static storage, read at
    // once (this program has no other threads looking users up).
    let pw = unsafe { libc::getpwnam(name.as_ptr()) };
    if pw.is_null() {
        return Err(Error::new(
            ErrorCode::InvalidParameter,
            format!("no user named {u:?} on this machine: give a user name or a numeric id"),
        ));
    }
    // SAFETY: non-null, as checked.
    Ok(unsafe { (*pw).pw_uid })
}

fn props(a: &StartArgs) -> Result<SessionProperties, Error> {
    let mut mode = LogFileMode::empty();
    let mut size = 0;
    for (m, _, given) in MODE_FLAGS {
        if let Some(v) = given(a) {
            mode |= m;
            if v != 0 {
                size = v;
            }
        }
    }
    let name = a.name.clone().unwrap_or_default();
    let mut p = SessionProperties::new(name).mode(mode);
    if let Some(f) = &a.file {
        p = p.log_file(absolute(f));
    }
    if size != 0 {
        p = p.maximum_file_size(size);
    }
    if let Some(b) = a.buffer_kb {
        p = p.buffer_size_kb(b);
    }
    p = p.buffers(a.min.unwrap_or(0), a.max.unwrap_or(0));
    if let Some(ft) = a.ft {
        p = p.flush_timer(ft);
    }
    if let Some(k) = &a.kernel_flags {
        p = p.enable_flags(KernelFlags::parse(k)?);
    }
    p = p.clock(match a.clock {
        Clock::Perf => ClockType::PerfCounter,
        Clock::System => ClockType::SystemTime,
        Clock::Cycle => ClockType::CpuCycle,
    });
    Ok(p)
}

/// `evtrace start`.
pub fn start(a: StartArgs) -> ExitCode {
    if !a.profiles.is_empty() {
        let file = a
            .file
            .clone()
            .unwrap_or_else(|| PathBuf::from("record.etl"));
        return crate::record::start::run(crate::record::start::ProfileStart {
            profiles: &a.profiles,
            file: &file,
            buffer_kb: a.buffer_kb,
            max_buffers: a.max,
            watch: a.watch,
        });
    }
    let name = a.name.clone().unwrap_or_default();
    let run = || -> Result<WireStats, Error> {
        let providers = a
            .providers
            .iter()
            .map(|p| EnableSettings::parse_spec(p))
            .collect::<Result<Vec<_>, _>>()?;
        let props = props(&a)?;
        let users = a
            .allow_users
            .iter()
            .map(|u| user_id(u))
            .collect::<Result<Vec<_>, _>>()?;
        let c = controller()?;
        let stats = c.start_secure(&props, &users)?;
        for (g, s) in providers {
            if let Err(e) = c.enable(&name, g, s) {
                let _ = c.stop(&name);
                return Err(e);
            }
        }
        Ok(stats)
    };
    let started = run().map_err(with_flags);
    let file = started
        .as_ref()
        .ok()
        .and_then(|s| s.session.log_file.clone())
        .unwrap_or_default();
    let code = report(started);
    if a.watch && code == ExitCode::SUCCESS {
        return crate::record::start::watch(&[name], &[file]);
    }
    code
}

/// `evtrace stop`.
pub fn stop(a: NameArgs) -> ExitCode {
    report(Controller::connect().and_then(|c| c.stop(&a.name)))
}

/// `evtrace query`.
pub fn query(a: NameArgs) -> ExitCode {
    report(Controller::connect().and_then(|c| c.query(&a.name)))
}

/// `evtrace flush`.
pub fn flush(a: NameArgs) -> ExitCode {
    done(Controller::connect().and_then(|c| c.flush(&a.name)))
}

/// `evtrace increment-file`.
pub fn increment_file(a: NameArgs) -> ExitCode {
    done(Controller::connect().and_then(|c| c.increment_file(&a.name)))
}

/// `evtrace update`.
pub fn update(a: UpdateArgs) -> ExitCode {
    let flags = match a
        .kernel_flags
        .as_deref()
        .map(KernelFlags::parse)
        .transpose()
    {
        Ok(f) => f,
        Err(e) => return fail(&e),
    };
    let u = SessionUpdate {
        log_file: a.file.as_deref().map(absolute),
        // 0 is ETW's "unchanged".
        flush_timer_s: a.ft.unwrap_or(0),
        maximum_buffers: a.max.unwrap_or(0),
        real_time: a.rt,
        enable_flags: flags.map(|f| f.bits()),
    };
    if u == SessionUpdate::default() {
        return fail(&Error::new(
            ErrorCode::InvalidParameter,
            format!(
                "nothing to update in {}: give -f FILE, --ft S, --max N, --rt on|off or --kernel-flags FLAGS",
                a.name
            ),
        ));
    }
    done(
        Controller::connect()
            .and_then(|c| c.update(&a.name, &u))
            .map_err(with_flags),
    )
}

/// `evtrace list`.
pub fn list() -> ExitCode {
    match Controller::connect().and_then(|c| c.list()) {
        Ok(all) => {
            if all.is_empty() {
                println!("no system sessions are running");
            }
            for s in &all {
                print_stats(s);
                println!();
            }
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e),
    }
}
