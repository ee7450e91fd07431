//! `evtrace forward`: a live session's or growing log files' events to an OpenTelemetry
//! endpoint over OTLP (HTTP/protobuf, or gRPC with the `grpc` feature), with a cursor saved
//! after each acknowledged batch so that a restart goes on after the last acknowledged record.
//!
//! Exit status: 0 when everything read was acknowledged; 1 when something was unreadable,
//! dropped or rejected (all counted and printed); 2 for bad arguments.

mod cursor;
mod forwarder;
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
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::{Args, ValueEnum};
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::resource::v1::Resource;

use cursor::Cursor;
use forwarder::Forwarder;
use queue::{Builder, Queue};
use report::Counts;
use source::{Files, RealTime, Source};
use transport::Exporter;

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
    /// For https: trust only the certificates in this PEM file (a private CA, a self-signed
    /// collector) instead of the web's root certificates.
    #[arg(long, value_name = "PEM")]
    ca_file: Option<PathBuf>,
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
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        // [IPv6]:PORT
        match v6.split_once(']') {
            Some((h, "")) => (h, None),
            Some((h, p)) => (h, Some(p.strip_prefix(':').unwrap_or(p))),
            None => ("", None),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
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
    let ca = match &args.ca_file {
        Some(p) => Some(std::fs::read(p).map_err(|e| format!("--ca-file {}: {e}", p.display()))?),
        None => None,
    };
    match args.protocol {
        Protocol::HttpProtobuf => Ok(Box::new(http::Http::new(
            url,
            args.headers.clone(),
            gzip,
            timeout,
            ca.as_deref(),
        )?)),
        #[cfg(feature = "grpc")]
        Protocol::Grpc => Ok(Box::new(grpc::Grpc::new(
            url,
            &args.headers,
            gzip,
            timeout,
            ca.as_deref(),
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
        queue: Queue::new(
            args.queue_batches,
            args.queue_bytes,
            on_full == OnFull::Drop,
        ),
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

#[cfg(test)]
mod tests {
    use super::check_endpoint;

    #[test]
    fn endpoints_allowed_and_refused() {
        for ok in [
            "http://127.0.0.1:4318",
            "https://otel.example",
            "http://collector:4318/otlp",
            "http://[::1]:4317",
            "http://[::1]",
        ] {
            assert_eq!(check_endpoint(ok), Ok(()), "{ok}");
        }
        for bad in [
            "127.0.0.1:4318",
            "grpc://h:1",
            "http://",
            "http://:4318",
            "http://h:0",
            "http://h:70000",
            "http://[::1:4318",
            "http://user@h:1",
        ] {
            let e = check_endpoint(bad).unwrap_err();
            assert!(
                e.contains(&format!("`{bad}`")) && e.contains("expected"),
                "{e}"
            );
        }
    }
}
