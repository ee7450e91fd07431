//! `start`'s logging-mode flags, and ETW's names for them in the engine's errors translated to
//! the flags a user types.

use evtrace_runtime::session::LogFileMode;
use evtrace_runtime::Error;

use super::session::StartArgs;

/// An error of `start` or `update`, whose flags [`in_cli_terms`] names beside ETW's constants.
pub(super) fn with_flags(e: Error) -> Error {
    Error::new(e.code(), in_cli_terms(e.message()))
}

/// Whether `start`'s arguments ask for a mode: with the size in MB or KB for the file modes, 0
/// for the others.
pub(super) type Asked = fn(&StartArgs) -> Option<u32>;

/// Each logging mode `start` sets, its flag, and whether the arguments ask for it.
#[rustfmt::skip]
pub(super) const MODE_FLAGS: [(LogFileMode, &str, Asked); 16] = [
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
pub(super) fn in_cli_terms(msg: &str) -> String {
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
