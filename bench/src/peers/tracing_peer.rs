//! `tracing` + `tracing-subscriber`'s JSON formatter + `tracing-appender`'s non-blocking writer
//! (its defaults: lossy, 128,000 buffered lines) to a file; events counted as JSON lines.

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};
use tracing_appender::non_blocking::{ErrorCounter, WorkerGuard};

use crate::drive::{self, Workload, TAG_STR};
use crate::util;
use crate::Opts;

struct Tracing;

impl Workload for Tracing {
    fn write_n(&self, start: u64, n: u64, thread: u32) {
        for i in start..start + n {
            // The three fields and no message, so the line carries what the other systems do.
            tracing::info!(name: "Sample", target: "evtrace_bench", counter = i, thread = thread, tag = TAG_STR);
        }
    }
}

/// Installs the global JSON subscriber writing through a non-blocking appender to `file`.
fn install(file: &Path) -> Result<(WorkerGuard, ErrorCounter), String> {
    let f = std::fs::File::create(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let (writer, guard) = tracing_appender::non_blocking(f);
    let dropped = writer.error_counter();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_writer(writer)
        .finish();
    tracing::subscriber::set_global_default(subscriber).map_err(|e| e.to_string())?;
    Ok((guard, dropped))
}

/// Lines with the workload's counter field in the appender's file.
fn count(file: &Path) -> Result<u64, String> {
    util::count_lines_containing(file, "\"counter\":")
        .map_err(|e| format!("{}: {e}", file.display()))
}

/// Disabled (no subscriber at all, tracing's cheapest state), then the JSON subscriber in bursts.
pub fn micro(opts: &Opts) -> Result<Value, String> {
    let w = Tracing;
    let disabled = drive::disabled_ns(&w, opts);
    let (mono, real, tsc) = drive::clock_reads(opts);
    let file = opts.data_dir.join("tracing-micro.jsonl");
    // Setting the global default rebuilds every callsite's cached interest, so the event that was
    // disabled above is enabled from here on.
    let (guard, dropped) = install(&file)?;
    let b1 = drive::bursts(&w, 1, opts, 0, &mut || {});
    let b2 = drive::bursts(&w, 2, opts, b1.attempted, &mut || {});
    // Dropping the guard flushes the worker and waits for it.
    drop(guard);
    let recorded = count(&file)?;
    util::cleanup(&file, opts.keep);
    Ok(json!({
        "disabled_ns": disabled,
        "clock": { "mono": mono, "real": real, "tsc": tsc },
        // tracing-subscriber stamps lines with SystemTime (CLOCK_REALTIME).
        "enabled": [{ "row": "real", "label": "SystemTime", "ns": b1.ns_per_event, "clock_read_ns": real }],
        "one_thread_eps": b1.events_per_sec,
        "two_thread_eps": b2.events_per_sec,
        "micro_attempted": b1.attempted + b2.attempted,
        "micro_recorded": recorded,
        "micro_lost_reported": dropped.dropped_lines(),
    }))
}

/// The JSON subscriber and default non-blocking appender for --sustain-secs.
pub fn sustain(opts: &Opts) -> Result<Value, String> {
    let file = opts.data_dir.join("tracing-sustain.jsonl");
    let (guard, dropped) = install(&file)?;
    let (attempted, elapsed) = drive::sustain(
        &Tracing,
        opts.sustain_threads,
        opts.sustain_secs,
        opts.pace,
        &mut || {},
        Duration::from_millis(50),
    );
    let rss = util::peak_rss_kb();
    drop(guard);
    let t = std::time::Instant::now();
    let recorded = count(&file)?;
    let count_secs = t.elapsed().as_secs_f64();
    let bytes = util::disk_bytes(&file);
    util::cleanup(&file, opts.keep);
    Ok(json!({
        "threads": opts.sustain_threads,
        "secs": elapsed.as_secs_f64(),
        "attempted": attempted,
        "recorded": recorded,
        // The appender counts what it drops, but only for an application that polls
        // ErrorCounter; nothing reaches the log. The table shows the silent loss as well.
        "lost_reported": dropped.dropped_lines(),
        "lost_how": "appender ErrorCounter (not in the log)",
        "bytes": bytes,
        "rss_kb": rss.max(util::peak_rss_kb()),
        "count_secs": count_secs,
    }))
}
