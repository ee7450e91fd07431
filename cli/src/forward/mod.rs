//! `evtrace forward`: a live session's or growing log files' events to an OpenTelemetry
//! endpoint over OTLP (HTTP/protobuf, or gRPC with the `grpc` feature), with a cursor saved
//! after each acknowledged batch so that a restart goes on after the last acknowledged record.
//!
//! Exit status: 0 when everything read was acknowledged; 1 when something was unreadable,
//! dropped or rejected (all counted and printed); 2 for bad arguments.

mod cursor;
#[cfg(feature = "grpc")]
mod grpc;
mod http;
mod otlp;
mod queue;
mod report;
mod source;
mod transport;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::{Args, ValueEnum};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{ResourceMetrics, ScopeMetrics};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

use cursor::Cursor;
use queue::{Batch, Builder, Queue};
use report::Counts;
use source::{Files, RealTime, Source};
use transport::{Exporter, SendError};

/// OTLP transports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Protocol {
    /// OTLP/HTTP with protobuf bodies (POST /v1/logs, /v1/traces, /v1/metrics).
    HttpProtobuf,
    /// OTLP/gRPC (needs the `grpc` feature of evtrace-cli).
    Grpc,
}

/// What to do when the queue is full.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OnFull {
    /// Drop the oldest batch, counted and reported (default for --rt).
    Drop,
    /// Stop reading until there is room: files keep what was not sent (default for --follow).
    Wait,
}

/// Arguments of `evtrace forward`.
#[derive(Args, Debug)]
pub struct ForwardArgs {
    /// Follow these log files as they grow (a name with %d is a NEWFILE series from 1).
    #[arg(long, num_args = 1.., value_name = "FILE", required_unless_present = "rt")]
    follow: Vec<PathBuf>,
    /// Forward the live real-time session NAME instead of files.
    #[arg(long, value_name = "NAME", conflicts_with_all = ["follow", "once"])]
    rt: Option<String>,
    /// The OTLP endpoint: http://HOST:PORT or https://HOST:PORT, with an optional path prefix
    /// for HTTP [default: http://127.0.0.1:4318, or :4317 for grpc].
    #[arg(long, value_name = "URL")]
    endpoint: Option<String>,
    /// The transport.
    #[arg(long, value_enum, default_value = "http-protobuf")]
    protocol: Protocol,
    /// A header sent with every request (authentication), KEY=VALUE; repeatable.
    #[arg(long = "header", value_name = "KEY=VALUE", value_parser = key_value)]
    headers: Vec<(String, String)>,
    /// A resource attribute, KEY=VALUE; repeatable (host.name and service.name=evtrace are
    /// set unless given).
    #[arg(long = "resource", value_name = "KEY=VALUE", value_parser = key_value)]
    resources: Vec<(String, String)>,
    /// Where the position is saved [default: beside the first file, FILE.forward-cursor].
    #[arg(long, value_name = "FILE")]
    cursor: Option<PathBuf>,
    /// Forward what the files hold now, then stop once all of it is acknowledged.
    #[arg(long)]
    once: bool,
    /// Most log records in one request.
    #[arg(long, default_value_t = 512, value_parser = clap::value_parser!(u64).range(1..))]
    batch_records: u64,
    /// Most bytes (encoded, about) in one request.
    #[arg(long, default_value_t = 1 << 20)]
    batch_bytes: usize,
    /// Longest a record waits for its batch to fill, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    batch_delay_ms: u64,
    /// Most batches waiting to be sent.
    #[arg(long, default_value_t = 64)]
    queue_batches: usize,
    /// Most bytes waiting to be sent.
    #[arg(long, default_value_t = 64 << 20)]
    queue_bytes: usize,
    /// When the queue is full: drop the oldest batch (counted) or stop reading [default:
    /// drop for --rt, wait for --follow].
    #[arg(long, value_enum)]
    on_full: Option<OnFull>,
    /// Compression of request bodies.
    #[arg(long, value_parser = ["gzip", "none"], default_value = "gzip")]
    compression: String,
    /// Timeout of one request, in seconds.
    #[arg(long, default_value_t = 10)]
    timeout: u64,
    /// Longest wait between two retries, in milliseconds (the wait doubles from 100 ms).
    #[arg(long, default_value_t = 5000)]
    max_backoff_ms: u64,
    /// How often growing files are looked at, in milliseconds.
    #[arg(long, default_value_t = 200)]
    poll_ms: u64,
}

fn key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!("`{s}` is not KEY=VALUE")),
    }
}

/// Checks `url` is http(s)://HOST[:PORT][/PATH]; the error says what is wrong and what is
/// allowed.
fn check_endpoint(url: &str) -> Result<(), String> {
    let allowed = "expected http://HOST[:PORT][/PATH] or https://HOST[:PORT][/PATH]";
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or_else(|| {
            format!("--endpoint `{url}`: the scheme must be http or https; {allowed}")
        })?;
    let authority = rest.split('/').next().unwrap_or("");
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => (h, Some(p)),
        _ => (authority, None),
    };
    if host.is_empty() || host.chars().any(|c| c.is_whitespace() || "@?#".contains(c)) {
        return Err(format!("--endpoint `{url}`: no usable host; {allowed}"));
    }
    if let Some(p) = port {
        if p.parse::<u16>().map_or(true, |p| p == 0) {
            return Err(format!(
                "--endpoint `{url}`: the port `{p}` is not a number from 1 to 65535; {allowed}"
            ));
        }
    }
    if url.chars().any(char::is_whitespace) {
        return Err(format!(
            "--endpoint `{url}`: spaces are not allowed; {allowed}"
        ));
    }
    Ok(())
}

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

fn resource(given: &[(String, String)]) -> Resource {
    let mut attrs: Vec<KeyValue> = given.iter().map(|(k, v)| otlp::kv_str(k, v)).collect();
    let has = |k: &str| given.iter().any(|(g, _)| g == k);
    if !has("service.name") {
        attrs.push(otlp::kv_str("service.name", "evtrace"));
    }
    if !has("host.name") {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        attrs.push(otlp::kv_str("host.name", host.trim()));
    }
    Resource {
        attributes: attrs,
        ..Default::default()
    }
}

/// The transport for the arguments, or the message of why there is none.
fn exporter(args: &ForwardArgs, url: &str) -> Result<Box<dyn Exporter>, String> {
    let gzip = args.compression == "gzip";
    let timeout = Duration::from_secs(args.timeout.max(1));
    match args.protocol {
        Protocol::HttpProtobuf => Ok(Box::new(http::Http::new(
            url,
            args.headers.clone(),
            gzip,
            timeout,
        ))),
        #[cfg(feature = "grpc")]
        Protocol::Grpc => Ok(Box::new(grpc::Grpc::new(
            url,
            &args.headers,
            gzip,
            timeout,
        )?)),
        #[cfg(not(feature = "grpc"))]
        Protocol::Grpc => Err(
            "--protocol grpc: this evtrace was built without the `grpc` feature; use \
             --protocol http-protobuf"
                .into(),
        ),
    }
}

/// Runs the command.
pub fn run(args: ForwardArgs) -> ExitCode {
    let url = args
        .endpoint
        .clone()
        .unwrap_or_else(|| match args.protocol {
            Protocol::HttpProtobuf => "http://127.0.0.1:4318".into(),
            Protocol::Grpc => "http://127.0.0.1:4317".into(),
        });
    if let Err(e) = check_endpoint(&url) {
        eprintln!("evtrace forward: {e}");
        return ExitCode::from(2);
    }
    let exporter = match exporter(&args, &url) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("evtrace forward: {e}");
            return ExitCode::from(2);
        }
    };
    let cursor_path = args
        .cursor
        .clone()
        .unwrap_or_else(|| source::default_cursor(&args.follow, args.rt.as_deref()));
    let saved = match Cursor::load(&cursor_path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("evtrace forward: {e}");
            return ExitCode::from(2);
        }
    };
    let source = match &args.rt {
        Some(name) => match RealTime::attach(name, saved.as_ref()) {
            Ok(r) => Source::RealTime(r),
            Err(e) => {
                eprintln!("evtrace forward: session {name}: {e}");
                return ExitCode::FAILURE;
            }
        },
        None => Source::Files(Files::new(&args.follow, saved.as_ref(), args.once)),
    };
    let on_full = args.on_full.unwrap_or(if args.rt.is_some() {
        OnFull::Drop
    } else {
        OnFull::Wait
    });
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        let _ = signal_hook::flag::register(sig, Arc::clone(&stop));
    }
    let mut f = Forwarder {
        queue: Queue::new(args.queue_batches, args.queue_bytes),
        builder: Builder::default(),
        mapper: otlp::Mapper::default(),
        exporter,
        source,
        resource: resource(&args.resources),
        cursor_path,
        counts: Counts::default(),
        reported: Counts::default().losses(),
        failing: 0,
        next_try: Instant::now(),
        started: now_nanos(),
        url,
        args,
        on_full,
    };
    let clean = f.run(&stop);
    eprintln!("evtrace forward: {}", f.counts.line());
    let open = f.mapper.open_activities();
    if open > 0 {
        eprintln!(
            "evtrace forward: {open} activities started and not stopped: sent as log records, \
             no span for them"
        );
    }
    let damaged = f.source.report();
    let lost = f.counts.dropped_records
        + f.counts.dropped_spans
        + f.counts.rejected_records
        + f.counts.rejected_spans
        > 0;
    if clean && !damaged && !lost {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// The run loop's state.
struct Forwarder {
    queue: Queue,
    builder: Builder,
    mapper: otlp::Mapper,
    exporter: Box<dyn Exporter>,
    source: Source,
    resource: Resource,
    cursor_path: PathBuf,
    counts: Counts,
    /// The losses last reported in a log record.
    reported: (u64, u64, u64, u64, u64),
    /// Failed attempts in a row.
    failing: u32,
    next_try: Instant,
    started: u64,
    url: String,
    args: ForwardArgs,
    on_full: OnFull,
}

impl Forwarder {
    /// Reads, batches and sends until the source is done and everything sent (or a signal);
    /// false when the end came by a signal with batches unsent, or the cursor could not be
    /// saved.
    fn run(&mut self, stop: &AtomicBool) -> bool {
        let poll = Duration::from_millis(self.args.poll_ms.max(1));
        let delay = Duration::from_millis(self.args.batch_delay_ms);
        loop {
            if stop.load(Ordering::Relaxed) {
                eprintln!(
                    "evtrace forward: stopped by a signal with {} batches unsent (the cursor \
                     is at the last acknowledged one)",
                    self.queue.len()
                );
                return self.queue.is_empty() && self.builder.len() == 0;
            }
            // Read while there is room (or always, when full means dropping the oldest).
            let mut read = 0;
            while read < 4096 && (self.on_full == OnFull::Drop || !self.queue.full()) {
                let wait = if read == 0 && self.queue.is_empty() && self.builder.len() == 0 {
                    poll
                } else {
                    Duration::ZERO
                };
                let Some(rec) = self.source.next(wait) else {
                    break;
                };
                read += 1;
                let m = self.mapper.map(&rec.item, &rec.id, now_nanos());
                self.builder.add(m.log, m.span);
                if self.builder.len() as u64 >= self.args.batch_records
                    || self.builder.bytes() >= self.args.batch_bytes
                {
                    self.seal();
                }
            }
            let done = self.source.done();
            if self.builder.len() > 0
                && (done
                    || read == 0 && self.builder.started().is_some_and(|t| t.elapsed() >= delay))
            {
                self.seal();
            }
            // Drops are counted as they happen and reported with the next request.
            self.queue.sync_drops(&mut self.counts);
            let sent = self.send_one();
            if done && self.queue.is_empty() && self.builder.len() == 0 {
                return self.finish();
            }
            if read == 0 && !sent {
                let until_retry = self.next_try.saturating_duration_since(Instant::now());
                std::thread::sleep(if self.queue.is_empty() {
                    poll.min(Duration::from_millis(50))
                } else {
                    until_retry.clamp(Duration::from_millis(1), poll)
                });
            }
        }
    }

    fn seal(&mut self) {
        let b = self.builder.seal(self.source.position());
        self.queue.push(b);
    }

    /// Tries the oldest batch if its retry time has come; true when one was acknowledged.
    fn send_one(&mut self) -> bool {
        if Instant::now() < self.next_try {
            return false;
        }
        let resource = self.resource.clone();
        let Some(b) = self.queue.front_mut() else {
            return false;
        };
        let result = send_batch(self.exporter.as_mut(), &resource, b);
        match result {
            Ok((rejected_logs, rejected_spans)) => {
                let b = self.queue.pop().expect("the batch just sent");
                self.counts.sent_records += b.logs.len() as u64 - rejected_logs;
                self.counts.sent_spans += b.spans.len() as u64 - rejected_spans;
                self.counts.rejected_records += rejected_logs;
                self.counts.rejected_spans += rejected_spans;
                self.acknowledged(&b);
                if self.counts.losses() != self.reported {
                    self.send_report();
                }
                true
            }
            Err(e) if e.retryable => {
                self.retry_later(&e);
                false
            }
            Err(e) => {
                // Refused for good (400, 401, 413...): the records are counted as rejected.
                let b = self.queue.pop().expect("the batch just sent");
                eprintln!(
                    "evtrace forward: the endpoint refused a batch for good ({}): {} records \
                     and {} spans counted as rejected",
                    e.message,
                    if b.logs_done { 0 } else { b.logs.len() },
                    b.spans.len()
                );
                if !b.logs_done {
                    self.counts.rejected_records += b.logs.len() as u64;
                }
                self.counts.rejected_spans += b.spans.len() as u64;
                self.acknowledged(&b);
                false
            }
        }
    }

    /// The batch is settled: the cursor moves past it, on disk.
    fn acknowledged(&mut self, b: &Batch) {
        if self.failing > 0 {
            eprintln!(
                "evtrace forward: {} accepts again after {} failed attempts",
                self.url, self.failing
            );
        }
        self.failing = 0;
        if let Err(e) = b.resume.save(&self.cursor_path) {
            eprintln!(
                "evtrace forward: cannot save the cursor {}: {e} (a restart would send again \
                 what was sent since the last save)",
                self.cursor_path.display()
            );
        }
    }

    fn retry_later(&mut self, e: &SendError) {
        self.failing += 1;
        self.counts.retries += 1;
        let backoff = Duration::from_millis(
            100u64
                .saturating_mul(1 << self.failing.min(16).saturating_sub(1))
                .min(self.args.max_backoff_ms.max(1)),
        );
        let wait = e.retry_after.map_or(backoff, |r| r.max(backoff));
        self.next_try = Instant::now() + wait;
        eprintln!(
            "evtrace forward: {}; retrying in {:.1} s (attempt {}, {} batches queued, {} records \
             dropped so far)",
            e.message,
            wait.as_secs_f64(),
            self.failing,
            self.queue.len(),
            self.counts.dropped_records
        );
    }

    fn send_metrics(&mut self) {
        let req = ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                resource: Some(self.resource.clone()),
                scope_metrics: vec![ScopeMetrics {
                    scope: Some(otlp::scope()),
                    metrics: self.counts.metrics(self.started, now_nanos()),
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        if let Err(e) = self.exporter.metrics(req) {
            eprintln!(
                "evtrace forward: the counts' metrics were not sent: {}",
                e.message
            );
        }
    }

    /// The counts as a log record of their own and as metrics: best effort, a failure is
    /// printed and the report goes again after the next acknowledged batch.
    fn send_report(&mut self) {
        let req = logs_request(&self.resource, vec![self.counts.log_record(now_nanos())]);
        match self.exporter.logs(req) {
            Ok(_) => {
                self.reported = self.counts.losses();
                self.send_metrics();
            }
            Err(e) => eprintln!(
                "evtrace forward: the counts' log record was not sent: {}",
                e.message
            ),
        }
    }

    /// The end: the final counts as a log record and metrics.
    fn finish(&mut self) -> bool {
        self.send_report();
        true
    }
}

impl Queue {
    /// Copies the queue's drop counters into `counts`.
    fn sync_drops(&self, counts: &mut Counts) {
        counts.dropped_records = self.dropped_records;
        counts.dropped_spans = self.dropped_spans;
    }
}

fn logs_request(resource: &Resource, logs: Vec<LogRecord>) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(resource.clone()),
            scope_logs: vec![ScopeLogs {
                scope: Some(otlp::scope()),
                log_records: logs,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn traces_request(resource: &Resource, spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(resource.clone()),
            scope_spans: vec![ScopeSpans {
                scope: Some(otlp::scope()),
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// Sends a batch's logs (once) and then its spans; the rejected counts of partial successes.
/// The counts' own log record goes in a request of its own, so that what the endpoint rejects
/// of a batch is the batch's records.
fn send_batch(
    ex: &mut dyn Exporter,
    resource: &Resource,
    b: &mut Batch,
) -> Result<(u64, u64), SendError> {
    let mut rejected_spans = 0;
    if !b.logs_done {
        let a = ex.logs(logs_request(resource, b.logs.clone()))?;
        if a.rejected > 0 || !a.message.is_empty() {
            eprintln!(
                "evtrace forward: partial success: the endpoint rejected {} log records ({}); \
                 OTLP says not to retry them: counted as rejected",
                a.rejected, a.message
            );
        }
        b.rejected_logs = a.rejected.max(0) as u64;
        b.logs_done = true;
    }
    if !b.spans.is_empty() {
        let a = ex.traces(traces_request(resource, b.spans.clone()))?;
        if a.rejected > 0 || !a.message.is_empty() {
            eprintln!(
                "evtrace forward: partial success: the endpoint rejected {} spans ({}); \
                 counted as rejected",
                a.rejected, a.message
            );
        }
        rejected_spans = a.rejected.max(0) as u64;
    }
    Ok((b.rejected_logs, rejected_spans))
}
