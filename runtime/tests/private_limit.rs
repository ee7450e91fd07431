//! Up to eight private sessions per process; the ninth is refused. (Own test binary: the limit is
//! process-wide.)

use evtrace_runtime::session::{Session, SessionProperties};
use evtrace_runtime::ErrorCode;

#[test]
fn ninth_private_session_is_refused() {
    let dir = evtrace_testkit::Scratch::new("limit");
    let sessions: Vec<Session> = (0..8)
        .map(|i| {
            Session::start_private(
                SessionProperties::new(format!("p{i}")).log_file(dir.join(format!("p{i}.etl"))),
            )
            .unwrap()
        })
        .collect();
    let e = Session::start_private(SessionProperties::new("p8").log_file(dir.join("p8.etl")))
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::NoSystemResources);
    assert!(e.message().contains('8'), "{e}");
    drop(sessions);
    // Stopping one frees its place.
    let s =
        Session::start_private(SessionProperties::new("p8").log_file(dir.join("p8.etl"))).unwrap();
    s.stop().unwrap();
}
