//! What the end-to-end tests share: the `evtrace` command pointed at a test's own folder, a
//! daemon that dies with the test, and reading command output.
#![allow(dead_code)] // each test binary uses its own part

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

#[allow(unused_imports)] // each test binary uses its own part
pub use evtrace_testkit::{dies_with_test, readers, skip, Scratch};

/// The `evtrace` command for the test's folder `dir`; what it starts dies with the test.
pub fn evtrace(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_evtrace"));
    dies_with_test(&mut c);
    c.env("EVTRACE_RUNTIME_DIR", dir);
    // The daemon's boot configuration (the Global Logger's entries) stays in the test's folder.
    c.env("EVTRACE_CONFIG_DIR", dir.join("conf"));
    c
}

/// `evtrace ARGS` run to its end, with no folder of its own (for `fmt` and `convert`).
pub fn evtrace_out(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_evtrace"))
        .args(args)
        .output()
        .expect("run evtrace")
}

/// The Windows samples' folder (`../shared/etl-samples`), or `None` after saying it is missing.
pub fn samples() -> Option<std::path::PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/etl-samples");
    if dir.is_dir() {
        Some(dir)
    } else {
        skip(&format!("{} is missing", dir.display()));
        None
    }
}

/// The test's own folder, removed when it passes.
pub fn temp_dir(name: &str) -> Scratch {
    Scratch::new(&format!("test-{name}"))
}

/// A daemon killed when the test ends.
pub struct Daemon(pub Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn start_daemon(dir: &Path) -> Daemon {
    start_daemon_with(dir, &[])
}

pub fn start_daemon_with(dir: &Path, flags: &[&str]) -> Daemon {
    let mut c = evtrace(dir);
    c.args(["daemon", "--dir"]).arg(dir).args(flags);
    spawn_daemon(&mut c, dir, |c| c)
}

/// Runs the daemon command `c` for `dir` and waits until it answers a client made by `client`
/// (not just until its socket exists: a killed daemon leaves its socket behind).
fn spawn_daemon(c: &mut Command, dir: &Path, client: fn(&mut Command) -> &mut Command) -> Daemon {
    // What the daemon says stays in the test's folder, kept if the test fails.
    let said = std::fs::File::create(dir.join("daemon.err")).unwrap();
    let child = c.stderr(said).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !run_ok_quiet(client(evtrace(dir).arg("list"))) {
        assert!(Instant::now() < deadline, "the daemon did not start");
        std::thread::sleep(Duration::from_millis(10));
    }
    Daemon(child)
}

pub fn field(stats: &str, name: &str) -> u64 {
    stats
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {stats}"))
}

pub fn run_ok(c: &mut Command) -> String {
    let out = c.output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{c:?} failed: {}{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

pub fn run_ok_quiet(c: &mut Command) -> bool {
    c.output().map(|o| o.status.success()).unwrap_or(false)
}

/// The effective user id, from /proc (no unsafe call needed).
pub fn euid() -> u32 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|v| v.split_whitespace().nth(1)?.parse().ok())
        .expect("an Uid line in /proc/self/status")
}

/// The user an ordinary-user test runs its daemon and clients as: 65534 when the test runs as
/// root, else this one.
pub const NOBODY: u32 = 65534;

/// `c` run as an ordinary user: as [`NOBODY`] when this test runs as root.
pub fn as_nobody(c: &mut Command) -> &mut Command {
    if euid() == 0 {
        use std::os::unix::process::CommandExt;
        c.uid(NOBODY).gid(NOBODY);
    }
    c
}

/// A daemon of an ordinary user in `dir` (and `owned`, which it must be able to write, made
/// its): its sockets' send buffers stay within `net.core.wmem_max`, and what needs root is
/// refused to it.
pub fn start_nobody_daemon(dir: &Path, owned: &[&Path]) -> Daemon {
    if euid() == 0 {
        for p in std::iter::once(dir).chain(owned.iter().copied()) {
            std::os::unix::fs::chown(p, Some(NOBODY), Some(NOBODY)).unwrap();
        }
    }
    spawn_daemon(
        as_nobody(evtrace(dir).args(["daemon", "--dir"]).arg(dir)),
        dir,
        as_nobody,
    )
}

/// An example program beside the `evtrace` binary, or `None` after saying why.
pub fn example(name: &str) -> Option<PathBuf> {
    let bin = Path::new(env!("CARGO_BIN_EXE_evtrace"));
    let p = bin.parent().unwrap().join("examples").join(name);
    if p.is_file() {
        return Some(p);
    }
    assert!(
        std::env::var_os("EVTRACE_REQUIRE_EXAMPLES").is_none(),
        "{} is missing and EVTRACE_REQUIRE_EXAMPLES is set",
        p.display()
    );
    skip(&format!(
        "{} is missing: build the examples (cargo test --workspace, or cargo build --examples)",
        p.display()
    ));
    None
}

/// Command output as text.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Whether session `name` runs in the daemon of `dir`.
pub fn running(dir: &Path, name: &str) -> bool {
    let out = evtrace(dir).args(["query", name]).output().unwrap();
    out.status.success()
}

/// Every event of `file`, as `fmt --json` gives them, kernel records in [`kernel_view`].
pub fn events(file: &Path) -> Vec<serde_json::Value> {
    let out = evtrace_out(&["fmt", "--json", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
        .lines()
        .map(|l| kernel_view(serde_json::from_str(l).unwrap()))
        .filter(|v: &serde_json::Value| v["type"] == "event" || v["kernel"] == true)
        .collect()
}

/// One line of `evtrace fmt --json` as the kernel tests look at it: a kernel record (`type`
/// "classic", `provider` "kernel/Process", `event` "Process/Start") gets its group as
/// `provider` and its event type's name as `event` ("Process", "Start"), as the providers'
/// events have theirs; `kernel` is set true. Anything else is as printed.
pub fn kernel_view(mut v: serde_json::Value) -> serde_json::Value {
    if v["type"] == "classic" {
        let group = v["provider"]
            .as_str()
            .and_then(|p| p.strip_prefix("kernel/"));
        let event = v["event"].as_str().and_then(|e| e.split_once('/'));
        if let (Some(g), Some((_, name))) = (group.map(str::to_string), event) {
            let name = name.to_string();
            v["provider"] = g.into();
            v["event"] = name.into();
            v["kernel"] = true.into();
        }
    }
    v
}
