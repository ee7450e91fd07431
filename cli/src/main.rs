//! `evtrace`: control trace sessions like tracelog, format log files like tracefmt.

mod fmt;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Event Tracing for Windows, on Linux.
#[derive(Parser)]
#[command(name = "evtrace", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Format log files (.etl) as text, JSON lines or a summary, like tracefmt.
    Fmt(fmt::FmtArgs),
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Fmt(args) => fmt::run(args),
    }
}
