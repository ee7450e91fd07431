//! Processes, threads and images: the rundown from /proc, the process connector's forks, execs
//! and exits, executable mappings; the process table every other family asks who did what.

use std::collections::HashSet;
use std::path::Path;

use super::super::events::{KernelEvent, Occurrence};
use super::super::perf::{Context, Mapping};
use super::super::proc_events::{ProcEvent, Stamped};
use super::{bound, Decoder, KernelFlags};

/// A process as the decoder knows it.
#[derive(Debug, Clone, Default)]
pub(super) struct Process {
    pub(super) image: String,
    pub(super) command_line: String,
    pub(super) parent: u32,
    /// Its threads still running: the process ends with the last of them. A set, not a count:
    /// a thread seen both in /proc and by its start (while the rundown reads) is one thread.
    pub(super) threads: HashSet<u32>,
    /// The wait status of its first thread, if that one ended before the others.
    pub(super) leader_status: Option<u32>,
}

impl Decoder {
    /// The events of the processes, threads and images present now (ETW's rundown), read from
    /// /proc; they also seed the process table.
    pub(crate) fn rundown(&mut self, proc_root: &Path, time: u64, out: &mut Vec<Occurrence>) {
        let Ok(dir) = std::fs::read_dir(proc_root) else {
            return;
        };
        let mut pids: Vec<u32> = dir
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .collect();
        pids.sort_unstable();
        for pid in pids {
            let base = proc_root.join(pid.to_string());
            let Some(p) = read_process(&base) else {
                continue;
            };
            let at = |event| Occurrence {
                time,
                cpu: 0,
                pid,
                tid: pid,
                event,
            };
            if self.flags.contains(KernelFlags::PROCESS) {
                out.push(at(KernelEvent::ProcessStart {
                    pid,
                    parent: p.parent,
                    image: p.image.clone(),
                    command_line: p.command_line.clone(),
                    rundown: true,
                }));
            }
            if self.flags.contains(KernelFlags::THREAD) {
                let mut tids: Vec<u32> = p.threads.iter().copied().collect();
                tids.sort_unstable();
                for tid in tids {
                    out.push(Occurrence {
                        tid,
                        ..at(KernelEvent::ThreadStart {
                            pid,
                            tid,
                            rundown: true,
                        })
                    });
                }
            }
            if self.flags.contains(KernelFlags::IMAGE_LOAD) {
                let maps = std::fs::read_to_string(base.join("maps")).unwrap_or_default();
                for m in maps.lines().filter_map(parse_maps_line) {
                    out.push(at(KernelEvent::ImageLoad {
                        pid,
                        base: m.0,
                        size: m.1,
                        file_offset: m.2,
                        file_name: m.3,
                        rundown: true,
                    }));
                }
            }
            self.processes.insert(pid, p);
        }
    }

    /// Reads the command line of a process that has just called exec, while it still runs:
    /// its exec record may be decoded some milliseconds later, when a short-lived process is
    /// gone.
    pub(crate) fn exec_seen(&mut self, pid: u32) {
        // Only exec records (PROCESS) show command lines.
        if self.fields.exec.is_none() {
            return;
        }
        bound(&mut self.exec_command_lines);
        if let Some(c) = read_cmdline(pid) {
            self.exec_command_lines.insert(pid, c);
        }
    }

    pub(super) fn process_event(&mut self, s: Stamped, out: &mut Vec<Occurrence>) {
        let at = |pid: u32, tid: u32, event| Occurrence {
            time: s.time,
            cpu: s.cpu,
            pid,
            tid,
            event,
        };
        match s.event {
            ProcEvent::Fork {
                parent_pid,
                parent_tgid,
                child_pid,
                child_tgid,
            } => {
                if child_pid == child_tgid {
                    bound(&mut self.processes);
                    // A fork runs its parent's image until it calls exec.
                    let (image, command_line) = match self.processes.get(&parent_tgid) {
                        Some(p) => (p.image.clone(), p.command_line.clone()),
                        None => read_process(&Path::new("/proc").join(parent_tgid.to_string()))
                            .map(|p| (p.image, p.command_line))
                            .unwrap_or_default(),
                    };
                    let child = Process {
                        image,
                        command_line,
                        parent: parent_tgid,
                        threads: HashSet::from([child_pid]),
                        leader_status: None,
                    };
                    if self.flags.contains(KernelFlags::PROCESS) {
                        out.push(at(
                            parent_tgid,
                            parent_pid,
                            KernelEvent::ProcessStart {
                                pid: child_tgid,
                                parent: parent_tgid,
                                image: child.image.clone(),
                                command_line: child.command_line.clone(),
                                rundown: false,
                            },
                        ));
                    }
                    self.processes.insert(child_tgid, child);
                } else if let Some(p) = self.processes.get_mut(&child_tgid) {
                    p.threads.insert(child_pid);
                }
                // Every task, the first thread of a process included, is a thread start. The
                // connector names the process's parent, not the creating thread, for threads:
                // the record is the new thread's own.
                if self.flags.contains(KernelFlags::THREAD) {
                    out.push(at(
                        child_tgid,
                        child_pid,
                        KernelEvent::ThreadStart {
                            pid: child_tgid,
                            tid: child_pid,
                            rundown: false,
                        },
                    ));
                }
            }
            ProcEvent::Exit {
                pid,
                tgid,
                code,
                parent_tgid,
            } => {
                if self.flags.contains(KernelFlags::THREAD) {
                    out.push(at(
                        tgid,
                        pid,
                        KernelEvent::ThreadEnd {
                            pid: tgid,
                            tid: pid,
                        },
                    ));
                }
                // The process ends with its last thread, with its first thread's status (a
                // first thread may end before the others). One not known from its start ends
                // with its first thread.
                let status = match self.processes.get_mut(&tgid) {
                    Some(p) => {
                        p.threads.remove(&pid);
                        if pid == tgid {
                            p.leader_status = Some(code);
                        }
                        p.threads
                            .is_empty()
                            .then(|| p.leader_status.unwrap_or(code))
                    }
                    None => (pid == tgid).then_some(code),
                };
                if let Some(code) = status {
                    self.processes.remove(&tgid);
                    if self.flags.contains(KernelFlags::PROCESS) {
                        let signal = code & 0x7f;
                        out.push(at(
                            tgid,
                            pid,
                            KernelEvent::ProcessEnd {
                                pid: tgid,
                                parent: parent_tgid,
                                exit_code: if signal == 0 {
                                    ((code >> 8) & 0xff) as i32
                                } else {
                                    -1
                                },
                                signal,
                            },
                        ));
                    }
                }
            }
            // Exec comes from the tracepoint, which names the file.
            ProcEvent::Exec { .. } => {}
        }
    }

    /// `sched_process_exec`: the new image and command line of a process.
    pub(super) fn exec(&mut self, at: Context, raw: &[u8], out: &mut Vec<Occurrence>) {
        let Some(f) = self.fields.exec else { return };
        let p = f.pid.i64(raw) as u32;
        let image = f.filename.string(raw);
        let command_line = self
            .exec_command_lines
            .remove(&p)
            .or_else(|| read_cmdline(p))
            .unwrap_or_default();
        let entry = self.processes.entry(p).or_default();
        entry.image = image.clone();
        entry.command_line = command_line.clone();
        out.push(Occurrence {
            time: at.time,
            cpu: at.cpu,
            pid: p,
            tid: at.tid,
            event: KernelEvent::ProcessExec {
                pid: p,
                image,
                command_line,
            },
        });
    }

    /// An executable mapping: an image load (anonymous executable memory, JIT code or the
    /// vdso, is not an image).
    pub(super) fn image_mapping(&mut self, m: Mapping, out: &mut Vec<Occurrence>) {
        let Mapping {
            at,
            addr,
            len,
            pgoff,
            file,
        } = m;
        if !file.starts_with('/') {
            return;
        }
        out.push(Occurrence {
            time: at.time,
            cpu: at.cpu,
            pid: at.pid,
            tid: at.tid,
            event: KernelEvent::ImageLoad {
                pid: at.pid,
                base: addr,
                size: len,
                file_offset: pgoff,
                file_name: file,
                rundown: false,
            },
        });
    }
}

/// A process's image, command line and parent, from its /proc directory.
pub(super) fn read_process(base: &Path) -> Option<Process> {
    let stat = std::fs::read_to_string(base.join("stat")).ok()?;
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
    let after = &stat[stat.rfind(')')? + 1..];
    let parent = after.split_whitespace().nth(1)?.parse().ok()?;
    // Kernel threads have no executable: their name in brackets, as `ps` shows them.
    let comm = stat
        .find('(')
        .zip(stat.rfind(')'))
        .map_or("", |(a, b)| &stat[a + 1..b]);
    let image = std::fs::read_link(base.join("exe"))
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|_| format!("[{comm}]"));
    let command_line = std::fs::read(base.join("cmdline"))
        .map(|c| cmdline_text(&c))
        .unwrap_or_default();
    let threads = std::fs::read_dir(base.join("task"))
        .map(|tasks| {
            tasks
                .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    Some(Process {
        image,
        command_line,
        parent,
        threads,
        leader_status: None,
    })
}

fn read_cmdline(pid: u32) -> Option<String> {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .ok()
        .map(|c| cmdline_text(&c))
}

/// /proc's NUL-separated arguments as one line.
pub(super) fn cmdline_text(c: &[u8]) -> String {
    let trimmed = c.strip_suffix(&[0]).unwrap_or(c);
    String::from_utf8_lossy(trimmed).replace('\0', " ")
}

/// An executable file mapping from a /proc/PID/maps line: (start, length, offset, path).
pub(super) fn parse_maps_line(line: &str) -> Option<(u64, u64, u64, String)> {
    let mut parts = line.splitn(6, ' ');
    let range = parts.next()?;
    let perms = parts.next()?;
    let offset = u64::from_str_radix(parts.next()?, 16).ok()?;
    let _dev = parts.next()?;
    let _inode = parts.next()?;
    let path = parts.next()?.trim_start();
    if !perms.contains('x') || !path.starts_with('/') {
        return None;
    }
    let (a, b) = range.split_once('-')?;
    let (a, b) = (
        u64::from_str_radix(a, 16).ok()?,
        u64::from_str_radix(b, 16).ok()?,
    );
    Some((a, b - a, offset, path.to_string()))
}
