//! `evtrace fmt` on the Windows samples and on files written with the etl encoders.

#[path = "../../runtime/tests/support/mod.rs"]
mod support;

mod common;
use common::{evtrace_out as evtrace, samples};

use serde_json::json;
use std::process::Output;

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Writes `bytes` to `name` in `dir`; the path as an argument for `evtrace`.
fn temp(dir: &support::Scratch, name: &str, bytes: &[u8]) -> String {
    dir.file(name, bytes).display().to_string()
}

#[test]
fn text_output_of_the_samples() {
    let Some(dir) = samples() else { return };
    let lx = dir.join("lxcore_kernel.etl");
    let o = evtrace(&["fmt", lx.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = stdout(&o);
    let lines: Vec<_> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    // The kernel's own record after the log-file header (EventTrace group, type 80), with its
    // header's pid and tid: delivered, not skipped, named and decoded by its class.
    assert_eq!(
        lines[0],
        "[0]17E0.1F80::2020-07-14T12:04:31.138736300Z [kernel/EventTrace] type=80 version=2 \
         EventTrace/PartitionInfoExtension PartitionId={00000000-0000-0000-0000-000000000000} \
         ParentId={00000000-0000-0000-0000-000000000000} QpcOffsetFromRoot=0 PartitionType=0"
    );
    let o = evtrace(&["fmt", "--json", lx.to_str().unwrap()]);
    let first: serde_json::Value =
        serde_json::from_str(stdout(&o).lines().next().unwrap()).unwrap();
    assert_eq!(first["event"], "EventTrace/PartitionInfoExtension");
    assert_eq!(first["fields"]["PartitionType"], 0);
    assert_eq!(first["hook_id"], 80);
    assert!(lines[1].starts_with("[5]16F4.0B34::2020-07-14T12:04:36.902651000Z [Microsoft.Windows.Subsystem.LxCore] BreakPoint "), "{}", lines[1]);
    assert!(
        lines[2].contains("Function=\"LxpInstanceStart\" Line=2659"),
        "{}",
        lines[2]
    );

    let ps = dir.join("powershell.etl");
    let o = evtrace(&["fmt", ps.to_str().unwrap()]);
    assert!(o.status.success());
    let text = stdout(&o);
    assert_eq!(text.lines().count(), 113);
    assert!(text
        .lines()
        .next()
        .unwrap()
        .contains("[kernel/EventTrace] type=80"));
    assert!(text.lines().skip(1).all(|l| l
        .contains("[{A0C1853B-5C40-4B15-8766-3CF1C58F985A}] id=")
        && l.contains(" payload=0x")));
}

#[test]
fn json_lines_of_the_samples() {
    let Some(dir) = samples() else { return };
    let pt = dir.join("primitive-types.etl");
    let o = evtrace(&["fmt", "--json", pt.to_str().unwrap()]);
    assert!(o.status.success());
    let lines: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 6);
    let k = &lines[0];
    assert_eq!(
        (&k["type"], &k["provider"], &k["hook_id"], &k["pid"]),
        (
            &json!("classic"),
            &json!("kernel/EventTrace"),
            &json!(80),
            &json!(39096)
        ),
        "{k}"
    );
    let e = &lines[1];
    assert_eq!(e["provider"], "solar_system");
    assert_eq!(e["event"], "PrimitiveTypesTest");
    assert_eq!(e["timestamp"], "2021-09-09T14:59:35.800156700Z");
    assert_eq!(e["fields"]["string_type"], "Mercury");
    assert_eq!(e["fields"]["int16_type"], -51);
    assert_eq!(e["fields"]["boolean_type"], false);
    for k in [
        "pid", "tid", "cpu", "id", "level", "opcode", "task", "keyword", "version",
    ] {
        assert!(e[k].is_number(), "{k}: {e}");
    }
    assert!(e.get("activity_id").is_none());
    // A Windows system session's record keeps the writing thread's CPU times.
    assert_eq!(
        (&e["flags"], &e["kernel_time"], &e["user_time"]),
        (&json!(0x41), &json!(111), &json!(58)),
        "{e}"
    );
    assert!(e.get("processor_time").is_none());
}

#[test]
fn generated_file_json_summary_window() {
    let dir = support::Scratch::new("cli-fmt-gen");
    let f = temp(&dir, "gen.etl", &support::standard_file(1));
    let o = evtrace(&["fmt", "--json", &f]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let lines: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 11);
    assert_eq!(lines[0]["fields"]["list"], serde_json::json!([0, 1, 2]));
    assert_eq!(lines[0]["fields"]["text"], "event 0");
    assert_eq!(lines[1]["type"], "loss");
    assert_eq!(lines[1]["count"], 5);
    let msg = lines.iter().find(|l| l["type"] == "message").unwrap();
    assert_eq!(msg["message_number"], 12);
    assert_eq!(msg["args"], "0x01020304");
    let man = lines.last().unwrap();
    assert_eq!(man["id"], 300);
    assert_eq!(man["payload"], "0xDEADBEEF");
    assert!(man["activity_id"].is_string());

    let o = evtrace(&["fmt", "--summary", &f]);
    let s = stdout(&o);
    assert!(s.contains("Evtrace-Test"), "{s}");
    assert!(s.contains("Sample") && s.contains("Other"), "{s}");
    assert!(s.contains("Lost in band: 5 events"), "{s}");
    assert!(s.contains("Lost per headers: 3 events, 1 buffers"), "{s}");
    assert!(s.contains("Events: 9, messages: 1"), "{s}");

    let o = evtrace(&[
        "fmt",
        "--start",
        "2024-01-02T03:04:05.003Z",
        "--end",
        "2024-01-02T03:04:05.006Z",
        &f,
    ]);
    assert_eq!(stdout(&o).lines().count(), 4);
    let o = evtrace(&[
        "fmt",
        "--start",
        "2024-01-02T03:04:06Z",
        "--end",
        "2024-01-02T03:04:05Z",
        &f,
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("INVALID_TIME"));
}

#[test]
fn unreadable_input_fails_but_prints_what_it_can() {
    let dir = support::Scratch::new("cli-fmt-unreadable");
    let good = temp(&dir, "good.etl", &support::standard_file(2));
    let mut damaged = support::standard_file(2);
    damaged.truncate(support::BUFFER_SIZE * 2 + 300);
    let bad = temp(&dir, "trunc.etl", &damaged);
    let missing = std::env::temp_dir()
        .join("evtrace-cli-missing.etl")
        .display()
        .to_string();
    let o = evtrace(&["fmt", &good, &missing]);
    assert!(!o.status.success());
    assert_eq!(stdout(&o).lines().count(), 11);
    assert!(String::from_utf8_lossy(&o.stderr).contains("evtrace-cli-missing.etl"));
    let o = evtrace(&["fmt", &bad]);
    assert!(!o.status.success());
    assert!(stdout(&o).lines().count() >= 5, "{}", stdout(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("trunc.etl") && err.contains("truncated buffer"),
        "{err}"
    );
}

/// `evtrace fmt` rebuilds message text and shows sequence numbers from the log file alone, here a
/// wrapped circular file written by a real private session.
#[test]
fn messages_from_a_wrapped_circular_file() {
    use evtrace_runtime::etl::in_type;
    use evtrace_runtime::etl::message_format::{encode_meta, ArgType};
    use evtrace_runtime::provider::{EnableSettings, Message, Provider};
    use evtrace_runtime::session::{LogFileMode as M, Session, SessionProperties};

    let dir = support::Scratch::new("cli-fmt-circ-msg");
    let file = dir.join("circ-msg.etl");
    let provider = Provider::leak("Evtrace-Cli-Messages");
    let meta = encode_meta(
        "copied {} bytes to {}",
        &[
            ArgType {
                in_type: in_type::UINT64,
                out_type: 0,
            },
            ArgType {
                in_type: in_type::ANSI_STRING,
                out_type: 0,
            },
        ],
    );
    let message = Message::leak(provider, 4, 0, meta);
    let s = Session::start_private(
        SessionProperties::new("cli-circ-msg")
            .log_file(&file)
            .mode(
                M::CIRCULAR
                    | M::USE_KBYTES_FOR_SIZE
                    | M::GLOBAL_SEQUENCE
                    | M::NO_PER_PROCESSOR_BUFFERING,
            )
            .maximum_file_size(32)
            .buffer_size_kb(4)
            .buffers(0, 1024),
    )
    .unwrap();
    s.enable_provider(provider.guid(), EnableSettings::new(5, 0, 0))
        .unwrap();
    for i in 0..3000u64 {
        message
            .write(&[&(i * 10).to_le_bytes(), b"disk\0"])
            .unwrap();
    }
    s.stop().unwrap();

    let o = evtrace(&["fmt", file.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = stdout(&o);
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        !lines.is_empty() && lines.len() < 3000,
        "the file wrapped: {} lines",
        lines.len()
    );
    let last = lines.last().unwrap();
    assert!(last.ends_with("copied 29990 bytes to disk"), "{last}");
    let seq = |l: &str| -> u64 {
        let at = l.find("sequence=").expect("sequence shown") + "sequence=".len();
        l[at..].split_whitespace().next().unwrap().parse().unwrap()
    };
    let first = seq(lines[0]);
    for (k, l) in lines.iter().enumerate() {
        assert_eq!(
            seq(l),
            first + k as u64,
            "consecutive sequence numbers: {l}"
        );
        assert!(
            l.ends_with(&format!("copied {} bytes to disk", (seq(l) - 1) * 10)),
            "{l}"
        );
    }

    let o = evtrace(&["fmt", "--json", file.to_str().unwrap()]);
    let first_json: serde_json::Value =
        serde_json::from_str(stdout(&o).lines().next().unwrap()).unwrap();
    assert_eq!(first_json["sequence"], first);
    assert_eq!(
        first_json["text"],
        format!("copied {} bytes to disk", (first - 1) * 10)
    );
}
