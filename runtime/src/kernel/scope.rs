//! A kernel logger restricted to one process tree (`evtrace record --this-process-only`): the
//! descendants of a root process, followed through the process connector's forks.

use std::collections::HashSet;
use std::path::Path;

/// The processes whose kernel events are kept: every descendant of `root`, not `root` itself
/// (the recorder that started the command).
#[derive(Debug)]
pub(crate) struct ProcessTree {
    root: u32,
    members: HashSet<u32>,
}

impl ProcessTree {
    /// The tree of `root`, with the descendants it has already (read from `proc`).
    pub(crate) fn new(root: u32, proc: &Path) -> ProcessTree {
        let mut t = ProcessTree {
            root,
            members: HashSet::new(),
        };
        let mut parents: Vec<(u32, u32)> = std::fs::read_dir(proc)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let pid: u32 = e.file_name().to_str()?.parse().ok()?;
                Some((pid, parent_of(&e.path())?))
            })
            .collect();
        // Parents before children, whatever order /proc lists them in.
        loop {
            let before = t.members.len();
            parents.retain(|&(pid, parent)| !t.fork(parent, pid));
            if t.members.len() == before {
                break;
            }
        }
        t
    }

    /// A process `child` was forked by process `parent`; returns whether it joined the tree.
    /// Pids are kept after their process exits: its last events may still be on their way, and
    /// a recording is too short for the pid to come round again.
    pub(crate) fn fork(&mut self, parent: u32, child: u32) -> bool {
        if parent == self.root || self.members.contains(&parent) {
            self.members.insert(child)
        } else {
            false
        }
    }

    /// Whether process `pid`'s events are kept.
    pub(crate) fn contains(&self, pid: u32) -> bool {
        self.members.contains(&pid)
    }
}

/// The parent pid in `/proc/PID/stat` (after the parenthesised command, which may hold spaces
/// and parentheses itself).
fn parent_of(dir: &Path) -> Option<u32> {
    let stat = std::fs::read_to_string(dir.join("stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descendants_join_through_forks_and_the_root_stays_out() {
        let empty = std::env::temp_dir().join(format!("evtrace-scope-{}", std::process::id()));
        std::fs::create_dir_all(&empty).unwrap();
        let mut t = ProcessTree::new(100, &empty);
        assert!(t.fork(100, 101));
        assert!(t.fork(101, 102));
        assert!(!t.fork(7, 8));
        assert!(t.contains(101) && t.contains(102));
        assert!(!t.contains(100) && !t.contains(8));
        std::fs::remove_dir_all(&empty).unwrap();
    }

    #[test]
    fn existing_descendants_are_read_from_proc() {
        let me = std::process::id();
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let t = ProcessTree::new(me, Path::new("/proc"));
        let pid = child.id();
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(t.contains(pid), "{pid} not in the tree of {me}: {t:?}");
        assert!(!t.contains(me) && !t.contains(1));
    }

    #[test]
    fn a_command_with_parentheses_and_spaces_is_read_past() {
        let dir = std::env::temp_dir().join(format!("evtrace-stat-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("stat"), "42 (a) b (c) S 17 42 42 0 -1").unwrap();
        assert_eq!(parent_of(&dir), Some(17));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
