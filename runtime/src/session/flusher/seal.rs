//! A completed buffer made ready for the file: its header and tail stamped.

use std::sync::atomic::Ordering;

use crate::etl::{self, buffer_flags, buffer_type, BufferHeader};
use crate::session::core::SessionCore;

/// Stamps the header and tail of a completed buffer for the file.
#[allow(clippy::mut_from_ref)]
pub(super) fn stamp(core: &SessionCore, index: u32) -> &mut [u8] {
    let buf = core.pool.buffer(index);
    let used = buf.used();
    // SAFETY: `index` was taken off the sealed queue and is complete: a ring pool puts only
    // counted-complete buffers there, and for a log-file pool `take_sealed` waited a grace
    // period, so every writer that reserved in it has finished. The flusher owns it until it
    // releases it.
    let bytes = unsafe { buf.bytes_mut() };
    let flags = if etl::starts_with_loss(bytes, used) {
        buffer_flags::EVENTS_LOST
    } else {
        0
    };
    let (sequence, cpu) = (
        buf.sequence.load(Ordering::Relaxed),
        buf.cpu.load(Ordering::Relaxed),
    );
    write_buffer_header(core, bytes, used, sequence, cpu as u16, flags);
    etl::fill_tail(bytes, used);
    bytes
}

/// Writes the header of a buffer of this session that holds `used` bytes.
pub(super) fn write_buffer_header(
    core: &SessionCore,
    bytes: &mut [u8],
    used: usize,
    sequence: u64,
    cpu: u16,
    flags: u16,
) {
    BufferHeader {
        buffer_size: bytes.len() as u32,
        saved_offset: used as u32,
        timestamp: core.source.now(),
        sequence_number: sequence as i64,
        processor_index: cpu,
        logger_id: core.slot as u16 + 1,
        flags: flags | buffer_flags::PROCESSOR_INDEX,
        buffer_type: buffer_type::GENERIC,
    }
    .write_to(bytes);
}
