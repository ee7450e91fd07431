//! TraceMessage (WPP) records: an 8-byte header, the optional fields the option flags select,
//! then the argument bytes (their types are not recorded; the format comes from the TMF).

use super::layout::{
    align8, put_i64, put_u16, put_u32, Bytes, MESSAGE_HEADER_SIZE, MESSAGE_MARKER,
};
use super::FormatError;
use crate::Guid;

/// TraceMessage option flags (`TRACE_MESSAGE_*`).
pub mod message_flags {
    /// A u32 sequence number is recorded.
    pub const SEQUENCE: u16 = 0x1;
    /// The message GUID (16 bytes) is recorded.
    pub const GUID: u16 = 0x2;
    /// A u32 component id is recorded instead of the GUID (wins over GUID).
    pub const COMPONENTID: u16 = 0x4;
    /// The timestamp (8 bytes) is recorded.
    pub const TIMESTAMP: u16 = 0x8;
    /// Kernel/user times (not recorded by evtrace; readers skip nothing for it).
    pub const PERFORMANCE_TIMESTAMP: u16 = 0x10;
    /// Thread id and process id (u32 each) are recorded.
    pub const SYSTEMINFO: u16 = 0x20;
}

/// The header fields of one TraceMessage record. Fields whose flag is not set are not written
/// (and read back as zero).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct MessageHeaderFields {
    /// [`message_flags`].
    pub flags: u16,
    /// Message number (index into the TMF of the GUID).
    pub message_number: u16,
    /// Sequence number (flag SEQUENCE).
    pub sequence: u32,
    /// Message GUID (flag GUID).
    pub guid: Guid,
    /// Component id (flag COMPONENTID).
    pub component_id: u32,
    /// Raw timestamp (flag TIMESTAMP).
    pub timestamp: i64,
    /// Thread id (flag SYSTEMINFO).
    pub thread_id: u32,
    /// Process id (flag SYSTEMINFO).
    pub process_id: u32,
}

fn optional_len(flags: u16) -> usize {
    use message_flags::*;
    let mut n = 0;
    if flags & SEQUENCE != 0 {
        n += 4;
    }
    if flags & COMPONENTID != 0 {
        n += 4;
    } else if flags & GUID != 0 {
        n += 16;
    }
    if flags & TIMESTAMP != 0 {
        n += 8;
    }
    if flags & SYSTEMINFO != 0 {
        n += 8;
    }
    n
}

/// Size of a message record (its `Size` field) with these flags and `args_len` argument bytes;
/// the footprint in a buffer is `align8` of it.
pub fn message_record_size(flags: u16, args_len: usize) -> usize {
    MESSAGE_HEADER_SIZE + optional_len(flags) + args_len
}

/// Writes one TraceMessage record into `dst`; returns its footprint (`align8` of its size),
/// padding zeroed. Panics if `dst` is shorter than the footprint; the caller keeps the size at
/// most 65535.
pub fn write_message_record(dst: &mut [u8], h: &MessageHeaderFields, args: &[&[u8]]) -> usize {
    use message_flags::*;
    let args_len: usize = args.iter().map(|a| a.len()).sum();
    let size = message_record_size(h.flags, args_len);
    debug_assert!(
        size <= 0xFFFF,
        "message record of {size} bytes exceeds 64 KB"
    );
    let footprint = align8(size);
    let dst = &mut dst[..footprint];
    put_u16(dst, 0, size as u16);
    dst[2] = 0;
    dst[3] = MESSAGE_MARKER;
    put_u16(dst, 4, h.message_number);
    put_u16(dst, 6, h.flags);
    let mut at = MESSAGE_HEADER_SIZE;
    if h.flags & SEQUENCE != 0 {
        put_u32(dst, at, h.sequence);
        at += 4;
    }
    if h.flags & COMPONENTID != 0 {
        put_u32(dst, at, h.component_id);
        at += 4;
    } else if h.flags & GUID != 0 {
        dst[at..at + 16].copy_from_slice(&h.guid.0);
        at += 16;
    }
    if h.flags & TIMESTAMP != 0 {
        put_i64(dst, at, h.timestamp);
        at += 8;
    }
    if h.flags & SYSTEMINFO != 0 {
        put_u32(dst, at, h.thread_id);
        put_u32(dst, at + 4, h.process_id);
        at += 8;
    }
    for a in args {
        dst[at..at + a.len()].copy_from_slice(a);
        at += a.len();
    }
    dst[at..].fill(0);
    footprint
}

/// A decoded TraceMessage record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageRecord<'a> {
    /// Header fields (unflagged ones zero).
    pub header: MessageHeaderFields,
    /// The argument bytes.
    pub args: &'a [u8],
}

impl<'a> MessageRecord<'a> {
    /// Decodes the record that `rec` holds exactly (`rec.len()` = its `Size`).
    pub fn parse(rec: &'a [u8], file_offset: u64) -> Result<MessageRecord<'a>, FormatError> {
        use message_flags::*;
        let b = Bytes::new(rec, file_offset);
        let flags = b.u16(6, "message OptionFlags")?;
        let mut h = MessageHeaderFields {
            flags,
            message_number: b.u16(4, "MessageNumber")?,
            ..Default::default()
        };
        let mut at = MESSAGE_HEADER_SIZE;
        if flags & SEQUENCE != 0 {
            h.sequence = b.u32(at, "message sequence")?;
            at += 4;
        }
        if flags & COMPONENTID != 0 {
            h.component_id = b.u32(at, "message component id")?;
            at += 4;
        } else if flags & GUID != 0 {
            h.guid = b.guid(at, "message GUID")?;
            at += 16;
        }
        if flags & TIMESTAMP != 0 {
            h.timestamp = b.i64(at, "message timestamp")?;
            at += 8;
        }
        if flags & SYSTEMINFO != 0 {
            h.thread_id = b.u32(at, "message thread id")?;
            h.process_id = b.u32(at + 4, "message process id")?;
            at += 8;
        }
        Ok(MessageRecord {
            header: h,
            args: b.slice(at, rec.len() - at, "message arguments")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use message_flags::*;

    #[test]
    fn every_flag_combination_round_trips() {
        for flags in 0..0x40u16 {
            let h = MessageHeaderFields {
                flags,
                message_number: 10,
                sequence: if flags & SEQUENCE != 0 { 7 } else { 0 },
                guid: if flags & GUID != 0 && flags & COMPONENTID == 0 {
                    Guid::from_name("x")
                } else {
                    Guid::ZERO
                },
                component_id: if flags & COMPONENTID != 0 { 99 } else { 0 },
                timestamp: if flags & TIMESTAMP != 0 { -5 } else { 0 },
                thread_id: if flags & SYSTEMINFO != 0 { 3 } else { 0 },
                process_id: if flags & SYSTEMINFO != 0 { 4 } else { 0 },
            };
            let mut buf = [0xAAu8; 128];
            let n = write_message_record(&mut buf, &h, &[b"ar", b"gs"]);
            let size = message_record_size(flags, 4);
            assert_eq!(n, align8(size));
            assert_eq!(buf[3], 0x90);
            let r = MessageRecord::parse(&buf[..size], 0).unwrap();
            assert_eq!(r.header, h);
            assert_eq!(r.args, b"args");
        }
    }

    #[test]
    fn layout_is_sequence_guid_timestamp_ids() {
        let h = MessageHeaderFields {
            flags: SEQUENCE | GUID | TIMESTAMP | SYSTEMINFO,
            message_number: 0x0102,
            sequence: 0x11,
            guid: Guid([0x22; 16]),
            timestamp: 0x33,
            thread_id: 0x44,
            process_id: 0x55,
            ..Default::default()
        };
        let mut buf = [0u8; 64];
        write_message_record(&mut buf, &h, &[]);
        assert_eq!(&buf[..8], &[44, 0, 0, 0x90, 2, 1, 0x2B, 0]);
        assert_eq!(buf[8], 0x11);
        assert_eq!(buf[12], 0x22);
        assert_eq!(buf[28], 0x33);
        assert_eq!(buf[36], 0x44);
        assert_eq!(buf[40], 0x55);
    }
}
