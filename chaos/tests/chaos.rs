//! The chaos suite in its bounded form: each scenario once, with the budget of
//! [`Budget::bounded`]. `cargo run --release -p evtrace-chaos -- --minutes N` runs them at length.
//!
//! The scenarios run one at a time: each loads both cores of a small machine, and a scenario
//! that checks a daemon answers or a producer is enabled should not be starved by another.

use std::path::Path;
use std::sync::Mutex;

use evtrace_chaos::{Budget, Scenario};

#[global_allocator]
static ALLOC: evtrace_chaos::alloc::Counting = evtrace_chaos::alloc::Counting;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn run(s: Scenario) {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let out = s.run(
        Path::new(env!("CARGO_BIN_EXE_evtrace-chaos")),
        &Budget::bounded(),
    );
    eprint!("{out}");
    assert!(out.passed(), "{out}");
}

#[test]
fn producers_killed_mid_write() {
    run(Scenario::ProducerKill);
}

#[test]
fn daemon_killed_while_sessions_record() {
    run(Scenario::DaemonKill);
}

#[test]
fn disk_full() {
    run(Scenario::DiskFull);
}

#[test]
fn hostile_clients() {
    run(Scenario::HostileClients);
}

#[test]
fn hostile_files() {
    run(Scenario::HostileFiles);
}

#[test]
fn other_users_and_planted_links() {
    run(Scenario::Security);
}

#[test]
fn overload_soak() {
    run(Scenario::Soak);
}
