//! `evtrace record` (after `wpr -start ... -stop` and `perf record -- cmd`): starts the sessions
//! of recording profiles, runs a command (or waits for Ctrl-C or a duration), stops every
//! session and prints what was recorded; and `evtrace top`.

pub mod filter_args;
pub mod profile;
mod session_set;
pub mod start;
pub mod status;
pub mod top;
mod wprp;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use evtrace_runtime::kernel::KernelFlags;
use evtrace_runtime::provider::EnableSettings;

use filter_args::FilterArgs;
use profile::{Collector, Plan};
use session_set::SessionSet;

/// The session `--provider` and `--kernel` add to when no profile names one.
pub const DEFAULT_SESSION: &str = "evtrace-record";

/// `evtrace record`.
#[derive(Args)]
pub struct RecordArgs {
    /// The log file (with several collectors, the first's; the others get `.SESSION` before
    /// the extension).
    #[arg(short = 'o', long = "output", default_value = "record.etl")]
    output: PathBuf,
    /// A recording profile: built-in (general, cpu, network, disk), a .toml file, or WPR's
    /// .wprp (FILE.wprp!PROFILE picks one of its profiles). Repeat to merge several.
    #[arg(long = "profile", value_name = "PROFILE")]
    profiles: Vec<String>,
    /// A provider to enable, `PROVIDER[:LEVEL[:ANY[:ALL]]]` (a name or GUID; `*` for every
    /// provider of the command's processes). Repeatable.
    #[arg(
        long = "provider",
        short = 'p',
        value_name = "PROVIDER[:LEVEL[:ANY[:ALL]]]"
    )]
    providers: Vec<String>,
    /// Kernel events too (as `start --kernel-flags`): the session becomes a system logger.
    #[arg(long = "kernel", value_name = "FLAGS")]
    kernel: Option<String>,
    /// Stop after this many seconds (without a command: else on Ctrl-C).
    #[arg(long, value_name = "S")]
    duration: Option<f64>,
    /// BufferSize in KB of every session (overrides the profiles).
    #[arg(short = 'b', long = "buffer-kb", value_name = "KB")]
    buffer_kb: Option<u32>,
    /// MaximumBuffers of every session (overrides the profiles).
    #[arg(long = "max-buffers", value_name = "N")]
    max_buffers: Option<u32>,
    /// Show the status line even when stderr is not a terminal.
    #[arg(long, conflicts_with = "quiet")]
    status: bool,
    /// No status line.
    #[arg(long)]
    quiet: bool,
    /// Kernel events of the command's process tree only (the command and what it starts), not
    /// of the whole machine.
    #[arg(long, requires = "command")]
    this_process_only: bool,
    #[command(flatten)]
    filter: FilterArgs,
    /// The command to run and record (after `--`); the recording ends when it does.
    #[arg(last = true, value_name = "COMMAND")]
    command: Vec<OsString>,
}

/// How long a provider of the recorded command waits, at registration, for the daemon.
const SYNC_MS: u32 = 2000;

/// Exit code of a recording that a second Ctrl-C cut short.
const ABORTED: u8 = 130;

/// How long the first Ctrl-C waits for the recorded command to end.
const GRACE: Duration = Duration::from_secs(5);

/// Whether a Ctrl-C typed at the terminal reached the command `pid` itself: it did when the
/// command is in this process's group and that group is the terminal's foreground group (the
/// terminal signals the whole group). Otherwise (a `kill` aimed at evtrace alone, no terminal)
/// it must be passed on.
fn interrupt_reached(pid: u32) -> bool {
    // SAFETY: getpgrp, getpgid and tcgetpgrp only read process state; a failure is -1.
    unsafe {
        let own = libc::getpgrp();
        libc::getpgid(pid as libc::pid_t) == own && libc::tcgetpgrp(libc::STDERR_FILENO) == own
    }
}

/// Runs `evtrace record`.
pub fn run(a: RecordArgs) -> ExitCode {
    let plan = match plan(&a) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("evtrace record: {e}");
            return ExitCode::from(2);
        }
    };
    for w in &plan.warnings {
        eprintln!("evtrace record: warning: {w}");
    }
    // Taken before anything starts: a Ctrl-C from here on stops the recording cleanly.
    let interrupts = Arc::new(AtomicUsize::new(0));
    if let Err(e) = watch_interrupts(&interrupts) {
        eprintln!("evtrace record: cannot handle Ctrl-C: {e}");
        return ExitCode::FAILURE;
    }
    let files = output_files(&a.output, &plan.collectors);
    if a.this_process_only && plan.collectors.iter().all(|c| c.kernel.is_empty()) {
        eprintln!("evtrace record: warning: --this-process-only: no profile or --kernel asks for kernel events, so it changes nothing");
    }
    // The command is this process's child: its tree is this process's descendants.
    let tree = a.this_process_only.then(std::process::id);
    let set = match SessionSet::start(&plan, &files, tree) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("evtrace record: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut child = None;
    if let Some((program, args)) = a.command.split_first() {
        let mut command = std::process::Command::new(program);
        // Its providers' registrations wait for the daemon's enables: no first events missed.
        command
            .args(args)
            .env("EVTRACE_DAEMON_SYNC_MS", SYNC_MS.to_string());
        match command.spawn() {
            Ok(c) => child = Some(c),
            Err(e) => {
                let stopped = set.abandon();
                eprintln!(
                    "evtrace record: cannot start {}: {e}; stopped {} and removed {}",
                    Path::new(program).display(),
                    stopped.join(", "),
                    files
                        .iter()
                        .map(|f| f.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                return ExitCode::FAILURE;
            }
        }
    }
    let show = !a.quiet && (a.status || status::stderr_is_terminal());
    let mut line = status::StatusLine::new(&set.names(), &files);
    let deadline = a
        .duration
        .map(|s| Instant::now() + Duration::from_secs_f64(s.max(0.0)));
    let mut exit = None;
    let mut next_tick = Instant::now();
    // Set at the first Ctrl-C while the command runs: the recording goes on until it ends (so
    // its last events are kept), or until this deadline.
    let mut grace: Option<Instant> = None;
    loop {
        let n = interrupts.load(Ordering::SeqCst);
        if n > 0 && grace.is_none() {
            match child.as_ref() {
                Some(c) if n == 1 => {
                    let pid = c.id();
                    if !interrupt_reached(pid) {
                        // SAFETY: kill(2) with a pid this process spawned and has not reaped.
                        unsafe { libc::kill(pid as libc::pid_t, libc::SIGINT) };
                    }
                    if show {
                        status::clear_line();
                    }
                    eprintln!(
                        "\nevtrace record: Ctrl-C: waiting up to {}s for the command (pid {pid}) to end, recording meanwhile (Ctrl-C again stops now)",
                        GRACE.as_secs()
                    );
                    grace = Some(Instant::now() + GRACE);
                }
                _ => {
                    eprintln!("\nevtrace record: Ctrl-C: stopping (again to leave at once)");
                    break;
                }
            }
        } else if grace.is_some() && n > 1 {
            eprintln!("evtrace record: second Ctrl-C: stopping now (again to leave at once)");
            break;
        }
        if grace.is_some_and(|g| Instant::now() >= g) {
            eprintln!(
                "evtrace record: the command did not end within {}s: stopping the recording; it keeps running",
                GRACE.as_secs()
            );
            break;
        }
        if let Some(c) = child.as_mut() {
            if let Ok(Some(s)) = c.try_wait() {
                exit = Some(s);
                break;
            }
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        if show && Instant::now() >= next_tick {
            line.refresh(&set.query());
            next_tick += Duration::from_secs(1);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    if show {
        status::clear_line();
    }
    // A further Ctrl-C while the sessions stop leaves at once; the daemon finishes the stops.
    let aborting = Arc::clone(&interrupts);
    let before = interrupts.load(Ordering::SeqCst);
    std::thread::spawn(move || loop {
        if aborting.load(Ordering::SeqCst) > before {
            eprintln!("evtrace record: second Ctrl-C: leaving; the daemon finishes stopping the sessions, the files stay readable");
            std::process::exit(ABORTED.into());
        }
        std::thread::sleep(Duration::from_millis(20));
    });
    let stats = set.stop();
    let mut failed = false;
    for (name, r) in &stats {
        if let Err(e) = r {
            failed = true;
            eprintln!("evtrace record: stopping {name}: {}", e.message());
        }
    }
    let summary = summary::print(&files, &stats);
    if let Some(s) = exit {
        if !s.success() {
            eprintln!("evtrace record: the command ended with {s}");
        }
    }
    if failed || !summary {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

mod summary;

/// The plan of the command line: its profiles merged, then `--provider` and `--kernel`, the
/// filters and the buffer settings.
fn plan(a: &RecordArgs) -> Result<Plan, String> {
    let mut plan = Plan::load_all(&a.profiles)?;
    let filter = a.filter.filter().map_err(|e| e.message().to_string())?;
    let mut extra = Collector::new(DEFAULT_SESSION);
    for spec in &a.providers {
        let (name, rest) = spec.split_once(':').unwrap_or((spec, ""));
        let settings = if name == profile::ANY_PROVIDER {
            EnableSettings::parse_spec(&format!("x:{rest}")).map(|(_, s)| s)
        } else {
            EnableSettings::parse_spec(spec).map(|(_, s)| s)
        }
        .map_err(|e| e.message().to_string())?;
        extra.add_provider(profile::provider(name, settings, Default::default())?);
    }
    if let Some(k) = &a.kernel {
        extra.kernel = KernelFlags::parse(k).map_err(|e| e.message().to_string())?;
    }
    if !extra.providers.is_empty() || !extra.kernel.is_empty() {
        // Into the profiles' first session that can take them, else a session of its own.
        let into = plan
            .collectors
            .iter()
            .find(|c| !c.is_kernel_logger())
            .map_or(DEFAULT_SESSION.to_string(), |c| c.session.clone());
        extra.session = into;
        plan.merge(Plan {
            collectors: vec![extra],
            warnings: Vec::new(),
        });
    }
    if plan.collectors.is_empty() {
        return Err(
            "nothing to record: give --profile PROFILE, --provider PROVIDER or --kernel FLAGS"
                .into(),
        );
    }
    plan.override_buffers(a.buffer_kb, a.max_buffers);
    let me = std::process::id();
    for c in &mut plan.collectors {
        for p in &mut c.providers {
            a.filter.apply_to(&mut p.filter, &filter);
            // `*` with a command: the command's providers, not the machine's.
            if p.guid.is_none() && !a.command.is_empty() {
                p.filter.tree_of = Some(me);
            }
        }
    }
    Ok(plan)
}

/// The file of each collector: `output` for the first, `STEM.SESSION.EXT` for the others.
pub(crate) fn output_files(output: &Path, collectors: &[Collector]) -> Vec<PathBuf> {
    let output = std::path::absolute(output).unwrap_or_else(|_| output.to_path_buf());
    collectors
        .iter()
        .enumerate()
        .map(|(i, c)| {
            if i == 0 {
                return output.clone();
            }
            let stem = output
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("record");
            let ext = output.extension().and_then(|s| s.to_str()).unwrap_or("etl");
            let tag: String = c
                .session
                .chars()
                .map(|ch| {
                    if ch.is_ascii_alphanumeric() || ch == '-' {
                        ch
                    } else {
                        '_'
                    }
                })
                .collect();
            output.with_file_name(format!("{stem}.{tag}.{ext}"))
        })
        .collect()
}

/// Counts SIGINT, SIGTERM and SIGHUP (a closed terminal) in `n` (the first stops the
/// recording, the second leaves).
pub(crate) fn watch_interrupts(n: &Arc<AtomicUsize>) -> std::io::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])?;
    let n = Arc::clone(n);
    std::thread::Builder::new()
        .name("evtrace-record-signals".into())
        .spawn(move || {
            for _ in signals.forever() {
                n.fetch_add(1, Ordering::SeqCst);
            }
        })?;
    Ok(())
}
