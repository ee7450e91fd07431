//! The reader: buffers and records out of byte slices, never trusting a length or an offset.
//!
//! A file is walked buffer by buffer ([`scan_buffers`], or [`next_buffer`] for callers that read
//! from disk piecewise); each buffer is loaded (decompressed when flag 0x40 says so,
//! [`BufferSpan::load`]) and split into records ([`parse_buffer`]). Whatever cannot be read is a
//! [`Problem`] with its file offset, and reading goes on with the next record or buffer.

use std::borrow::Cow;

use super::buffer::{decompress_buffer, BufferHeader};
use super::event::EventRecord;
use super::header::{parse_header_buffer, LogfileHeader};
use super::layout::{
    align8, header_type as ht, Bytes, BUFFER_HEADER_SIZE, COMPACT_HEADER_SIZE, EVENT_HEADER_SIZE,
    FULL_HEADER_SIZE, INSTANCE_HEADER_SIZE, MESSAGE_HEADER_SIZE, PERFINFO_HEADER_SIZE,
    SYSTEM_HEADER_SIZE,
};
use super::message::MessageRecord;
use super::FormatError;
use crate::Guid;

/// Largest buffer size accepted from a file: ETW's own maximum BufferSize, 16384 KB. A reader
/// allocates a buffer of the file's nominal size (a compressed one is expanded to it), so this is
/// also the most a hostile size field can make it allocate at once.
pub const MAX_BUFFER_SIZE: u32 = 16 << 20;

/// The kind of a record, by the header it starts with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RecordKind {
    /// `EVENT_HEADER` (manifest-based and TraceLogging events, loss records).
    Event,
    /// TraceMessage (WPP).
    Message,
    /// System header (kernel logger; the log-file header event).
    System,
    /// Compact system header.
    Compact,
    /// Perfinfo header.
    PerfInfo,
    /// Classic full header (`EVENT_TRACE_HEADER`, MOF events).
    Full,
    /// Classic instance header.
    Instance,
}

impl RecordKind {
    /// A short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            RecordKind::Event => "event",
            RecordKind::Message => "message",
            RecordKind::System => "system record",
            RecordKind::Compact => "compact system record",
            RecordKind::PerfInfo => "perfinfo record",
            RecordKind::Full => "classic event",
            RecordKind::Instance => "classic instance event",
        }
    }
}

/// A record with a system, compact or perfinfo header (kernel events).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SystemRecord<'a> {
    /// [`RecordKind::System`], [`RecordKind::Compact`] or [`RecordKind::PerfInfo`].
    pub kind: RecordKind,
    /// Version (marker bytes 0-1).
    pub version: u16,
    /// HookId: group in the high byte, event type in the low byte.
    pub hook_id: u16,
    /// Thread id (not in perfinfo records).
    pub thread_id: Option<u32>,
    /// Process id (not in perfinfo records).
    pub process_id: Option<u32>,
    /// Raw timestamp.
    pub timestamp: i64,
    /// Pointer size of the writer, 4 or 8, from the header type (32- or 64-bit header).
    pub pointer_size: u8,
    /// The MOF data after the header.
    pub payload: &'a [u8],
}

/// A record with a classic full or instance header (MOF-based events).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClassicRecord<'a> {
    /// [`RecordKind::Full`] or [`RecordKind::Instance`].
    pub kind: RecordKind,
    /// Class type (the opcode).
    pub class_type: u8,
    /// Class level.
    pub level: u8,
    /// Class version.
    pub version: u16,
    /// Thread id.
    pub thread_id: u32,
    /// Process id.
    pub process_id: u32,
    /// Raw timestamp.
    pub timestamp: i64,
    /// Event class GUID.
    pub guid: Guid,
    /// Instance records: (InstanceId, ParentInstanceId, ParentGuid).
    pub instance: Option<(u32, u32, Guid)>,
    /// Pointer size of the writer, 4 or 8, from the header type (32- or 64-bit header).
    pub pointer_size: u8,
    /// The MOF data after the header.
    pub payload: &'a [u8],
}

/// One decoded record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record<'a> {
    /// An `EVENT_HEADER` record.
    Event(EventRecord<'a>),
    /// A TraceMessage record.
    Message(MessageRecord<'a>),
    /// A system, compact or perfinfo record.
    System(SystemRecord<'a>),
    /// A classic full or instance record.
    Classic(ClassicRecord<'a>),
}

impl Record<'_> {
    /// The record's kind.
    pub fn kind(&self) -> RecordKind {
        match self {
            Record::Event(_) => RecordKind::Event,
            Record::Message(_) => RecordKind::Message,
            Record::System(s) => s.kind,
            Record::Classic(c) => c.kind,
        }
    }

    /// The raw timestamp, if the record has one.
    pub fn timestamp(&self) -> Option<i64> {
        match self {
            Record::Event(e) => Some(e.header.timestamp),
            Record::Message(m) => (m.header.flags & super::message_flags::TIMESTAMP != 0)
                .then_some(m.header.timestamp),
            Record::System(s) => Some(s.timestamp),
            Record::Classic(c) => Some(c.timestamp),
        }
    }
}

/// A record and where it starts in the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordAt<'a> {
    /// File offset of the record (for a compressed buffer: of the buffer).
    pub offset: u64,
    /// Index of the record in its buffer.
    pub index: usize,
    /// The record.
    pub record: Record<'a>,
}

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

/// The records of one buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedBuffer<'a> {
    /// The buffer header.
    pub header: BufferHeader,
    /// Records in buffer order.
    pub records: Vec<RecordAt<'a>>,
    /// What could not be read.
    pub problems: Vec<Problem>,
}

/// Splits an uncompressed buffer (`buf[0]` at `file_offset`; shorter than `BufferSize` when
/// truncated) into records, up to `SavedOffset`.
pub fn parse_buffer(buf: &[u8], file_offset: u64) -> Result<ParsedBuffer<'_>, Problem> {
    let header = BufferHeader::parse_at(buf, file_offset)
        .map_err(|e| Problem::from_error(ProblemKind::CorruptBuffer, e))?;
    let mut out = ParsedBuffer {
        header,
        records: Vec::new(),
        problems: Vec::new(),
    };
    // Offsets in a decompressed buffer do not exist in the file: report the buffer's.
    let compressed = header.is_compressed();
    let here = |at: usize| {
        if compressed {
            file_offset
        } else {
            file_offset + at as u64
        }
    };
    let end = (header.saved_offset as usize).min(buf.len());
    let b = Bytes::new(&buf[..end], file_offset);
    let mut at = BUFFER_HEADER_SIZE;
    while at + 4 <= end {
        let m = &buf[at..at + 4];
        if m == [0xFF; 4] {
            break;
        }
        let corrupt = |what: String| Problem {
            kind: ProblemKind::CorruptRecord,
            offset: here(at),
            reason: what,
        };
        let Some((kind, size_at, min)) = classify(m) else {
            let unknown = format!(
                "unknown record marker {:02X} {:02X} {:02X} {:02X}",
                m[0], m[1], m[2], m[3]
            );
            // A trace header of a type not read here (0x0C timed, 0x0D error, 0x0E WNODE, or a
            // newer one) still starts with its u16 size: skip just that record.
            let size = usize::from(u16::from_le_bytes([m[0], m[1]]));
            if m[3] & 0xC0 == 0xC0 && size >= 8 && at + size <= end {
                out.problems.push(corrupt(format!(
                    "{unknown}: record of {size:#x} bytes skipped"
                )));
                at += align8(size);
                continue;
            }
            out.problems.push(corrupt(unknown));
            break;
        };
        let size = match b.u16(at + size_at, "record size") {
            Ok(s) => usize::from(s),
            Err(_) => {
                out.problems
                    .push(corrupt("record header cut by SavedOffset".into()));
                break;
            }
        };
        if size < min || at + size > end {
            out.problems.push(corrupt(format!(
                "{} of size {size:#x} does not fit (minimum {min:#x}, {:#x} bytes left)",
                kind.name(),
                end - at
            )));
            break;
        }
        let rec = &buf[at..at + size];
        match decode(kind, rec, here(at)) {
            Ok(record) => out.records.push(RecordAt {
                offset: here(at),
                index: out.records.len(),
                record,
            }),
            Err(e) => out.problems.push(Problem {
                kind: ProblemKind::BadRecord,
                offset: if compressed { file_offset } else { e.offset },
                reason: format!("{}: {}", kind.name(), e.what),
            }),
        }
        at += align8(size);
    }
    Ok(out)
}

/// Kind, offset of the u16 size and minimum size of a record from its marker.
fn classify(m: &[u8]) -> Option<(RecordKind, usize, usize)> {
    let (ty, flags) = (m[2], m[3]);
    if flags & 0xC0 == 0xC0 {
        return Some(match ty {
            ht::SYSTEM32 | ht::SYSTEM64 => (RecordKind::System, 4, SYSTEM_HEADER_SIZE),
            ht::COMPACT32 | ht::COMPACT64 => (RecordKind::Compact, 4, COMPACT_HEADER_SIZE),
            ht::PERFINFO32 | ht::PERFINFO64 => (RecordKind::PerfInfo, 4, PERFINFO_HEADER_SIZE),
            ht::EVENT32 | ht::EVENT64 => (RecordKind::Event, 0, EVENT_HEADER_SIZE),
            ht::FULL32 | ht::FULL64 => (RecordKind::Full, 0, FULL_HEADER_SIZE),
            ht::INSTANCE32 | ht::INSTANCE64 => (RecordKind::Instance, 0, INSTANCE_HEADER_SIZE),
            _ => return None,
        });
    }
    // TRACE_HEADER_FLAG | TRACE_MESSAGE; 0xB0 and 0xA0 are the ULONG32 headers, not messages.
    if flags & 0xF0 == 0x90 {
        return Some((RecordKind::Message, 0, MESSAGE_HEADER_SIZE));
    }
    None
}

fn decode(kind: RecordKind, rec: &[u8], offset: u64) -> Result<Record<'_>, FormatError> {
    let b = Bytes::new(rec, offset);
    // Each header type has a 32- and a 64-bit form; the pointers in the payload follow it.
    let pointer_size = match rec[2] {
        ht::SYSTEM32 | ht::COMPACT32 | ht::PERFINFO32 | ht::FULL32 | ht::INSTANCE32 => 4,
        _ => 8,
    };
    Ok(match kind {
        RecordKind::Event => Record::Event(EventRecord::parse(rec, offset)?),
        RecordKind::Message => Record::Message(MessageRecord::parse(rec, offset)?),
        RecordKind::System | RecordKind::Compact | RecordKind::PerfInfo => {
            let (ids, ts_at, hdr) = match kind {
                RecordKind::System => (true, 16, SYSTEM_HEADER_SIZE),
                RecordKind::Compact => (true, 16, COMPACT_HEADER_SIZE),
                _ => (false, 8, PERFINFO_HEADER_SIZE),
            };
            Record::System(SystemRecord {
                kind,
                version: b.u16(0, "version")?,
                hook_id: b.u16(6, "HookId")?,
                thread_id: if ids {
                    Some(b.u32(8, "ThreadId")?)
                } else {
                    None
                },
                process_id: if ids {
                    Some(b.u32(12, "ProcessId")?)
                } else {
                    None
                },
                timestamp: b.i64(ts_at, "timestamp")?,
                pointer_size,
                payload: &rec[hdr..],
            })
        }
        RecordKind::Full | RecordKind::Instance => {
            let instance = if kind == RecordKind::Instance {
                Some((
                    b.u32(0x30, "InstanceId")?,
                    b.u32(0x34, "ParentInstanceId")?,
                    b.guid(0x38, "ParentGuid")?,
                ))
            } else {
                None
            };
            Record::Classic(ClassicRecord {
                kind,
                class_type: b.u8(4, "class type")?,
                level: b.u8(5, "class level")?,
                version: b.u16(6, "class version")?,
                thread_id: b.u32(8, "ThreadId")?,
                process_id: b.u32(12, "ProcessId")?,
                timestamp: b.i64(16, "TimeStamp")?,
                guid: b.guid(24, "Guid")?,
                instance,
                pointer_size,
                payload: &rec[if instance.is_some() {
                    INSTANCE_HEADER_SIZE
                } else {
                    FULL_HEADER_SIZE
                }..],
            })
        }
    })
}

/// Whether a record is the log-file header event (a system record with HookId 0 in the header
/// buffer); consumers do not deliver it as an event.
pub fn is_logfile_header(buffer: &BufferHeader, rec: &Record<'_>) -> bool {
    matches!(rec, Record::System(s) if s.hook_id == 0 && s.kind == RecordKind::System)
        && buffer.buffer_type == super::buffer_type::HEADER
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
mod tests {
    use super::*;
    use crate::etl::{
        buffer_flags, fill_tail, write_event_record, write_header_buffer, write_lost_record,
        EventHeaderFields, LossKind,
    };

    fn file() -> Vec<u8> {
        let h = LogfileHeader {
            buffer_size: 4096,
            ..Default::default()
        };
        let mut data = vec![0u8; 4096];
        write_header_buffer(&mut data, &h);
        for seq in 1..=3 {
            let mut buf = vec![0u8; 4096];
            let mut at = BUFFER_HEADER_SIZE;
            at += write_lost_record(&mut buf[at..], 5, LossKind::Events, 2, 1, 1);
            for i in 0..10 {
                let f = EventHeaderFields {
                    timestamp: seq * 100 + i,
                    ..Default::default()
                };
                at += write_event_record(&mut buf[at..], &f, &[], &[b"payload"]);
            }
            BufferHeader {
                buffer_size: 4096,
                saved_offset: at as u32,
                sequence_number: seq,
                flags: buffer_flags::PROCESSOR_INDEX,
                ..Default::default()
            }
            .write_to(&mut buf);
            fill_tail(&mut buf, at);
            data.extend(buf);
        }
        data
    }

    fn count(data: &[u8]) -> (usize, FileScan) {
        let mut n = 0;
        let scan = for_each_record(data, |_, _| n += 1);
        (n, scan)
    }

    #[test]
    fn reads_every_record() {
        let (n, scan) = count(&file());
        assert_eq!(scan.problems, vec![]);
        assert_eq!(scan.buffers.len(), 4);
        assert_eq!(n, 1 + 3 * 11);
    }

    #[test]
    fn corrupt_buffer_is_skipped_and_others_kept() {
        let mut data = file();
        data[4096 * 2] = 0x12; // BufferSize of the second data buffer
        let (n, scan) = count(&data);
        assert_eq!(n, 1 + 2 * 11);
        assert_eq!(scan.problems.len(), 1);
        assert_eq!(scan.problems[0].kind, ProblemKind::CorruptBuffer);
        assert_eq!(scan.problems[0].offset, 8192);
        // A bad record marker ends its buffer only.
        let mut data = file();
        let second = 4096 + BUFFER_HEADER_SIZE + crate::etl::LOST_RECORD_SIZE;
        data[second + 3] = 0x00;
        let (n, scan) = count(&data);
        assert_eq!(n, 1 + 1 + 2 * 11);
        assert_eq!(scan.problems[0].kind, ProblemKind::CorruptRecord);
        assert_eq!(scan.problems[0].offset, second as u64);
    }

    #[test]
    fn truncated_file_keeps_whole_records() {
        let data = file();
        let cut = 4096 * 3 + BUFFER_HEADER_SIZE + crate::etl::LOST_RECORD_SIZE + 0x58 * 3 + 5;
        let (n, scan) = count(&data[..cut]);
        assert_eq!(n, 1 + 2 * 11 + 1 + 3);
        assert_eq!(scan.problems[0].kind, ProblemKind::TruncatedBuffer);
    }

    #[test]
    fn no_panic_on_any_truncation_or_flip() {
        let data = file();
        for cut in (0..data.len()).step_by(7) {
            let _ = count(&data[..cut]);
        }
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..3000 {
            let mut d = data.clone();
            for _ in 0..4 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let i = (x >> 16) as usize % d.len();
                d[i] = (x >> 8) as u8;
            }
            let (_, scan) = count(&d);
            // Intact buffers still come out.
            assert!(!scan.buffers.is_empty() || !scan.problems.is_empty());
        }
    }
}
