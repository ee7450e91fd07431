//! A real `tracing-subscriber` registry with the evtrace layer and an `fmt` layer side by side, on
//! a tokio multi-thread runtime: every span is one Start and one Stop with one activity id,
//! nested spans name their parents as related activity, events inside a span carry its id;
//! all read back from the file, and dissect.etl counts the same records.

mod support;

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};

use evtrace_runtime::Guid;
use evtrace_testkit::Scratch;
use evtrace_tracing::EvtraceLayer;
use support::{events, field, runtime, session};
use tracing::{info, info_span, instrument, Instrument};
use tracing_subscriber::layer::SubscriberExt;

const JOBS: u64 = 6;
const PARTS: u64 = 3;

#[instrument(level = "info")]
async fn child(n: u64, k: u64) {
    info!(k, "child work");
    for _ in 0..5 {
        // Polled many times, on either worker: still one activity.
        tokio::task::yield_now().await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    info!("child done");
}

async fn job(n: u64) {
    let span = info_span!("job", n, done = tracing::field::Empty);
    async move {
        info!(n, "job start");
        let parts: Vec<_> = (0..PARTS)
            .map(|k| {
                let part = info_span!("part", n, k);
                tokio::spawn(async move { child(n, k).await }.instrument(part))
            })
            .collect();
        for p in parts {
            p.await.unwrap();
        }
        tracing::Span::current().record("done", true);
    }
    .instrument(span)
    .await
}

/// The `fmt` layer's output.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<u8>>>);

impl Write for Lines {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn spans_are_activities_beside_an_fmt_layer() {
    let d = Scratch::new("tracing-spans");
    support::rebuild_with_every_dispatcher();
    let layer = EvtraceLayer::new("Evtrace-Tracing-Test-Spans").unwrap();
    let provider = layer.provider().guid();
    let lines = Lines::default();
    let w = lines.clone();
    let subscriber = tracing_subscriber::registry()
        .with(layer.clone().filtered())
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(move || w.clone()),
        );
    let dispatch = tracing::Dispatch::new(subscriber);
    let (s, file) = session(&d, "tracing-spans", provider);
    let rt = runtime(&dispatch);
    tracing::dispatcher::with_default(&dispatch, || {
        rt.block_on(async {
            let jobs: Vec<_> = (0..JOBS).map(|n| tokio::spawn(job(n))).collect();
            for j in jobs {
                j.await.unwrap();
            }
        })
    });
    drop(rt);
    let stats = s.stop().unwrap();
    assert_eq!(stats.events_lost, 0);
    assert_eq!(layer.records_dropped(), 0);

    // The fmt layer saw every event too.
    let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
    assert_eq!(
        text.matches("child work").count() as u64,
        JOBS * PARTS,
        "{text}"
    );

    let evs = events(&file, provider);
    let spans = JOBS * (1 + 2 * PARTS);
    let plain = JOBS * (1 + 2 * PARTS);
    assert_eq!(evs.len() as u64, 2 * spans + plain, "{evs:#?}");

    // Each activity: exactly one Start and one Stop, the Start first.
    let mut by_id: HashMap<Guid, Vec<&evtrace_runtime::consume::Event>> = HashMap::new();
    for e in evs.iter().filter(|e| e.descriptor.opcode != 0) {
        by_id.entry(e.activity_id).or_default().push(e);
    }
    assert_eq!(by_id.len() as u64, spans);
    for (id, recs) in &by_id {
        assert_ne!(*id, Guid::ZERO);
        let ops: Vec<u8> = recs.iter().map(|e| e.descriptor.opcode).collect();
        assert_eq!(ops, [1, 2], "{id}: {recs:#?}");
        assert_eq!(recs[0].name, recs[1].name);
        let stop = recs[1];
        let num = |f: &str| field(stop, f).unwrap().parse::<u64>().unwrap();
        assert_eq!(num("duration_ns"), num("busy_ns") + num("idle_ns"));
        assert!(num("duration_ns") > 0);
    }

    // Starts by (name, n, k); parents by the same keys.
    let start = |name: &str, n: u64, k: Option<u64>| {
        evs.iter()
            .find(|e| {
                e.descriptor.opcode == 1
                    && e.name.as_deref() == Some(name)
                    && field(e, "n") == Some(n.to_string())
                    && k.is_none_or(|k| field(e, "k") == Some(k.to_string()))
            })
            .unwrap_or_else(|| panic!("no Start of {name} {n} {k:?}"))
    };
    for n in 0..JOBS {
        let j = start("job", n, None);
        assert_eq!(j.related_activity_id, None, "a root span has no parent");
        assert_eq!(field(j, "target").as_deref(), Some("spans"));
        let job_stop = by_id[&j.activity_id][1];
        assert_eq!(field(job_stop, "done").as_deref(), Some("true"));
        let inside: Vec<_> = evs
            .iter()
            .filter(|e| e.descriptor.opcode == 0 && e.activity_id == j.activity_id)
            .collect();
        assert_eq!(inside.len(), 1, "job {n}: {inside:#?}");
        for k in 0..PARTS {
            let p = start("part", n, Some(k));
            assert_eq!(p.related_activity_id, Some(j.activity_id));
            let c = start("child", n, Some(k));
            assert_eq!(c.related_activity_id, Some(p.activity_id));
            let in_child = evs
                .iter()
                .filter(|e| e.descriptor.opcode == 0 && e.activity_id == c.activity_id)
                .count();
            assert_eq!(in_child, 2, "child {n} {k}");
        }
    }

    // An independent reader counts the same records.
    let Some(py) = evtrace_testkit::readers::python() else {
        return;
    };
    let v = evtrace_testkit::readers::read_with(&py, &file, &["--no-etl-parser"]);
    assert!(v["dissect"].get("fatal").is_none(), "{v}");
    let theirs: Vec<_> = v["dissect"]["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| {
            r["kind"] == "EventHeader"
                && r["provider_names"].as_array().unwrap()[..]
                    == [serde_json::json!("Evtrace-Tracing-Test-Spans")]
        })
        .collect();
    assert_eq!(theirs.len(), evs.len());
    // Buffers of two processors: compare as sets of (activity, related) rather than in order.
    let mut a: Vec<(String, String)> = theirs
        .iter()
        .map(|t| {
            let r = t.get("related_activity_id").and_then(|r| r.as_str());
            (
                t["activity_id"].as_str().unwrap().to_string(),
                r.unwrap_or("").to_string(),
            )
        })
        .collect();
    let mut b: Vec<(String, String)> = evs
        .iter()
        .map(|e| {
            let r = e.related_activity_id.map(|g| g.to_string());
            (e.activity_id.to_string(), r.unwrap_or_default())
        })
        .collect();
    a.sort();
    b.sort();
    assert_eq!(a, b);
}
