//! Records out of one buffer: the kinds of header a record may start with, each decoded, and a
//! buffer split into its records up to SavedOffset.

use super::{Problem, ProblemKind};
use crate::etl::buffer::BufferHeader;
use crate::etl::event::EventRecord;
use crate::etl::layout::{
    align8, header_type as ht, Bytes, BUFFER_HEADER_SIZE, COMPACT_HEADER_SIZE, EVENT_HEADER_SIZE,
    FULL_HEADER_SIZE, INSTANCE_HEADER_SIZE, MESSAGE_HEADER_SIZE, PERFINFO_HEADER_SIZE,
    SYSTEM_HEADER_SIZE,
};
use crate::etl::message::MessageRecord;
use crate::etl::FormatError;
use crate::Guid;

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
            Record::Message(m) => (m.header.flags & crate::etl::message_flags::TIMESTAMP != 0)
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
        && buffer.buffer_type == crate::etl::buffer_type::HEADER
}
