//! What a test leaves behind: a folder of its own that goes when the test passes, and children
//! that go when the test does.
//!
//! Tests here record real files, some of them large (a killed daemon's producer writes until it is
//! stopped), and a machine runs the suite many times: what is not removed fills its disk.

use std::ffi::OsStr;
use std::ops::Deref;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A test's own folder, `evtrace-NAME-PID` under the system's temporary folder, made empty.
///
/// Dropped at the end of a passing test, it is removed with everything in it. A failing test
/// (one that is panicking) keeps it and says where, so what was recorded can be read.
#[derive(Debug)]
pub struct Scratch {
    path: PathBuf,
}

impl Scratch {
    /// Makes the folder for the test called `name`, emptying what an earlier run left.
    pub fn new(name: &str) -> Scratch {
        let path = std::env::temp_dir().join(format!("evtrace-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path)
            .unwrap_or_else(|e| panic!("cannot make {}: {e}", path.display()));
        Scratch { path }
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `bytes` to the file `name` in the folder and returns its path.
    pub fn file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.path.join(name);
        std::fs::write(&p, bytes).unwrap_or_else(|e| panic!("cannot write {}: {e}", p.display()));
        p
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // Captured, so shown with the failure it belongs to.
            eprintln!(
                "kept {} for the failed test to be looked into",
                self.path.display()
            );
        } else {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

impl Deref for Scratch {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.path
    }
}

impl AsRef<Path> for Scratch {
    fn as_ref(&self) -> &Path {
        &self.path
    }
}

impl AsRef<OsStr> for Scratch {
    fn as_ref(&self) -> &OsStr {
        self.path.as_os_str()
    }
}

/// Makes the process `c` starts get SIGKILL when the thread that started it ends: a test's
/// daemon, producer or consumer never outlives the test, even one killed before its clean-up ran
/// (left alone, a producer that writes forever fills the disk).
pub fn dies_with_test(c: &mut Command) -> &mut Command {
    // SAFETY: the closure runs between fork and exec, and makes one system call (prctl), which
    // is async-signal-safe; it allocates nothing and takes no lock.
    unsafe {
        c.pre_exec(|| {
            rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))
                .map_err(std::io::Error::from)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    #[test]
    fn a_passing_tests_folder_goes_and_a_failing_ones_stays() {
        let passed = {
            let s = Scratch::new("testkit-passed");
            s.file("a.etl", b"recorded");
            assert!(s.join("a.etl").is_file());
            s.path().to_path_buf()
        };
        assert!(!passed.exists(), "{} was left", passed.display());

        let failed = std::thread::spawn(|| {
            let s = Scratch::new("testkit-failed");
            s.file("a.etl", b"recorded");
            let p = s.path().to_path_buf();
            std::panic::panic_any(p);
        })
        .join()
        .unwrap_err();
        let failed = failed.downcast::<PathBuf>().unwrap();
        assert!(
            failed.join("a.etl").is_file(),
            "the failed test's file went"
        );
        std::fs::remove_dir_all(*failed).unwrap();
    }

    #[test]
    fn a_child_dies_when_the_thread_that_started_it_ends() {
        let mut child = std::thread::spawn(|| {
            dies_with_test(Command::new("sleep").arg("30"))
                .spawn()
                .unwrap()
        })
        .join()
        .unwrap();
        let status = child.wait().unwrap();
        assert_eq!(status.signal(), Some(9), "{status:?}");
    }
}
