//! Provider registration and enabling: the filter rule per session, enables stored before the
//! provider registers, the 8-sessions-per-provider limit, and enable callbacks that see the
//! combined state (including when a session stops).

use std::sync::{Arc, Mutex};

use evtrace_runtime::etl::EventSchemaBuilder;
use evtrace_runtime::provider::{EnableInfo, EnableSettings, Event, EventDescriptor, Provider};
use evtrace_runtime::session::{Session, SessionProperties};
use evtrace_runtime::{ErrorCode, Guid};
use evtrace_testkit::Scratch;

/// A private session `name` logging to `name.etl` in `dir`.
fn session(dir: &Scratch, name: &str) -> Session {
    Session::start_private(SessionProperties::new(name).log_file(dir.join(format!("{name}.etl"))))
        .unwrap()
}

fn event(p: &'static Provider, level: u8, keyword: u64) -> &'static Event {
    Event::leak(
        p,
        EventDescriptor {
            id: 1,
            level,
            keyword,
            ..Default::default()
        },
        EventSchemaBuilder::new("E").build(),
    )
}

#[test]
fn enable_before_register_is_applied_at_registration() {
    let guid = Guid::from_name("Evtrace-Test-Late");
    let dir = Scratch::new("prov-late");
    let s = session(&dir, "late");
    s.enable_provider(guid, EnableSettings::new(4, 0, 0))
        .unwrap();
    let p = Provider::leak("Evtrace-Test-Late");
    assert_eq!(p.guid(), guid);
    assert!(!p.is_registered());
    let info = event(p, 4, 0);
    let verbose = event(p, 5, 0);
    assert!(
        info.enabled(),
        "the stored enable applies when the provider registers"
    );
    assert!(p.is_registered(), "registered lazily by the first check");
    assert!(
        !verbose.enabled(),
        "level 5 does not pass a level-4 session"
    );
    s.stop().unwrap();
    assert!(!info.enabled(), "a stopped session enables nothing");
}

#[test]
fn each_session_filters_by_its_own_level_and_keywords() {
    let p = Provider::leak("Evtrace-Test-Filter");
    let dir = Scratch::new("prov-filter");
    let (a, b) = (session(&dir, "filter-a"), session(&dir, "filter-b"));
    a.enable_provider(p.guid(), EnableSettings::new(2, 0, 0))
        .unwrap();
    b.enable_provider(p.guid(), EnableSettings::new(5, 0x10, 0))
        .unwrap();
    let error_kw0 = event(p, 2, 0);
    let verbose_kw10 = event(p, 5, 0x10);
    let verbose_kw20 = event(p, 5, 0x20);
    assert!(error_kw0.enabled());
    assert!(verbose_kw10.enabled());
    assert!(
        !verbose_kw20.enabled(),
        "neither session: a wants level <= 2, b wants keyword 0x10"
    );
    assert!(p.is_enabled(5, 0x10) && !p.is_enabled(5, 0x20));
    // Re-enabling replaces the session's settings.
    b.enable_provider(p.guid(), EnableSettings::new(5, 0x20, 0))
        .unwrap();
    assert!(!verbose_kw10.enabled() && verbose_kw20.enabled());
    b.disable_provider(p.guid()).unwrap();
    assert!(!verbose_kw20.enabled() && error_kw0.enabled());
    a.stop().unwrap();
    b.stop().unwrap();
}

#[test]
fn a_ninth_session_cannot_enable_a_provider() {
    let guid = Guid::from_name("Evtrace-Test-NinthSession");
    let dir = Scratch::new("prov-ninth");
    // Nine sessions are more than the 8 private ones a process may run: use the engine's system
    // kind, whose limit is higher.
    let sessions: Vec<Session> = (0..9)
        .map(|i| {
            Session::start(
                SessionProperties::new(format!("ninth-{i}")).log_file(dir.join(format!("{i}.etl"))),
                evtrace_runtime::session::SessionKind::System,
            )
            .unwrap()
        })
        .collect();
    for s in &sessions[..8] {
        s.enable_provider(guid, EnableSettings::default()).unwrap();
    }
    let e = sessions[8]
        .enable_provider(guid, EnableSettings::default())
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::NoSystemResources);
    assert!(e.message().contains('8'), "{e}");
    // Changing an existing session's settings is not a ninth enable.
    sessions[0]
        .enable_provider(guid, EnableSettings::new(3, 0, 0))
        .unwrap();
    for s in sessions {
        s.stop().unwrap();
    }
}

#[test]
fn enable_callbacks_see_the_combined_state() {
    let p = Provider::leak("Evtrace-Test-Callback");
    let seen: Arc<Mutex<Vec<EnableInfo>>> = Arc::default();
    let log = seen.clone();
    p.set_enable_callback(move |info| log.lock().unwrap().push(*info));
    p.register().unwrap();
    let dir = Scratch::new("prov-cb");
    let (a, b) = (session(&dir, "cb-a"), session(&dir, "cb-b"));
    a.enable_provider(p.guid(), EnableSettings::new(2, 0x3, 0x1))
        .unwrap();
    b.enable_provider(p.guid(), EnableSettings::new(4, 0x4, 0x0))
        .unwrap();
    a.stop().unwrap();
    b.disable_provider(p.guid()).unwrap();
    b.stop().unwrap();
    let seen = seen.lock().unwrap().clone();
    let states: Vec<(bool, u8, u64, u64, u32)> = seen
        .iter()
        .map(|i| (i.enabled, i.level, i.match_any, i.match_all, i.sessions))
        .collect();
    assert_eq!(
        states,
        vec![
            (false, 0, 0, 0, 0),    // set: the current state
            (false, 0, 0, 0, 0),    // registered, nothing enabled yet
            (true, 2, 0x3, 0x1, 1), // a
            (true, 4, 0x7, 0x0, 2), // a + b: highest level, OR of any, AND of all
            (true, 4, 0x4, 0x0, 1), // a stopped: called on session stop too
            (false, 0, 0, 0, 0),    // b disabled
        ]
    );
}
