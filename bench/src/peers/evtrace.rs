//! evtrace: a private session writing an ETL file, read back with `evtrace::etl::read`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use evtrace::clock::{ClockType, TimeSource};
use evtrace::etl::read::{for_each_record, Record};
use evtrace::provider::EnableSettings;
use evtrace::session::{LogFileMode, Session, SessionProperties};
use evtrace::Guid;
use serde_json::{json, Value};

use crate::drive::{self, Workload, TAG_STR};
use crate::util::{self, Mapped};
use crate::Opts;

/// The benchmark's provider: one event with the workload's three fields, declared with the
/// macros as an application would.
#[evtrace::provider(name = "evtrace-bench")]
pub(crate) mod bench_events {
    /// The workload event.
    #[event(level = info)]
    pub fn sample(counter: u64, thread: u32, tag: &str);
}

/// The workload event at its call site: one relaxed load decides, the arguments are evaluated
/// only when a session wants the event; a lost event is counted by the session (EventsLost).
#[inline(always)]
fn log_one(counter: u64, thread: u32) {
    evtrace::write!(bench_events::sample(counter, thread, TAG_STR));
}

pub(crate) struct Evtrace;

impl Workload for Evtrace {
    fn write_n(&self, start: u64, n: u64, thread: u32) {
        for i in start..start + n {
            log_one(i, thread);
        }
    }
}

fn clock_name(c: ClockType) -> &'static str {
    match c {
        ClockType::PerfCounter => "PerfCounter",
        ClockType::SystemTime => "SystemTime",
        ClockType::CpuCycle => "CpuCycle",
    }
}

/// A clock type's row label and its cost per read: that of what it reads here (where the
/// kernel keeps time with the TSC, both the performance counter and system time are mapped from
/// it). `read` is the cost of the clock the type names.
pub(crate) fn clock_row(clock: ClockType, read: f64, opts: &Opts) -> (String, f64) {
    match (clock, clock.source()) {
        (ClockType::PerfCounter, TimeSource::TscMonotonicNs) => (
            "PerfCounter = TSC mapped to MONOTONIC".to_string(),
            drive::time_clock_read(opts, &|| ClockType::PerfCounter.now()),
        ),
        (ClockType::SystemTime, TimeSource::TscFileTime) => (
            "SystemTime = TSC mapped to REALTIME".to_string(),
            drive::time_clock_read(opts, &|| ClockType::SystemTime.now()),
        ),
        _ => (clock_name(clock).to_string(), read),
    }
}

/// Starts a private session on `file` with the benchmark provider enabled.
fn start(
    name: &str,
    file: &Path,
    clock: ClockType,
    buffers: Option<(u32, u32)>,
    mode: LogFileMode,
) -> Result<Session, String> {
    let _ = std::fs::remove_file(file);
    let mut props = SessionProperties::new(name)
        .log_file(file)
        .mode(LogFileMode::SEQUENTIAL | mode)
        .clock(clock);
    if let Some((min, max)) = buffers {
        props = props.buffer_size_kb(64).buffers(min, max);
    }
    let session = Session::start_private(props).map_err(|e| format!("start_private: {e}"))?;
    session
        .enable_provider(bench_events::PROVIDER.guid(), EnableSettings::new(5, 0, 0))
        .map_err(|e| format!("enable_provider: {e}"))?;
    Ok(session)
}

/// Stops the session and counts the workload events in its file(s). Returns (recorded, lost per
/// the session, bytes on disk, files).
fn stop_and_count(session: Session, file: &Path) -> Result<(u64, u64, u64, Vec<PathBuf>), String> {
    let stats = session.stop().map_err(|e| format!("stop: {e}"))?;
    let files = if stats.files.is_empty() {
        vec![stats.log_file.clone().unwrap_or_else(|| file.to_path_buf())]
    } else {
        stats.files.clone()
    };
    let mut recorded = 0;
    let mut bytes = 0;
    for f in &files {
        recorded += count_events(f, bench_events::PROVIDER.guid())?;
        bytes += util::disk_bytes(f);
    }
    Ok((recorded, stats.events_lost, bytes, files))
}

/// Workload events (provider and event id 1) in an ETL file, read back with the ETL reader.
pub fn count_events(path: &Path, provider: Guid) -> Result<u64, String> {
    let map = Mapped::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut n = 0u64;
    let scan = for_each_record(map.bytes(), |_, r| {
        if let Record::Event(e) = &r.record {
            if e.header.provider_id == provider && e.header.descriptor.id == 1 {
                n += 1;
            }
        }
    });
    if let Some(p) = scan.problems.first() {
        eprintln!(
            "evtrace: {}: {} problem(s) reading the file back, first: {p:?}",
            path.display(),
            scan.problems.len()
        );
    }
    Ok(n)
}

/// Disabled event, then for each clock type an enabled private session measured in bursts (two
/// threads as well on the default clock), each session's file counted back.
pub fn micro(opts: &Opts) -> Result<Value, String> {
    let w = Evtrace;
    let disabled = drive::disabled_ns(&w, opts);
    let (mono, real, tsc) = drive::clock_reads(opts);
    let mut enabled = Vec::new();
    let (mut attempted, mut recorded, mut lost) = (0u64, 0u64, 0u64);
    let (mut one, mut two) = (0.0, 0.0);
    for (clock, row, read) in [
        (ClockType::PerfCounter, "mono", mono),
        (ClockType::SystemTime, "real", real),
        (ClockType::CpuCycle, "tsc", tsc),
    ] {
        let file = opts
            .data_dir
            .join(format!("evtrace-micro-{}.etl", clock_name(clock)));
        // 256 x 64 KB: room for several bursts even if the flusher is held up by the other load
        // on the machine, so the figure is the write path, not dropping.
        let session = start(
            &format!("evtrace-bench-micro-{}", clock_name(clock)),
            &file,
            clock,
            Some((0, 256)),
            LogFileMode::empty(),
        )?;
        let b1 = drive::bursts(&w, 1, opts, attempted, &mut || {});
        attempted += b1.attempted;
        if clock == ClockType::PerfCounter {
            one = b1.events_per_sec;
            let b2 = drive::bursts(&w, 2, opts, attempted, &mut || {});
            attempted += b2.attempted;
            two = b2.events_per_sec;
        }
        let (rec, l, _, files) = stop_and_count(session, &file)?;
        recorded += rec;
        lost += l;
        let (label, read) = clock_row(clock, read, opts);
        enabled.push(
            json!({ "row": row, "label": label, "ns": b1.ns_per_event, "clock_read_ns": read }),
        );
        for f in files {
            util::cleanup(&f, opts.keep);
        }
    }
    Ok(json!({
        "disabled_ns": disabled,
        "clock": { "mono": mono, "real": real, "tsc": tsc },
        "enabled": enabled,
        "one_thread_eps": one,
        "two_thread_eps": two,
        "micro_attempted": attempted,
        "micro_recorded": recorded,
        "micro_lost_reported": lost,
    }))
}

/// The default private session (64 KB buffers, default minimum and maximum) logging for
/// --sustain-secs, plain or in compressed log mode; events counted from the file, losses from
/// the session's EventsLost.
pub fn sustain(opts: &Opts, compressed: bool) -> Result<Value, String> {
    let file = opts.data_dir.join(if compressed {
        "evtrace-sustain-compressed.etl"
    } else {
        "evtrace-sustain.etl"
    });
    let mode = if compressed {
        LogFileMode::COMPRESSED
    } else {
        LogFileMode::empty()
    };
    let session = start(
        "evtrace-bench-sustain",
        &file,
        ClockType::PerfCounter,
        None,
        mode,
    )?;
    sustain_run(opts, || {
        let (recorded, lost, bytes, files) = stop_and_count(session, &file)?;
        for f in files {
            util::cleanup(&f, opts.keep);
        }
        Ok((recorded, lost, bytes))
    })
}

/// Logs from --sustain-threads threads for --sustain-secs into a started session, then `stop`
/// stops it and counts (recorded, EventsLost, bytes on disk): the sustained row's figures.
pub(crate) fn sustain_run(
    opts: &Opts,
    stop: impl FnOnce() -> Result<(u64, u64, u64), String>,
) -> Result<Value, String> {
    let (attempted, elapsed) = drive::sustain(
        &Evtrace,
        opts.sustain_threads,
        opts.sustain_secs,
        opts.pace,
        &mut || {},
        Duration::from_millis(50),
    );
    let rss = util::peak_rss_kb();
    let t = std::time::Instant::now();
    let (recorded, lost, bytes) = stop()?;
    Ok(json!({
        "threads": opts.sustain_threads,
        "secs": elapsed.as_secs_f64(),
        "attempted": attempted,
        "recorded": recorded,
        "lost_reported": lost,
        "lost_how": "session EventsLost",
        "bytes": bytes,
        "rss_kb": rss,
        "count_secs": t.elapsed().as_secs_f64(),
    }))
}
