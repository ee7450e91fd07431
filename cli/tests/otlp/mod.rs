//! What the `evtrace forward` tests share: the OTLP receiver of tools/otlp_receiver.py (official
//! PyPI opentelemetry-proto and grpcio), log files written by a private session, and the
//! comparison of what was received with `evtrace fmt --json`.
#![allow(dead_code)] // each test uses its own part

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use evtrace::provider::EnableSettings;
use evtrace::session::{Session, SessionProperties};
use serde_json::Value;

use crate::common::{dies_with_test, skip};

/// The Python with the official OpenTelemetry packages, or `None` after saying why (a failure
/// where `EVTRACE_REQUIRE_PYTHON` is set, as in CI).
pub fn otlp_python() -> Option<String> {
    let py = std::env::var("EVTRACE_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = Command::new(&py)
        .args([
            "-c",
            "import grpc, opentelemetry.proto.collector.logs.v1.logs_service_pb2_grpc, \
             opentelemetry.sdk, opentelemetry.exporter.otlp.proto.http, \
             opentelemetry.exporter.otlp.proto.grpc",
        ])
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        return Some(py);
    }
    let why = format!(
        "`{py}` cannot import grpcio, opentelemetry-proto, opentelemetry-sdk and the OTLP \
         exporters (see .ci/run; set EVTRACE_PYTHON)"
    );
    assert!(
        std::env::var_os("EVTRACE_REQUIRE_PYTHON").is_none(),
        "{why}"
    );
    skip(&why);
    None
}

/// A tool of the repository's tools/ folder.
pub fn tool(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tools")
        .join(name)
}

/// A running receiver, killed when dropped.
pub struct Receiver {
    child: Child,
    /// Its OTLP/HTTP port.
    pub http: u16,
    /// Its OTLP/gRPC port.
    pub grpc: u16,
    out: PathBuf,
}

impl Receiver {
    /// Starts one in `dir`, answering 503/UNAVAILABLE for `unavailable_s` seconds from its
    /// first request.
    pub fn start(py: &str, dir: &Path, unavailable_s: f64) -> Receiver {
        Receiver::start_with(py, dir, &["--unavailable-for", &unavailable_s.to_string()])
    }

    /// Starts one in `dir` with the receiver's options `args`.
    pub fn start_with(py: &str, dir: &Path, args: &[&str]) -> Receiver {
        let out = dir.join("received.jsonl");
        let ready = dir.join("receiver.ready");
        let mut c = Command::new(py);
        c.arg(tool("otlp_receiver.py"))
            .arg("--out")
            .arg(&out)
            .arg("--ready")
            .arg(&ready)
            .args(args)
            .stderr(std::fs::File::create(dir.join("receiver.err")).unwrap());
        dies_with_test(&mut c);
        let child = c.spawn().expect("start the receiver");
        let deadline = Instant::now() + Duration::from_secs(30);
        let text = loop {
            if let Ok(t) = std::fs::read_to_string(&ready) {
                break t;
            }
            assert!(Instant::now() < deadline, "the receiver did not start");
            std::thread::sleep(Duration::from_millis(20));
        };
        let port = |k: &str| -> u16 {
            text.split_whitespace()
                .find_map(|w| w.strip_prefix(k))
                .and_then(|p| p.parse().ok())
                .unwrap_or_else(|| panic!("no {k} in {text}"))
        };
        Receiver {
            http: port("http="),
            grpc: port("grpc="),
            child,
            out,
        }
    }

    /// The HTTP endpoint URL.
    pub fn http_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http)
    }

    /// The gRPC endpoint URL.
    pub fn grpc_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.grpc)
    }

    /// Everything received so far, one JSON object per record, span or metric.
    pub fn received(&self) -> Vec<Value> {
        let Ok(f) = std::fs::File::open(&self.out) else {
            return Vec::new();
        };
        BufReader::new(f)
            .lines()
            .map_while(Result::ok)
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_str(&l).unwrap())
            .collect()
    }

    /// Lines received so far (cheap: for waiting on progress).
    pub fn lines(&self) -> usize {
        std::fs::read(&self.out)
            .map(|b| b.iter().filter(|&&c| c == b'\n').count())
            .unwrap_or(0)
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The received log records of source events (not forward's own count reports).
pub fn event_logs(received: &[Value]) -> Vec<&Value> {
    received
        .iter()
        .filter(|r| r["kind"] == "log" && r["attributes"].get("evtrace.forward.report").is_none())
        .collect()
}

/// The received spans.
pub fn spans(received: &[Value]) -> Vec<&Value> {
    received.iter().filter(|r| r["kind"] == "span").collect()
}

/// A record's `evtrace.record.id`.
pub fn record_id(r: &Value) -> String {
    r["attributes"]["evtrace.record.id"]["string"]
        .as_str()
        .expect("every record has evtrace.record.id")
        .to_string()
}

/// Record ids and how often each came.
pub fn id_counts(logs: &[&Value]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for r in logs {
        *m.entry(record_id(r)).or_insert(0) += 1;
    }
    m
}

#[evtrace::provider(name = "Evtrace-Forward-Test")]
pub mod fwd {
    /// A request began.
    #[event(opcode = start, level = info)]
    pub fn request_start(n: u32, path: &str);
    /// Something inside a request.
    #[event(level = verbose)]
    pub fn step(n: u32, ratio: f64, ok: bool, delta: i64);
    /// A warning.
    #[event(level = warning)]
    pub fn slow(n: u32, ms: u64);
    /// An error.
    #[event(level = error)]
    pub fn failed(n: u32, reason: &str);
    /// Critical.
    #[event(level = critical)]
    pub fn fatal(n: u32);
    /// A request ended.
    #[event(opcode = stop, level = info)]
    pub fn request_stop(n: u32);
}

/// Writes `requests` requests (each: a Start, an inner Start/Stop, steps, a warning, an error,
/// sometimes a critical event, the Stops) in a private session with small buffers to `file`.
/// `props` may change the session (a NEWFILE mode, say).
pub fn write_requests(
    file: &Path,
    requests: u32,
    props: impl FnOnce(SessionProperties) -> SessionProperties,
) {
    let name = format!(
        "fwd-{}",
        file.file_name().unwrap().to_string_lossy().replace('%', "")
    );
    // A private session takes every event of the provider in this process: the tests of one
    // binary write one at a time, or each file would hold the others' events too.
    static WRITING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = WRITING.lock().unwrap_or_else(|e| e.into_inner());
    let s = Session::start_private(props(
        SessionProperties::new(&name)
            .log_file(file)
            .buffer_size_kb(8)
            // Room for a writer going flat out: the tests compare counts.
            .buffers(0, 512),
    ))
    .unwrap();
    s.enable_provider(fwd::PROVIDER.guid(), EnableSettings::new(5, 0, 0))
        .unwrap();
    requests_from(0, requests);
    s.stop().unwrap();
}

/// Requests `from..to` written to whatever session enabled the provider: each a Start, an
/// inner Start/Stop, steps, a warning, an error, sometimes a critical event, the Stops.
pub fn requests_from(from: u32, to: u32) {
    for n in from..to {
        let outer = evtrace::write!(fwd::request_start(n, "/api/item"));
        {
            let inner = evtrace::write!(fwd::request_start(n, "/db"));
            evtrace::write!(fwd::step(n, n as f64 / 4.0, n % 2 == 0, -(n as i64)));
            evtrace::write!(fwd::request_stop(n));
            drop(inner);
        }
        evtrace::write!(fwd::slow(n, u64::from(n) * 1000));
        evtrace::write!(fwd::failed(n, "timeout"));
        if n % 10 == 0 {
            evtrace::write!(fwd::fatal(n));
        }
        evtrace::write!(fwd::request_stop(n));
        drop(outer);
    }
}

/// `evtrace fmt --json FILES` as JSON objects (whatever its exit status: damaged files too).
pub fn fmt_json(files: &[&Path]) -> Vec<Value> {
    let o = Command::new(env!("CARGO_BIN_EXE_evtrace"))
        .arg("fmt")
        .arg("--json")
        .args(files)
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// An OTLP typed value as plain JSON (int, double, string, bool).
fn plain(v: &Value) -> Value {
    let (k, x) = v.as_object().unwrap().iter().next().unwrap();
    match k.as_str() {
        "int" | "double" | "string" | "bool" => x.clone(),
        "array" => Value::Array(x.as_array().unwrap().iter().map(plain).collect()),
        _ => v.clone(),
    }
}

/// ETW level as fmt shows it, to OTLP's severity number.
pub fn severity_of(level: u64) -> u64 {
    match level {
        0 => 0,
        1 => 21,
        2 => 17,
        3 => 13,
        4 => 9,
        5 => 5,
        _ => 1,
    }
}

/// What the comparison looks at in a `fmt --json` event: provider id, event id, fields,
/// activity ids, severity. Classic events and messages by provider and type.
pub fn key_of_fmt(e: &Value) -> String {
    // OTLP integers are signed 64-bit: larger unsigned values travel as decimal text.
    let fields = match &e["fields"] {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| match v.as_u64() {
                    Some(n) if n > i64::MAX as u64 => (k.clone(), Value::String(n.to_string())),
                    _ => (k.clone(), v.clone()),
                })
                .collect(),
        ),
        other => other.clone(),
    };
    let guid = |v: &Value| {
        v.as_str()
            .map(|s| s.trim_matches(['{', '}']).to_uppercase())
    };
    match e["type"].as_str() {
        Some("event") => serde_json::json!({
            "provider": guid(&e["provider_id"]),
            "id": e["id"],
            "fields": fields,
            "activity": guid(&e["activity_id"]),
            "related": guid(&e["related_activity_id"]),
            "severity": severity_of(e["level"].as_u64().unwrap()),
        })
        .to_string(),
        Some("classic") => serde_json::json!({
            "provider": e["provider"],
            "type": e["event_type"],
            "event": e["event"],
            "fields": e.get("fields").map(|_| fields.clone()),
        })
        .to_string(),
        other => serde_json::json!({"other": other}).to_string(),
    }
}

/// The same for a received log record.
pub fn key_of_log(r: &Value, fields_of_event: bool) -> String {
    let a = &r["attributes"];
    let s = |k: &str| a[k]["string"].as_str().map(|s| s.to_uppercase());
    if a.get("etw.event.id").is_some() {
        let fields: serde_json::Map<String, Value> = a
            .as_object()
            .unwrap()
            .iter()
            .filter(|(k, _)| {
                !k.starts_with("etw.")
                    && !k.starts_with("evtrace.")
                    && !["process.pid", "thread.id"].contains(&k.as_str())
            })
            .map(|(k, v)| (k.clone(), plain(v)))
            .collect();
        let fields = if fields_of_event {
            Value::Object(fields)
        } else {
            serde_json::json!({})
        };
        serde_json::json!({
            "provider": s("etw.provider.id"),
            "id": a["etw.event.id"]["int"],
            "fields": fields,
            "activity": s("etw.activity.id"),
            "related": s("etw.related_activity.id"),
            "severity": r["severity_number"],
        })
        .to_string()
    } else if a.get("etw.event.type").is_some() {
        let fields: serde_json::Map<String, Value> = a
            .as_object()
            .unwrap()
            .iter()
            .filter(|(k, _)| {
                !k.starts_with("etw.")
                    && !k.starts_with("evtrace.")
                    && !["process.pid", "thread.id"].contains(&k.as_str())
            })
            .map(|(k, v)| (k.clone(), plain(v)))
            .collect();
        serde_json::json!({
            "provider": a["etw.provider.name"]["string"],
            "type": a["etw.event.type"]["int"],
            "event": a["etw.event.name"]["string"],
            "fields": a.get("etw.payload").is_none().then_some(Value::Object(fields)),
        })
        .to_string()
    } else {
        let kind = if a.get("etw.message.number").is_some() {
            "message"
        } else {
            "loss"
        };
        serde_json::json!({"other": kind}).to_string()
    }
}

/// Sorted keys of both sides, for an equality assertion.
pub fn compare(fmt: &[Value], logs: &[&Value]) -> (Vec<String>, Vec<String>) {
    let mut a: Vec<String> = fmt.iter().map(key_of_fmt).collect();
    let mut b: Vec<String> = logs.iter().map(|r| key_of_log(r, true)).collect();
    a.sort();
    b.sort();
    (a, b)
}

/// Runs `evtrace forward ARGS` to its end; (exit code, stderr).
pub fn forward(args: &[&str]) -> (i32, String) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_evtrace"));
    dies_with_test(&mut c);
    let o = c
        .arg("forward")
        .args(args)
        .stdout(Stdio::null())
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// The number after `label` in `text` (e.g. "dropped (queue full): 12 records").
pub fn number_after(text: &str, label: &str) -> u64 {
    let at = text
        .rfind(label)
        .unwrap_or_else(|| panic!("no `{label}` in {text}"));
    text[at + label.len()..]
        .split(|c: char| !c.is_ascii_digit())
        .find(|w| !w.is_empty())
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("no number after `{label}` in {text}"))
}

/// Asserts both sorted key lists are equal, showing only the counts and a few differences.
pub fn assert_same(want: &[String], got: &[String], what: &str) {
    if want == got {
        return;
    }
    let only = |x: &[String], y: &[String]| -> Vec<String> {
        let mut y: Vec<&String> = y.iter().collect();
        let mut out = Vec::new();
        for k in x {
            match y.iter().position(|o| *o == k) {
                Some(i) => {
                    y.swap_remove(i);
                }
                None => out.push(k.clone()),
            }
        }
        out
    };
    let (missing, extra) = (only(want, got), only(got, want));
    panic!(
        "{what}: fmt has {} records, the receiver {}; {} missing, e.g. {:?}; {} unexpected, e.g. {:?}",
        want.len(),
        got.len(),
        missing.len(),
        &missing[..missing.len().min(3)],
        extra.len(),
        &extra[..extra.len().min(3)]
    );
}
