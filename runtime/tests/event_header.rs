//! The EVENT_HEADER flags and CPU-time union as ETW writes them: a private session's records
//! say PRIVATE_SESSION and NO_CPUTIME with a `ProcessorTime`, a system session's say NO_CPUTIME
//! (evtrace keeps no per-thread CPU time), and Windows' own records keep their kernel/user split.

use std::path::{Path, PathBuf};

use evtrace_runtime::consume::{CpuTime, Item, LogReader};
use evtrace_runtime::etl::{event_flags, EventSchemaBuilder};
use evtrace_runtime::provider::{EnableSettings, Event, EventDescriptor, Provider};
use evtrace_runtime::session::{Session, SessionKind, SessionProperties};
use evtrace_runtime::Guid;
use evtrace_testkit::Scratch;

fn events(path: &Path) -> Vec<evtrace_runtime::consume::Event> {
    LogReader::open(&[path])
        .unwrap()
        .filter_map(|i| match i {
            Item::Event(e) => Some(e),
            _ => None,
        })
        .collect()
}

/// Records one plain event and one with a related activity id (the other writer) into a
/// session of `kind`, and returns what the reader gives back.
fn record(
    dir: &Scratch,
    kind: SessionKind,
    provider: &str,
) -> Vec<evtrace_runtime::consume::Event> {
    let p = Provider::leak(provider);
    let e = Event::leak(
        p,
        EventDescriptor {
            id: 3,
            level: 4,
            ..Default::default()
        },
        EventSchemaBuilder::new("Header").build(),
    );
    let path = dir.join(format!("{provider}.etl"));
    let s = Session::start(SessionProperties::new(provider).log_file(&path), kind).unwrap();
    s.enable_provider(p.guid(), EnableSettings::default())
        .unwrap();
    e.write(&[]).unwrap();
    e.write_with_activity(Guid::from_name("a"), Guid::from_name("r"), &[])
        .unwrap();
    s.stop().unwrap();
    let got = events(&path);
    assert_eq!(got.len(), 2, "{got:?}");
    got
}

#[test]
fn private_session_records_carry_private_session_and_no_cputime() {
    let dir = Scratch::new("header-private");
    for e in record(&dir, SessionKind::Private, "Evtrace-Test-HeaderPrivate") {
        let want = event_flags::PRIVATE_SESSION | event_flags::NO_CPUTIME;
        assert_eq!(e.flags & want, want, "flags {:#x}", e.flags);
        assert_eq!(e.cpu_time, CpuTime::Processor(0));
        assert_eq!(e.cpu_time.processor_time(), Some(0));
        assert_eq!(e.cpu_time.kernel_time(), None);
    }
}

#[test]
fn system_session_records_carry_no_cputime_only() {
    let dir = Scratch::new("header-system");
    let got = record(&dir, SessionKind::System, "Evtrace-Test-HeaderSystem");
    assert_eq!(got[1].related_activity_id, Some(Guid::from_name("r")));
    for e in got {
        assert_eq!(
            e.flags & event_flags::PRIVATE_SESSION,
            0,
            "flags {:#x}",
            e.flags
        );
        assert_ne!(e.flags & event_flags::NO_CPUTIME, 0, "flags {:#x}", e.flags);
        assert_eq!(e.cpu_time, CpuTime::Processor(0));
    }
}

#[test]
fn windows_records_keep_their_kernel_and_user_times() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/etl-samples");
    let path = dir.join("primitive-types.etl");
    if !path.is_file() {
        println!("SKIP: {} is missing", path.display());
        return;
    }
    let got = events(&path);
    assert_eq!(got.len(), 5);
    for e in &got {
        assert_eq!(e.flags & event_flags::NO_CPUTIME, 0);
        assert!(e.cpu_time.processor_time().is_none());
    }
    // The sample's events were written by one thread with this much CPU time behind it.
    assert_eq!(
        got[0].cpu_time,
        CpuTime::KernelUser {
            kernel: 111,
            user: 58
        }
    );
    assert_eq!(got[0].cpu_time.user_time(), Some(58));
}
