//! What the layer's tests share: a private session on a layer's provider, reading its file back,
//! and a tokio runtime whose workers use a given subscriber.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use evtrace_runtime::consume::{Event, Item, LogReader};
use evtrace_runtime::provider::{filter::level, EnableSettings};
use evtrace_runtime::session::{Session, SessionProperties};
use evtrace_runtime::Guid;
use evtrace_testkit::Scratch;
use tracing::Dispatch;

/// A private session recording `provider` at every level into `dir/name.etl`.
pub fn session(dir: &Scratch, name: &str, provider: Guid) -> (Session, PathBuf) {
    let file = dir.join(format!("{name}.etl"));
    let s = Session::start_private(SessionProperties::new(name).log_file(&file).buffers(4, 256))
        .unwrap();
    s.enable_provider(provider, EnableSettings::new(level::VERBOSE, 0, 0))
        .unwrap();
    (s, file)
}

/// Every event of `provider` in `file`, in time order.
pub fn events(file: &Path, provider: Guid) -> Vec<Event> {
    LogReader::open(&[file])
        .unwrap()
        .filter_map(|i| match i {
            Item::Event(e) if e.provider_id == provider => Some(e),
            _ => None,
        })
        .collect()
}

/// A field's value as text.
pub fn field(e: &Event, name: &str) -> Option<String> {
    e.fields
        .as_ref()?
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.to_string())
}

/// A multi-thread runtime of two workers, each with `dispatch` as its default subscriber (so
/// that tests in one binary keep their subscribers apart).
pub fn runtime(dispatch: &Dispatch) -> tokio::runtime::Runtime {
    let d = dispatch.clone();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .on_thread_start(move || {
            // Kept for the worker's life.
            std::mem::forget(tracing::dispatcher::set_default(&d));
        })
        .build()
        .unwrap()
}

/// Keeps a second dispatcher alive for the whole test binary. With just one dispatcher
/// registered, `tracing` rebuilds interest from the rebuilding thread's default dispatcher
/// only, so a test enabling its session would reset the interest of another test's callsites
/// held by a scoped (`with_default`) subscriber. An application's global subscriber has no such
/// problem. Call before making the test's subscriber.
pub fn rebuild_with_every_dispatcher() {
    static KEEP: std::sync::OnceLock<Dispatch> = std::sync::OnceLock::new();
    KEEP.get_or_init(|| Dispatch::new(tracing::subscriber::NoSubscriber::default()));
}
