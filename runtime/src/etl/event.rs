//! EVENT_HEADER records: their header, the field-by-field writer, extended-data items, loss
//! markers, and the decoder of one record (the hot path's template writer is in `template`).

use super::layout::{
    align8, header_type, put_i64, put_u16, put_u32, put_u64, Bytes, EVENT_HEADER_SIZE,
    EXT_ITEM_HEADER_SIZE, MARKER_FLAGS,
};
use super::FormatError;
use crate::Guid;

/// The fixed event descriptor (`EVENT_DESCRIPTOR`), as stored in the record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Hash)]
pub struct EventDescriptor {
    /// Event id.
    pub id: u16,
    /// Event version.
    pub version: u8,
    /// Channel (11 for TraceLogging events).
    pub channel: u8,
    /// Level (1 critical .. 5 verbose).
    pub level: u8,
    /// Opcode.
    pub opcode: u8,
    /// Task.
    pub task: u16,
    /// Keyword bits.
    pub keyword: u64,
}

/// The header fields of one event that the writer fills.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct EventHeaderFields {
    /// Writing thread.
    pub thread_id: u32,
    /// Writing process.
    pub process_id: u32,
    /// Raw clock value.
    pub timestamp: i64,
    /// Provider GUID.
    pub provider_id: Guid,
    /// Event descriptor.
    pub descriptor: EventDescriptor,
    /// Activity id (zero when none).
    pub activity_id: Guid,
}

/// `EVENT_HEADER.Flags` bits as stored in files.
pub mod event_flags {
    /// Extended-data items follow the header.
    pub const EXTENDED_INFO: u16 = 0x0001;
    /// Written by a private session.
    pub const PRIVATE_SESSION: u16 = 0x0002;
    /// The payload is one NUL-terminated UTF-16 string.
    pub const STRING_ONLY: u16 = 0x0004;
    /// A TraceMessage event.
    pub const TRACE_MESSAGE: u16 = 0x0008;
    /// No kernel/user time: `ProcessorTime` instead.
    pub const NO_CPUTIME: u16 = 0x0010;
    /// Written by a 32-bit process or machine (consumers set it from the header type).
    pub const HEADER_32_BIT: u16 = 0x0020;
    /// Written by a 64-bit process or machine (consumers set it from the header type).
    pub const HEADER_64_BIT: u16 = 0x0040;
}

/// Extended-data item types (`EVENT_HEADER_EXT_TYPE_*`).
pub mod ext_type {
    /// Related activity id (16 bytes).
    pub const RELATED_ACTIVITYID: u16 = 1;
    /// Security id of the user.
    pub const SID: u16 = 2;
    /// Terminal-services session id.
    pub const TS_ID: u16 = 3;
    /// Instance information.
    pub const INSTANCE_INFO: u16 = 4;
    /// 32-bit stack trace.
    pub const STACK_TRACE32: u16 = 5;
    /// 64-bit stack trace.
    pub const STACK_TRACE64: u16 = 6;
    /// Unique event key (u64).
    pub const EVENT_KEY: u16 = 10;
    /// TraceLogging event schema (event metadata).
    pub const EVENT_SCHEMA_TL: u16 = 11;
    /// Provider traits (provider metadata).
    pub const PROV_TRAITS: u16 = 12;
    /// Process start key.
    pub const PROCESS_START_KEY: u16 = 13;
}

/// Size of a record with `ext_len` bytes of extended items and `payload_len` bytes of payload:
/// the value of `EVENT_HEADER.Size`. Its footprint in a buffer is `align8` of it.
pub fn event_record_size(ext_len: usize, payload_len: usize) -> usize {
    EVENT_HEADER_SIZE + ext_len + payload_len
}

#[inline(always)]
pub(super) fn write_header(dst: &mut [u8], size: usize, flags: u16, h: &EventHeaderFields) {
    let d = &h.descriptor;
    put_u16(dst, 0x00, size as u16);
    dst[0x02] = header_type::EVENT64;
    dst[0x03] = MARKER_FLAGS;
    // evtrace keeps no per-thread CPU time (reading it is a system call per event), so every
    // record says so, as Windows does for events that carry none.
    put_u16(dst, 0x04, flags | event_flags::NO_CPUTIME);
    put_u16(dst, 0x06, 0); // EventProperty
    put_u32(dst, 0x08, h.thread_id);
    put_u32(dst, 0x0C, h.process_id);
    put_i64(dst, 0x10, h.timestamp);
    dst[0x18..0x28].copy_from_slice(&h.provider_id.0);
    put_u16(dst, 0x28, d.id);
    dst[0x2A] = d.version;
    dst[0x2B] = d.channel;
    dst[0x2C] = d.level;
    dst[0x2D] = d.opcode;
    put_u16(dst, 0x2E, d.task);
    put_u64(dst, 0x30, d.keyword);
    put_u64(dst, 0x38, 0); // ProcessorTime (NO_CPUTIME): none kept
    dst[0x40..0x50].copy_from_slice(&h.activity_id.0);
}

/// Writes one complete EVENT_HEADER record into `dst`: header, `ext` (pre-built extended items,
/// see [`tracelogging_extended_items`](super::tracelogging_extended_items); the extended-info
/// flag is set when non-empty), the payload pieces, then zero padding to 8 bytes.
/// Returns the footprint, `align8(event_record_size(ext.len(), payload length))`.
///
/// No allocation. The caller guarantees the size is at most 65535 (ETW's 64 KB limit) and
/// `dst.len() >=` the footprint; panics otherwise.
#[inline]
pub fn write_event_record(
    dst: &mut [u8],
    h: &EventHeaderFields,
    ext: &[u8],
    payload: &[&[u8]],
) -> usize {
    let mut payload_len = 0;
    for p in payload {
        payload_len += p.len();
    }
    let size = event_record_size(ext.len(), payload_len);
    debug_assert!(size <= 0xFFFF, "event record of {size} bytes exceeds 64 KB");
    let footprint = align8(size);
    let dst = &mut dst[..footprint];
    let flags = if ext.is_empty() {
        0
    } else {
        event_flags::EXTENDED_INFO
    };
    write_header(dst, size, flags, h);
    let mut at = EVENT_HEADER_SIZE;
    dst[at..at + ext.len()].copy_from_slice(ext);
    at += ext.len();
    for p in payload {
        dst[at..at + p.len()].copy_from_slice(p);
        at += p.len();
    }
    dst[at..].fill(0);
    footprint
}

/// Appends one extended-data item (8-byte header, data, zero padding to 8) to `out`.
///
/// Panics if `data` is longer than 65527 bytes (the item size is a u16).
pub fn push_ext_item(out: &mut Vec<u8>, ty: u16, more_follow: bool, data: &[u8]) {
    let size = align8(EXT_ITEM_HEADER_SIZE + data.len());
    assert!(
        size <= 0xFFFF,
        "extended item of {} bytes is too large",
        data.len()
    );
    out.extend_from_slice(&(size as u16).to_le_bytes());
    out.extend_from_slice(&ty.to_le_bytes());
    out.extend_from_slice(&u16::from(more_follow).to_le_bytes());
    out.extend_from_slice(&(data.len() as u16).to_le_bytes());
    out.extend_from_slice(data);
    out.resize(out.len() + size - EXT_ITEM_HEADER_SIZE - data.len(), 0);
}

/// The provider of ETW's in-band loss events, `{6A399AE0-4BC6-4DE9-870B-3657F8947E7E}`
/// (RT_LostEvent).
pub const LOST_EVENT_PROVIDER: Guid = Guid::from_fields(
    0x6A39_9AE0,
    0x4BC6,
    0x4DE9,
    [0x87, 0x0B, 0x36, 0x57, 0xF8, 0x94, 0x7E, 0x7E],
);

/// What a loss record reports (its opcode).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LossKind {
    /// Opcode 32, RTLostEvent: events dropped (no free buffer).
    Events,
    /// Opcode 33, RTLostBuffer: whole buffers lost.
    Buffers,
    /// Opcode 34, RTLostFile: the log file could not be written.
    File,
}

impl LossKind {
    /// The record's opcode.
    pub fn opcode(self) -> u8 {
        match self {
            LossKind::Events => 32,
            LossKind::Buffers => 33,
            LossKind::File => 34,
        }
    }

    /// From a loss record's opcode.
    pub fn from_opcode(op: u8) -> Option<LossKind> {
        match op {
            32 => Some(LossKind::Events),
            33 => Some(LossKind::Buffers),
            34 => Some(LossKind::File),
            _ => None,
        }
    }
}

/// Size (and footprint) of a loss record: header + u64 count.
pub const LOST_RECORD_SIZE: usize = EVENT_HEADER_SIZE + 8;

/// Writes a loss record: an EVENT_HEADER record of [`LOST_EVENT_PROVIDER`] with opcode 32/33/34
/// and a u64 count as payload. Returns [`LOST_RECORD_SIZE`]. Panics if `dst` is shorter.
pub fn write_lost_record(
    dst: &mut [u8],
    timestamp: i64,
    kind: LossKind,
    count: u64,
    pid: u32,
    tid: u32,
) -> usize {
    let h = EventHeaderFields {
        thread_id: tid,
        process_id: pid,
        timestamp,
        provider_id: LOST_EVENT_PROVIDER,
        descriptor: EventDescriptor {
            opcode: kind.opcode(),
            ..Default::default()
        },
        activity_id: Guid::ZERO,
    };
    write_event_record(dst, &h, &[], &[&count.to_le_bytes()])
}

/// One extended-data item of a decoded record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExtItem<'a> {
    /// `EVENT_HEADER_EXT_TYPE_*` ([`ext_type`]).
    pub ty: u16,
    /// The item's data.
    pub data: &'a [u8],
}

/// A decoded EVENT_HEADER record, borrowing from the buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventRecord<'a> {
    /// Header fields.
    pub header: EventHeaderFields,
    /// `EVENT_HEADER.Flags`.
    pub flags: u16,
    /// `EVENT_HEADER.EventProperty`.
    pub event_property: u16,
    /// `KernelTime`/`UserTime` (or `ProcessorTime`) as one u64.
    pub processor_time: u64,
    /// Extended-data items in record order.
    pub ext: Vec<ExtItem<'a>>,
    /// The payload (user data).
    pub payload: &'a [u8],
    /// Where the payload starts inside the record.
    pub payload_at: usize,
    /// The writer's pointer size, 4 or 8, from the header type (0x12 or 0x13): what a
    /// manifest's pointer-sized fields take in the payload.
    pub pointer_size: u8,
}

impl<'a> EventRecord<'a> {
    /// Decodes the record that `rec` holds exactly (`rec.len()` = its `Size`); `file_offset`
    /// is where it starts, for errors.
    pub fn parse(rec: &'a [u8], file_offset: u64) -> Result<EventRecord<'a>, FormatError> {
        let b = Bytes::new(rec, file_offset);
        b.slice(0, EVENT_HEADER_SIZE, "EVENT_HEADER")?;
        let flags = b.u16(0x04, "Flags")?;
        let header = EventHeaderFields {
            thread_id: b.u32(0x08, "ThreadId")?,
            process_id: b.u32(0x0C, "ProcessId")?,
            timestamp: b.i64(0x10, "TimeStamp")?,
            provider_id: b.guid(0x18, "ProviderId")?,
            descriptor: EventDescriptor {
                id: b.u16(0x28, "Id")?,
                version: b.u8(0x2A, "Version")?,
                channel: b.u8(0x2B, "Channel")?,
                level: b.u8(0x2C, "Level")?,
                opcode: b.u8(0x2D, "Opcode")?,
                task: b.u16(0x2E, "Task")?,
                keyword: b.u64(0x30, "Keyword")?,
            },
            activity_id: b.guid(0x40, "ActivityId")?,
        };
        let mut at = EVENT_HEADER_SIZE;
        let mut ext = Vec::new();
        if flags & event_flags::EXTENDED_INFO != 0 {
            loop {
                let size = usize::from(b.u16(at, "extended item size")?);
                let ty = b.u16(at + 2, "extended item type")?;
                let linkage = b.u16(at + 4, "extended item linkage")?;
                let data_size = usize::from(b.u16(at + 6, "extended item data size")?);
                if size < EXT_ITEM_HEADER_SIZE + data_size {
                    return Err(b.err(
                        at,
                        format!("extended item of size {size:#x} cannot hold {data_size:#x} bytes of data"),
                    ));
                }
                let data = b.slice(at + EXT_ITEM_HEADER_SIZE, data_size, "extended item data")?;
                b.slice(at, size, "extended item")?;
                ext.push(ExtItem { ty, data });
                at += size;
                if linkage & 1 == 0 {
                    break;
                }
                if ext.len() > 256 {
                    return Err(b.err(at, "more than 256 extended items"));
                }
            }
        }
        Ok(EventRecord {
            header,
            flags,
            event_property: b.u16(0x06, "EventProperty")?,
            processor_time: b.u64(0x38, "ProcessorTime")?,
            ext,
            payload: &rec[at..],
            payload_at: at,
            pointer_size: if rec[2] == super::layout::header_type::EVENT32 {
                4
            } else {
                8
            },
        })
    }

    /// The first extended item of type `ty`.
    pub fn ext_item(&self, ty: u16) -> Option<&'a [u8]> {
        self.ext.iter().find(|e| e.ty == ty).map(|e| e.data)
    }

    /// The related activity id, when the record carries one.
    pub fn related_activity_id(&self) -> Option<Guid> {
        let d = self.ext_item(ext_type::RELATED_ACTIVITYID)?;
        let bytes: [u8; 16] = d.get(..16)?.try_into().ok()?;
        Some(Guid(bytes))
    }

    /// When this is a loss record: what was lost and how much.
    pub fn loss(&self) -> Option<(LossKind, u64)> {
        if self.header.provider_id != LOST_EVENT_PROVIDER {
            return None;
        }
        let kind = LossKind::from_opcode(self.header.descriptor.opcode)?;
        let count = self
            .payload
            .get(..8)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
            .unwrap_or(1);
        Some((kind, count))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields() -> EventHeaderFields {
        EventHeaderFields {
            thread_id: 0xB34,
            process_id: 0x16F4,
            timestamp: 0x19_DAE2_C7EC,
            provider_id: "0CD1C309-0878-4515-83DB-749843B3F5C9".parse().unwrap(),
            descriptor: EventDescriptor {
                channel: 11,
                level: 2,
                keyword: 0x0000_4000_0000_0000,
                ..Default::default()
            },
            activity_id: Guid::ZERO,
        }
    }

    #[test]
    fn record_layout_matches_windows() {
        let ext = {
            let mut v = Vec::new();
            push_ext_item(&mut v, ext_type::PROV_TRAITS, true, b"\x0a\x00abcdefg\x00");
            push_ext_item(
                &mut v,
                ext_type::EVENT_SCHEMA_TL,
                false,
                b"\x05\x00\x00E\x00",
            );
            v
        };
        assert_eq!(&ext[..8], &[0x18, 0, 12, 0, 1, 0, 10, 0]);
        assert_eq!(&ext[0x18..0x20], &[0x10, 0, 11, 0, 0, 0, 5, 0]);
        let mut buf = vec![0xEEu8; 256];
        let n = write_event_record(&mut buf, &fields(), &ext, &[b"ab", b"c"]);
        let size = 0x50 + ext.len() + 3;
        assert_eq!(n, align8(size));
        // Flags: EXTENDED_INFO | NO_CPUTIME (Windows' system sessions keep the CPU times
        // instead; evtrace keeps none and says so).
        assert_eq!(&buf[..8], &[size as u8, 0, 0x13, 0xC0, 0x11, 0, 0, 0]);
        // Same header bytes as lxcore_kernel.etl's first event.
        assert_eq!(&buf[0x08..0x10], &[0x34, 0x0B, 0, 0, 0xF4, 0x16, 0, 0]);
        assert_eq!(
            &buf[0x18..0x20],
            &[0x09, 0xC3, 0xD1, 0x0C, 0x78, 0x08, 0x15, 0x45]
        );
        assert_eq!(
            &buf[0x28..0x38],
            &[0, 0, 0, 0x0B, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0x40, 0, 0]
        );
        assert!(buf[size..n].iter().all(|&b| b == 0), "padding is zero");
        assert_eq!(buf[n], 0xEE, "nothing written past the footprint");

        let rec = EventRecord::parse(&buf[..size], 0).unwrap();
        assert_eq!(rec.header, fields());
        assert_eq!(rec.ext.len(), 2);
        assert_eq!(
            rec.ext_item(ext_type::PROV_TRAITS).unwrap(),
            b"\x0a\x00abcdefg\x00"
        );
        assert_eq!(rec.payload, b"abc");
    }

    #[test]
    fn loss_records_round_trip() {
        let mut buf = [0u8; LOST_RECORD_SIZE];
        assert_eq!(
            write_lost_record(&mut buf, 77, LossKind::Buffers, 12, 1, 2),
            LOST_RECORD_SIZE
        );
        let rec = EventRecord::parse(&buf, 0).unwrap();
        assert_eq!(rec.loss(), Some((LossKind::Buffers, 12)));
        assert_eq!(rec.header.timestamp, 77);
        assert_eq!(
            LOST_EVENT_PROVIDER.to_string(),
            "6A399AE0-4BC6-4DE9-870B-3657F8947E7E"
        );
    }

    #[test]
    fn corrupt_records_are_errors() {
        let mut buf = vec![0u8; 0x80];
        let ext = {
            let mut v = Vec::new();
            push_ext_item(&mut v, 11, false, b"xyz");
            v
        };
        let n = write_event_record(&mut buf, &fields(), &ext, &[]);
        for cut in 0..n {
            let _ = EventRecord::parse(&buf[..cut], 0);
        }
        buf[0x56] = 0xFF; // data size larger than the item
        assert!(EventRecord::parse(&buf[..0x60], 0).is_err());
    }
}
