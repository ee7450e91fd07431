//! `tracing` through subscriber layers: the evtrace layer (evtrace-tracing, a private session)
//! beside `tracing` with no subscriber, `tracing-subscriber`'s JSON formatter with
//! `tracing-appender`, and `tracing-perfetto-file`'s layer. Each peer runs in its own child
//! process (a global subscriber each), on the same `tracing::info!` as the main table and on
//! spans with one field.

use std::time::Duration;

use clap::ValueEnum;
use serde_json::{json, Value};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::drive::{self, Workload, TAG_STR};
use crate::{util, Opts};

/// The layers compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Peer {
    /// `tracing` with no subscriber at all.
    NoSubscriber,
    /// evtrace-tracing's layer, alone in a registry, recording to a private session.
    Evtrace,
    /// tracing-subscriber JSON + tracing-appender non-blocking, to a file.
    Appender,
    /// tracing-perfetto-file's layer, to a file.
    PerfettoFile,
}

impl Peer {
    /// Column title.
    pub fn title(self) -> &'static str {
        match self {
            Peer::NoSubscriber => "no subscriber",
            Peer::Evtrace => "evtrace layer",
            Peer::Appender => "tracing+appender",
            Peer::PerfettoFile => "tracing-perfetto-file",
        }
    }

    /// The command-line value.
    pub fn arg(self) -> &'static str {
        match self {
            Peer::NoSubscriber => "no-subscriber",
            Peer::Evtrace => "evtrace",
            Peer::Appender => "appender",
            Peer::PerfettoFile => "perfetto-file",
        }
    }
}

struct Events;

impl Workload for Events {
    fn write_n(&self, start: u64, n: u64, thread: u32) {
        for i in start..start + n {
            tracing::info!(name: "Sample", target: "evtrace_bench", counter = i, thread = thread, tag = TAG_STR);
        }
    }
}

/// A whole span: created with one field, entered, exited, closed.
struct Spans;

impl Workload for Spans {
    fn write_n(&self, start: u64, n: u64, _thread: u32) {
        for i in start..start + n {
            let _s = tracing::info_span!(target: "evtrace_bench", "work", counter = i).entered();
        }
    }
}

/// Enter and exit of one span made beforehand.
struct EnterExit(tracing::Span);

impl Workload for EnterExit {
    fn write_n(&self, _start: u64, n: u64, _thread: u32) {
        for _ in 0..n {
            let _e = self.0.enter();
        }
    }
}

/// The enabled measurements, one thread in bursts: (event ns, span ns, enter+exit ns).
fn enabled(opts: &Opts) -> (f64, f64, f64, u64) {
    let e = drive::bursts(&Events, 1, opts, 0, &mut || {});
    let s = drive::bursts(&Spans, 1, opts, 0, &mut || {});
    let span = tracing::info_span!(target: "evtrace_bench", "entered");
    let x = drive::bursts(&EnterExit(span), 1, opts, 0, &mut || {});
    (
        e.ns_per_event,
        s.ns_per_event,
        x.ns_per_event,
        e.attempted + 2 * s.attempted,
    )
}

/// Runs one peer in this (child) process.
pub fn run_child(peer: Peer, opts: &Opts) -> Result<Value, String> {
    match peer {
        Peer::NoSubscriber => {
            let span = tracing::info_span!(target: "evtrace_bench", "entered");
            let x = drive::bursts(&EnterExit(span), 1, opts, 0, &mut || {});
            Ok(json!({
                "disabled_ns": drive::disabled_ns(&Events, opts),
                "enter_exit_ns": x.ns_per_event,
            }))
        }
        Peer::Evtrace => evtrace(opts),
        Peer::Appender => {
            let file = opts.data_dir.join("layers-appender.jsonl");
            let f = std::fs::File::create(&file).map_err(|e| format!("{}: {e}", file.display()))?;
            let (writer, guard) = tracing_appender::non_blocking(f);
            let dropped = writer.error_counter();
            tracing_subscriber::fmt().json().with_writer(writer).init();
            let (event, span, enter_exit, _) = enabled(opts);
            drop(guard);
            util::cleanup(&file, opts.keep);
            Ok(json!({
                "event_ns": event, "span_ns": span, "enter_exit_ns": enter_exit,
                "lost": dropped.dropped_lines(),
            }))
        }
        Peer::PerfettoFile => {
            let file = opts.data_dir.join("layers.pftrace");
            let f = std::fs::File::create(&file).map_err(|e| format!("{}: {e}", file.display()))?;
            let (layer, guard) = tracing_perfetto_file::PerfettoLayer::builder(f).build();
            tracing_subscriber::registry().with(layer).init();
            let (event, span, enter_exit, _) = enabled(opts);
            guard.flush().map_err(|e| e.to_string())?;
            let bytes = util::disk_bytes(&file);
            util::cleanup(&file, opts.keep);
            Ok(json!({
                "event_ns": event, "span_ns": span, "enter_exit_ns": enter_exit, "bytes": bytes,
            }))
        }
    }
}

/// The evtrace layer alone in a registry: disabled with no session, then enabled by one.
fn evtrace(opts: &Opts) -> Result<Value, String> {
    use evtrace::provider::{filter::level, EnableSettings};
    use evtrace::session::{Session, SessionProperties};

    let layer =
        evtrace_tracing::EvtraceLayer::new("Evtrace-Bench-Tracing").map_err(|e| e.to_string())?;
    let provider = layer.provider();
    tracing_subscriber::registry().with(layer.clone()).init();
    let disabled = drive::disabled_ns(&Events, opts);
    let file = opts.data_dir.join("layers-evtrace.etl");
    let session = Session::start_private(
        SessionProperties::new("evtrace-bench-layers")
            .log_file(&file)
            .buffers(4, 256),
    )
    .map_err(|e| e.to_string())?;
    session
        .enable_provider(provider.guid(), EnableSettings::new(level::VERBOSE, 0, 0))
        .map_err(|e| e.to_string())?;
    let (event, span, enter_exit, attempted) = enabled(opts);
    let stats = session.stop().map_err(|e| e.to_string())?;
    std::thread::sleep(Duration::from_millis(10));
    let recorded = count_records(&file, provider.guid())?;
    util::cleanup(&file, opts.keep);
    Ok(json!({
        "disabled_ns": disabled,
        "event_ns": event, "span_ns": span, "enter_exit_ns": enter_exit,
        "attempted": attempted, "recorded": recorded, "lost": stats.events_lost,
        "dropped_by_layer": layer.records_dropped(),
    }))
}

/// Records of `provider` in an ETL file, read back with the ETL reader.
fn count_records(path: &std::path::Path, provider: evtrace::Guid) -> Result<u64, String> {
    use evtrace::etl::read::{for_each_record, Record};
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut n = 0u64;
    let scan = for_each_record(&bytes, |_, r| {
        if let Record::Event(e) = &r.record {
            n += u64::from(e.header.provider_id == provider);
        }
    });
    match scan.problems.first() {
        Some(p) => Err(format!("{}: reading back: {p:?}", path.display())),
        None => Ok(n),
    }
}

/// The table: one column per peer.
pub fn table(results: &[(Peer, Result<Value, String>)]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let w = 24;
    let _ = writeln!(
        out,
        "\ntracing layers: tracing::info! {{u64, u32, 16-byte string}} as above; spans with one u64 field; 1 thread, bursts"
    );
    let _ = write!(out, "{:<56}", "");
    for (p, _) in results {
        let _ = write!(out, "{:>w$}", p.title());
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "{}", "-".repeat(56 + w * results.len()));
    let rows: [(&str, &str, bool); 6] = [
        ("disabled info! (no session), ns/event", "disabled_ns", true),
        ("enabled info!, ns/event", "event_ns", true),
        ("span (new, enter, exit, close), ns/span", "span_ns", true),
        ("span enter + exit, ns", "enter_exit_ns", true),
        ("records lost (the system's own count)", "lost", false),
        ("recorded / attempted (read back)", "recorded", false),
    ];
    for (label, key, float) in rows {
        let _ = write!(out, "{label:<56}");
        for (_, r) in results {
            let cell = match r {
                Err(e) if key == "disabled_ns" => {
                    format!("({})", e.chars().take(w - 3).collect::<String>())
                }
                Err(_) => "-".into(),
                Ok(v) if key == "recorded" => {
                    match (v["recorded"].as_u64(), v["attempted"].as_u64()) {
                        (Some(r), Some(a)) => format!("{:.2}%", 100.0 * r as f64 / a.max(1) as f64),
                        _ => "-".into(),
                    }
                }
                Ok(v) => match (&v[key], float) {
                    (Value::Null, _) => "-".into(),
                    (x, true) => format!("{:.2}", x.as_f64().unwrap_or(f64::NAN)),
                    (x, false) => x.to_string(),
                },
            };
            let _ = write!(out, "{cell:>w$}");
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(out, "{}", "-".repeat(56 + w * results.len()));
    let get = |p: Peer, key: &str| {
        results
            .iter()
            .find(|(q, _)| *q == p)
            .and_then(|(_, r)| r.as_ref().ok())
            .and_then(|v| v[key].as_f64())
    };
    let _ = writeln!(out, "evtrace layer against the issue's goals (this run):");
    match (
        get(Peer::Evtrace, "event_ns"),
        get(Peer::PerfettoFile, "event_ns"),
    ) {
        (Some(e), Some(p)) => {
            let x = p / e;
            let _ = writeln!(
                out,
                "  enabled event >= 3x faster than tracing-perfetto-file: {x:.2}x ({e:.1} vs {p:.1} ns), {}",
                if x >= 3.0 { "met" } else { "NOT met" }
            );
        }
        _ => {
            let _ = writeln!(
                out,
                "  enabled event against tracing-perfetto-file: not measured"
            );
        }
    }
    match (
        get(Peer::Evtrace, "disabled_ns"),
        get(Peer::NoSubscriber, "disabled_ns"),
    ) {
        (Some(e), Some(n)) => {
            let _ = writeln!(
                out,
                "  disabled event within 1 ns of tracing with no subscriber: {e:.2} vs {n:.2} ns, {}",
                if e - n <= 1.0 { "met" } else { "NOT met" }
            );
        }
        _ => {
            let _ = writeln!(out, "  disabled event against no subscriber: not measured");
        }
    }
    out
}
