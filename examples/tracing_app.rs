//! An async program instrumented only with `tracing` (`#[instrument]`, `info!`, spans nested
//! across tasks) on a tokio multi-thread runtime, recorded to `tracing_app.etl` through the
//! evtrace layer: each span is a Start/Stop activity, each event carries its span's activity.
//! Then the file is printed with `evtrace fmt`.
//!
//! ```text
//! cargo build -p evtrace-cli && cargo run --example tracing_app
//! cargo run -p evtrace-cli -- fmt --json tracing_app.etl   # one object a line, ids included
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use evtrace::provider::{filter::level, EnableSettings};
use evtrace::session::{Session, SessionProperties};
use tracing::{info, info_span, instrument, warn, Instrument};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// One request: a span of its own, with a child span per step on other tasks.
#[instrument]
async fn handle(request: u64) {
    info!(request, "accepted");
    let steps: Vec<_> = ["parse", "query", "render"]
        .into_iter()
        .enumerate()
        .map(|(i, name)| {
            let span = info_span!("step", name, i = i as u64, rows = tracing::field::Empty);
            tokio::spawn(step(request, i as u64).instrument(span))
        })
        .collect();
    for s in steps {
        if s.await.is_err() {
            warn!(request, "a step failed");
        }
    }
    info!(request, "answered");
}

async fn step(request: u64, i: u64) {
    tokio::time::sleep(Duration::from_millis(1 + i)).await;
    let rows = request * 10 + i;
    tracing::Span::current().record("rows", rows);
    info!(rows, took_us = 1000 * (1 + i), "step done");
}

/// `evtrace` next to this example's binary (target/<profile>/evtrace), when it is built.
fn evtrace_command() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let bin = exe.parent()?.parent()?.join("evtrace");
    bin.is_file().then_some(bin)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let file = Path::new("tracing_app.etl");
    // The application's only tracing setup: the evtrace layer (plus whatever else it uses).
    let layer = evtrace_tracing::EvtraceLayer::new("Evtrace-Examples-TracingApp")?;
    let provider = layer.provider().guid();
    tracing_subscriber::registry().with(layer).init();

    let session = Session::start_private(SessionProperties::new("tracing-app").log_file(file))?;
    session.enable_provider(provider, EnableSettings::new(level::VERBOSE, 0, 0))?;
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(async {
            let requests: Vec<_> = (1..=3).map(|r| tokio::spawn(handle(r))).collect();
            for r in requests {
                r.await.ok();
            }
        });
    let stats = session.stop()?;
    println!(
        "recorded {} ({} events lost)\n",
        file.display(),
        stats.events_lost
    );

    match evtrace_command() {
        Some(evtrace) => {
            let status = std::process::Command::new(evtrace)
                .arg("fmt")
                .arg(file)
                .status()?;
            if !status.success() {
                return Err(format!("evtrace fmt failed: {status}").into());
            }
        }
        None => println!(
            "print it with: cargo run -p evtrace-cli -- fmt {}",
            file.display()
        ),
    }
    Ok(())
}
