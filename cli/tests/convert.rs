//! `evtrace convert`: its Perfetto traces read back with Google's own schema (the PyPI
//! `perfetto` package, through tools/check_perfetto_trace.py), its Chrome JSON parsed and
//! checked, both against what `evtrace fmt --json` says of the same files; and bad input.

#[path = "../../runtime/tests/support/mod.rs"]
mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use evtrace_runtime::etl::{in_type, EventSchemaBuilder};
use evtrace_runtime::provider::{EnableSettings, Event, EventDescriptor, Provider};
use evtrace_runtime::session::{Session, SessionProperties};
use evtrace_runtime::Guid;
use serde_json::Value;

fn evtrace(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_evtrace"))
        .args(args)
        .output()
        .expect("run evtrace")
}

fn samples() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/etl-samples");
    if dir.is_dir() {
        Some(dir)
    } else {
        support::skip(&format!("{} is missing", dir.display()));
        None
    }
}

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
    let why = format!("`{py}` cannot import the perfetto package (pip install perfetto; set EVTRACE_PYTHON)");
    assert!(std::env::var_os("EVTRACE_REQUIRE_PYTHON").is_none(), "{why}");
    support::skip(&why);
    None
}

/// `files` converted to `out` (`--to` `to`); the command's output.
fn convert(files: &[&Path], out: &Path, to: &str, extra: &[&str]) -> Output {
    let mut args: Vec<String> = vec!["convert".into()];
    args.extend(files.iter().map(|f| f.display().to_string()));
    args.extend(["-o".into(), out.display().to_string(), "--to".into(), to.into()]);
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    evtrace(&args)
}

/// What the checker read from a Perfetto trace; it must have found no problem.
fn read_perfetto(py: &str, file: &Path) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tools/check_perfetto_trace.py");
    let o = Command::new(py).arg(script).arg(file).output().unwrap();
    let v: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!("checker output: {e}: {}", String::from_utf8_lossy(&o.stderr))
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
        assert!(o.status.success(), "{name}: {}", String::from_utf8_lossy(&o.stderr));
        let trace = read_perfetto(&py, &out);
        let items = fmt_json(&[&input]);
        assert_eq!(threads_in(&trace), threads_of(&items), "{name}: threads");
        let pids: BTreeSet<String> = threads_of(&items).iter().map(|t| t.0.to_string()).collect();
        let described: BTreeSet<String> =
            trace["processes"].as_object().unwrap().keys().cloned().collect();
        assert_eq!(described, pids, "{name}: processes");
        let slices = trace["slices"].as_array().unwrap().len();
        let instants = trace["instants"].as_array().unwrap();
        assert_eq!(slices, paired(&items), "{name}: slices");
        assert_eq!(instants.len() + 2 * slices, items.len(), "{name}: every item is shown");
        // The time is the trace's own: the first item's Unix time, to the nanosecond.
        let first_ns = trace["instants"][0]["ts"].as_u64().unwrap();
        assert_eq!(
            evtrace_runtime::etl::unix_nanos_to_rfc3339(first_ns as i64),
            items[0]["timestamp"].as_str().unwrap(),
            "{name}"
        );
        // Each event's fields are its instant's annotations, as fmt shows them.
        for item in items.iter().filter(|i| i["type"] == "event" && i["opcode"] == 0) {
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
