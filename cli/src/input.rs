//! What `fmt` and `convert` share about their inputs: the time window, opening up to 64 log
//! files merged by time, and reporting what could not be read.

use std::path::PathBuf;

use clap::Args;
use evtrace_runtime::consume::{Diagnostics, LogReader};
use evtrace_runtime::etl::rfc3339_to_unix_nanos;

/// Log files and the time window to read from them.
#[derive(Args, Debug)]
pub struct InputArgs {
    /// Only items at or after this time (RFC 3339, e.g. 2024-01-02T03:04:05Z). Log files only.
    #[arg(long, value_parser = parse_time)]
    pub start: Option<i64>,
    /// Only items at or before this time (RFC 3339). Log files only.
    #[arg(long, value_parser = parse_time)]
    pub end: Option<i64>,
}

fn parse_time(s: &str) -> Result<i64, String> {
    rfc3339_to_unix_nanos(s)
        .ok_or_else(|| format!("`{s}` is not an RFC 3339 time such as 2024-01-02T03:04:05Z"))
}

/// Damage kinds that make the exit status non-zero (unsupported but valid records do not).
pub const DAMAGE: &[&str] = &[
    "bad log-file header",
    "corrupt buffer",
    "truncated buffer",
    "bad compressed buffer",
    "corrupt record",
    "undecodable record",
    "trailing bytes",
    "read error",
    "bad TraceLogging metadata",
    "undecodable field",
    // Real-time delivery: a buffer whose pieces stopped coming, a packet of no known kind.
    "cut buffer",
    "unknown packet",
];

/// Opens `files` merged by time within the window, going on past damage. The error is the
/// message to print (bad window, no file readable).
pub fn open(files: &[PathBuf], window: &InputArgs) -> Result<LogReader, String> {
    LogReader::options()
        .window_unix_nanos(window.start, window.end)
        .keep_going(true)
        .open(files)
        .map_err(|e| e.to_string())
}

/// Prints unopenable files and damage to stderr as `COMMAND: ...`; true when there was any.
pub fn report_problems(command: &str, reader: &LogReader) -> bool {
    let mut failed = false;
    for e in reader.file_errors() {
        eprintln!("{command}: {e}");
        failed = true;
    }
    let diag = reader.diagnostics();
    for file in 0..reader.file_count() {
        let path = reader
            .path(file)
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        failed |= report_damage(command, file, &path, diag);
    }
    failed
}

/// Prints the damage `diag` counted in file `file` (shown as `path`) to stderr as
/// `COMMAND: PATH: N x KIND (first at offset ...)`; true when there was any.
pub fn report_damage(command: &str, file: usize, path: &str, diag: &Diagnostics) -> bool {
    let mut failed = false;
    for (f, kind, n) in diag.counts() {
        if f != file {
            continue;
        }
        let first = diag
            .first()
            .iter()
            .find(|l| l.file == file && l.kind == kind);
        let at = first
            .map(|l| format!(" (first at offset {:#x}: {})", l.offset, l.reason))
            .unwrap_or_default();
        // Damage fails the command; other notes (an undecodable field, say) are listed by
        // `fmt --summary` only.
        if DAMAGE.contains(&kind) {
            eprintln!("{command}: {path}: {n} x {kind}{at}");
            failed = true;
        }
    }
    failed
}
