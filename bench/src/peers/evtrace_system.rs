//! evtrace, system session: the events come from this (child) process, the session lives in the
//! daemon that the parent runs (`serve_daemon`); the child is a producer whose share of the
//! session is a memfd the daemon drains. Started, enabled and stopped through the daemon, as the
//! `evtrace` command does; the file is counted back like the private session's.

use std::path::Path;

use evtrace::provider::EnableSettings;
use evtrace::session::{ClockType, SessionProperties};
use evtrace::system::control::Controller;
use evtrace::system::daemon::Daemon;
use serde_json::{json, Value};

use super::evtrace::{bench_events, count_events, Evtrace};
use crate::drive;
use crate::util;
use crate::Opts;

/// Runs the daemon on a thread of the bench's parent process, with its socket under the data
/// directory; children find it through `EVTRACE_RUNTIME_DIR`.
pub fn serve_daemon(opts: &Opts) -> Result<(), String> {
    let dir = opts.data_dir.join("daemon");
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700));
    let d = Daemon::bind(&dir).map_err(|e| format!("daemon: {e}"))?;
    std::thread::spawn(move || d.run());
    // Set before any child starts, so each inherits it.
    std::env::set_var("EVTRACE_RUNTIME_DIR", &dir);
    Ok(())
}

/// Starts the system session and waits until the daemon has enabled this process's provider.
fn start(name: &str, file: &Path, buffers: Option<(u32, u32)>) -> Result<Controller, String> {
    let _ = std::fs::remove_file(file);
    bench_events::register().map_err(|e| format!("register: {e}"))?;
    let c = Controller::connect().map_err(|e| e.to_string())?;
    let _ = c.stop(name);
    let mut props = SessionProperties::new(name).log_file(file);
    if let Some((min, max)) = buffers {
        props = props.buffer_size_kb(64).buffers(min, max);
    }
    c.start(&props).map_err(|e| format!("start: {e}"))?;
    c.enable(
        name,
        bench_events::PROVIDER.guid(),
        EnableSettings::new(5, 0, 0),
    )
    .map_err(|e| format!("enable: {e}"))?;
    drive::wait_until(|| bench_events::sample::EVENT.enabled()).map_err(|()| {
        "the daemon did not enable this process's provider within 10 s".to_string()
    })?;
    Ok(c)
}

/// Stops the session through the daemon; (recorded, EventsLost, bytes on disk).
fn stop_and_count(
    c: &Controller,
    name: &str,
    file: &Path,
    opts: &Opts,
) -> Result<(u64, u64, u64), String> {
    let s = c.stop(name).map_err(|e| format!("stop: {e}"))?;
    let recorded = count_events(file, bench_events::PROVIDER.guid())?;
    let bytes = util::disk_bytes(file);
    util::cleanup(file, opts.keep);
    Ok((recorded, s.session.events_lost, bytes))
}

/// Enabled event from another process than the session's: one thread, then two.
pub fn micro(opts: &Opts) -> Result<Value, String> {
    let w = Evtrace;
    let name = "evtrace-bench-system-micro";
    let file = opts.data_dir.join("evtrace-system-micro.etl");
    let c = start(name, &file, Some((0, 256)))?;
    let (mono, _, _) = drive::clock_reads(opts);
    let (label, read) = super::evtrace::clock_row(ClockType::PerfCounter, mono, opts);
    let b1 = drive::bursts(&w, 1, opts, 0, &mut || {});
    let b2 = drive::bursts(&w, 2, opts, b1.attempted, &mut || {});
    let (recorded, lost, _) = stop_and_count(&c, name, &file, opts)?;
    Ok(json!({
        "enabled": [{ "row": "mono", "label": label, "ns": b1.ns_per_event, "clock_read_ns": read }],
        "one_thread_eps": b1.events_per_sec,
        "two_thread_eps": b2.events_per_sec,
        "micro_attempted": b1.attempted + b2.attempted,
        "micro_recorded": recorded,
        "micro_lost_reported": lost,
    }))
}

/// The default system session for --sustain-secs, two threads of this process writing.
pub fn sustain(opts: &Opts) -> Result<Value, String> {
    let name = "evtrace-bench-system-sustain";
    let file = opts.data_dir.join("evtrace-system-sustain.etl");
    let c = start(name, &file, None)?;
    super::evtrace::sustain_run(opts, || stop_and_count(&c, name, &file, opts))
}
