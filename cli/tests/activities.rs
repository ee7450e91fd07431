//! `evtrace fmt --json` shows an event's activity id and its related activity id, as the macros'
//! Start events and `Event::write_with_activity` record them.

use std::process::Command;

use evtrace::provider::EnableSettings;
use evtrace::session::{Session, SessionProperties};
use evtrace::Guid;
use serde_json::Value;

#[evtrace::provider(name = "Evtrace-Cli-Activities")]
mod acts {
    /// Work began.
    #[event(opcode = start)]
    pub fn work_start(n: u32);
    /// Inside.
    pub fn inside(n: u32);
    /// Work ended.
    #[event(opcode = stop)]
    pub fn work_stop(n: u32);
}

#[test]
fn fmt_json_shows_both_ids() {
    let dir = evtrace_testkit::Scratch::new("cli-activities");
    let file = dir.join("activities.etl");
    let s =
        Session::start_private(SessionProperties::new("cli-activities").log_file(&file)).unwrap();
    s.enable_provider(acts::PROVIDER.guid(), EnableSettings::new(5, 0, 0))
        .unwrap();
    let by_hand: Guid = "6B9A2F0E-1C3D-4E5F-8A7B-9C0D1E2F3A4B".parse().unwrap();
    let parent: Guid = "11111111-2222-4333-8444-555555555555".parse().unwrap();
    let (outer, inner);
    {
        let a = evtrace::write!(acts::work_start(1));
        outer = a.id();
        let b = evtrace::write!(acts::work_start(2));
        inner = b.id();
        evtrace::write!(acts::inside(3));
        evtrace::write!(acts::work_stop(2));
        drop(b);
        evtrace::write!(acts::work_stop(1));
    }
    acts::inside::EVENT
        .write_with_activity(by_hand, parent, &[&4u32.to_le_bytes()])
        .unwrap();
    s.stop().unwrap();

    let o = Command::new(env!("CARGO_BIN_EXE_evtrace"))
        .args(["fmt", "--json", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let lines: Vec<Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|v: &Value| v["provider"] == "Evtrace-Cli-Activities")
        .collect();
    let ids = |v: &Value| {
        (
            v["fields"]["n"].as_u64().unwrap(),
            v["opcode"].as_u64().unwrap(),
            v["activity_id"].as_str().map(str::to_string),
            v["related_activity_id"].as_str().map(str::to_string),
        )
    };
    let g = |g: Guid| Some(format!("{{{g}}}"));
    let got: Vec<_> = lines.iter().map(ids).collect();
    assert_eq!(
        got,
        [
            (1, 1, g(outer), None),
            (2, 1, g(inner), g(outer)),
            (3, 0, g(inner), None),
            (2, 2, g(inner), None),
            (1, 2, g(outer), None),
            (4, 0, g(by_hand), g(parent)),
        ],
        "{lines:#?}"
    );
    // A private session's records: PRIVATE_SESSION | NO_CPUTIME, so `ProcessorTime` (none kept).
    for v in &lines {
        assert_eq!(v["flags"].as_u64().unwrap() & 0x12, 0x12, "{v}");
        assert_eq!(v["processor_time"], 0, "{v}");
        assert!(v.get("kernel_time").is_none(), "{v}");
    }
}
