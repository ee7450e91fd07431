//! Following a log file as it grows: its buffers in file order, each delivered only once it is
//! whole in the file, with the offset it starts at (a position to resume from).
//!
//! ```no_run
//! use evtrace_runtime::consume::FileTail;
//! let mut tail = FileTail::open("trace.etl".as_ref(), 0)?;
//! while let Some(b) = tail.next_buffer()? {
//!     println!("buffer at {:#x}: {} items", b.offset, b.items.len());
//! }
//! // None: nothing more is whole yet; call again once the file has grown.
//! # Ok::<(), evtrace_runtime::consume::ConsumeError>(())
//! ```

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::diag::Diagnostics;
use super::file::buffer_items;
use super::item::Item;
use super::ConsumeError;
use crate::etl::read;
use crate::etl::{parse_header_buffer, LogfileHeader, BUFFER_HEADER_SIZE};

/// One whole buffer of a followed file.
#[derive(Debug)]
pub struct TailBuffer {
    /// File offset of the buffer.
    pub offset: u64,
    /// Bytes it takes in the file (the next buffer starts at `offset + len`).
    pub len: u64,
    /// The buffer's sequence number (its header's).
    pub sequence: i64,
    /// Its items in record order (empty for the header buffer or a damaged buffer).
    pub items: Vec<Item>,
}

/// A log file read buffer by buffer as it grows.
pub struct FileTail {
    path: PathBuf,
    index: usize,
    file: File,
    header: LogfileHeader,
    nominal: u32,
    next: u64,
    diag: Diagnostics,
    finished: bool,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ConsumeError + '_ {
    |source| ConsumeError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl FileTail {
    /// Opens `path` (named `index` in items and diagnostics) at its first buffer. Fails while
    /// the file has no whole header buffer yet.
    pub fn open(path: &Path, index: usize) -> Result<FileTail, ConsumeError> {
        let file = File::open(path).map_err(io_err(path))?;
        let len = file.metadata().map_err(io_err(path))?.len();
        let mut head = vec![0u8; len.min(read::MAX_BUFFER_SIZE as u64) as usize];
        file.read_exact_at(&mut head, 0).map_err(io_err(path))?;
        let not_etl = |e: crate::etl::FormatError| ConsumeError::NotEtl {
            path: path.to_path_buf(),
            reason: e.to_string(),
        };
        let nominal = read::nominal_buffer_size(&head).map_err(not_etl)?;
        let header =
            parse_header_buffer(&head[..head.len().min(nominal as usize)]).map_err(not_etl)?;
        Ok(FileTail {
            path: path.to_path_buf(),
            index,
            file,
            header,
            nominal,
            next: 0,
            diag: Diagnostics::default(),
            finished: false,
        })
    }

    /// The file's log-file header.
    pub fn header(&self) -> &LogfileHeader {
        &self.header
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Offset of the next buffer to read.
    pub fn position(&self) -> u64 {
        self.next
    }

    /// Goes on from file offset `offset` (a [`TailBuffer`]'s `offset + len` saved earlier).
    pub fn seek(&mut self, offset: u64) {
        self.next = offset;
    }

    /// Bytes in the file after the last whole buffer read (a buffer still being written, or
    /// the cut-off end of a truncated file).
    pub fn pending_bytes(&self) -> std::io::Result<u64> {
        Ok(self.file.metadata()?.len().saturating_sub(self.next))
    }

    /// What was skipped or unreadable so far.
    pub fn diagnostics(&self) -> &Diagnostics {
        &self.diag
    }

    /// Says the file is complete (no writer will finish its last buffer): from now on a
    /// buffer cut short by the end of the file is delivered with what it holds and counted as
    /// a truncated buffer, and bytes too few for a buffer header as trailing bytes.
    pub fn finish(&mut self) {
        self.finished = true;
    }

    /// The next whole buffer; `None` when the file holds no further whole buffer yet. A
    /// damaged buffer is counted in the diagnostics and delivered with no items, so that the
    /// position still moves past it.
    pub fn next_buffer(&mut self) -> Result<Option<TailBuffer>, ConsumeError> {
        let len = self.file.metadata().map_err(io_err(&self.path))?.len();
        let at = self.next;
        if len < at + BUFFER_HEADER_SIZE as u64 {
            if self.finished && len > at {
                self.diag.add(
                    self.index,
                    at,
                    "trailing bytes",
                    format!("{} bytes after the last buffer", len - at),
                );
                self.next = len;
            }
            return Ok(None);
        }
        let mut h = vec![0u8; BUFFER_HEADER_SIZE];
        self.file
            .read_exact_at(&mut h, at)
            .map_err(io_err(&self.path))?;
        let span = match read::next_buffer(&h, at, self.nominal, len - at) {
            Ok(span) if span.truncated && !self.finished => return Ok(None),
            Ok(span) => {
                if span.truncated {
                    self.diag.add(
                        self.index,
                        at,
                        "truncated buffer",
                        format!(
                            "file ends {} bytes into a buffer of {}",
                            span.len, span.header.buffer_size
                        ),
                    );
                }
                span
            }
            Err(e) => {
                // Not a buffer header: skip one nominal buffer, as the file reader does.
                if len < at + u64::from(self.nominal) && !self.finished {
                    return Ok(None);
                }
                self.diag.add(self.index, at, "corrupt buffer", e.what);
                self.next = (at + u64::from(self.nominal)).min(len.max(at + 1));
                return Ok(Some(TailBuffer {
                    offset: at,
                    len: u64::from(self.nominal),
                    sequence: -1,
                    items: Vec::new(),
                }));
            }
        };
        let mut bytes = vec![0u8; span.len];
        self.file
            .read_exact_at(&mut bytes, at)
            .map_err(io_err(&self.path))?;
        self.next = at + span.len as u64;
        let mut out = TailBuffer {
            offset: at,
            len: span.len as u64,
            sequence: span.header.sequence_number,
            items: Vec::new(),
        };
        let buf = match span.load_bytes(&bytes, self.nominal) {
            Ok(b) => b,
            Err(p) => {
                self.diag.add(self.index, p.offset, p.kind.name(), p.reason);
                return Ok(Some(out));
            }
        };
        match read::parse_buffer(&buf, at) {
            Ok(pb) => {
                for p in &pb.problems {
                    self.diag
                        .add(self.index, p.offset, p.kind.name(), p.reason.clone());
                }
                out.items = buffer_items(&self.header, self.index, &pb, &mut self.diag, None);
            }
            Err(p) => self.diag.add(self.index, p.offset, p.kind.name(), p.reason),
        }
        Ok(Some(out))
    }
}

impl std::fmt::Debug for FileTail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileTail")
            .field("path", &self.path)
            .field("next", &self.next)
            .finish()
    }
}
