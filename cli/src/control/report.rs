//! What the controller verbs print: a session's figures, or the error.

use std::process::ExitCode;

use evtrace_runtime::kernel::KernelFlags;
use evtrace_runtime::session::LogFileMode;
use evtrace_runtime::system::protocol::WireStats;
use evtrace_runtime::Error;

/// Prints a session's figures as `tracelog -q` lays them out.
pub(super) fn print_stats(w: &WireStats) {
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
pub(super) fn report(r: Result<WireStats, Error>) -> ExitCode {
    r.map(|s| print_stats(&s))
        .map_or_else(|e| fail(&e), |()| ExitCode::SUCCESS)
}

/// A command that answers nothing but success, or the error.
pub(super) fn done(r: Result<(), Error>) -> ExitCode {
    r.map_or_else(|e| fail(&e), |()| ExitCode::SUCCESS)
}

pub(super) fn fail(e: &Error) -> ExitCode {
    eprintln!("evtrace: {}: {}", e.code().name(), e.message());
    ExitCode::FAILURE
}
