//! Enable filters (EnableTraceEx2's PID, EXECUTABLE_NAME and EVENT_ID filters) in a private
//! session: decided when the provider is enabled, into the events' enable words.

use evtrace_runtime::etl::EventSchemaBuilder;
use evtrace_runtime::provider::{
    EnableFilter, EnableSettings, Event, EventDescriptor, EventIdFilter, Provider,
};
use evtrace_runtime::session::{Session, SessionProperties};
use evtrace_testkit::Scratch;

fn event(p: &'static Provider, id: u16) -> &'static Event {
    let d = EventDescriptor {
        id,
        level: 4,
        ..Default::default()
    };
    Event::leak(p, d, EventSchemaBuilder::new("E").build())
}

#[test]
fn event_ids_and_processes_are_filtered_in_the_enable_words() {
    let p = Provider::leak("Evtrace-Test-EnableFilters");
    let (one, two, three) = (event(p, 1), event(p, 2), event(p, 3));
    let dir = Scratch::new("enable-filters");
    let s =
        Session::start_private(SessionProperties::new("f").log_file(dir.join("f.etl"))).unwrap();
    let all = EnableSettings::default();
    let exclude = EnableFilter {
        event_ids: Some(EventIdFilter {
            include: false,
            ids: vec![2],
        }),
        ..Default::default()
    };
    s.enable_provider_filtered(p.guid(), all, &exclude).unwrap();
    assert!(
        one.enabled() && !two.enabled() && three.enabled(),
        "id 2 excluded, only it"
    );
    let include = EnableFilter {
        event_ids: Some(EventIdFilter {
            include: true,
            ids: vec![2, 3],
        }),
        ..Default::default()
    };
    s.enable_provider_filtered(p.guid(), all, &include).unwrap();
    assert!(
        !one.enabled() && two.enabled() && three.enabled(),
        "ids 2 and 3 only"
    );
    // A filter that does not take this process: the provider is not enabled here at all.
    let other = EnableFilter {
        exe_names: vec!["not-this-program".into()],
        ..Default::default()
    };
    s.enable_provider_filtered(p.guid(), all, &other).unwrap();
    assert!(!one.enabled() && !two.enabled() && !three.enabled());
    assert!(!p.enable_info().enabled, "no enable callback state either");
    let me = EnableFilter {
        pids: vec![std::process::id()],
        ..Default::default()
    };
    s.enable_provider_filtered(p.guid(), all, &me).unwrap();
    assert!(one.enabled() && two.enabled() && three.enabled());
    let too_many = EnableFilter {
        pids: (1..=9).collect(),
        ..Default::default()
    };
    let e = s
        .enable_provider_filtered(p.guid(), all, &too_many)
        .unwrap_err();
    assert!(e.message().contains("at most 8"), "{}", e.message());
    s.stop().unwrap();
}
