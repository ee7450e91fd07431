//! The live status line of `record` (one line on stderr, refreshed each second): per session,
//! events per second, buffers in use of the maximum, EventsLost and its rate, the file's size;
//! a loss turns it into a warning naming the setting to raise.
//!
//! Events per second are counted from the buffers the session has written to its file since
//! the last refresh (the daemon counts buffers, not events): the file is read from where the
//! last refresh stopped, a buffer at a time. A memory ring writes nothing until it is saved,
//! and shows `-`.

use std::io::{IsTerminal, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::time::Instant;

use evtrace_runtime::system::protocol::WireStats;
use evtrace_runtime::Error;

/// Whether stderr is a terminal (where the line is shown by default).
pub fn stderr_is_terminal() -> bool {
    std::io::stderr().is_terminal()
}

/// A byte count as people read it (`4.2 MB`).
pub fn bytes_text(n: u64) -> String {
    match n {
        n if n >= 1 << 30 => format!("{:.1} GB", n as f64 / (1u64 << 30) as f64),
        n if n >= 1 << 20 => format!("{:.1} MB", n as f64 / (1u64 << 20) as f64),
        n if n >= 1 << 10 => format!("{:.1} KB", n as f64 / 1024.0),
        n => format!("{n} B"),
    }
}

/// A rate as people read it (`12.3 k`).
pub fn rate_text(r: f64) -> String {
    match r {
        r if r >= 1e6 => format!("{:.2} M", r / 1e6),
        r if r >= 1e3 => format!("{:.1} k", r / 1e3),
        r => format!("{r:.0}"),
    }
}

/// Events in a log file, counted a buffer at a time as the file grows.
struct FileCounter {
    path: PathBuf,
    /// Where the next unread buffer starts (the header buffer is never counted).
    offset: u64,
    events: u64,
}

impl FileCounter {
    /// Counts the whole buffers written since the last call; returns the total so far.
    fn update(&mut self, buffer_bytes: u64) -> u64 {
        if buffer_bytes == 0 {
            return self.events;
        }
        let Ok(mut f) = std::fs::File::open(&self.path) else {
            return self.events;
        };
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        self.offset = self.offset.max(buffer_bytes);
        let mut buf = vec![0u8; buffer_bytes as usize];
        while self.offset + buffer_bytes <= len {
            if f.seek(SeekFrom::Start(self.offset)).is_err() || f.read_exact(&mut buf).is_err() {
                break;
            }
            self.events += evtrace_runtime::etl::count_records(&buf, buf.len());
            self.offset += buffer_bytes;
        }
        self.events
    }
}

/// One session's last figures, for rates.
struct Seen {
    at: Instant,
    events: u64,
    lost: u64,
}

/// The status line of a set of sessions.
pub struct StatusLine {
    sessions: Vec<(String, FileCounter, Option<Seen>)>,
    /// The flags that raise MaximumBuffers and BufferSize, named in a loss warning.
    flags: (&'static str, &'static str),
}

impl StatusLine {
    /// A line for sessions `names` writing `files` (in the same order).
    pub fn new(names: &[String], files: &[PathBuf]) -> StatusLine {
        StatusLine {
            sessions: names
                .iter()
                .zip(files)
                .map(|(n, f)| {
                    let counter = FileCounter {
                        path: f.clone(),
                        offset: 0,
                        events: 0,
                    };
                    (n.clone(), counter, None)
                })
                .collect(),
            flags: ("--max-buffers", "-b"),
        }
    }

    /// The line of `evtrace start --watch`, whose loss warning names `start`'s flags.
    pub fn for_start(mut self) -> StatusLine {
        self.flags = ("--max", "-b");
        self
    }

    /// The line for the sessions' figures now (`stats` in the order of `new`'s names).
    pub fn text(&mut self, stats: &[(String, Result<WireStats, Error>)]) -> String {
        let now = Instant::now();
        let mut parts = Vec::new();
        let mut warnings = Vec::new();
        for ((name, counter, seen), (_, s)) in self.sessions.iter_mut().zip(stats) {
            let s = match s {
                Ok(s) => &s.session,
                Err(e) => {
                    parts.push(format!("{name}: {}", e.code().name()));
                    continue;
                }
            };
            let memory = s
                .mode
                .contains(evtrace_runtime::session::LogFileMode::BUFFERING);
            let events = counter.update(u64::from(s.buffer_size_kb) * 1024);
            let (ev_rate, lost_rate) = match seen {
                Some(p) => {
                    let dt = now.duration_since(p.at).as_secs_f64().max(1e-3);
                    (
                        events.saturating_sub(p.events) as f64 / dt,
                        s.events_lost.saturating_sub(p.lost) as f64 / dt,
                    )
                }
                None => (0.0, 0.0),
            };
            *seen = Some(Seen {
                at: now,
                events,
                lost: s.events_lost,
            });
            let in_use = s.number_of_buffers.saturating_sub(s.free_buffers);
            let size = std::fs::metadata(&counter.path)
                .map(|m| m.len())
                .unwrap_or(0);
            // A memory ring's events reach no file until it is saved; a real-time session
            // may have no file at all.
            let rate = if memory || counter.path.as_os_str().is_empty() {
                "-".to_string()
            } else {
                rate_text(ev_rate)
            };
            parts.push(format!(
                "{name}: {rate} ev/s, buffers {in_use}/{}, lost {} ({}/s), {}",
                s.maximum_buffers,
                s.events_lost,
                rate_text(lost_rate),
                bytes_text(size)
            ));
            if s.events_lost > 0 {
                warnings.push(format!(
                    "{name} LOST {} events: raise MaximumBuffers ({}, now {}) or BufferSize ({}, now {} KB)",
                    s.events_lost, self.flags.0, s.maximum_buffers, self.flags.1, s.buffer_size_kb
                ));
            }
        }
        let line = parts.join(" | ");
        if warnings.is_empty() {
            line
        } else {
            format!("WARNING {} | {line}", warnings.join("; "))
        }
    }

    /// Shows the line on stderr in place of the last one.
    pub fn refresh(&mut self, stats: &[(String, Result<WireStats, Error>)]) {
        let text = self.text(stats);
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K{text}");
        let _ = err.flush();
    }
}

/// Clears the status line, so what follows starts on a clean line.
pub fn clear_line() {
    let mut err = std::io::stderr().lock();
    let _ = write!(err, "\r\x1b[2K");
    let _ = err.flush();
}
