//! What is forwarded: log files followed as they grow (whole sealed buffers only; a NEWFILE
//! pattern's next file once it appears), or a live real-time session. Each record comes with
//! its deterministic id, and the source can say at any moment where it stands as a [`Cursor`].

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::Duration;

use evtrace_runtime::consume::{FileTail, Item, RealTimeReader};

use super::cursor::{Cursor, FilePos, Identity, RtPos};
use crate::input;

/// One record to send.
pub struct Record {
    /// The item.
    pub item: Item,
    /// Its `evtrace.record.id`: the same record gets the same id in every run.
    pub id: String,
}

/// One followed file or NEWFILE series.
struct Followed {
    pos: FilePos,
    pattern: bool,
    tail: Option<FileTail>,
    short: String,
    /// Items of the buffer being delivered, and the buffer's extent.
    pending: VecDeque<Item>,
    buffer: (u64, u64),
    next_index: u64,
    done: bool,
    /// The current file is complete: its last buffers are being read to the end.
    closing: bool,
    waiting_said: bool,
    /// Files of the series read to their end, with what was skipped in them.
    finished: Vec<FileTail>,
}

/// Log files followed as they grow.
pub struct Files {
    followed: Vec<Followed>,
    turn: usize,
    once: bool,
    errors: Vec<String>,
}

fn numbered(pattern: &str, n: u32) -> PathBuf {
    PathBuf::from(pattern.replacen("%d", &n.to_string(), 1))
}

impl Followed {
    fn path(&self) -> PathBuf {
        if self.pattern {
            numbered(&self.pos.name, self.pos.number)
        } else {
            PathBuf::from(&self.pos.name)
        }
    }

    /// Opens the current file if it is not open yet; false while it cannot be.
    fn ensure_open(&mut self, index: usize, errors: &mut Vec<String>, once: bool) -> bool {
        if self.tail.is_some() {
            return true;
        }
        let path = self.path();
        let opened = FileTail::open(&path, index).and_then(|t| {
            Identity::of(&path, t.header())
                .map(|id| (t, id))
                .map_err(|e| evtrace_runtime::consume::ConsumeError::Io {
                    path: path.clone(),
                    source: e,
                })
        });
        match opened {
            Ok((mut tail, id)) => {
                if self.pos.identity.as_ref().is_some_and(|old| *old != id) {
                    eprintln!(
                        "evtrace forward: {} is not the file the cursor was saved for (another \
                         device, inode or session): reading it from its start",
                        path.display()
                    );
                    self.pos.offset = 0;
                    self.pos.skip = 0;
                }
                self.short = id.short();
                self.pos.identity = Some(id);
                tail.seek(self.pos.offset);
                self.tail = Some(tail);
                true
            }
            Err(e) if once => {
                errors.push(e.to_string());
                self.done = true;
                false
            }
            Err(e) => {
                if !self.waiting_said {
                    eprintln!("evtrace forward: waiting for {}: {e}", path.display());
                    self.waiting_said = true;
                }
                false
            }
        }
    }

    /// The next record of this file, or `None` when it has none whole now.
    fn next(&mut self, index: usize, errors: &mut Vec<String>, once: bool) -> Option<Record> {
        loop {
            if let Some(item) = self.pending.pop_front() {
                let i = self.next_index;
                self.next_index += 1;
                let id = format!("{}:{:x}:{i}", self.short, self.buffer.0);
                (self.pos.offset, self.pos.skip) = if self.pending.is_empty() {
                    (self.buffer.1, 0)
                } else {
                    (self.buffer.0, i + 1)
                };
                return Some(Record { item, id });
            }
            if self.done || !self.ensure_open(index, errors, once) {
                return None;
            }
            let tail = self.tail.as_mut()?;
            match tail.next_buffer() {
                Ok(Some(b)) => {
                    let skip = if b.offset == self.pos.offset {
                        self.pos.skip
                    } else {
                        0
                    };
                    self.buffer = (b.offset, b.offset + b.len);
                    self.pending = b.items.into_iter().skip(skip as usize).collect();
                    self.next_index = skip;
                    if self.pending.is_empty() {
                        (self.pos.offset, self.pos.skip) = (self.buffer.1, 0);
                    }
                }
                Ok(None) if self.closing => {
                    self.close_current();
                    if self.pattern && self.next_exists() {
                        self.pos.number += 1;
                        self.pos.identity = None;
                        (self.pos.offset, self.pos.skip) = (0, 0);
                        self.waiting_said = false;
                        continue;
                    }
                    self.done = true;
                    return None;
                }
                Ok(None) => {
                    let next = numbered(&self.pos.name, self.pos.number + 1);
                    if once || self.pattern && next.exists() {
                        // Complete (the session went on in the next file, or --once): what is
                        // left of a last buffer is read as it is, the rest counted.
                        tail.finish();
                        self.closing = true;
                        continue;
                    }
                    return None;
                }
                Err(e) => {
                    errors.push(e.to_string());
                    self.close_current();
                    self.done = true;
                    return None;
                }
            }
        }
    }

    fn next_exists(&self) -> bool {
        numbered(&self.pos.name, self.pos.number + 1).exists()
    }

    /// Keeps the finished file's report.
    fn close_current(&mut self) {
        self.closing = false;
        if let Some(t) = self.tail.take() {
            self.finished.push(t);
        }
    }
}

impl Files {
    /// Follows `names` (a name with `%d` is a NEWFILE series from number 1), from `cursor`'s
    /// positions where it has one for the same name.
    pub fn new(names: &[PathBuf], cursor: Option<&Cursor>, once: bool) -> Files {
        let followed = names
            .iter()
            .map(|p| {
                let name = p.to_string_lossy().into_owned();
                let saved = cursor.and_then(|c| c.files.iter().find(|f| f.name == name));
                Followed {
                    pattern: name.contains("%d"),
                    pos: saved.cloned().unwrap_or(FilePos {
                        name,
                        number: 1,
                        identity: None,
                        offset: 0,
                        skip: 0,
                    }),
                    tail: None,
                    short: String::new(),
                    pending: VecDeque::new(),
                    buffer: (0, 0),
                    next_index: 0,
                    done: false,
                    closing: false,
                    waiting_said: false,
                    finished: Vec::new(),
                }
            })
            .collect();
        Files {
            followed,
            turn: 0,
            once,
            errors: Vec::new(),
        }
    }

    /// The next record of any file (taking turns), or `None` when none has one now.
    pub fn next(&mut self) -> Option<Record> {
        for _ in 0..self.followed.len() {
            let i = self.turn;
            self.turn = (self.turn + 1) % self.followed.len();
            if let Some(r) = self.followed[i].next(i, &mut self.errors, self.once) {
                return Some(r);
            }
        }
        None
    }

    /// Whether every file is read to its end (`--once` only).
    pub fn done(&self) -> bool {
        self.followed.iter().all(|f| f.done && f.pending.is_empty())
    }

    /// The position after the last record handed out.
    pub fn position(&self) -> Cursor {
        Cursor {
            files: self.followed.iter().map(|f| f.pos.clone()).collect(),
            rt: None,
        }
    }

    /// Prints unreadable files and damage; true when there was any.
    pub fn report(&self) -> bool {
        let mut failed = false;
        for e in &self.errors {
            eprintln!("evtrace forward: {e}");
            failed = true;
        }
        for (i, f) in self.followed.iter().enumerate() {
            for t in f.finished.iter().chain(f.tail.as_ref()) {
                let path = t.path().display().to_string();
                failed |= input::report_damage("evtrace forward", i, &path, t.diagnostics());
            }
        }
        failed
    }
}

/// A live session, read on a thread of its own so that a slow endpoint never stalls it.
pub struct RealTime {
    rx: Receiver<Item>,
    pos: RtPos,
    ended: bool,
}

impl RealTime {
    /// Attaches to session `name`; a saved position of the same session run goes on numbering.
    pub fn attach(name: &str, cursor: Option<&Cursor>) -> Result<RealTime, String> {
        let reader = RealTimeReader::attach(name)
            .map_err(|e| format!("{}: {}", e.code().name(), e.message()))?;
        let start_time = reader.header().start_time;
        let pos = match cursor.and_then(|c| c.rt.clone()) {
            Some(p) if p.session == name && p.start_time == start_time => p,
            _ => RtPos {
                session: name.into(),
                start_time,
                timestamp: 0,
                records: 0,
            },
        };
        let (tx, rx) = mpsc::channel();
        let session = name.to_string();
        std::thread::spawn(move || {
            let mut reader = reader;
            for item in &mut reader {
                if tx.send(item).is_err() {
                    return;
                }
            }
            for (_, kind, n) in reader.diagnostics().counts() {
                if input::DAMAGE.contains(&kind) {
                    eprintln!("evtrace forward: session {session}: {n} x {kind}");
                }
            }
        });
        Ok(RealTime {
            rx,
            pos,
            ended: false,
        })
    }

    /// The next record, waiting up to `wait` for one.
    pub fn next(&mut self, wait: Duration) -> Option<Record> {
        match self.rx.recv_timeout(wait) {
            Ok(item) => {
                self.pos.records += 1;
                self.pos.timestamp = item.timestamp();
                let id = format!(
                    "rt:{}:{:x}:{}",
                    self.pos.session, self.pos.start_time, self.pos.records
                );
                Some(Record { item, id })
            }
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => {
                self.ended = true;
                None
            }
        }
    }

    /// Whether the session has stopped and everything was handed out.
    pub fn done(&self) -> bool {
        self.ended
    }

    /// The position after the last record handed out.
    pub fn position(&self) -> Cursor {
        Cursor {
            files: Vec::new(),
            rt: Some(self.pos.clone()),
        }
    }
}

/// Either source.
pub enum Source {
    /// `--follow FILE...`
    Files(Files),
    /// `--rt NAME`
    RealTime(RealTime),
}

impl Source {
    /// The next record; waits up to `wait` only for a real-time session.
    pub fn next(&mut self, wait: Duration) -> Option<Record> {
        match self {
            Source::Files(f) => f.next(),
            Source::RealTime(r) => r.next(wait),
        }
    }

    /// Whether nothing more will come.
    pub fn done(&self) -> bool {
        match self {
            Source::Files(f) => f.done(),
            Source::RealTime(r) => r.done(),
        }
    }

    /// The position after the last record handed out.
    pub fn position(&self) -> Cursor {
        match self {
            Source::Files(f) => f.position(),
            Source::RealTime(r) => r.position(),
        }
    }

    /// Prints what could not be read; true when there was any.
    pub fn report(&self) -> bool {
        match self {
            Source::Files(f) => f.report(),
            Source::RealTime(_) => false,
        }
    }
}

/// The default cursor file of a source: beside the first file, or in the working folder.
pub fn default_cursor(files: &[PathBuf], rt: Option<&str>) -> PathBuf {
    match (files.first(), rt) {
        (Some(f), _) => {
            let mut s = f.as_os_str().to_owned();
            s.push(".forward-cursor");
            PathBuf::from(s.to_string_lossy().replace("%d", "N"))
        }
        (None, Some(name)) => Path::new(".").join(format!("{name}.forward-cursor")),
        (None, None) => PathBuf::from("evtrace.forward-cursor"),
    }
}
