//! ETW's rule for private sessions of several processes logging to one file name: the first keeps
//! the name, a later process writes `NAME_<pid>`.

use std::process::Command;

use evtrace_runtime::session::{Session, SessionProperties};

const CHILD_ENV: &str = "EVTRACE_TEST_CHILD_FILE";

/// Run by the parent as a child process: starts a private session on the given file and prints
/// the file it got.
#[test]
fn child_process_side() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return; // Only meaningful when the parent test starts this binary as its child.
    };
    let s = Session::start_private(SessionProperties::new("child").log_file(&path)).unwrap();
    println!("CHILD-FILE={}", s.log_file().unwrap().display());
    s.stop().unwrap();
}

#[test]
fn second_process_writes_name_underscore_pid() {
    let dir = evtrace_testkit::Scratch::new("name");
    let path = dir.join("shared.etl");
    let mine = Session::start_private(SessionProperties::new("parent").log_file(&path)).unwrap();
    assert_eq!(
        mine.log_file().unwrap(),
        path,
        "the first process keeps the name"
    );
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_process_side",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout
        .lines()
        .find_map(|l| l.split("CHILD-FILE=").nth(1))
        .unwrap_or_else(|| panic!("child printed no file: {stdout}"));
    let child_file = std::path::PathBuf::from(line);
    let name = child_file
        .file_name()
        .unwrap()
        .to_string_lossy()
        .to_string();
    assert!(name.starts_with("shared.etl_"), "{name}");
    let pid: u32 = name["shared.etl_".len()..]
        .parse()
        .expect("a pid after the underscore");
    assert_ne!(pid, std::process::id());
    assert!(child_file.exists());
    mine.stop().unwrap();
    // Once the first process is done the name is free again.
    let again = Session::start_private(SessionProperties::new("parent2").log_file(&path)).unwrap();
    assert_eq!(again.log_file().unwrap(), path);
    again.stop().unwrap();
}
