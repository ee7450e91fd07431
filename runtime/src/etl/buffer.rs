//! The buffer header (`WMI_BUFFER_HEADER`), the `0xFF` tail and compressed buffers.

use super::event::LOST_EVENT_PROVIDER;
use super::layout::{
    align8, put_i64, put_u16, put_u32, Bytes, BUFFER_HEADER_SIZE, EVENT_HEADER_SIZE,
};
use super::{xpress, FormatError};

/// `BufferFlag` bits (offset 0x34).
pub mod buffer_flags {
    /// The buffer was flushed before it was full (flush timer, stop, explicit flush).
    pub const FLUSH_MARKER: u16 = 0x1;
    /// Events were lost (no free buffer) before this buffer.
    pub const EVENTS_LOST: u16 = 0x2;
    /// A buffer was lost (could not be written) before this one.
    pub const BUFFER_LOST: u16 = 0x4;
    /// Real-time backup file corrupt (Windows; not written by evtrace).
    pub const RTBACKUP_CORRUPT: u16 = 0x8;
    /// Real-time backup buffer (Windows; not written by evtrace).
    pub const RTBACKUP: u16 = 0x10;
    /// `ProcessorIndex` is valid.
    pub const PROCESSOR_INDEX: u16 = 0x20;
    /// The bytes after the header are an MS-XCA plain LZ77 stream.
    pub const COMPRESSED: u16 = 0x40;
}

/// `BufferType` values (offset 0x36).
pub mod buffer_type {
    /// Ordinary event buffer.
    pub const GENERIC: u16 = 0;
    /// Rundown buffer.
    pub const RUNDOWN: u16 = 1;
    /// Context-switch buffer.
    pub const CTX_SWAP: u16 = 2;
    /// Reference-time buffer.
    pub const REFTIME: u16 = 3;
    /// The header buffer at the start of a file.
    pub const HEADER: u16 = 4;
    /// Batched buffer.
    pub const BATCHED: u16 = 5;
    /// Empty marker buffer.
    pub const EMPTY_MARKER: u16 = 6;
    /// Debug-info buffer.
    pub const DBG_INFO: u16 = 7;
}

/// `State` written into flushed buffers (`EtwBufferStateFlush`). In the header buffer of a
/// compressed file the low 16 bits name the compression format, and `COMPRESSION_FORMAT_XPRESS`
/// is also 3.
pub const STATE_FLUSHED: u32 = 3;

/// The fields of a buffer header (ETW-REFERENCE s.10) that evtrace writes and reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct BufferHeader {
    /// Size of the buffer in bytes (of the stored buffer, for a compressed one).
    pub buffer_size: u32,
    /// Bytes in use, header included (the uncompressed size for a compressed buffer).
    pub saved_offset: u32,
    /// Flush time stamp (raw clock value).
    pub timestamp: i64,
    /// Logger-wide sequence number: 0 for the header buffer, then increasing.
    pub sequence_number: i64,
    /// Processor whose events the buffer holds.
    pub processor_index: u16,
    /// Session (logger) id.
    pub logger_id: u16,
    /// [`buffer_flags`].
    pub flags: u16,
    /// [`buffer_type`].
    pub buffer_type: u16,
}

impl BufferHeader {
    /// Writes all 0x48 header bytes into `buf[..0x48]`: `SavedOffset`, `CurrentOffset` and
    /// `Offset` all get `saved_offset` (readers differ in which they trust), `State` = 3.
    ///
    /// Panics if `buf` is shorter than [`BUFFER_HEADER_SIZE`].
    pub fn write_to(&self, buf: &mut [u8]) {
        let h = &mut buf[..BUFFER_HEADER_SIZE];
        h.fill(0);
        put_u32(h, 0x00, self.buffer_size);
        put_u32(h, 0x04, self.saved_offset);
        put_u32(h, 0x08, self.saved_offset);
        put_i64(h, 0x10, self.timestamp);
        put_i64(h, 0x18, self.sequence_number);
        put_u16(h, 0x28, self.processor_index);
        put_u16(h, 0x2A, self.logger_id);
        put_u32(h, 0x2C, STATE_FLUSHED);
        put_u32(h, 0x30, self.saved_offset);
        put_u16(h, 0x34, self.flags);
        put_u16(h, 0x36, self.buffer_type);
    }

    /// Reads the header fields from the first 0x48 bytes of `buf`.
    ///
    /// `SavedOffset` is taken from offset 0x04, falling back to `Offset` (0x30) when 0x04 is out of
    /// range (Windows leaves kernel values in `CurrentOffset`; both others agree in real files).
    /// Checks only that the header itself is present; [`BufferHeader::check`] validates sizes.
    pub fn parse(buf: &[u8]) -> Result<BufferHeader, FormatError> {
        Self::parse_at(buf, 0)
    }

    pub(crate) fn parse_at(buf: &[u8], file_offset: u64) -> Result<BufferHeader, FormatError> {
        let b = Bytes::new(buf, file_offset);
        b.slice(0, BUFFER_HEADER_SIZE, "buffer header")?;
        let buffer_size = b.u32(0x00, "BufferSize")?;
        let flags = b.u16(0x34, "BufferFlag")?;
        let mut saved_offset = b.u32(0x04, "SavedOffset")?;
        let offset = b.u32(0x30, "Offset")?;
        // A compressed buffer's SavedOffset is its uncompressed size, larger than BufferSize.
        let limit = if flags & buffer_flags::COMPRESSED != 0 {
            u32::MAX
        } else {
            buffer_size
        };
        let fits = |o: u32| (o as usize) >= BUFFER_HEADER_SIZE && o <= limit;
        // Windows Vista and later write the fill size at both 0x04 and 0x30; XP and 2003 kept a
        // buffer counter at 0x04 (`Wnode.ProviderId`), so where the two disagree on an
        // uncompressed buffer, 0x30 is the one to trust (as dissect.etl does).
        if !fits(saved_offset) || (saved_offset != offset && limit == buffer_size && fits(offset)) {
            saved_offset = offset;
        }
        Ok(BufferHeader {
            buffer_size,
            saved_offset,
            timestamp: b.i64(0x10, "TimeStamp")?,
            sequence_number: b.i64(0x18, "SequenceNumber")?,
            // Without flag 0x20 the u16 is `ProcessorNumber` (u8) and an alignment byte.
            processor_index: if flags & buffer_flags::PROCESSOR_INDEX != 0 {
                b.u16(0x28, "ProcessorIndex")?
            } else {
                u16::from(b.u8(0x28, "ProcessorNumber")?)
            },
            logger_id: b.u16(0x2A, "LoggerId")?,
            flags,
            buffer_type: b.u16(0x36, "BufferType")?,
        })
    }

    /// Whether the buffer is stored compressed.
    pub fn is_compressed(&self) -> bool {
        self.flags & buffer_flags::COMPRESSED != 0
    }

    /// Validates the sizes against the file's nominal buffer size: returns the number of bytes the
    /// buffer occupies in the file. An uncompressed buffer must be exactly `nominal` bytes, but
    /// for the header buffer at offset 0, which Windows' compressed files store shorter (1 KB
    /// before 64 KB buffers); a compressed one at most `nominal` (it is stored shortened).
    /// `SavedOffset` must lie between the header and `nominal` (the short header buffer's own
    /// size).
    pub fn check(&self, nominal: u32, file_offset: u64) -> Result<usize, FormatError> {
        let err = |what: String| Err(FormatError::new(file_offset, what));
        let min = BUFFER_HEADER_SIZE as u32;
        let short_header = file_offset == 0
            && !self.is_compressed()
            && self.buffer_size > min
            && self.buffer_size < nominal;
        if short_header {
            if self.saved_offset < min || self.saved_offset > self.buffer_size {
                return err(format!(
                    "SavedOffset {:#x} outside {min:#x}..={:#x}",
                    self.saved_offset, self.buffer_size
                ));
            }
            return Ok(self.buffer_size as usize);
        }
        if self.is_compressed() {
            if self.buffer_size <= min || self.buffer_size > nominal {
                return err(format!(
                    "compressed buffer size {:#x} outside {min:#x}..={nominal:#x}",
                    self.buffer_size
                ));
            }
        } else if self.buffer_size != nominal {
            return err(format!(
                "buffer size {:#x} differs from the file's {nominal:#x}",
                self.buffer_size
            ));
        }
        if self.saved_offset < min || self.saved_offset > nominal {
            return err(format!(
                "SavedOffset {:#x} outside {min:#x}..={nominal:#x}",
                self.saved_offset
            ));
        }
        Ok(self.buffer_size as usize)
    }
}

/// Whether the buffer's first record is a loss report (an RTLostEvent record), which writers
/// put at the head of a buffer after dropping events.
pub fn starts_with_loss(bytes: &[u8], used: usize) -> bool {
    used >= BUFFER_HEADER_SIZE + EVENT_HEADER_SIZE
        && bytes[BUFFER_HEADER_SIZE + 0x18..BUFFER_HEADER_SIZE + 0x28] == LOST_EVENT_PROVIDER.0
}

/// The events in a buffer's first `used` bytes, a leading loss report not counted. Every record
/// starts with its u16 size; a zero size ends the walk (the rest of a buffer is zero until
/// written).
pub fn count_records(bytes: &[u8], used: usize) -> u64 {
    let mut off = BUFFER_HEADER_SIZE;
    let mut n = 0;
    let skip_first = starts_with_loss(bytes, used);
    while off + 2 <= used.min(bytes.len()) {
        let size = u16::from_le_bytes([bytes[off], bytes[off + 1]]) as usize;
        if size == 0 {
            break;
        }
        if !(skip_first && off == BUFFER_HEADER_SIZE) {
            n += 1;
        }
        off += align8(size);
    }
    n
}

/// The events of a whole finished buffer: its records up to the header's SavedOffset (past it
/// lies the `0xFF` tail, not records); none if the header does not parse.
pub fn buffer_events(buf: &[u8]) -> u64 {
    match BufferHeader::parse(buf) {
        Ok(h) => count_records(buf, (h.saved_offset as usize).min(buf.len())),
        Err(_) => 0,
    }
}

/// Fills `buf[used..]` with `0xFF`, the tail ETW leaves after the last record.
pub fn fill_tail(buf: &mut [u8], used: usize) {
    if used < buf.len() {
        buf[used..].fill(0xFF);
    }
}

/// Compresses a finished buffer for compressed log mode (`EVENT_TRACE_COMPRESSED_MODE`).
///
/// `buf` is a complete buffer whose header says `SavedOffset`; the bytes from 0x48 to
/// `SavedOffset` are compressed with MS-XCA plain LZ77 and `out` receives what to store in the
/// file: the same header with `BufferFlag` | 0x40 and `BufferSize` = 0x48 + compressed length
/// (the stored size; `SavedOffset`/`Offset` keep the uncompressed size), then the compressed
/// stream, unpadded (trailing bytes would decode as more literals). Returns `false`, leaving
/// `out` empty, when compression would not make the buffer smaller: store `buf` as it is then.
pub fn compress_buffer(buf: &[u8], out: &mut Vec<u8>) -> bool {
    out.clear();
    let Ok(h) = BufferHeader::parse(buf) else {
        return false;
    };
    let used = (h.saved_offset as usize).min(buf.len());
    if used <= BUFFER_HEADER_SIZE {
        return false;
    }
    out.extend_from_slice(&buf[..BUFFER_HEADER_SIZE]);
    xpress::compress_into(&buf[BUFFER_HEADER_SIZE..used], out);
    if out.len() >= buf.len() || out.len() > u32::MAX as usize {
        out.clear();
        return false;
    }
    let stored = out.len() as u32;
    put_u32(out, 0x00, stored);
    let flags = h.flags | buffer_flags::COMPRESSED;
    put_u16(out, 0x34, flags);
    true
}

/// Expands a stored compressed buffer (`stored` = header + compressed stream, `BufferSize` bytes)
/// into a complete uncompressed buffer of `nominal` bytes: the header (flag 0x40 cleared,
/// `BufferSize` = `nominal`), the decompressed records up to `SavedOffset`, then the `0xFF` tail.
pub fn decompress_buffer(
    stored: &[u8],
    nominal: u32,
    file_offset: u64,
) -> Result<Vec<u8>, FormatError> {
    let h = BufferHeader::parse_at(stored, file_offset)?;
    let stored_len = (h.buffer_size as usize).min(stored.len());
    if stored_len < BUFFER_HEADER_SIZE || (h.saved_offset as usize) < BUFFER_HEADER_SIZE {
        return Err(FormatError::new(
            file_offset,
            "compressed buffer shorter than its header",
        ));
    }
    let want = h.saved_offset as usize - BUFFER_HEADER_SIZE;
    if h.saved_offset > nominal {
        return Err(FormatError::new(
            file_offset,
            format!(
                "SavedOffset {:#x} larger than the buffer size {nominal:#x}",
                h.saved_offset
            ),
        ));
    }
    let mut out = Vec::with_capacity(nominal as usize);
    out.extend_from_slice(&stored[..BUFFER_HEADER_SIZE]);
    xpress::decompress_into(&stored[BUFFER_HEADER_SIZE..stored_len], want, &mut out).map_err(
        |e| FormatError::new(file_offset + BUFFER_HEADER_SIZE as u64 + e.offset, e.what),
    )?;
    if out.len() != h.saved_offset as usize {
        return Err(FormatError::new(
            file_offset,
            format!(
                "compressed buffer expands to {:#x} bytes, SavedOffset says {:#x}",
                out.len(),
                h.saved_offset
            ),
        ));
    }
    put_u32(&mut out, 0x00, nominal);
    put_u16(&mut out, 0x34, h.flags & !buffer_flags::COMPRESSED);
    out.resize(nominal as usize, 0xFF);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_and_sets_the_three_offsets() {
        let h = BufferHeader {
            buffer_size: 0x2000,
            saved_offset: 0x1A0,
            timestamp: 0x19_DEAF_E6FA,
            sequence_number: 2,
            processor_index: 3,
            logger_id: 0x14,
            flags: buffer_flags::PROCESSOR_INDEX,
            buffer_type: buffer_type::GENERIC,
        };
        let mut buf = vec![0xAAu8; 0x2000];
        h.write_to(&mut buf);
        assert_eq!(&buf[0x04..0x08], &0x1A0u32.to_le_bytes());
        assert_eq!(&buf[0x08..0x0C], &0x1A0u32.to_le_bytes());
        assert_eq!(&buf[0x30..0x34], &0x1A0u32.to_le_bytes());
        assert_eq!(&buf[0x2C..0x30], &3u32.to_le_bytes());
        assert_eq!(BufferHeader::parse(&buf).unwrap(), h);
        assert_eq!(h.check(0x2000, 0).unwrap(), 0x2000);
        assert!(h.check(0x1000, 0).is_err());
    }

    #[test]
    fn tail_is_ff() {
        let mut buf = vec![0u8; 16];
        fill_tail(&mut buf, 10);
        assert_eq!(&buf[..10], &[0; 10]);
        assert_eq!(&buf[10..], &[0xFF; 6]);
        fill_tail(&mut buf, 99);
    }

    #[test]
    fn compressed_buffer_round_trips() {
        let mut buf = vec![0u8; 0x1000];
        let used = 0x48 + 0x400;
        for (i, b) in buf[0x48..used].iter_mut().enumerate() {
            *b = (i % 13) as u8;
        }
        fill_tail(&mut buf, used);
        BufferHeader {
            buffer_size: 0x1000,
            saved_offset: used as u32,
            sequence_number: 5,
            flags: buffer_flags::PROCESSOR_INDEX,
            ..Default::default()
        }
        .write_to(&mut buf);
        let mut stored = Vec::new();
        assert!(compress_buffer(&buf, &mut stored));
        assert!(stored.len() < 0x200, "{}", stored.len());
        let h = BufferHeader::parse(&stored).unwrap();
        assert!(h.is_compressed());
        assert_eq!(h.buffer_size as usize, stored.len());
        assert_eq!(h.saved_offset as usize, used);
        let back = decompress_buffer(&stored, 0x1000, 0).unwrap();
        assert_eq!(back, buf);
    }

    #[test]
    fn incompressible_buffers_stay_as_they_are() {
        let mut buf = vec![0u8; 0x100];
        let mut x: u32 = 1;
        for b in buf.iter_mut() {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            *b = x as u8;
        }
        BufferHeader {
            buffer_size: 0x100,
            saved_offset: 0x100,
            ..Default::default()
        }
        .write_to(&mut buf);
        let mut out = vec![1, 2, 3];
        assert!(!compress_buffer(&buf, &mut out));
        assert!(out.is_empty());
    }
}
