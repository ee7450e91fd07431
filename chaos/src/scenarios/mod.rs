//! One module per scenario; each `run(lab, budget, out)` records into `out` what it did and
//! every promise it saw broken.

pub mod daemon_kill;
pub mod disk_full;
pub mod hostile_clients;
pub mod hostile_files;
pub mod producer_kill;
pub mod security;
pub mod soak;

use std::io::Read;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// Runs a producer to its end (at most `limit`: a producer still running then is killed and
/// reported as blocked) and returns the JSON object it printed.
pub(crate) fn finish(mut child: Child, limit: Duration) -> Result<serde_json::Value, String> {
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                let mut out = String::new();
                if let Some(mut o) = child.stdout.take() {
                    let _ = o.read_to_string(&mut out);
                }
                if !status.success() {
                    return Err(format!("the producer exited with {status}"));
                }
                return serde_json::from_str(out.trim())
                    .map_err(|e| format!("the producer's report {out:?}: {e}"));
            }
            Ok(None) if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "the producer was still running after {limit:?}: a writer blocked"
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// Spawns `c`, or says why not.
pub(crate) fn spawn(c: &mut Command) -> Result<Child, String> {
    c.spawn().map_err(|e| format!("cannot start {c:?}: {e}"))
}

/// A u64 member of a producer's report (0 when absent).
pub(crate) fn num(v: &serde_json::Value, path: &[&str]) -> u64 {
    let mut v = v;
    for p in path {
        v = &v[*p];
    }
    v.as_u64().unwrap_or(0)
}

/// Whether this process may mount file systems (root, in practice).
pub(crate) fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// A tmpfs of `size` (e.g. "1m") mounted at `at` (made if missing) for as long as it lives.
pub(crate) struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    pub(crate) fn mount(at: &std::path::Path, size: &str) -> Result<SmallDisk, String> {
        std::fs::create_dir_all(at).map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size}"),
                "evtrace-chaos",
            ])
            .arg(at)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "cannot mount a tmpfs here: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(SmallDisk(at.to_path_buf()))
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// Waits at most `limit` for `child` to end; kills it and says so if it does not.
pub(crate) fn finish_any(
    mut child: Child,
    limit: Duration,
) -> Result<std::process::ExitStatus, String> {
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ok(status),
            Ok(None) if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "still running {limit:?} after the daemon died: it hangs"
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(e.to_string()),
        }
    }
}
