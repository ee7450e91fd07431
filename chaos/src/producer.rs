//! The producer role: a process that writes the chaos provider's events from several threads,
//! into a system session (the daemon's) or a private session of its own, and says on stdout, as
//! one JSON object, what it attempted.
//!
//! Each event carries its writer thread and a counter that goes up by one per attempt, so a
//! reader can tell exactly which events are missing.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use evtrace::provider::{filter::level, EnableSettings};
use evtrace::session::{LogFileMode, Session, SessionProperties};

/// The events the chaos producers write.
#[evtrace::provider(name = "Evtrace-Chaos")]
pub mod chaos_events {
    /// One attempt of writer `thread`; `n` counts its attempts from 0.
    #[event(level = info)]
    pub fn tick(thread: u32, n: u64);
}

#[derive(Parser)]
#[command(name = "evtrace-chaos producer")]
struct Args {
    #[command(subcommand)]
    into: Into,
    /// Writer threads.
    #[arg(long, global = true, default_value_t = 2)]
    threads: u32,
    /// Events per thread, then exit; default: until --seconds, or forever.
    #[arg(long, global = true)]
    events: Option<u64>,
    /// Seconds of writing, then exit.
    #[arg(long, global = true)]
    seconds: Option<f64>,
}

#[derive(Subcommand)]
enum Into {
    /// Into whatever system sessions enable the provider (writes only while enabled).
    System,
    /// Into a private session of this process, started with default settings.
    Private {
        /// Its log file (a NEWFILE name holds `%d`).
        #[arg(long)]
        file: PathBuf,
        /// A new file every `--max-file-kb`.
        #[arg(long)]
        newfile: bool,
        /// MaximumFileSize in KB (0: none).
        #[arg(long, default_value_t = 0)]
        max_file_kb: u32,
    },
}

/// What one writer thread did.
#[derive(Default)]
struct Written {
    attempted: u64,
    max_write_ns: u64,
}

/// Runs the role with the process's arguments.
pub fn main() -> ExitCode {
    let args = Args::parse();
    // What the process holds before any session or writer: the bound on what they add starts here.
    let rss_before_kb = crate::lab::status_kb(std::process::id(), "VmRSS");
    let session = match &args.into {
        Into::System => None,
        Into::Private {
            file,
            newfile,
            max_file_kb,
        } => {
            let mut mode = LogFileMode::empty();
            if *newfile {
                mode |= LogFileMode::NEWFILE;
            }
            if *max_file_kb > 0 {
                mode |= LogFileMode::USE_KBYTES_FOR_SIZE;
            }
            let props = SessionProperties::new("Chaos-Private")
                .log_file(file)
                .mode(mode)
                .maximum_file_size(*max_file_kb);
            let s = match Session::start_private(props) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("producer: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let on = EnableSettings::new(level::VERBOSE, 0, 0);
            if let Err(e) = s.enable_provider(chaos_events::PROVIDER.guid(), on) {
                eprintln!("producer: {e}");
                return ExitCode::FAILURE;
            }
            Some(s)
        }
    };
    if let Err(e) = chaos_events::register() {
        eprintln!("producer: {e}");
        return ExitCode::FAILURE;
    }
    if args.events.is_some() || args.seconds.is_some() {
        // A bounded run writes what it says it writes: wait for the enable first.
        let deadline = Instant::now() + Duration::from_secs(20);
        while !chaos_events::tick::EVENT.enabled() {
            if Instant::now() > deadline {
                eprintln!("producer: never enabled");
                return ExitCode::FAILURE;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..args.threads)
        .map(|t| {
            let stop = stop.clone();
            let events = args.events;
            std::thread::spawn(move || write(t, events, &stop))
        })
        .collect();
    if let Some(s) = args.seconds {
        std::thread::sleep(Duration::from_secs_f64(s));
        stop.store(true, Ordering::Relaxed);
    }
    let done: Vec<Written> = writers.into_iter().map(|w| w.join().unwrap()).collect();
    let stats = match session.map(Session::stop) {
        Some(Ok(s)) => serde_json::to_value(s).unwrap(),
        Some(Err(e)) => {
            eprintln!("producer: stopping the session: {e}");
            return ExitCode::FAILURE;
        }
        None => serde_json::Value::Null,
    };
    let report = serde_json::json!({
        "attempted": done.iter().map(|w| w.attempted).sum::<u64>(),
        "max_write_ns": done.iter().map(|w| w.max_write_ns).max().unwrap_or(0),
        "rss_before_kb": rss_before_kb,
        "vmhwm_kb": crate::lab::status_kb(std::process::id(), "VmHWM"),
        "stats": stats,
    });
    println!("{report}");
    ExitCode::SUCCESS
}

/// One writer: as fast as it can while enabled (a tight loop), each write timed.
fn write(thread: u32, events: Option<u64>, stop: &AtomicBool) -> Written {
    let mut w = Written::default();
    let end = events.unwrap_or(u64::MAX);
    while w.attempted < end && !stop.load(Ordering::Relaxed) {
        if !chaos_events::tick::EVENT.enabled() {
            if events.is_some() {
                // Disabled mid-run (a session stopped itself): the rest is not attempted.
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
            continue;
        }
        let t = Instant::now();
        evtrace::write!(chaos_events::tick(thread, w.attempted));
        w.max_write_ns = w.max_write_ns.max(t.elapsed().as_nanos() as u64);
        w.attempted += 1;
    }
    w
}
