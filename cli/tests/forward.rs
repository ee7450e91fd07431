//! `evtrace forward` against a real OTLP receiver (tools/otlp_receiver.py: the official PyPI
//! opentelemetry-proto and grpcio), itself first proven with OpenTelemetry's official Python
//! exporters. What arrives is compared with `evtrace fmt --json` of the same files.

mod common;
mod otlp;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{dies_with_test, temp_dir};
use otlp::*;
use serde_json::Value;

#[test]
fn the_receiver_is_proven_by_the_official_exporters() {
    let Some(py) = otlp_python() else { return };
    let dir = temp_dir("forward-proof");
    let rx = Receiver::start(&py, dir.path(), 0.0);
    let o = Command::new(&py)
        .arg(tool("otlp_official_export.py"))
        .args([rx.http.to_string(), rx.grpc.to_string(), "4".into()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let got = rx.received();
    for transport in ["http", "grpc"] {
        let logs: Vec<&Value> = got
            .iter()
            .filter(|r| r["kind"] == "log" && r["transport"] == transport)
            .collect();
        let ns: Vec<i64> = logs
            .iter()
            .map(|r| r["attributes"]["proof.n"]["int"].as_i64().unwrap())
            .collect();
        assert_eq!(ns, [0, 1, 2, 3], "{transport}: {logs:#?}");
        for (n, r) in logs.iter().enumerate() {
            assert_eq!(r["body"]["string"], format!("official {n}"));
            assert_eq!(r["severity_number"], 13, "WARN");
            assert_eq!(r["attributes"]["proof.transport"]["string"], transport);
            assert_eq!(r["resource"]["service.name"]["string"], "official-proof");
        }
        let spans: Vec<&Value> = got
            .iter()
            .filter(|r| r["kind"] == "span" && r["transport"] == transport)
            .collect();
        assert_eq!(spans.len(), 1, "{transport}: {spans:#?}");
        assert_eq!(spans[0]["name"], "official-span");
        assert_eq!(spans[0]["trace_id"].as_str().unwrap().len(), 32);
    }
}

/// Forwards `file` with `protocol` to `rx` and checks the records against `fmt --json`.
fn forward_and_compare(rx: &Receiver, dir: &std::path::Path, protocol: &str, requests: u32) {
    let file = dir.join(format!("{protocol}.etl"));
    write_requests(&file, requests, |p| p);
    let url = if protocol == "grpc" {
        rx.grpc_url()
    } else {
        rx.http_url()
    };
    let cursor = dir.join(format!("{protocol}.cursor"));
    let (code, err) = forward(&[
        "--follow",
        file.to_str().unwrap(),
        "--once",
        "--protocol",
        protocol,
        "--endpoint",
        &url,
        "--cursor",
        cursor.to_str().unwrap(),
        "--batch-records",
        "64",
        "--resource",
        "service.name=forward-test",
        "--header",
        "Authorization=Bearer t0ken",
    ]);
    assert_eq!(code, 0, "{err}");
    let want: Vec<Value> = fmt_json(&[&file])
        .into_iter()
        .filter(|e| e["provider"] == "Evtrace-Forward-Test")
        .collect();
    assert_eq!(want.len() as u32, requests * 7 + requests.div_ceil(10));
    let transport = if protocol == "grpc" { "grpc" } else { "http" };
    let got = rx.received();
    let got: Vec<Value> = got
        .into_iter()
        .filter(|r| r["transport"] == transport)
        .collect();
    let logs: Vec<&Value> = event_logs(&got)
        .into_iter()
        .filter(|r| r["attributes"]["etw.provider.name"]["string"] == "Evtrace-Forward-Test")
        .collect();
    let (a, b) = compare(&want, &logs);
    assert_same(&a, &b, protocol);
    assert!(id_counts(&logs).values().all(|&n| n == 1), "{protocol}");
    for r in &logs {
        assert_eq!(
            r["meta"]["authorization"], "Bearer t0ken",
            "--header, {protocol}"
        );
        assert_eq!(r["resource"]["service.name"]["string"], "forward-test");
        assert!(r["resource"]["host.name"]["string"].is_string());
    }
    if protocol != "grpc" {
        assert_eq!(logs[0]["meta"]["content_encoding"], "gzip");
    }
    // Start/Stop pairs: one span each, the inner one in the outer one's trace, as its child.
    let spans = spans(&got);
    assert_eq!(spans.len() as u32, 2 * requests, "{protocol}");
    let by_path = |path: &str| -> Vec<&Value> {
        spans
            .iter()
            .copied()
            .filter(|s| s["attributes"]["path"]["string"] == path)
            .collect()
    };
    let (outer, inner) = (by_path("/api/item"), by_path("/db"));
    assert_eq!(outer.len() as u32, requests);
    for i in &inner {
        let parent = outer
            .iter()
            .find(|o| o["span_id"] == i["parent_span_id"])
            .unwrap_or_else(|| panic!("no parent span for {i:#}"));
        // In its parent's trace even when its buffer came before the parent's Start.
        assert_eq!(parent["trace_id"], i["trace_id"]);
        assert_eq!(parent["attributes"]["n"], i["attributes"]["n"]);
        assert!(i["start_time_unix_nano"].as_u64() <= i["end_time_unix_nano"].as_u64());
    }
    assert!(outer.iter().all(|o| o["parent_span_id"] == ""));
    // The counts went out too: the final report record and the metrics.
    assert!(got
        .iter()
        .any(|r| r["attributes"]["evtrace.forward.report"]["string"] == "counts"));
    assert!(got
        .iter()
        .any(|r| r["kind"] == "metric" && r["name"] == "evtrace.forward.dropped_records"));
}

#[test]
fn records_match_fmt_json_over_http() {
    let Some(py) = otlp_python() else { return };
    let dir = temp_dir("forward-http");
    let rx = Receiver::start(&py, dir.path(), 0.0);
    forward_and_compare(&rx, dir.path(), "http-protobuf", 100);
}

#[cfg(feature = "grpc")]
#[test]
fn records_match_fmt_json_over_grpc() {
    let Some(py) = otlp_python() else { return };
    let dir = temp_dir("forward-grpc");
    let rx = Receiver::start(&py, dir.path(), 0.0);
    forward_and_compare(&rx, dir.path(), "grpc", 100);
}

#[test]
fn windows_samples_arrive_as_fmt_reads_them() {
    let Some(py) = otlp_python() else { return };
    let Some(samples) = common::samples() else {
        return;
    };
    let dir = temp_dir("forward-samples");
    let rx = Receiver::start(&py, dir.path(), 0.0);
    let mut names: Vec<_> = std::fs::read_dir(&samples)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "etl"))
        .collect();
    names.sort();
    assert!(!names.is_empty());
    for (i, file) in names.iter().enumerate() {
        let before = rx.received().len();
        let cursor = dir.join(format!("{i}.cursor"));
        let (code, err) = forward(&[
            "--follow",
            file.to_str().unwrap(),
            "--once",
            "--endpoint",
            &rx.http_url(),
            "--cursor",
            cursor.to_str().unwrap(),
        ]);
        let fmt_ok = Command::new(env!("CARGO_BIN_EXE_evtrace"))
            .args(["fmt", "--summary"])
            .arg(file)
            .output()
            .unwrap()
            .status
            .success();
        assert_eq!(code == 0, fmt_ok, "{}: {err}", file.display());
        let got = rx.received();
        let logs = event_logs(&got[before..]);
        let want = fmt_json(&[file]);
        let (a, b) = compare(&want, &logs);
        assert_same(&a, &b, &file.display().to_string());
    }
}

#[test]
fn kill_nine_and_restart_ten_times_loses_nothing() {
    let Some(py) = otlp_python() else { return };
    let dir = temp_dir("forward-kill");
    let rx = Receiver::start(&py, dir.path(), 0.0);
    let file = dir.join("kill.etl");
    write_requests(&file, 1500, |p| p);
    let want = fmt_json(&[&file]);
    let cursor = dir.join("kill.cursor");
    const BATCH: usize = 40;
    let args = |c: &mut Command| {
        c.args(["forward", "--once", "--follow"])
            .arg(&file)
            .args(["--endpoint", &rx.http_url(), "--cursor"])
            .arg(&cursor)
            .args(["--batch-records", &BATCH.to_string()])
            .stderr(Stdio::null());
    };
    let mut rng = evtrace_testkit::XorShift(18);
    let mut kills = 0;
    for _ in 0..10 {
        let seen = rx.lines();
        let mut c = Command::new(env!("CARGO_BIN_EXE_evtrace"));
        dies_with_test(&mut c);
        args(&mut c);
        let mut child = c.spawn().unwrap();
        // Mid-stream: once at least one more batch has arrived, a little later.
        let deadline = Instant::now() + Duration::from_secs(60);
        while rx.lines() == seen && child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "no progress");
            std::thread::sleep(Duration::from_millis(2));
        }
        std::thread::sleep(Duration::from_millis(rng.below(20) as u64));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
            kills += 1;
        }
        child.wait().unwrap();
    }
    let mut c = Command::new(env!("CARGO_BIN_EXE_evtrace"));
    args(&mut c);
    assert!(c.status().unwrap().success());
    let got = rx.received();
    let logs = event_logs(&got);
    let counts = id_counts(&logs);
    // Every record present; deduplicated by evtrace.record.id, exactly once.
    let unique: Vec<&Value> = {
        let mut seen = BTreeSet::new();
        logs.iter()
            .copied()
            .filter(|r| seen.insert(record_id(r)))
            .collect()
    };
    let (a, b) = compare(&want, &unique);
    assert_same(&a, &b, "deduplicated by evtrace.record.id");
    // Repeats: only what was in flight at a kill (acknowledged, cursor not yet saved): at most
    // one batch per kill.
    let repeated: usize = counts.values().map(|n| n - 1).sum();
    assert!(kills >= 5, "only {kills} kills landed mid-stream");
    assert!(
        repeated <= kills * BATCH,
        "{repeated} repeated records for {kills} kills of {BATCH}-record batches"
    );
    // A batch re-sent after one kill can be in flight at the next one too: never more often
    // than once per kill.
    assert!(counts.values().all(|&n| n <= kills + 1));
    // Said where it is seen, as skips are: how many repeats the kills cost.
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        format!(
            "NOTE: kill -9 x{kills}: {} records, {repeated} repeated (deduplicated by \
             evtrace.record.id: exactly once), all present\n",
            want.len()
        )
        .as_bytes(),
    );
}

#[test]
fn unavailable_for_ten_seconds_then_nothing_is_lost_within_the_bound() {
    let Some(py) = otlp_python() else { return };
    let dir = temp_dir("forward-503");
    let rx = Receiver::start(&py, dir.path(), 10.0);
    let file = dir.join("503.etl");
    write_requests(&file, 200, |p| p);
    let cursor = dir.join("503.cursor");
    let (code, err) = forward(&[
        "--follow",
        file.to_str().unwrap(),
        "--once",
        "--on-full",
        "drop",
        "--queue-batches",
        "1000",
        "--batch-records",
        "50",
        "--max-backoff-ms",
        "1000",
        "--endpoint",
        &rx.http_url(),
        "--cursor",
        cursor.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("HTTP 503"), "{err}");
    assert!(number_after(&err, "dropped (queue full): ") == 0, "{err}");
    assert!(number_after(&err, "spans; ") >= 5, "retries: {err}");
    let got = rx.received();
    let logs = event_logs(&got);
    let (a, b) = compare(&fmt_json(&[&file]), &logs);
    assert_same(&a, &b, "nothing lost, nothing repeated");
}

#[test]
fn past_the_bound_the_dropped_count_is_what_is_missing() {
    let Some(py) = otlp_python() else { return };
    let dir = temp_dir("forward-drop");
    let rx = Receiver::start(&py, dir.path(), 3.0);
    let file = dir.join("drop.etl");
    write_requests(&file, 100, |p| p);
    let want = fmt_json(&[&file]);
    let cursor = dir.join("drop.cursor");
    let (code, err) = forward(&[
        "--follow",
        file.to_str().unwrap(),
        "--once",
        "--on-full",
        "drop",
        "--queue-batches",
        "3",
        "--batch-records",
        "20",
        "--max-backoff-ms",
        "500",
        "--endpoint",
        &rx.http_url(),
        "--cursor",
        cursor.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "losses fail the command: {err}");
    let dropped = number_after(&err, "dropped (queue full): ");
    let got = rx.received();
    let logs = event_logs(&got);
    assert!(id_counts(&logs).values().all(|&n| n == 1));
    assert!(dropped > 0, "{err}");
    assert_eq!(dropped, (want.len() - logs.len()) as u64, "{err}");
    // Exported too: in the report record and as a metric.
    let reported = got
        .iter()
        .filter_map(|r| r["attributes"]["evtrace.forward.dropped_records"]["int"].as_u64())
        .max();
    assert_eq!(reported, Some(dropped));
    let metric = got
        .iter()
        .filter(|r| r["kind"] == "metric" && r["name"] == "evtrace.forward.dropped_records")
        .filter_map(|r| {
            r["metric"]["sum"]["data_points"][0]["as_int"]
                .as_str()
                .and_then(|s| s.parse::<u64>().ok())
        })
        .max();
    assert_eq!(metric, Some(dropped));
}

#[test]
fn files_wait_when_the_queue_is_full_and_lose_nothing() {
    let Some(py) = otlp_python() else { return };
    let dir = temp_dir("forward-wait");
    let rx = Receiver::start(&py, dir.path(), 3.0);
    let file = dir.join("wait.etl");
    write_requests(&file, 100, |p| p);
    // The default for --follow: a full queue pauses reading; the file keeps the rest.
    let (code, err) = forward(&[
        "--follow",
        file.to_str().unwrap(),
        "--once",
        "--queue-batches",
        "2",
        "--batch-records",
        "20",
        "--max-backoff-ms",
        "500",
        "--endpoint",
        &rx.http_url(),
        "--cursor",
        dir.join("w.cursor").to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("HTTP 503"), "{err}");
    assert_eq!(number_after(&err, "dropped (queue full): "), 0, "{err}");
    let got = rx.received();
    let logs = event_logs(&got);
    assert!(id_counts(&logs).values().all(|&n| n == 1));
    let (a, b) = compare(&fmt_json(&[&file]), &logs);
    assert_same(&a, &b, "nothing lost while waiting");
}

#[test]
fn a_partial_success_is_counted_and_not_retried() {
    let Some(py) = otlp_python() else { return };
    let dir = temp_dir("forward-partial");
    let rx = Receiver::start_with(&py, dir.path(), &["--reject-every", "10"]);
    let file = dir.join("partial.etl");
    write_requests(&file, 100, |p| p);
    let want = fmt_json(&[&file]);
    let (code, err) = forward(&[
        "--follow",
        file.to_str().unwrap(),
        "--once",
        "--batch-records",
        "50",
        "--endpoint",
        &rx.http_url(),
        "--cursor",
        dir.join("p.cursor").to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "rejections fail the command: {err}");
    assert!(err.contains("partial success"), "{err}");
    let got = rx.received();
    let logs = event_logs(&got);
    assert!(id_counts(&logs).values().all(|&n| n == 1), "not retried");
    assert_eq!(number_after(&err, "spans; "), 0, "no retries: {err}");
    let rejected = number_after(&err, "rejected by the endpoint: ");
    assert_eq!(rejected, (want.len() - logs.len()) as u64, "{err}");
    assert!(rejected >= want.len() as u64 / 10, "{err}");
}

#[test]
fn a_malformed_endpoint_is_refused_at_start() {
    for url in [
        "localhost:4318",
        "http://[::1:4318",
        "ftp://127.0.0.1:4318",
        "http://",
        "http://127.0.0.1:99999",
        "http://127.0.0.1:port",
        "http://a b:4318",
    ] {
        let (code, err) = forward(&["--follow", "x.etl", "--once", "--endpoint", url]);
        assert_eq!(code, 2, "{url}: {err}");
        assert!(err.contains(&format!("`{url}`")), "{url}: {err}");
        assert!(err.contains("expected http://HOST[:PORT]"), "{url}: {err}");
    }
}

#[test]
fn an_unreachable_endpoint_gives_a_clear_error_and_retries() {
    let dir = temp_dir("forward-unreachable");
    let file = dir.join("u.etl");
    write_requests(&file, 5, |p| p);
    // A port nobody listens on: bound, then let go.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let mut c = Command::new(env!("CARGO_BIN_EXE_evtrace"));
    dies_with_test(&mut c);
    let mut child = c
        .args(["forward", "--once", "--follow"])
        .arg(&file)
        .args(["--endpoint", &url, "--max-backoff-ms", "200", "--cursor"])
        .arg(dir.join("u.cursor"))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut retries = Vec::new();
    while retries.len() < 3 {
        let l = lines
            .next()
            .expect("forward ended without retrying")
            .unwrap();
        if l.contains("retrying in") {
            retries.push(l);
        }
    }
    assert!(child.try_wait().unwrap().is_none(), "it keeps retrying");
    child.kill().unwrap();
    child.wait().unwrap();
    for (i, l) in retries.iter().enumerate() {
        assert!(l.contains(&format!("POST {url}/v1/logs")), "{l}");
        assert!(l.contains(&format!("attempt {}", i + 1)), "{l}");
    }
    assert!(!dir.join("u.cursor").exists(), "nothing was acknowledged");
}

#[test]
fn a_damaged_file_sends_its_readable_part_and_reports_the_rest() {
    let Some(py) = otlp_python() else { return };
    let dir = temp_dir("forward-damaged");
    let rx = Receiver::start(&py, dir.path(), 0.0);
    let file = dir.join("damaged.etl");
    write_requests(&file, 300, |p| p);
    let mut bytes = std::fs::read(&file).unwrap();
    let buffer = 8192;
    assert!(bytes.len() > 6 * buffer);
    // A buffer's header overwritten in the middle, and the file cut inside its last buffer.
    bytes[3 * buffer..3 * buffer + 0x30].fill(0xEE);
    bytes.truncate(bytes.len() - buffer / 2);
    std::fs::write(&file, &bytes).unwrap();
    let want = fmt_json(&[&file]);
    assert!(!want.is_empty());
    let (code, err) = forward(&[
        "--follow",
        file.to_str().unwrap(),
        "--once",
        "--endpoint",
        &rx.http_url(),
        "--cursor",
        dir.join("d.cursor").to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("1 x corrupt buffer"), "{err}");
    assert!(err.contains("1 x truncated buffer"), "{err}");
    let got = rx.received();
    let logs = event_logs(&got);
    let (a, b) = compare(&want, &logs);
    assert_same(&a, &b, "the readable part, as fmt reads it");
}
