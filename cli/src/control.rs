//! The controller commands, shaped after tracelog: start, stop, flush, update, enable, disable,
//! query, list, and the daemon that hosts system sessions.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use evtrace_runtime::kernel::KernelFlags;
use evtrace_runtime::provider::EnableSettings;
use evtrace_runtime::session::{ClockType, LogFileMode, SessionProperties, SessionUpdate};
use evtrace_runtime::system::control::Controller;
use evtrace_runtime::system::daemon::{self, Daemon};
use evtrace_runtime::system::paths;
use evtrace_runtime::system::protocol::WireStats;
use evtrace_runtime::{Error, ErrorCode};

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
    /// Session name.
    name: String,
    /// Log file (-f).
    #[arg(short = 'f', long = "file")]
    file: Option<PathBuf>,
    /// Sequential file of at most this size, MB (-seq).
    #[arg(long, value_name = "MB")]
    seq: Option<u32>,
    /// Circular file of this size, MB (-cir).
    #[arg(long, value_name = "MB")]
    cir: Option<u32>,
    /// A new file each time this size is reached, MB; the name needs %d (-newfile).
    #[arg(long, value_name = "MB")]
    newfile: Option<u32>,
    /// Sizes in KB rather than MB.
    #[arg(long)]
    kb: bool,
    /// Append to an existing file (-append).
    #[arg(long)]
    append: bool,
    /// Reserve the file's whole size at start (-prealloc).
    #[arg(long)]
    prealloc: bool,
    /// Compress each buffer (EVENT_TRACE_COMPRESSED_MODE).
    #[arg(long)]
    compressed: bool,
    /// Deliver events to real-time consumers (-rt).
    #[arg(long)]
    rt: bool,
    /// Keep events in a memory ring, saved on flush (-buffering).
    #[arg(long)]
    buffering: bool,
    /// Buffer size in KB (-b).
    #[arg(short = 'b', long = "buffer-kb", value_name = "KB")]
    buffer_kb: Option<u32>,
    /// Minimum buffers (-min).
    #[arg(long, value_name = "N")]
    min: Option<u32>,
    /// Maximum buffers (-max).
    #[arg(long, value_name = "N")]
    max: Option<u32>,
    /// Flush timer in seconds (-ft).
    #[arg(long, value_name = "S")]
    ft: Option<u32>,
    /// Sequence numbers unique within the session (-ls).
    #[arg(long)]
    ls: bool,
    /// Sequence numbers unique across sessions (-gs).
    #[arg(long)]
    gs: bool,
    /// The clock stamping events.
    #[arg(long, value_enum, default_value = "perf")]
    clock: Clock,
    /// Pageable buffers (-paged).
    #[arg(long)]
    paged: bool,
    /// One buffer queue for all processors (-lowcapacity).
    #[arg(long)]
    lowcapacity: bool,
    /// A failure in this session does not withhold events from others (-independent).
    #[arg(long)]
    independent: bool,
    /// Only allowed users may log to the session (-secure): root, the user starting it, and
    /// those given with --allow-user.
    #[arg(long)]
    secure: bool,
    /// A user (name or numeric id) whose processes may log to a --secure session. Repeatable.
    #[arg(long = "allow-user", value_name = "USER", requires = "secure")]
    allow_users: Vec<String>,
    /// Also a system logger (-systemlogger).
    #[arg(long)]
    systemlogger: bool,
    /// A provider to enable: a GUID or a provider name, with optional level and keywords,
    /// `PROVIDER[:LEVEL[:MATCH_ANY[:MATCH_ALL]]]` (-guid, -level, -matchanykw, -matchallkw).
    /// Repeat for more providers.
    #[arg(
        long = "provider",
        short = 'p',
        value_name = "PROVIDER[:LEVEL[:ANY[:ALL]]]"
    )]
    providers: Vec<String>,
    /// Kernel events to record (-eflag): flag names joined with commas (process, thread,
    /// image_load, disk_io, disk_io_init, network_tcpip, cswitch, systemcall,
    /// memory_page_faults, memory_hard_faults, profile), `default`, or a number. For system
    /// loggers only: "NT Kernel Logger" (which records tracelog's default set of process,
    /// thread, disk_io and network_tcpip without it) and --systemlogger sessions.
    #[arg(long = "kernel-flags", value_name = "FLAGS")]
    kernel_flags: Option<String>,
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

/// `evtrace enable` / `evtrace disable`.
#[derive(Args)]
pub struct EnableArgs {
    /// Session name.
    name: String,
    /// `PROVIDER[:LEVEL[:MATCH_ANY[:MATCH_ALL]]]`, the provider a GUID or a name.
    provider: String,
    /// Enable filters (enable only; see `evtrace record --help`).
    #[command(flatten)]
    filter: crate::record::filter_args::FilterArgs,
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

/// A log file named on the command line, as the daemon needs it: relative to this command's
/// folder, as tracelog takes it (the daemon's own folder is elsewhere).
fn absolute(f: &Path) -> PathBuf {
    std::path::absolute(f).unwrap_or_else(|_| f.to_path_buf())
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
    let mut p = SessionProperties::new(a.name.clone()).mode(mode);
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
            if let Err(e) = c.enable(&a.name, g, s) {
                let _ = c.stop(&a.name);
                return Err(e);
            }
        }
        Ok(stats)
    };
    report(run().map_err(with_flags))
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

/// `evtrace enable`.
pub fn enable(a: EnableArgs) -> ExitCode {
    let filtered = |(g, s)| {
        let f = a.filter.filter()?;
        Controller::connect().and_then(|c| c.enable_filtered(&a.name, Some(g), s, &f))
    };
    done(EnableSettings::parse_spec(&a.provider).and_then(filtered))
}

/// `evtrace disable`.
pub fn disable(a: EnableArgs) -> ExitCode {
    if a.provider.contains(':') {
        return fail(&Error::new(
            ErrorCode::InvalidParameter,
            format!(
                "{:?}: disable takes the provider alone (a name or GUID), no level or keywords",
                a.provider
            ),
        ));
    }
    done(
        EnableSettings::parse_spec(&a.provider)
            .and_then(|(g, _)| Controller::connect().and_then(|c| c.disable(&a.name, g))),
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

fn print_stats(w: &WireStats) {
    let s = &w.session;
    println!("Logger Name:           {}", s.name);
    println!("State:                 {:?}", s.state);
    println!(
        "Log File:              {}",
        s.log_file
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "(none)".into())
    );
    for f in &s.files {
        println!("  written:             {}", f.display());
    }
    println!(
        "Logging Mode:          {:#010x} {}",
        s.mode.bits(),
        s.mode.names()
    );
    println!("Clock:                 {}", s.clock.number());
    println!("Buffer Size:           {} KB", s.buffer_size_kb);
    println!("Minimum Buffers:       {}", s.minimum_buffers);
    println!("Maximum Buffers:       {}", s.maximum_buffers);
    println!("Flush Timer:           {} s", s.flush_timer_s);
    println!(
        "Buffers:               {} ({} free)",
        s.number_of_buffers, s.free_buffers
    );
    println!("Buffers Written:       {}", s.buffers_written);
    println!("Events Lost:           {}", s.events_lost);
    println!("Log Buffers Lost:      {}", s.log_buffers_lost);
    println!("Real Time Buffers Lost: {}", s.real_time_buffers_lost);
    if s.mode.contains(LogFileMode::BUFFERING) {
        // The ring's oldest buffers, reused while they still held events no one had read.
        println!("Buffers Overwritten:   {}", s.buffers_overwritten);
    }
    println!("Logger Thread Id:      {}", s.logger_thread_id);
    if w.enable_flags != 0 {
        let flags = KernelFlags::from_bits_retain(w.enable_flags);
        println!(
            "Enable Flags:          {:#010x} {}",
            w.enable_flags,
            flags.names()
        );
    } else {
        println!("Producer Processes:    {}", w.producers);
    }
    if s.mode.contains(LogFileMode::REAL_TIME) {
        println!("Real Time Consumers:   {}", w.consumers);
    }
    if w.refused_producers > 0 {
        println!(
            "Refused Producers:     {} (SECURE: user not allowed)",
            w.refused_producers
        );
    }
    if let Some(e) = &s.error {
        println!("Error:                 {e}");
    }
}

/// A command that answers with a session's figures: printed, or the error.
fn report(r: Result<WireStats, Error>) -> ExitCode {
    r.map(|s| print_stats(&s))
        .map_or_else(|e| fail(&e), |()| ExitCode::SUCCESS)
}

/// A command that answers nothing but success, or the error.
fn done(r: Result<(), Error>) -> ExitCode {
    r.map_or_else(|e| fail(&e), |()| ExitCode::SUCCESS)
}

fn fail(e: &Error) -> ExitCode {
    eprintln!("evtrace: {}: {}", e.code().name(), e.message());
    ExitCode::FAILURE
}

/// An error of `start` or `update`, whose flags [`in_cli_terms`] names beside ETW's constants.
fn with_flags(e: Error) -> Error {
    Error::new(e.code(), in_cli_terms(e.message()))
}

/// Whether `start`'s arguments ask for a mode: with the size in MB or KB for the file modes, 0
/// for the others.
type Asked = fn(&StartArgs) -> Option<u32>;

/// Each logging mode `start` sets, its flag, and whether the arguments ask for it.
#[rustfmt::skip]
const MODE_FLAGS: [(LogFileMode, &str, Asked); 16] = [
    (LogFileMode::SEQUENTIAL, "--seq", |a| a.seq),
    (LogFileMode::CIRCULAR, "--cir", |a| a.cir),
    (LogFileMode::NEWFILE, "--newfile", |a| a.newfile),
    (LogFileMode::USE_KBYTES_FOR_SIZE, "--kb", |a| a.kb.then_some(0)),
    (LogFileMode::APPEND, "--append", |a| a.append.then_some(0)),
    (LogFileMode::PREALLOCATE, "--prealloc", |a| a.prealloc.then_some(0)),
    (LogFileMode::COMPRESSED, "--compressed", |a| a.compressed.then_some(0)),
    (LogFileMode::REAL_TIME, "--rt", |a| a.rt.then_some(0)),
    (LogFileMode::BUFFERING, "--buffering", |a| a.buffering.then_some(0)),
    (LogFileMode::LOCAL_SEQUENCE, "--ls", |a| a.ls.then_some(0)),
    (LogFileMode::GLOBAL_SEQUENCE, "--gs", |a| a.gs.then_some(0)),
    (LogFileMode::USE_PAGED_MEMORY, "--paged", |a| a.paged.then_some(0)),
    (LogFileMode::NO_PER_PROCESSOR_BUFFERING, "--lowcapacity", |a| a.lowcapacity.then_some(0)),
    (LogFileMode::INDEPENDENT_SESSION, "--independent", |a| a.independent.then_some(0)),
    (LogFileMode::SECURE, "--secure", |a| a.secure.then_some(0)),
    (LogFileMode::SYSTEM_LOGGER, "--systemlogger", |a| a.systemlogger.then_some(0)),
];

/// An engine message, which speaks ETW (`EVENT_TRACE_REAL_TIME_MODE`, MaximumFileSize), with
/// the command line's flags beside those names, so the user sees what to type.
fn in_cli_terms(msg: &str) -> String {
    let mut out = msg.to_string();
    let mut add = |name: &str, flag: &str| {
        let with = format!("{name} ({flag})");
        if !out.contains(&with) {
            out = out.replace(name, &with);
        }
    };
    for (mode, flag, _) in MODE_FLAGS {
        add(mode.flag_name(), flag);
    }
    add("MaximumFileSize", "the MB after --seq, --cir or --newfile");
    add("MinimumBuffers", "--min");
    add("MaximumBuffers", "--max");
    add("BufferSize", "-b");
    add("a log file", "-f FILE");
    out
}

/// `evtrace globallogger`.
#[derive(Args)]
pub struct GlobalLoggerArgs {
    #[command(subcommand)]
    action: GlobalLoggerAction,
}

/// What to do with the Global Logger's entries.
#[derive(clap::Subcommand)]
enum GlobalLoggerAction {
    /// Write the entries (Start = 1): the Global Logger starts with the daemon from now on.
    Create(GlobalLoggerCreate),
    /// Print the entries, Status and FileCounter included.
    Show,
    /// Remove every entry (tracelog -remove GlobalLogger): no Global Logger at the next start.
    Remove,
}

/// `evtrace autologger`.
#[derive(Args)]
pub struct AutoLoggerArgs {
    #[command(subcommand)]
    action: AutoLoggerAction,
}

/// What to do with an AutoLogger session's entries.
#[derive(clap::Subcommand)]
enum AutoLoggerAction {
    /// Write the session's entries (Start = 1): it starts with the daemon from now on.
    Create {
        /// Session name.
        name: String,
        #[command(flatten)]
        entries: GlobalLoggerCreate,
    },
    /// Print the session's entries, Status and FileCounter included.
    Show {
        /// Session name.
        name: String,
    },
    /// Remove the session's entries: it does not start at the next daemon start.
    Remove {
        /// Session name.
        name: String,
    },
}

/// Runs `evtrace autologger ...`.
pub fn auto_logger(a: AutoLoggerArgs) -> ExitCode {
    use evtrace_runtime::boot;
    let dir = boot::autologger_dir(&boot::config_dir());
    let (name, action) = match a.action {
        AutoLoggerAction::Create { name, entries } => (name, GlobalLoggerAction::Create(entries)),
        AutoLoggerAction::Show { name } => (name, GlobalLoggerAction::Show),
        AutoLoggerAction::Remove { name } => (name, GlobalLoggerAction::Remove),
    };
    if name.is_empty() || name.contains('/') || name.starts_with('.') {
        return fail(&Error::new(
            ErrorCode::InvalidName,
            format!("{name:?} cannot name an AutoLogger session: no slash, no leading dot"),
        ));
    }
    boot_entries(&dir.join(&name), &name, action)
}

/// The entries of a boot session (`evtrace globallogger create` / `evtrace autologger create`).
#[derive(Args)]
struct GlobalLoggerCreate {
    /// FileName (default: logs/NAME.etl in the configuration directory, NAME the session's name).
    #[arg(short = 'f', long = "file")]
    file: Option<PathBuf>,
    /// BufferSize in KB.
    #[arg(short = 'b', long = "buffer-kb")]
    buffer_kb: Option<u32>,
    /// MinimumBuffers.
    #[arg(long)]
    min: Option<u32>,
    /// MaximumBuffers.
    #[arg(long)]
    max: Option<u32>,
    /// FlushTimer in seconds.
    #[arg(long)]
    ft: Option<u32>,
    /// LogFileMode (the Logging Mode Constants; decimal or 0x hex).
    #[arg(long)]
    mode: Option<String>,
    /// MaximumFileSize.
    #[arg(long = "max-file-size")]
    max_file_size: Option<u32>,
    /// ClockType: 1 performance counter, 2 system time, 3 CPU cycles.
    #[arg(long = "clock-type")]
    clock_type: Option<u32>,
    /// FileMax: keep this many files, FileName.0001 on (0: one file, overwritten each start).
    #[arg(long = "file-max")]
    file_max: Option<u32>,
    /// A provider to enable at start, `PROVIDER[:LEVEL[:ANY[:ALL]]]`. Repeatable.
    #[arg(long = "provider", short = 'p')]
    providers: Vec<String>,
    /// EnableKernelFlags: makes the Global Logger the kernel logger, recording these kernel
    /// events (names joined with commas, `default`, or a number; see `start --kernel-flags`).
    #[arg(long = "kernel-flags", value_name = "FLAGS")]
    kernel_flags: Option<String>,
}

/// Runs `evtrace globallogger ...`.
pub fn global_logger(a: GlobalLoggerArgs) -> ExitCode {
    use evtrace_runtime::boot;
    let file = boot::global_logger_file(&boot::config_dir());
    boot_entries(&file, boot::GLOBAL_LOGGER_NAME, a.action)
}

/// Creates, shows or removes the entries of boot session `name` in `file`.
fn boot_entries(file: &std::path::Path, name: &str, action: GlobalLoggerAction) -> ExitCode {
    use evtrace_runtime::boot::{config_dir, BootKind, Entries, GlobalLoggerConfig};
    let result = match action {
        GlobalLoggerAction::Create(c) => {
            let mut e = Entries::default();
            e.set("Start", "1");
            let numbers = [
                ("BufferSize", c.buffer_kb),
                ("MinimumBuffers", c.min),
                ("MaximumBuffers", c.max),
                ("FlushTimer", c.ft),
                ("MaximumFileSize", c.max_file_size),
                ("ClockType", c.clock_type),
                ("FileMax", c.file_max),
            ];
            for (name, v) in numbers {
                if let Some(v) = v {
                    e.set(name, v.to_string());
                }
            }
            if let Some(m) = &c.mode {
                e.set("LogFileMode", m.clone());
            }
            if let Some(k) = &c.kernel_flags {
                e.set("EnableKernelFlags", k.clone());
            }
            if let Some(f) = &c.file {
                e.set("FileName", absolute(f).display().to_string());
            }
            for p in &c.providers {
                if let Err(err) = EnableSettings::parse_spec(p) {
                    return fail(&err);
                }
                e.push("Provider", p.clone());
            }
            let kind = if name == evtrace_runtime::boot::GLOBAL_LOGGER_NAME {
                BootKind::Global
            } else {
                BootKind::Auto
            };
            if let Err(err) = GlobalLoggerConfig::check(name, kind, &e, &config_dir()) {
                return fail(&Error::new(
                    err.code(),
                    format!(
                        "{name} would not start with these entries, so none were written: {}",
                        err.message()
                    ),
                ));
            }
            e.write(file)
                .map(|()| println!("wrote {}: {name} starts with the daemon", file.display()))
        }
        GlobalLoggerAction::Show => Entries::read(file).map(|e| {
            if e.is_empty() {
                println!("no {name} entries in {}", file.display());
            }
            for (k, v) in e.iter() {
                println!("{k} = {v}");
            }
        }),
        GlobalLoggerAction::Remove => match std::fs::remove_file(file) {
            Ok(()) => {
                println!("removed {}", file.display());
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                println!("no {name} entries to remove");
                Ok(())
            }
            Err(e) => Err(e),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("evtrace: {name}: {}: {e}", file.display());
            ExitCode::FAILURE
        }
    }
}
