//! `evtrace-bench`: evtrace side by side with LTTng-UST, `tracing` + `tracing-appender` and the
//! `perfetto-sdk` crate, on one workload, in one run, every figure counted from each system's own
//! output. See `bench/README.md`.
//!
//! ```text
//! cargo run --release -p evtrace-bench -- --sustain-secs 5
//! ```
//!
//! The parent process measures the disk and runs each system's phases in child processes (this
//! same binary, `evtrace-bench child ...`), so that peak RSS and global state (a global `tracing`
//! subscriber, LTTng-UST's constructor, Perfetto's muxer) never mix between systems.

mod compare;
mod drive;
mod layers;
mod lossless;
mod peers;
mod report;
mod util;

use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};

use clap::{Args, Parser, Subcommand, ValueEnum};
use serde_json::Value;

/// Benchmarks evtrace against LTTng-UST, tracing + tracing-appender and Perfetto.
#[derive(Parser, Debug)]
#[command(name = "evtrace-bench")]
struct Cli {
    #[command(flatten)]
    opts: Opts,
    /// Install the peers' Debian packages (bench/setup.sh) before measuring.
    #[arg(long)]
    install: bool,
    /// Systems to run, comma-separated.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "evtrace,evtrace-compressed,evtrace-system,lttng,tracing,perfetto"
    )]
    systems: Vec<System>,
    /// `tracing` layers to compare in the second table (`none` for no table).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "no-subscriber,evtrace,appender,perfetto-file"
    )]
    layers: Vec<String>,
    /// Skip the dd measurement of the disk.
    #[arg(long)]
    no_dd: bool,
    /// Save this run's figures (JSON, with its date and commit), e.g. bench/results/BASELINE.json.
    #[arg(long, value_name = "FILE")]
    save: Option<PathBuf>,
    /// Compare this run with one saved by --save on the same machine: each row's ratio, and the
    /// rows more than 15% worse flagged (the exit code is then 1).
    #[arg(long, value_name = "FILE")]
    compare: Option<PathBuf>,
    #[command(subcommand)]
    child: Option<Child>,
}

#[derive(Subcommand, Debug)]
enum Child {
    /// Internal: runs one phase of one system and prints `RESULT {json}` on stdout.
    #[command(hide = true)]
    Child {
        /// The system.
        #[arg(long, value_enum)]
        system: System,
        /// The phase.
        #[arg(long, value_enum)]
        phase: Phase,
    },
    /// Internal: measures one `tracing` layer and prints `RESULT {json}` on stdout.
    #[command(hide = true)]
    LayerChild {
        /// The layer.
        #[arg(long, value_enum)]
        peer: layers::Peer,
    },
}

/// The systems compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum System {
    /// evtrace, private session, ETL file.
    Evtrace,
    /// evtrace in compressed log mode (sustained run only: the write path is the same).
    EvtraceCompressed,
    /// evtrace, system session: events from a producer process, the session in the daemon.
    EvtraceSystem,
    /// LTTng-UST 2.13 through lttng-sessiond, CTF trace.
    Lttng,
    /// tracing + tracing-subscriber JSON + tracing-appender non-blocking.
    Tracing,
    /// perfetto-sdk, in-process backend.
    Perfetto,
}

impl System {
    /// Column title.
    pub fn title(self) -> &'static str {
        match self {
            System::Evtrace => "evtrace",
            System::EvtraceCompressed => "evtrace compressed",
            System::EvtraceSystem => "evtrace system",
            System::Lttng => "LTTng-UST",
            System::Tracing => "tracing+appender",
            System::Perfetto => "perfetto",
        }
    }

    fn arg(self) -> &'static str {
        match self {
            System::Evtrace => "evtrace",
            System::EvtraceCompressed => "evtrace-compressed",
            System::EvtraceSystem => "evtrace-system",
            System::Lttng => "lttng",
            System::Tracing => "tracing",
            System::Perfetto => "perfetto",
        }
    }
}

/// The phases a child runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Phase {
    /// Disabled event, enabled event in bursts (one and two threads), clock reads.
    Micro,
    /// Logging as fast as possible for --sustain-secs, then counting the file.
    Sustain,
}

impl Phase {
    fn arg(self) -> &'static str {
        match self {
            Phase::Micro => "micro",
            Phase::Sustain => "sustain",
        }
    }
}

/// Options every phase shares; the parent passes them on to its children unchanged.
#[derive(Args, Debug, Clone)]
pub struct Opts {
    /// Seconds of sustained logging per system.
    #[arg(long, default_value_t = 5.0)]
    pub sustain_secs: f64,
    /// Writer threads in the sustained run.
    #[arg(long, default_value_t = 2)]
    pub sustain_threads: usize,
    /// Runs of each latency measurement; the median is reported.
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// Bursts per run in the enabled-event measurements.
    #[arg(long, default_value_t = 8)]
    pub bursts: usize,
    /// Events per burst (per thread).
    #[arg(long, default_value_t = 10_000)]
    pub burst_events: u64,
    /// Least pause between bursts in ms.
    #[arg(long, default_value_t = 5)]
    pub gap_ms: u64,
    /// The pause between bursts is also at least this many times the burst's own time, so each
    /// system's consumer (flusher, consumerd, appender worker) drains its buffers in between.
    #[arg(long, default_value_t = 4.0)]
    pub gap_factor: f64,
    /// Events per run of the disabled-event measurement.
    #[arg(long, default_value_t = 20_000_000)]
    pub disabled_events: u64,
    /// Where the log files go (local disk).
    #[arg(long, default_value = DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,
    /// Keep the log files after counting them.
    #[arg(long)]
    pub keep: bool,
    /// Perfetto's trace buffer in KB for the sustained run (the micro run uses 64 MB).
    #[arg(long, default_value_t = 4096)]
    pub perfetto_buffer_kb: u32,
    /// How often the Perfetto child drains the in-process buffer into its file, in ms.
    #[arg(long, default_value_t = 100)]
    pub perfetto_drain_ms: u64,
    /// Sustained run at this many events/s in all instead of as fast as possible (the lossless
    /// search sets it; 0: as fast as possible).
    #[arg(long, default_value_t = 0.0)]
    pub pace: f64,
    /// Seconds of each paced run of the lossless-rate search.
    #[arg(long, default_value_t = 5.0)]
    pub lossless_secs: f64,
    /// Paced runs of the lossless-rate search (halving the pace until nothing is lost, then
    /// bisecting; 0 leaves the rows out).
    #[arg(long, default_value_t = 8)]
    pub lossless_steps: u32,
}

/// A system that cannot run here: said on stderr, and in both of its columns.
fn skipped(system: System, why: &str) -> (System, report::Outcome, report::Outcome) {
    eprintln!("{}: SKIPPED: {why}", system.title());
    let o = || Err(format!("skipped: {why}"));
    (system, o(), o())
}

/// The workspace's target directory: on the local disk and ignored by git.
const DEFAULT_DATA_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../target/bench-data");

fn main() -> ExitCode {
    let cli = Cli::parse();
    let child = match cli.child {
        Some(Child::Child { system, phase }) => Some(peers::run_child(system, phase, &cli.opts)),
        Some(Child::LayerChild { peer }) => Some(layers::run_child(peer, &cli.opts)),
        None => None,
    };
    if let Some(result) = child {
        return match result {
            Ok(v) => {
                println!("RESULT {v}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                println!("RESULT {}", serde_json::json!({ "error": e }));
                ExitCode::FAILURE
            }
        };
    }
    // Read before the run, so a bad file is said at once rather than after minutes.
    let baseline = match cli.compare.as_deref().map(compare::load).transpose() {
        Ok(b) => b,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    if cli.install {
        if let Err(e) = util::install_peers() {
            eprintln!("--install: {e}");
        }
    }
    if let Err(e) = std::fs::create_dir_all(&cli.opts.data_dir) {
        eprintln!("cannot create {}: {e}", cli.opts.data_dir.display());
        return ExitCode::FAILURE;
    }
    let data_dir = std::fs::canonicalize(&cli.opts.data_dir).unwrap_or(cli.opts.data_dir.clone());
    let opts = Opts {
        data_dir,
        ..cli.opts
    };
    eprintln!("evtrace-bench: data in {}", opts.data_dir.display());

    let disk = if cli.no_dd {
        Err("skipped (--no-dd)".to_string())
    } else {
        util::dd_speed(&opts.data_dir)
    };
    match &disk {
        Ok(mbs) => eprintln!("disk: dd 512 MiB with fdatasync: {mbs:.0} MB/s"),
        Err(e) => eprintln!("disk: dd: {e}"),
    }

    let mut results: Vec<(System, report::Outcome, report::Outcome)> = Vec::new();
    let mut lossless: Vec<(System, report::Outcome)> = Vec::new();
    for &system in &cli.systems {
        if let Err(why) = peers::available(system, &opts) {
            results.push(skipped(system, &why));
            continue;
        }
        let lttng = if system == System::Lttng {
            Some(peers::lttng::SessionDaemon::ensure())
        } else {
            None
        };
        if let Some(Err(e)) = &lttng {
            results.push(skipped(system, e));
            continue;
        }
        if system == System::EvtraceSystem {
            if let Err(e) = peers::evtrace_system::serve_daemon(&opts) {
                results.push(skipped(system, &e));
                continue;
            }
        }
        let micro = if system == System::EvtraceCompressed {
            Err("same write path as evtrace".to_string())
        } else {
            run_phase(system, Phase::Micro, &opts)
        };
        let sustain = run_phase(system, Phase::Sustain, &opts);
        if opts.lossless_steps > 0 {
            lossless.push((system, lossless::search(system, &sustain, &opts)));
        }
        // The daemon (if this run started it) stops here, before the next system runs.
        drop(lttng);
        results.push((system, micro, sustain));
    }
    println!("{}", report::table(&opts, &disk, &results, &lossless));
    let doc = compare::document(&results, &lossless);
    let mut worse = 0;
    if let Some(path) = &cli.save {
        let text = serde_json::to_string_pretty(&doc).unwrap_or_default();
        match std::fs::write(path, text + "\n") {
            Ok(()) => eprintln!("saved this run's figures in {}", path.display()),
            Err(e) => eprintln!("--save {}: {e}", path.display()),
        }
    }
    if let Some(b) = &baseline {
        let (text, n) = compare::table(b, &doc);
        println!("{text}");
        worse = n;
    }
    let peers: Vec<layers::Peer> = cli
        .layers
        .iter()
        .filter(|l| l.as_str() != "none")
        .filter_map(|l| match <layers::Peer as ValueEnum>::from_str(l, true) {
            Ok(p) => Some(p),
            Err(_) => {
                eprintln!("--layers: unknown layer `{l}`; expected no-subscriber, evtrace, appender, perfetto-file or none");
                None
            }
        })
        .collect();
    if !peers.is_empty() {
        let results: Vec<_> = peers
            .into_iter()
            .map(|p| {
                (
                    p,
                    run_child_args(p.title(), &["layer-child", "--peer", p.arg()], &opts),
                )
            })
            .collect();
        println!("{}", layers::table(&results));
    }
    if worse > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Runs one phase of one system in a child process and returns its `RESULT` object.
pub(crate) fn run_phase(system: System, phase: Phase, opts: &Opts) -> Result<Value, String> {
    eprintln!("{}: {} ...", system.title(), phase.arg());
    let what = format!("{}: {}", system.title(), phase.arg());
    run_child_args(
        &what,
        &["child", "--system", system.arg(), "--phase", phase.arg()],
        opts,
    )
}

/// Runs this binary as a child with `args` (after the shared options) and returns its
/// `RESULT` object; `what` names it in messages.
fn run_child_args(what: &str, args: &[&str], opts: &Opts) -> Result<Value, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let out = Command::new(exe)
        // The shared options belong to the top-level parser, so they come before `child`.
        .args(opts_to_args(opts))
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot start the child: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().rev().find_map(|l| l.strip_prefix("RESULT "));
    let value: Value = match line {
        Some(l) => serde_json::from_str(l).map_err(|e| format!("bad child result: {e}"))?,
        None => return Err(format!("child exited with {} and no result", out.status)),
    };
    if let Some(e) = value.get("error").and_then(Value::as_str) {
        eprintln!("{what}: {e}");
        return Err(e.to_string());
    }
    Ok(value)
}

/// The options as command-line arguments, for a child.
fn opts_to_args(o: &Opts) -> Vec<String> {
    let mut v = vec![
        format!("--sustain-secs={}", o.sustain_secs),
        format!("--sustain-threads={}", o.sustain_threads),
        format!("--runs={}", o.runs),
        format!("--bursts={}", o.bursts),
        format!("--burst-events={}", o.burst_events),
        format!("--gap-ms={}", o.gap_ms),
        format!("--gap-factor={}", o.gap_factor),
        format!("--disabled-events={}", o.disabled_events),
        format!("--data-dir={}", o.data_dir.display()),
        format!("--perfetto-buffer-kb={}", o.perfetto_buffer_kb),
        format!("--perfetto-drain-ms={}", o.perfetto_drain_ms),
        format!("--pace={}", o.pace),
        format!("--lossless-secs={}", o.lossless_secs),
        format!("--lossless-steps={}", o.lossless_steps),
    ];
    if o.keep {
        v.push("--keep".into());
    }
    v
}
