//! The reader: buffers and records out of byte slices, never trusting a length or an offset.
//!
//! A file is walked buffer by buffer ([`scan_buffers`], or [`next_buffer`] for callers that read
//! from disk piecewise); each buffer is loaded (decompressed when flag 0x40 says so,
//! [`BufferSpan::load`]) and split into records ([`parse_buffer`]). Whatever cannot be read is a
//! [`Problem`] with its file offset, and reading goes on with the next record or buffer.

use std::borrow::Cow;

use crate::etl::buffer::{decompress_buffer, BufferHeader};
use crate::etl::header::{parse_header_buffer, LogfileHeader};
use crate::etl::layout::{BUFFER_HEADER_SIZE, SYSTEM_HEADER_SIZE};
use crate::etl::FormatError;

/// Largest buffer size accepted from a file: ETW's own maximum BufferSize, 16384 KB. A reader
/// allocates a buffer of the file's nominal size (a compressed one is expanded to it), so this is
/// also the most a hostile size field can make it allocate at once.
pub const MAX_BUFFER_SIZE: u32 = 16 << 20;

mod records;

pub use records::{
    is_logfile_header, parse_buffer, ClassicRecord, ParsedBuffer, Record, RecordAt, RecordKind,
    SystemRecord,
};

/// What kind of thing could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProblemKind {
    /// The file has no readable log-file header.
    BadHeader,
    /// A buffer header is invalid (size, offsets); the buffer was skipped.
    CorruptBuffer,
    /// The file ends inside a buffer; the records present were read.
    TruncatedBuffer,
    /// A compressed buffer could not be expanded.
    BadCompression,
    /// A record's marker or size is invalid; the rest of its buffer was skipped.
    CorruptRecord,
    /// A record's contents could not be decoded; the record was skipped.
    BadRecord,
    /// Bytes after the last buffer, too few for a buffer header.
    TrailingBytes,
}

impl ProblemKind {
    /// A short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            ProblemKind::BadHeader => "bad log-file header",
            ProblemKind::CorruptBuffer => "corrupt buffer",
            ProblemKind::TruncatedBuffer => "truncated buffer",
            ProblemKind::BadCompression => "bad compressed buffer",
            ProblemKind::CorruptRecord => "corrupt record",
            ProblemKind::BadRecord => "undecodable record",
            ProblemKind::TrailingBytes => "trailing bytes",
        }
    }
}

/// Something that could not be read, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// What kind of thing.
    pub kind: ProblemKind,
    /// File offset.
    pub offset: u64,
    /// Why.
    pub reason: String,
}

impl Problem {
    fn from_error(kind: ProblemKind, e: FormatError) -> Problem {
        Problem {
            kind,
            offset: e.offset,
            reason: e.what,
        }
    }
}

/// Where one buffer lies in the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BufferSpan {
    /// File offset.
    pub offset: u64,
    /// Bytes present in the file (less than the stored size when the file is truncated).
    pub len: usize,
    /// The buffer header.
    pub header: BufferHeader,
    /// Whether the file ends before the buffer does.
    pub truncated: bool,
}

impl BufferSpan {
    /// The buffer's uncompressed bytes: `data` is the whole file (or any slice that starts at
    /// file offset 0). Compressed buffers are expanded to `nominal` bytes.
    pub fn load<'a>(&self, data: &'a [u8], nominal: u32) -> Result<Cow<'a, [u8]>, Problem> {
        let start = usize::try_from(self.offset).unwrap_or(usize::MAX);
        let Some(bytes) = start
            .checked_add(self.len)
            .and_then(|end| data.get(start..end))
        else {
            return Err(Problem {
                kind: ProblemKind::TruncatedBuffer,
                offset: self.offset,
                reason: "buffer lies beyond the data".into(),
            });
        };
        self.load_bytes(bytes, nominal)
    }

    /// Like [`load`](Self::load) for the buffer's own bytes (`bytes[0]` at `self.offset`).
    pub fn load_bytes<'a>(&self, bytes: &'a [u8], nominal: u32) -> Result<Cow<'a, [u8]>, Problem> {
        if self.header.is_compressed() {
            if self.truncated {
                return Err(Problem {
                    kind: ProblemKind::TruncatedBuffer,
                    offset: self.offset,
                    reason: "compressed buffer cut short by the end of the file".into(),
                });
            }
            decompress_buffer(bytes, nominal, self.offset)
                .map(Cow::Owned)
                .map_err(|e| Problem::from_error(ProblemKind::BadCompression, e))
        } else {
            Ok(Cow::Borrowed(bytes))
        }
    }
}

/// Decides the extent of the buffer whose header bytes (at least 0x48) start at `offset`, with
/// `remaining` bytes of file from there. `Ok` gives the span (truncated when the file ends
/// early); `Err` means the header is invalid: skip `nominal` bytes and try the next buffer.
pub fn next_buffer(
    head: &[u8],
    offset: u64,
    nominal: u32,
    remaining: u64,
) -> Result<BufferSpan, FormatError> {
    let header = BufferHeader::parse_at(head, offset)?;
    let size = header.check(nominal, offset)?;
    let truncated = remaining < size as u64;
    Ok(BufferSpan {
        offset,
        len: if truncated { remaining as usize } else { size },
        header,
        truncated,
    })
}

/// The nominal buffer size of a file from its first bytes (the header buffer): the log-file
/// header's `BufferSize` where the header buffer is stored shorter than it (Windows' and
/// PerfView's compressed files keep a 1 KB header buffer before 64 KB data buffers), else the
/// buffer header's `BufferSize`, or the log-file header's when that one is unusable.
pub fn nominal_buffer_size(first: &[u8]) -> Result<u32, FormatError> {
    let ok =
        |n: u32| (n as usize) > BUFFER_HEADER_SIZE + SYSTEM_HEADER_SIZE && n <= MAX_BUFFER_SIZE;
    let bh = BufferHeader::parse(first)?;
    let logfile = parse_header_buffer(first).ok().map(|h| h.buffer_size);
    match logfile {
        Some(n) if ok(n) && ok(bh.buffer_size) && n > bh.buffer_size => Ok(n),
        _ if ok(bh.buffer_size) => Ok(bh.buffer_size),
        Some(n) if ok(n) => Ok(n),
        _ => Err(FormatError::new(
            0,
            format!(
                "no usable buffer size (buffer header says {:#x})",
                bh.buffer_size
            ),
        )),
    }
}

/// The buffers of a file held in memory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileScan {
    /// The log-file header, when readable.
    pub header: Option<LogfileHeader>,
    /// The buffer size every buffer slot has.
    pub nominal: u32,
    /// Every buffer found, in file order (the header buffer first).
    pub buffers: Vec<BufferSpan>,
    /// What could not be read.
    pub problems: Vec<Problem>,
}

/// Walks the buffers of a whole file. Never panics; a file without a usable buffer size yields
/// no buffers and a [`ProblemKind::BadHeader`] problem.
pub fn scan_buffers(data: &[u8]) -> FileScan {
    let mut scan = FileScan {
        header: None,
        nominal: 0,
        buffers: Vec::new(),
        problems: Vec::new(),
    };
    let nominal = match nominal_buffer_size(data) {
        Ok(n) => n,
        Err(e) => {
            scan.problems
                .push(Problem::from_error(ProblemKind::BadHeader, e));
            return scan;
        }
    };
    scan.nominal = nominal;
    let first = &data[..data.len().min(nominal as usize)];
    match parse_header_buffer(first) {
        Ok(h) => scan.header = Some(h),
        Err(e) => scan
            .problems
            .push(Problem::from_error(ProblemKind::BadHeader, e)),
    }
    let mut at = 0usize;
    while at < data.len() {
        let rest = &data[at..];
        if rest.len() < BUFFER_HEADER_SIZE {
            scan.problems.push(Problem {
                kind: ProblemKind::TrailingBytes,
                offset: at as u64,
                reason: format!("{} bytes after the last buffer", rest.len()),
            });
            break;
        }
        match next_buffer(rest, at as u64, nominal, rest.len() as u64) {
            Ok(span) => {
                if span.truncated {
                    scan.problems.push(Problem {
                        kind: ProblemKind::TruncatedBuffer,
                        offset: at as u64,
                        reason: format!(
                            "file ends {} bytes into a buffer of {}",
                            span.len, span.header.buffer_size
                        ),
                    });
                }
                at += span.len;
                scan.buffers.push(span);
            }
            Err(e) => {
                scan.problems
                    .push(Problem::from_error(ProblemKind::CorruptBuffer, e));
                at = at.saturating_add(nominal as usize);
            }
        }
    }
    scan
}

/// Reads every record of a file held in memory, in file order, calling `f` for each with its
/// buffer header; returns the scan and all problems (the scan's and the buffers').
pub fn for_each_record(data: &[u8], mut f: impl FnMut(&BufferSpan, &RecordAt<'_>)) -> FileScan {
    let mut scan = scan_buffers(data);
    let mut problems = Vec::new();
    for span in &scan.buffers {
        let bytes = match span.load(data, scan.nominal) {
            Ok(b) => b,
            Err(p) => {
                problems.push(p);
                continue;
            }
        };
        match parse_buffer(&bytes, span.offset) {
            Ok(pb) => {
                for r in &pb.records {
                    f(span, r);
                }
                problems.extend(pb.problems);
            }
            Err(p) => problems.push(p),
        }
    }
    scan.problems.extend(problems);
    scan
}

#[cfg(test)]
mod tests;
