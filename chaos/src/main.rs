//! `evtrace-chaos`: the chaos suite at length, and the roles its scenarios run it in.
//!
//! ```text
//! cargo run --release -p evtrace-chaos -- --minutes 60          # every scenario, about an hour
//! cargo run --release -p evtrace-chaos -- --minutes 5 --only soak
//! ```
//!
//! The same binary is the `evtrace` command (the daemon and controllers the scenarios start) and
//! the producer processes they kill: `EVTRACE_CHAOS_AS` says which, so that a daemon started on
//! demand by a controller is this binary in the same role.

use std::process::ExitCode;

use clap::Parser;
use evtrace_chaos::{Budget, Role, Scenario, ROLE_VAR};

/// Runs the chaos scenarios for a given time and prints a table of what they did and found.
#[derive(Parser)]
#[command(name = "evtrace-chaos", version)]
struct Args {
    /// Minutes for the whole run, shared out among the scenarios run.
    #[arg(long, default_value_t = 10.0)]
    minutes: f64,
    /// Only these scenarios (repeat the flag); default all.
    #[arg(long, value_enum)]
    only: Vec<Scenario>,
    /// Write the hostile-files corpus (small evtrace files of each kind) into this folder and
    /// exit.
    #[arg(long, value_name = "DIR")]
    make_corpus: Option<std::path::PathBuf>,
}

#[global_allocator]
static ALLOC: evtrace_chaos::alloc::Counting = evtrace_chaos::alloc::Counting;

fn main() -> ExitCode {
    match Role::from_env() {
        Ok(Some(Role::Evtrace)) => return evtrace_cli::run(std::env::args_os()),
        Ok(Some(Role::Producer)) => return evtrace_chaos::producer::main(),
        Ok(None) => {}
        Err(e) => {
            eprintln!("evtrace-chaos: {ROLE_VAR}: {e}");
            return ExitCode::from(2);
        }
    }
    let args = Args::parse();
    if let Some(dir) = &args.make_corpus {
        return match evtrace_chaos::make_corpus(dir) {
            Ok(files) => {
                for f in files {
                    println!("{}", f.display());
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("evtrace-chaos: {e}");
                ExitCode::FAILURE
            }
        };
    }
    if args.minutes.is_nan() || args.minutes <= 0.0 {
        eprintln!("evtrace-chaos: --minutes must be more than 0");
        return ExitCode::from(2);
    }
    let chosen = if args.only.is_empty() {
        Scenario::ALL.to_vec()
    } else {
        args.only
    };
    let each = Budget::long(args.minutes / chosen.len() as f64);
    let exe = std::env::current_exe().expect("this program's path");
    let mut report = evtrace_chaos::Report::default();
    for s in chosen {
        eprintln!("evtrace-chaos: {} ({:.1} min)...", s.name(), each.minutes());
        report.push(s.run(&exe, &each));
    }
    print!("{report}");
    if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
