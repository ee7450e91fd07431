//! `evtrace convert`: its Perfetto traces read back with Google's own schema (the PyPI
//! `perfetto` package, through tools/check_perfetto_trace.py), its Chrome JSON parsed and
//! checked, both against what `evtrace fmt --json` says of the same files; and bad input.

#[path = "../../runtime/tests/support/mod.rs"]
mod support;

mod common;
use common::{evtrace_out as evtrace, samples};

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use evtrace_runtime::etl::{in_type, EventSchemaBuilder};
use evtrace_runtime::provider::{EnableSettings, Event, EventDescriptor, Provider};
use evtrace_runtime::session::{Session, SessionProperties};
use evtrace_runtime::Guid;
use serde_json::Value;

/// The Python with Google's `perfetto` package, or `None` after saying why (a failure where
/// `EVTRACE_REQUIRE_PYTHON` is set, as in CI).
fn perfetto_python() -> Option<String> {
    let py = std::env::var("EVTRACE_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = Command::new(&py)
        .args([
            "-c",
            "import perfetto.protos.perfetto.trace.perfetto_trace_pb2",
        ])
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        return Some(py);
    }
    let why = format!(
        "`{py}` cannot import the perfetto package (pip install perfetto; set EVTRACE_PYTHON)"
    );
    assert!(
        std::env::var_os("EVTRACE_REQUIRE_PYTHON").is_none(),
        "{why}"
    );
    support::skip(&why);
    None
}

/// `files` converted to `out` (`--to` `to`); the command's output.
fn convert(files: &[&Path], out: &Path, to: &str, extra: &[&str]) -> Output {
    let mut args: Vec<String> = vec!["convert".into()];
    args.extend(files.iter().map(|f| f.display().to_string()));
    args.extend([
        "-o".into(),
        out.display().to_string(),
        "--to".into(),
        to.into(),
    ]);
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    evtrace(&args)
}

/// What the checker read from a Perfetto trace; it must have found no problem.
fn read_perfetto(py: &str, file: &Path) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tools/check_perfetto_trace.py");
    let o = Command::new(py).arg(script).arg(file).output().unwrap();
    let v: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "checker output: {e}: {}",
            String::from_utf8_lossy(&o.stderr)
        )
    });
    assert_eq!(v["problems"], serde_json::json!([]), "{}", file.display());
    assert!(o.status.success());
    v
}

fn fmt_json(files: &[&Path]) -> Vec<Value> {
    let mut args = vec!["fmt".to_string(), "--json".into()];
    args.extend(files.iter().map(|f| f.display().to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = evtrace(&args);
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The (pid, tid) of every item that has them.
fn threads_of(items: &[Value]) -> BTreeSet<(u64, u64)> {
    items
        .iter()
        .filter_map(|i| Some((i["pid"].as_u64()?, i["tid"].as_u64()?)))
        .collect()
}

fn threads_in(trace: &Value) -> BTreeSet<(u64, u64)> {
    trace["threads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t[0].as_u64().unwrap(), t[1].as_u64().unwrap()))
        .collect()
}

/// Start/stop pairs that `convert` makes slices of (opcode 1 then 2 with one activity id).
fn paired(items: &[Value]) -> usize {
    let starts: BTreeSet<&str> = items
        .iter()
        .filter(|i| i["opcode"] == 1)
        .filter_map(|i| i["activity_id"].as_str())
        .collect();
    items
        .iter()
        .filter(|i| i["opcode"] == 2)
        .filter_map(|i| i["activity_id"].as_str())
        .filter(|a| starts.contains(a))
        .count()
}

#[test]
fn the_windows_samples_convert_to_perfetto_traces_googles_schema_reads() {
    let Some(dir) = samples() else { return };
    let Some(py) = perfetto_python() else { return };
    let out_dir = support::Scratch::new("convert-samples");
    for name in ["lxcore_kernel", "powershell", "primitive-types"] {
        let input = dir.join(format!("{name}.etl"));
        let out = out_dir.join(format!("{name}.perfetto-trace"));
        let o = convert(&[&input], &out, "perfetto", &[]);
        assert!(
            o.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let trace = read_perfetto(&py, &out);
        let items = fmt_json(&[&input]);
        assert_eq!(threads_in(&trace), threads_of(&items), "{name}: threads");
        let pids: BTreeSet<String> = threads_of(&items).iter().map(|t| t.0.to_string()).collect();
        let described: BTreeSet<String> = trace["processes"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        assert_eq!(described, pids, "{name}: processes");
        let slices = trace["slices"].as_array().unwrap().len();
        let instants = trace["instants"].as_array().unwrap();
        assert_eq!(slices, paired(&items), "{name}: slices");
        assert_eq!(
            instants.len() + 2 * slices,
            items.len(),
            "{name}: every item is shown"
        );
        // The time is the trace's own: the first item's Unix time, to the nanosecond.
        let first_ns = trace["instants"][0]["ts"].as_u64().unwrap();
        assert_eq!(
            evtrace_runtime::etl::unix_nanos_to_rfc3339(first_ns as i64),
            items[0]["timestamp"].as_str().unwrap(),
            "{name}"
        );
        // Each event's fields are its instant's annotations, as fmt shows them.
        for item in items
            .iter()
            .filter(|i| i["type"] == "event" && i["opcode"] == 0)
        {
            let found = instants.iter().any(|i| {
                i["name"] == item["event"]
                    && i["track"]["pid"] == item["pid"]
                    && (item["fields"].as_object().unwrap().is_empty()
                        || i["args"] == item["fields"])
            });
            if item["event"].is_string() {
                assert!(found, "{name}: no instant for {item}");
            }
        }
    }
}

/// A private session's file: activities (nested on one thread, and one that stops on another
/// thread), a plain event with a field and a TraceMessage.
fn provider_trace(dir: &support::Scratch) -> PathBuf {
    use evtrace_runtime::etl::message_format::{encode_meta, ArgType};
    use evtrace_runtime::provider::Message;
    // One at a time: the tests' sessions would take each other's events (and their name).
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let file = dir.join("provider.etl");
    let p = Provider::leak("Evtrace-Convert-Test");
    let ev = |id, opcode, schema: EventSchemaBuilder| {
        let d = EventDescriptor {
            id,
            opcode,
            level: 4,
            ..Default::default()
        };
        Event::leak(p, d, schema.build())
    };
    let start = ev(
        1,
        1,
        EventSchemaBuilder::new("Request").field("n", in_type::UINT32, 0),
    );
    let stop = ev(2, 2, EventSchemaBuilder::new("RequestDone"));
    let tick = ev(
        3,
        0,
        EventSchemaBuilder::new("Tick").field("count", in_type::UINT64, 0),
    );
    let meta = encode_meta(
        "copied {} bytes",
        &[ArgType {
            in_type: in_type::UINT64,
            out_type: 0,
        }],
    );
    let message = Message::leak(p, 4, 0, meta);
    let s = Session::start_private(SessionProperties::new("convert-test").log_file(&file)).unwrap();
    s.enable_provider(p.guid(), EnableSettings::new(5, 0, 0))
        .unwrap();
    let (a, b, c) = (
        Guid::from_name("activity a"),
        Guid::from_name("activity b"),
        Guid::from_name("activity c"),
    );
    start
        .write_with_activity(a, Guid::ZERO, &[&1u32.to_le_bytes()])
        .unwrap();
    start
        .write_with_activity(b, a, &[&2u32.to_le_bytes()])
        .unwrap();
    tick.write(&[&7u64.to_le_bytes()]).unwrap();
    stop.write_with_activity(b, Guid::ZERO, &[]).unwrap();
    start
        .write_with_activity(c, a, &[&3u32.to_le_bytes()])
        .unwrap();
    std::thread::spawn(move || stop.write_with_activity(c, Guid::ZERO, &[]).unwrap())
        .join()
        .unwrap();
    message.write(&[&10u64.to_le_bytes()]).unwrap();
    stop.write_with_activity(a, Guid::ZERO, &[]).unwrap();
    s.stop().unwrap();
    file
}

#[test]
fn activities_become_slices_and_events_instants_in_a_perfetto_trace() {
    let Some(py) = perfetto_python() else { return };
    let dir = support::Scratch::new("convert-provider");
    let file = provider_trace(&dir);
    let out = dir.join("p.perfetto-trace");
    let o = convert(&[&file], &out, "perfetto", &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let trace = read_perfetto(&py, &out);
    let items = fmt_json(&[&file]);
    assert_eq!(threads_in(&trace), threads_of(&items));
    let me = std::process::id();
    assert!(trace["processes"].get(me.to_string()).is_some(), "{trace}");
    let main_tid = items[0]["tid"].as_u64().unwrap();
    let slices = trace["slices"].as_array().unwrap();
    assert_eq!(slices.len(), 3, "{slices:?}");
    let by_n = |n: u64| slices.iter().find(|s| s["args"]["n"] == n).unwrap();
    for n in [1, 2] {
        let s = by_n(n);
        assert_eq!(s["name"], "Request");
        assert_eq!(s["cat"], "Evtrace-Convert-Test");
        assert_eq!(s["track"]["kind"], "thread", "{s}");
        assert_eq!(s["track"]["tid"], main_tid);
        assert_eq!(s["track"]["pid"], me);
    }
    // B nests in A.
    let (a, b) = (by_n(1), by_n(2));
    let end = |s: &Value| s["ts"].as_u64().unwrap() + s["dur"].as_u64().unwrap();
    assert!(a["ts"].as_u64() <= b["ts"].as_u64() && end(b) <= end(a));
    // C stopped on another thread: a track of its own in this process.
    let c = by_n(3);
    assert_eq!(c["track"]["kind"], "async", "{c}");
    assert_eq!(c["track"]["pid"], me);
    assert_eq!(c["track"]["name"], "Request");
    let instants = trace["instants"].as_array().unwrap();
    assert_eq!(instants.len(), 2, "{instants:?}");
    assert_eq!(instants[0]["name"], "Tick");
    assert_eq!(instants[0]["args"]["count"], 7);
    assert_eq!(instants[1]["name"], "copied 10 bytes");
    let text = items.iter().find(|i| i["type"] == "message").unwrap();
    assert_eq!(instants[1]["name"], text["text"]);

    // The same in Chrome JSON: B/E balanced per thread, b/e per id, the instants.
    let json = dir.join("p.json");
    let o = convert(&[&file], &json, "chrome-json", &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let doc: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let mut events: Vec<&Value> = doc["traceEvents"].as_array().unwrap().iter().collect();
    events.sort_by(|x, y| x["ts"].as_f64().partial_cmp(&y["ts"].as_f64()).unwrap());
    let count = |ph: &str| events.iter().filter(|e| e["ph"] == ph).count();
    assert_eq!(
        (count("B"), count("E"), count("b"), count("e"), count("i")),
        (2, 2, 1, 1, 2)
    );
    let mut depth = 0i32;
    for e in events.iter().filter(|e| e["ph"] == "B" || e["ph"] == "E") {
        assert_eq!(
            (e["pid"].as_u64(), e["tid"].as_u64()),
            (Some(me.into()), Some(main_tid))
        );
        depth += if e["ph"] == "B" { 1 } else { -1 };
        assert!(depth >= 0);
    }
    assert_eq!(depth, 0);
    let async_ids: Vec<_> = events
        .iter()
        .filter(|e| e["ph"] == "b" || e["ph"] == "e")
        .map(|e| &e["id"])
        .collect();
    assert_eq!(async_ids[0], async_ids[1]);
    let tick = events.iter().find(|e| e["name"] == "Tick").unwrap();
    assert_eq!(tick["args"]["count"], 7);
    assert!(events.iter().any(|e| e["name"] == "copied 10 bytes"));
}

#[test]
fn damaged_input_existing_output_and_unknown_formats() {
    let dir = support::Scratch::new("convert-bad");
    let mut damaged = support::standard_file(2);
    damaged.truncate(support::BUFFER_SIZE * 2 + 300);
    let bad = dir.file("trunc.etl", &damaged);
    let out = dir.join("t.json");
    let o = convert(&[&bad], &out, "chrome-json", &[]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("trunc.etl") && err.contains("truncated buffer"),
        "{err}"
    );
    // What was readable is there, as fmt prints it.
    let doc: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let shown = doc["traceEvents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["ph"] != "M")
        .count();
    // The items, and the losses the log-file header counts.
    assert_eq!(shown, fmt_json(&[&bad]).len() + 1);
    assert!(doc["traceEvents"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["name"]
            .as_str()
            .is_some_and(|n| n.ends_with("lost (log file headers)"))));
    assert!(shown >= 5);

    // An existing output stays as it is without --force.
    std::fs::write(&out, b"keep").unwrap();
    let good = dir.file("good.etl", &support::standard_file(1));
    let o = convert(&[&good], &out, "chrome-json", &[]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("exists") && err.contains("--force"), "{err}");
    assert_eq!(std::fs::read(&out).unwrap(), b"keep");
    let o = convert(&[&good], &out, "chrome-json", &["--force"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let doc: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert!(doc["traceEvents"].as_array().unwrap().len() > 5);
    if let Some(py) = perfetto_python() {
        let p = dir.join("t.perfetto-trace");
        let o = convert(&[&bad], &p, "perfetto", &[]);
        assert_eq!(o.status.code(), Some(1));
        let trace = read_perfetto(&py, &p);
        assert_eq!(trace["instants"].as_array().unwrap().len(), shown);
    }

    // An unknown format: the ones there are.
    let o = convert(&[&good], &dir.join("x"), "svg", &[]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("'svg'") && err.contains("perfetto") && err.contains("chrome-json"),
        "{err}"
    );
    assert!(!dir.join("x").exists());
}

/// Node's modules with speedscope and playwright-core, and Chromium; `None` after saying why
/// (a failure where `EVTRACE_REQUIRE_BROWSER` is set, as `.ci/run` does).
fn browser() -> Option<(PathBuf, String)> {
    let modules = std::env::var_os("EVTRACE_NODE_MODULES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/ci-node/node_modules")
        });
    let chromium = std::env::var("EVTRACE_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let why = if !modules.join("speedscope").is_dir() || !modules.join("playwright-core").is_dir() {
        format!(
            "{} has no speedscope and playwright-core (npm install them; set EVTRACE_NODE_MODULES)",
            modules.display()
        )
    } else if !Path::new(&chromium).exists() {
        format!("no Chromium at {chromium} (apt-get install chromium; set EVTRACE_CHROMIUM)")
    } else if Command::new("node").arg("--version").output().is_err() {
        "no node command".to_string()
    } else {
        return Some((modules, chromium));
    };
    assert!(
        std::env::var_os("EVTRACE_REQUIRE_BROWSER").is_none(),
        "{why}"
    );
    support::skip(&why);
    None
}

#[test]
fn speedscope_in_headless_chromium_loads_the_chrome_json() {
    let Some((modules, chromium)) = browser() else {
        return;
    };
    let dir = support::Scratch::new("convert-speedscope");
    let file = provider_trace(&dir);
    let json = dir.join("p.json");
    let o = convert(&[&file], &json, "chrome-json", &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let items = fmt_json(&[&file]);
    let main_tid = items[0]["tid"].as_u64().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tools/speedscope_check.js");
    let shot = dir.join("speedscope.png");
    let o = Command::new("node")
        .env("NODE_PATH", &modules)
        .arg(script)
        .arg(&json)
        .arg(&chromium)
        .arg(&shot)
        .output()
        .unwrap();
    let said: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    });
    assert!(o.status.success(), "{said}");
    // Loaded: the page is titled by the file, no script failed, and the profile shown is the
    // thread whose slices speedscope builds its call tree from.
    assert_eq!(said["title"], "trace.json - speedscope", "{said}");
    assert_eq!(said["errors"], serde_json::json!([]), "{said}");
    let toolbar = said["toolbar"].as_str().unwrap();
    let profile = format!("pid {}, tid {main_tid}", std::process::id());
    assert!(toolbar.contains(&profile), "{profile} in {toolbar}");
    assert!(std::fs::metadata(&shot).unwrap().len() > 1000);
    // Its frames, from the Sandwich view's table: the two activities of that thread, by name
    // and fields (speedscope shows a frame's args with its name).
    let mut frames: Vec<&str> = said["frames"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    frames.sort();
    assert_eq!(
        frames,
        [r#"Request {"n":1}"#, r#"Request {"n":2}"#],
        "{said}"
    );
}

/// A kernel-logger trace (process and thread events, with their rundown) and a provider trace
/// of the same time, converted together: every process the kernel logger names is named so in
/// the Perfetto trace. Needs root, as the kernel logger does.
#[test]
fn a_kernel_logger_and_a_provider_trace_convert_together_with_process_names() {
    if common::euid() != 0 {
        support::skip("the kernel logger's sources need root");
        return;
    }
    let Some(py) = perfetto_python() else { return };
    let dir = common::temp_dir("convert-kernel");
    let _daemon = common::start_daemon(&dir);
    let kernel = dir.join("kernel.etl");
    common::run_ok(
        common::evtrace(&dir)
            .args(["start", "NT Kernel Logger", "-f"])
            .arg(&kernel)
            .args(["--kernel-flags", "process,thread"]),
    );
    let scratch = support::Scratch::new("convert-kernel-provider");
    let provider = provider_trace(&scratch);
    let child = Command::new("/bin/sleep").arg("0.2").status().unwrap();
    assert!(child.success());
    common::run_ok(common::evtrace(&dir).args(["stop", "NT Kernel Logger"]));

    let out = dir.join("both.perfetto-trace");
    let o = convert(&[&kernel, &provider], &out, "perfetto", &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let trace = read_perfetto(&py, &out);
    let items = fmt_json(&[&kernel, &provider]);
    assert_eq!(threads_in(&trace), threads_of(&items));
    // The last name the kernel logger gives each process (rundown, start, exec) is its name.
    let mut named = std::collections::BTreeMap::new();
    for i in items.iter().cloned().map(common::kernel_view) {
        let f = &i["fields"];
        let names = ["Start", "DCStart", "Exec"].contains(&i["event"].as_str().unwrap_or(""));
        if i["provider"] == "Process" && names && f["ImageFileName"].is_string() {
            let image = f["ImageFileName"].as_str().unwrap();
            let base = image.rsplit('/').next().unwrap().to_string();
            named.insert(f["ProcessId"].to_string(), base);
        }
    }
    assert!(named.values().any(|n| n == "sleep"), "{named:?}");
    for (pid, name) in &named {
        assert_eq!(trace["processes"][pid], name.as_str(), "process {pid}");
    }
    // The provider's activities are there as well.
    assert_eq!(trace["slices"].as_array().unwrap().len(), 3);
}
