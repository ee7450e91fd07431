//! The `evtrace` command as a library: [`run`] parses a command line and does what it says.
//! The `evtrace` binary is this and nothing more; other binaries (the chaos suite) run the same
//! command in-process.
#![warn(missing_docs)]

mod control;
mod convert;
mod fmt;
mod forward;
mod input;
mod record;

use std::ffi::OsString;
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
    /// Convert log files to a timeline for Perfetto's UI (--to perfetto) or Chrome JSON viewers
    /// (--to chrome-json).
    Convert(convert::ConvertArgs),
    /// Send a live session's or growing log files' events to an OpenTelemetry endpoint over
    /// OTLP (HTTP/protobuf or gRPC), resuming after the last acknowledged record.
    Forward(forward::ForwardArgs),
    /// Run the daemon that hosts system sessions (in the foreground).
    Daemon(control::DaemonArgs),
    /// Start a system session (tracelog -start); starts the daemon if none runs.
    Start(control::StartArgs),
    /// Stop a system session: producers hand over their last buffers, the file is finished.
    Stop(control::NameArgs),
    /// Write every buffer holding events now (tracelog -flush).
    Flush(control::NameArgs),
    /// Go on in the next file of a --newfile session now (ControlTrace INCREMENT_FILE).
    IncrementFile(control::NameArgs),
    /// Change a running session's log file, flush timer, maximum buffers, real-time delivery or
    /// kernel flags (tracelog -update).
    Update(control::UpdateArgs),
    /// Enable a provider in a session (tracelog -enable).
    Enable(control::EnableArgs),
    /// Disable a provider in a session (tracelog -disable).
    Disable(control::EnableArgs),
    /// A session's settings and statistics (tracelog -q).
    Query(control::NameArgs),
    /// Every system session (tracelog -l).
    List,
    /// The Global Logger's persistent entries: create, show, remove.
    Globallogger(control::GlobalLoggerArgs),
    /// AutoLogger sessions' persistent entries: create, show, remove.
    Autologger(control::AutoLoggerArgs),
    /// Record with recording profiles (built-in, TOML or WPR's .wprp), a command or Ctrl-C
    /// ending it, a live status line, then a summary (wpr -start/-stop, perf record).
    Record(record::RecordArgs),
    /// The busiest providers, events and processes of a real-time session, refreshed each second.
    Top(record::top::TopArgs),
}

/// Runs the `evtrace` command line `args` (the program name first, as in `std::env::args_os`).
pub fn run(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    match Cli::parse_from(args).command {
        Command::Fmt(args) => fmt::run(args),
        Command::Convert(a) => convert::run(a),
        Command::Forward(a) => forward::run(a),
        Command::Daemon(a) => control::daemon(a),
        Command::Start(a) => control::start(a),
        Command::Stop(a) => control::stop(a),
        Command::Flush(a) => control::flush(a),
        Command::IncrementFile(a) => control::increment_file(a),
        Command::Update(a) => control::update(a),
        Command::Enable(a) => control::enable(a),
        Command::Disable(a) => control::disable(a),
        Command::Query(a) => control::query(a),
        Command::List => control::list(),
        Command::Globallogger(a) => control::global_logger(a),
        Command::Autologger(a) => control::auto_logger(a),
        Command::Record(a) => record::run(a),
        Command::Top(a) => record::top::run(a),
    }
}
