//! Activities from the provider macros, read back from the log file: Start makes a fresh id with
//! the enclosing activity as related id, events inside carry it, Stop carries it too; nested
//! activities on one thread, activities carried across `.await` onto other worker threads, and
//! ids that two processes never share.

use std::collections::HashSet;
use std::future::Future;
use std::path::Path;
use std::process::Command;

use evtrace::consume::{Event, Item, LogReader};
use evtrace::provider::{filter::level, EnableSettings};
use evtrace::session::{Session, SessionProperties};
use evtrace::Guid;
use evtrace_testkit::{dies_with_test, Scratch};

/// Events of the activity tests.
#[evtrace::provider(name = "Evtrace-Test-Activities")]
mod acts {
    /// A request began.
    #[event(opcode = start, task = 1)]
    pub fn request_start(n: u32);
    /// A request ended.
    #[event(opcode = stop, task = 1)]
    pub fn request_stop(n: u32);
    /// A step began.
    #[event(opcode = start, task = 2)]
    pub fn step_start(n: u32);
    /// A step ended.
    #[event(opcode = stop, task = 2)]
    pub fn step_stop(n: u32);
    /// Something happened inside.
    #[event(level = info)]
    pub fn note(n: u32);
}

fn session(d: &Scratch, name: &str) -> (Session, std::path::PathBuf) {
    let file = d.join(format!("{name}.etl"));
    let s = Session::start_private(SessionProperties::new(name).log_file(&file)).unwrap();
    s.enable_provider(
        acts::PROVIDER.guid(),
        EnableSettings::new(level::VERBOSE, 0, 0),
    )
    .unwrap();
    (s, file)
}

/// The file's events whose `n` is in `ns`: the tests run in parallel, and every session sees
/// every test's events of the provider.
fn events(file: &Path, ns: std::ops::Range<u32>) -> Vec<Event> {
    LogReader::open(&[file])
        .unwrap()
        .filter_map(|i| match i {
            Item::Event(e) if e.provider_id == acts::PROVIDER.guid() => Some(e),
            _ => None,
        })
        .filter(|e| {
            let n = e
                .fields
                .as_ref()
                .and_then(|f| f.iter().find(|(k, _)| k == "n"));
            n.and_then(|(_, v)| v.to_string().parse().ok())
                .is_some_and(|n: u32| ns.contains(&n))
        })
        .collect()
}

/// The event named `name` whose field `n` is `n`.
fn find<'a>(evs: &'a [Event], name: &str, n: u32) -> &'a Event {
    evs.iter()
        .find(|e| {
            e.name.as_deref() == Some(name)
                && e.fields.as_ref().is_some_and(|f| {
                    f.iter()
                        .any(|(k, v)| k == "n" && v.to_string() == n.to_string())
                })
        })
        .unwrap_or_else(|| panic!("no {name} n={n} in {evs:#?}"))
}

#[test]
fn nested_activities_on_one_thread() {
    let d = Scratch::new("sdk-activities-nested");
    let (s, file) = session(&d, "act-nested");
    evtrace::write!(acts::note(0));
    let (outer_id, inner_id);
    {
        let outer = evtrace::write!(acts::request_start(1));
        outer_id = outer.id();
        evtrace::write!(acts::note(1));
        {
            let inner = evtrace::write!(acts::step_start(2));
            inner_id = inner.id();
            evtrace::write!(acts::note(2));
            evtrace::write!(acts::step_stop(2));
        }
        evtrace::write!(acts::note(3));
        evtrace::write!(acts::request_stop(1));
    }
    evtrace::write!(acts::note(4));
    s.stop().unwrap();

    assert_ne!(outer_id, Guid::ZERO);
    assert_ne!(outer_id, inner_id);
    let evs = events(&file, 0..10);
    assert_eq!(evs.len(), 9, "{evs:#?}");
    let start = find(&evs, "request_start", 1);
    assert_eq!(
        (start.activity_id, start.related_activity_id),
        (outer_id, None)
    );
    assert_eq!(start.descriptor.opcode, 1);
    let step = find(&evs, "step_start", 2);
    assert_eq!(step.activity_id, inner_id);
    assert_eq!(step.related_activity_id, Some(outer_id));
    for (name, n, id) in [
        ("note", 1, outer_id),
        ("note", 2, inner_id),
        ("step_stop", 2, inner_id),
        ("note", 3, outer_id),
        ("request_stop", 1, outer_id),
    ] {
        let e = find(&evs, name, n);
        assert_eq!(e.activity_id, id, "{name} {n}");
        assert_eq!(e.related_activity_id, None, "{name} {n}");
    }
    assert_eq!(find(&evs, "request_stop", 1).descriptor.opcode, 2);
    assert_eq!(find(&evs, "note", 0).activity_id, Guid::ZERO);
    assert_eq!(find(&evs, "note", 4).activity_id, Guid::ZERO);

    // dissect.etl finds the same ids in the same places: the header's ActivityId, and the
    // related id in the RELATED_ACTIVITYID item.
    let Some(py) = evtrace_testkit::readers::python() else {
        return;
    };
    let v = evtrace_testkit::readers::read_with(&py, &file, &["--no-etl-parser"]);
    assert!(v["dissect"].get("fatal").is_none(), "{v}");
    let records = v["dissect"]["records"].as_array().unwrap();
    let with = |id: Guid| {
        records
            .iter()
            .filter(|r| r["activity_id"] == id.to_string())
            .collect::<Vec<_>>()
    };
    let (outer, inner) = (with(outer_id), with(inner_id));
    let ours = |id: Guid| evs.iter().filter(|e| e.activity_id == id).count();
    assert_eq!((outer.len(), inner.len()), (ours(outer_id), ours(inner_id)));
    assert_eq!((outer.len(), inner.len()), (4, 3));
    let related: Vec<_> = inner
        .iter()
        .filter_map(|r| r.get("related_activity_id"))
        .collect();
    assert_eq!(related, [&serde_json::json!(outer_id.to_string())]);
    assert_eq!(
        inner[0]["ext_types"][0], 1,
        "the related id is the first item"
    );
}

#[test]
fn activities_follow_tasks_across_await_and_threads() {
    let d = Scratch::new("sdk-activities-async");
    let (s, file) = session(&d, "act-async");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let ids: Vec<(u32, Guid, Guid)> = rt.block_on(async {
        let tasks: Vec<_> = (10..16u32)
            .map(|n| {
                tokio::spawn(async move {
                    // The guard goes straight into `carry`: a guard held across `.await` would
                    // make the task's future not `Send`, as it should.
                    let (id, step_id) = evtrace::write!(acts::request_start(n))
                        .carry(async move {
                            let id = evtrace::activity::current();
                            tokio::task::yield_now().await;
                            evtrace::write!(acts::note(n));
                            let step_id = evtrace::write!(acts::step_start(n))
                                .carry(async move {
                                    // Other tasks run on this thread meanwhile; they must not
                                    // see it, nor this task theirs.
                                    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                                    evtrace::write!(acts::step_stop(n));
                                    evtrace::activity::current()
                                })
                                .await;
                            assert_eq!(evtrace::activity::current(), id);
                            tokio::task::yield_now().await;
                            evtrace::write!(acts::request_stop(n));
                            (id, step_id)
                        })
                        .await;
                    // Out of the carried future the task has no activity.
                    assert_eq!(evtrace::activity::current(), Guid::ZERO);
                    (n, id, step_id)
                })
            })
            .collect();
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap());
        }
        out
    });

    // One future polled on one thread, then moved to and finished on another.
    let manual_id = evtrace::activity::new_id();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let mut fut = Box::pin(evtrace::activity::carry(manual_id, async move {
        evtrace::write!(acts::note(100));
        Gate(Some(rx)).await;
        evtrace::write!(acts::note(101));
    }));
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    assert!(fut.as_mut().poll(&mut cx).is_pending());
    assert_eq!(evtrace::activity::current(), Guid::ZERO);
    tx.send(()).unwrap();
    std::thread::spawn(move || {
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        assert!(fut.as_mut().poll(&mut cx).is_ready());
    })
    .join()
    .unwrap();
    s.stop().unwrap();

    let evs = events(&file, 10..200);
    assert_eq!(evs.len(), 6 * 5 + 2, "{evs:#?}");
    for (n, id, step_id) in ids {
        assert_ne!(id, step_id);
        let start = find(&evs, "request_start", n);
        assert_eq!((start.activity_id, start.related_activity_id), (id, None));
        let step = find(&evs, "step_start", n);
        assert_eq!(
            (step.activity_id, step.related_activity_id),
            (step_id, Some(id))
        );
        assert_eq!(find(&evs, "note", n).activity_id, id);
        assert_eq!(find(&evs, "step_stop", n).activity_id, step_id);
        assert_eq!(find(&evs, "request_stop", n).activity_id, id);
    }
    let (a, b) = (find(&evs, "note", 100), find(&evs, "note", 101));
    assert_eq!((a.activity_id, b.activity_id), (manual_id, manual_id));
    assert_ne!(
        a.thread_id, b.thread_id,
        "the second poll ran on another thread"
    );
}

/// Pending until its channel has a message.
struct Gate(Option<std::sync::mpsc::Receiver<()>>);

impl std::future::Future for Gate {
    type Output = ();
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        match self.0.as_ref().map(|r| r.try_recv()) {
            Some(Ok(())) => {
                self.0 = None;
                std::task::Poll::Ready(())
            }
            Some(Err(_)) => std::task::Poll::Pending,
            None => std::task::Poll::Ready(()),
        }
    }
}

/// Starts this many activities in each child process.
const CHILD_ACTIVITIES: u32 = 20_000;

/// The child's half of `two_processes_never_share_an_activity_id`: records activities into the
/// file named by the environment, and nothing when run as a plain test.
#[test]
fn child_records_activities() {
    let Some(file) = std::env::var_os("EVTRACE_ACTIVITY_CHILD_FILE") else {
        return;
    };
    let s = Session::start_private(
        SessionProperties::new("act-child")
            .log_file(Path::new(&file))
            .buffers(4, 256),
    )
    .unwrap();
    s.enable_provider(
        acts::PROVIDER.guid(),
        EnableSettings::new(level::VERBOSE, 0, 0),
    )
    .unwrap();
    for n in 0..CHILD_ACTIVITIES {
        let _a = evtrace::write!(acts::request_start(n));
        if n % 64 == 63 {
            // Leave the flusher time to keep up, so that nothing is lost.
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }
    let stats = s.stop().unwrap();
    assert_eq!(stats.events_lost, 0);
}

#[test]
fn two_processes_never_share_an_activity_id() {
    let d = Scratch::new("sdk-activities-processes");
    let files = [d.join("child-a.etl"), d.join("child-b.etl")];
    let mut children: Vec<_> = files
        .iter()
        .map(|f| {
            dies_with_test(
                Command::new(std::env::current_exe().unwrap())
                    .args(["--exact", "child_records_activities", "--nocapture"])
                    .env("EVTRACE_ACTIVITY_CHILD_FILE", f),
            )
            .spawn()
            .unwrap()
        })
        .collect();
    for c in &mut children {
        assert!(c.wait().unwrap().success());
    }
    let mut all = HashSet::new();
    for f in &files {
        let evs = events(f, 0..CHILD_ACTIVITIES);
        assert_eq!(evs.len() as u32, CHILD_ACTIVITIES, "{}", f.display());
        for e in evs {
            assert_ne!(e.activity_id, Guid::ZERO);
            assert!(all.insert(e.activity_id), "{} seen twice", e.activity_id);
        }
    }
    assert_eq!(all.len() as u32, 2 * CHILD_ACTIVITIES);
}
