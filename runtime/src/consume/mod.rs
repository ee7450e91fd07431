//! Reading log files back: up to 64 `.etl` files merged oldest first, decoded.
//!
//! ```no_run
//! use evtrace_runtime::consume::{Item, LogReader};
//! let mut reader = LogReader::open(&["trace.etl"])?;
//! for item in &mut reader {
//!     if let Item::Event(e) = item {
//!         println!("{} {:?} {:?}", e.time_text(), e.provider_name, e.name);
//!     }
//! }
//! for (file, kind, n) in reader.diagnostics().counts() {
//!     eprintln!("file {file}: {n} x {kind}");
//! }
//! # Ok::<(), evtrace_runtime::consume::ConsumeError>(())
//! ```
//!
//! Each file is split into one stream per processor, its buffers in sequence-number order (so
//! circular files read oldest first); the streams of all files are merged by wall-clock time
//! with a heap, equal times keeping file, buffer and record order. The log-file header event
//! is not delivered: see [`LogReader::header`]. Losses come in band as [`Item::Loss`] (loss
//! records and buffer flags) and as header counters in [`LogReader::loss_stats`]. Whatever is
//! skipped or unreadable is counted in [`LogReader::diagnostics`].

mod diag;
mod file;
mod item;
mod realtime;
mod tail;

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

pub use diag::{Diagnostics, Location, KEPT_LOCATIONS};
pub use item::{
    filetime_text, kernel_group_name, ClassicEvent, CpuTime, Event, Item, Loss, LossSource, Message,
};
pub use realtime::RealTimeReader;
pub use tail::{FileTail, TailBuffer};

use crate::etl::{LogfileHeader, LossKind};
use crate::ErrorCode;
use file::{LogFile, Stream};

/// Formats a TraceMessage's text (the hook for a TMF-based formatter).
pub type Formatter = Box<dyn Fn(&Message) -> Option<String> + Send>;

/// Why a reader could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ConsumeError {
    /// No file was given.
    #[error("no log file given")]
    NoFiles,
    /// More than [`LogReader::MAX_FILES`] files.
    #[error("{0} log files given; at most 64 can be opened at once")]
    TooManyFiles(usize),
    /// The window ends before it starts.
    #[error("INVALID_TIME: the time window ends ({end}) before it starts ({start})")]
    InvalidTime {
        /// Start, RFC 3339.
        start: String,
        /// End, RFC 3339.
        end: String,
    },
    /// The file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a readable ETL file (no usable header buffer).
    #[error("{}: not a readable ETL file: {reason}", path.display())]
    NotEtl {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
}

impl ConsumeError {
    /// The Win32-style code of the error.
    pub fn code(&self) -> ErrorCode {
        match self {
            ConsumeError::NoFiles | ConsumeError::TooManyFiles(_) => ErrorCode::InvalidParameter,
            ConsumeError::InvalidTime { .. } => ErrorCode::InvalidTime,
            ConsumeError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                ErrorCode::BadPathname
            }
            ConsumeError::Io { .. } => ErrorCode::Io,
            ConsumeError::NotEtl { .. } => ErrorCode::InvalidParameter,
        }
    }
}

/// Loss counters: the file headers' and what was delivered in band.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LossStats {
    /// Sum of the headers' `EventsLost`.
    pub header_events_lost: u64,
    /// Sum of the headers' `BuffersLost`.
    pub header_buffers_lost: u64,
    /// Events reported lost by loss records delivered so far.
    pub events_lost: u64,
    /// Buffers reported lost by loss records delivered so far.
    pub buffers_lost: u64,
    /// Files reported lost (RTLostFile) so far.
    pub files_lost: u64,
    /// Loss reports without a count (buffer flags) delivered so far.
    pub uncounted_reports: u64,
}

/// Options of a reader: time window, leniency, message formatter.
#[derive(Default)]
pub struct ReaderOptions {
    start: Option<i64>,
    end: Option<i64>,
    keep_going: bool,
    formatter: Option<Formatter>,
}

fn system_time_ns(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_nanos()).unwrap_or(i64::MAX),
    }
}

impl ReaderOptions {
    /// Delivers only items at or after `start`.
    pub fn start(mut self, start: SystemTime) -> Self {
        self.start = Some(system_time_ns(start));
        self
    }

    /// Delivers only items at or before `end`.
    pub fn end(mut self, end: SystemTime) -> Self {
        self.end = Some(system_time_ns(end));
        self
    }

    /// The window in nanoseconds since the Unix epoch (either bound optional).
    pub fn window_unix_nanos(mut self, start: Option<i64>, end: Option<i64>) -> Self {
        self.start = start;
        self.end = end;
        self
    }

    /// Files that cannot be opened are recorded in [`LogReader::file_errors`] instead of
    /// failing the open; the others are read.
    pub fn keep_going(mut self, yes: bool) -> Self {
        self.keep_going = yes;
        self
    }

    /// Sets the formatter that fills [`Message::text`].
    pub fn message_formatter(mut self, f: Formatter) -> Self {
        self.formatter = Some(f);
        self
    }

    /// Opens the files.
    pub fn open<P: AsRef<Path>>(self, paths: &[P]) -> Result<LogReader, ConsumeError> {
        LogReader::with_options(paths, self)
    }
}

/// Merge key of a stream's head: (time, file, buffer sequence, record index, stream).
type HeapKey = (i64, usize, i64, u64, usize);

/// Reads up to 64 log files, delivering their items merged oldest first.
pub struct LogReader {
    files: Vec<LogFile>,
    file_errors: Vec<ConsumeError>,
    streams: Vec<Stream>,
    heap: BinaryHeap<Reverse<HeapKey>>,
    diag: Diagnostics,
    stats: LossStats,
    opts: ReaderOptions,
}

impl LogReader {
    /// Most files one reader opens (as ETW's OpenTrace/ProcessTrace).
    pub const MAX_FILES: usize = 64;

    /// Opens files with default options (no window, any unreadable file is an error).
    pub fn open<P: AsRef<Path>>(paths: &[P]) -> Result<LogReader, ConsumeError> {
        Self::with_options(paths, ReaderOptions::default())
    }

    /// Options to open with: `LogReader::options().start(t).open(&paths)`.
    pub fn options() -> ReaderOptions {
        ReaderOptions::default()
    }

    fn with_options<P: AsRef<Path>>(
        paths: &[P],
        opts: ReaderOptions,
    ) -> Result<LogReader, ConsumeError> {
        if paths.is_empty() {
            return Err(ConsumeError::NoFiles);
        }
        if paths.len() > Self::MAX_FILES {
            return Err(ConsumeError::TooManyFiles(paths.len()));
        }
        if let (Some(s), Some(e)) = (opts.start, opts.end) {
            if e < s {
                return Err(ConsumeError::InvalidTime {
                    start: crate::etl::unix_nanos_to_rfc3339(s),
                    end: crate::etl::unix_nanos_to_rfc3339(e),
                });
            }
        }
        let mut r = LogReader {
            files: Vec::new(),
            file_errors: Vec::new(),
            streams: Vec::new(),
            heap: BinaryHeap::new(),
            diag: Diagnostics::default(),
            stats: LossStats::default(),
            opts,
        };
        for p in paths {
            let index = r.files.len();
            match LogFile::open(p.as_ref(), index, &mut r.diag) {
                Ok((f, streams)) => {
                    r.stats.header_events_lost += u64::from(f.header.events_lost);
                    r.stats.header_buffers_lost += u64::from(f.header.buffers_lost);
                    r.files.push(f);
                    r.streams.extend(streams);
                }
                Err(e) if r.opts.keep_going => r.file_errors.push(e),
                Err(e) => return Err(e),
            }
        }
        for i in 0..r.streams.len() {
            r.prime(i);
        }
        Ok(r)
    }

    /// Loads stream `i`'s next buffer if needed and puts its head on the heap.
    fn prime(&mut self, i: usize) {
        let s = &mut self.streams[i];
        if s.items.is_empty() {
            let f = &self.files[s.file];
            f.refill(s, &mut self.diag, self.opts.formatter.as_ref());
        }
        if let Some((seq, idx, item)) = s.items.front() {
            // Items without a wall-clock time sort by their raw timestamp.
            let key = item.time().unwrap_or_else(|| item.timestamp());
            self.heap.push(Reverse((key, s.file, *seq, *idx, i)));
        }
    }

    /// The log-file header of file `file` (index in the order given).
    pub fn header(&self, file: usize) -> Option<&LogfileHeader> {
        self.files.get(file).map(|f| &f.header)
    }

    /// Path of file `file`.
    pub fn path(&self, file: usize) -> Option<&Path> {
        self.files.get(file).map(|f| f.path.as_path())
    }

    /// Number of files opened.
    pub fn file_count(&self) -> usize {
        self.files.len()
    }

    /// Files that could not be opened (with [`ReaderOptions::keep_going`]).
    pub fn file_errors(&self) -> &[ConsumeError] {
        &self.file_errors
    }

    /// What was skipped or unreadable so far.
    pub fn diagnostics(&self) -> &Diagnostics {
        &self.diag
    }

    /// Loss counters (header counters, and in-band reports delivered so far).
    pub fn loss_stats(&self) -> LossStats {
        self.stats
    }

    fn count_loss(&mut self, l: &Loss) {
        match (l.count, l.kind) {
            (None, _) => self.stats.uncounted_reports += 1,
            // Counts come from the file: a hostile one must not overflow them.
            (Some(n), LossKind::Events) => {
                self.stats.events_lost = self.stats.events_lost.saturating_add(n)
            }
            (Some(n), LossKind::Buffers) => {
                self.stats.buffers_lost = self.stats.buffers_lost.saturating_add(n)
            }
            (Some(n), LossKind::File) => {
                self.stats.files_lost = self.stats.files_lost.saturating_add(n)
            }
        }
    }
}

impl Iterator for LogReader {
    type Item = Item;

    fn next(&mut self) -> Option<Item> {
        loop {
            let Reverse((_, _, _, _, i)) = self.heap.pop()?;
            let (_, _, item) = self.streams[i].items.pop_front()?;
            // The window applies to wall-clock times; an item without one (a file whose header
            // gives no clock rate) is delivered.
            let time = item.time();
            if time.zip(self.opts.end).is_some_and(|(t, e)| t > e) {
                // Past the end: so is the rest of this stream (each is in time order), which is
                // not read further; the other streams go on.
                continue;
            }
            self.prime(i);
            if time.zip(self.opts.start).is_some_and(|(t, s)| t < s) {
                continue;
            }
            if let Item::Loss(l) = &item {
                let l = *l;
                self.count_loss(&l);
            }
            return Some(item);
        }
    }
}
