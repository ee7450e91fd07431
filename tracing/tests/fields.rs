//! Field types read back with their types; nothing built or formatted with no session; bad
//! input reported once and never a panic.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use evtrace_runtime::etl::Value;
use evtrace_testkit::Scratch;
use evtrace_tracing::EvtraceLayer;
use support::{events, session};
use tracing_subscriber::layer::SubscriberExt;

/// Counts how often it is formatted.
struct Counted<'a>(&'a AtomicUsize);

impl std::fmt::Debug for Counted<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fetch_add(1, Ordering::Relaxed);
        f.write_str("counted")
    }
}

fn values(e: &evtrace_runtime::consume::Event) -> Vec<(String, Value)> {
    e.fields.clone().unwrap()
}

#[test]
fn native_types_are_read_back_typed() {
    let d = Scratch::new("tracing-fields");
    support::rebuild_with_every_dispatcher();
    let layer = EvtraceLayer::new("Evtrace-Tracing-Test-Fields").unwrap();
    let provider = layer.provider().guid();
    let (s, file) = session(&d, "tracing-fields", provider);
    let subscriber = tracing_subscriber::registry().with(layer.clone());
    tracing::subscriber::with_default(subscriber, || {
        let bytes: &[u8] = &[0, 1, 0xFF];
        tracing::warn!(
            a = u128::MAX,
            b = i128::MIN,
            c = 1.5f64,
            d = true,
            e = "text",
            f = bytes,
            g = 7u64,
            h = -7i64,
            i = ?vec![1, 2],
            j = %"shown",
            "all types"
        );
        tracing::trace!(n = 1u64);
    });
    s.stop().unwrap();
    let evs = events(&file, provider);
    assert_eq!(evs.len(), 2);
    let e = &evs[0];
    assert_eq!(e.descriptor.level, 3);
    assert_eq!(e.descriptor.keyword, evtrace_tracing::keyword::EVENT);
    assert!(e
        .name
        .as_deref()
        .unwrap()
        .starts_with("event tracing/tests/fields.rs:"));
    assert_eq!(
        values(e),
        [
            ("target".to_string(), Value::Str("fields".into())),
            ("message".into(), Value::Str("all types".into())),
            ("a".into(), Value::U128(u128::MAX)),
            ("b".into(), Value::I128(i128::MIN)),
            ("c".into(), Value::F64(1.5)),
            ("d".into(), Value::Bool(true)),
            ("e".into(), Value::Str("text".into())),
            ("f".into(), Value::Bytes(vec![0, 1, 0xFF])),
            ("g".into(), Value::U64(7)),
            ("h".into(), Value::I64(-7)),
            ("i".into(), Value::Str("[1, 2]".into())),
            ("j".into(), Value::Str("shown".into())),
        ]
    );
    // TRACE: level 5 and the TRACE keyword.
    assert_eq!(evs[1].descriptor.level, 5);
    assert_eq!(
        evs[1].descriptor.keyword,
        evtrace_tracing::keyword::EVENT | evtrace_tracing::keyword::TRACE
    );
}

#[test]
fn nothing_is_built_or_formatted_without_a_session() {
    let d = Scratch::new("tracing-lazy");
    support::rebuild_with_every_dispatcher();
    let layer = EvtraceLayer::new("Evtrace-Tracing-Test-Lazy").unwrap();
    let provider = layer.provider().guid();
    let formatted = AtomicUsize::new(0);
    let subscriber = tracing_subscriber::registry().with(layer.clone());
    let emit = || {
        tracing::info!(v = ?Counted(&formatted), "lazy");
        let _s = tracing::info_span!("lazy_span", v = ?Counted(&formatted)).entered();
    };
    tracing::subscriber::with_default(subscriber, || {
        for _ in 0..100 {
            emit();
        }
        assert_eq!(formatted.load(Ordering::Relaxed), 0);
        assert_eq!(layer.sites_built(), 0);
        // A session enables the provider: interest is rebuilt, the same callsites record.
        let (s, file) = session(&d, "tracing-lazy", provider);
        emit();
        assert_eq!(formatted.load(Ordering::Relaxed), 2);
        assert_eq!(layer.sites_built(), 3, "event, span Start, span Stop");
        s.stop().unwrap();
        // Stopped: back to costing nothing.
        for _ in 0..100 {
            emit();
        }
        assert_eq!(formatted.load(Ordering::Relaxed), 2);
        assert_eq!(events(&file, provider).len(), 3);
    });
}

#[test]
fn an_invalid_provider_name_is_an_error() {
    for bad in ["", "Größe", &"p".repeat(256)] {
        let e = EvtraceLayer::new(bad).unwrap_err();
        assert_eq!(
            e.code(),
            evtrace_runtime::ErrorCode::InvalidParameter,
            "{e}"
        );
        assert!(e.to_string().contains("provider name"), "{e}");
    }
}

#[test]
fn bad_input_is_reported_once_and_recorded_with_what_fits() {
    let d = Scratch::new("tracing-bad");
    let reports = Arc::new(Mutex::new(Vec::<String>::new()));
    let r = reports.clone();
    support::rebuild_with_every_dispatcher();
    let layer = EvtraceLayer::with_report(
        "Evtrace-Tracing-Test-Bad",
        Box::new(move |m| r.lock().unwrap().push(m)),
    )
    .unwrap();
    let provider = layer.provider().guid();
    let (s, file) = session(&d, "tracing-bad", provider);
    let subscriber = tracing_subscriber::registry().with(layer.clone());
    let huge = "x".repeat(70_000);
    tracing::subscriber::with_default(subscriber, || {
        for _ in 0..3 {
            // A field name over 255 bytes and one that is not ASCII.
            tracing::info!(ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff = 1u64, größe = 2u64);
            // An event over ETW's 64 KB.
            tracing::info!(s = huge.as_str());
            // A span recorded with more values than ETW's 128 fields.
            let span =
                tracing::info_span!("wide", a = tracing::field::Empty, b = tracing::field::Empty);
            for i in 0..70u64 {
                span.record("a", i);
                span.record("b", i);
            }
            drop(span);
        }
    });
    let stats = s.stop().unwrap();
    let reports = reports.lock().unwrap().clone();
    assert_eq!(reports.len(), 3, "{reports:#?}");
    assert!(
        reports
            .iter()
            .any(|m| m.contains("255") && m.contains("gr__e")),
        "{reports:#?}"
    );
    assert!(
        reports
            .iter()
            .any(|m| m.contains("dropped") && m.contains("64 KB")),
        "{reports:#?}"
    );
    assert!(
        reports
            .iter()
            .any(|m| m.contains("more fields than ETW's 128")),
        "{reports:#?}"
    );
    // The oversized events dropped and counted, by the layer and by the session.
    assert_eq!(layer.records_dropped(), 3);
    assert_eq!(stats.events_lost, 3);

    let evs = events(&file, provider);
    let named: Vec<_> = evs.iter().filter(|e| e.descriptor.opcode == 0).collect();
    assert_eq!(named.len(), 3);
    let names: Vec<String> = named[0]
        .fields
        .as_ref()
        .unwrap()
        .iter()
        .map(|(n, _)| n.clone())
        .collect();
    assert_eq!(
        names,
        ["target".to_string(), "f".repeat(255), "gr__e".into()]
    );
    let stops: Vec<_> = evs.iter().filter(|e| e.descriptor.opcode == 2).collect();
    assert_eq!(stops.len(), 3);
    assert_eq!(stops[0].fields.as_ref().unwrap().len(), 128);
}

#[test]
fn the_default_name_is_the_programs() {
    let layer = EvtraceLayer::for_this_program().unwrap();
    let exe = std::env::current_exe().unwrap();
    let stem = exe.file_stem().unwrap().to_str().unwrap();
    // A test binary's name: `fields-<hash>`, printable ASCII already.
    assert_eq!(layer.provider().name(), stem);
    assert_eq!(
        layer.provider().guid(),
        evtrace_runtime::Guid::from_name(stem)
    );
}
