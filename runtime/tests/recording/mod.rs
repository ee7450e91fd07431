//! Records events through real sessions and reads them back, for the session tests.
#![allow(dead_code)]

use std::path::Path;

use evtrace_runtime::consume::{Item, LogReader};
use evtrace_runtime::etl::{in_type, out_type, EventSchemaBuilder, Value};
use evtrace_runtime::provider::{EnableSettings, Event, EventDescriptor, Provider};
use evtrace_runtime::session::{Session, SessionProperties};
pub use evtrace_testkit::Scratch;

/// A fresh folder for one test, removed when it passes.
pub fn dir(test: &str) -> Scratch {
    Scratch::new(test)
}

/// A provider with one "Sample" event: counter u64, thread u32, tag (counted UTF-8 string).
pub struct Workload {
    pub provider: &'static Provider,
    pub event: &'static Event,
}

impl Workload {
    pub fn new(name: &str) -> Workload {
        let provider = Provider::leak(name);
        let schema = EventSchemaBuilder::new("Sample")
            .field("counter", in_type::UINT64, 0)
            .field("thread", in_type::UINT32, 0)
            .field("tag", in_type::ANSI_STRING, out_type::UTF8)
            .build();
        let event = Event::leak(
            provider,
            EventDescriptor {
                id: 1,
                level: 4,
                ..Default::default()
            },
            schema,
        );
        Workload { provider, event }
    }

    pub fn enable(&self, s: &Session) {
        s.enable_provider(self.provider.guid(), EnableSettings::new(5, 0, 0))
            .unwrap();
    }

    /// Writes one event; true if the write call reported success.
    pub fn write(&self, counter: u64, thread: u32) -> bool {
        let tag = b"payload-16-bytes";
        self.event
            .write(&[&counter.to_le_bytes(), &thread.to_le_bytes(), tag, &[0]])
            .is_ok()
    }
}

/// What came back from the files.
#[derive(Debug, Default)]
pub struct ReadBack {
    /// (thread, counter) of each Sample event, in delivery order.
    pub samples: Vec<(u32, u64)>,
    /// Events lost, summed from the in-band loss records.
    pub lost_in_band: u64,
    /// Raw timestamps and wall-clock times (unix ns) of the samples.
    pub times: Vec<Option<i64>>,
    pub header_events_lost: u64,
    pub problems: u64,
}

pub fn read<P: AsRef<Path> + std::fmt::Debug>(paths: &[P]) -> ReadBack {
    let mut r = LogReader::open(paths).unwrap_or_else(|e| panic!("open {paths:?}: {e}"));
    let mut out = ReadBack::default();
    for item in &mut r {
        match item {
            Item::Event(e) if e.name.as_deref() == Some("Sample") => {
                let thread = match e.field("thread") {
                    Some(Value::U64(v)) => *v as u32,
                    other => panic!("thread field: {other:?}"),
                };
                let counter = match e.field("counter") {
                    Some(Value::U64(v)) => *v,
                    other => panic!("counter field: {other:?}"),
                };
                assert_eq!(
                    e.field("tag"),
                    Some(&Value::Str("payload-16-bytes".into())),
                    "torn payload"
                );
                out.samples.push((thread, counter));
                out.times.push(e.time);
            }
            Item::Loss(l) => out.lost_in_band += l.count.unwrap_or(0),
            _ => {}
        }
    }
    out.header_events_lost = r.loss_stats().header_events_lost;
    out.problems = r.diagnostics().counts().map(|(_, _, n)| n).sum();
    out
}

/// Counters of thread 0 in delivery order.
pub fn counters(rb: &ReadBack) -> Vec<u64> {
    rb.samples
        .iter()
        .filter(|(t, _)| *t == 0)
        .map(|(_, c)| *c)
        .collect()
}

pub fn file_len(p: &Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

pub fn props(name: &str, file: &Path) -> SessionProperties {
    SessionProperties::new(name).log_file(file)
}
