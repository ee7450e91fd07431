//! The writer's hot path: an event's constant record template, built once, and the records
//! written from it (with or without a related activity id).

use super::event::{event_flags, ext_type, write_header, EventDescriptor, EventHeaderFields};
use super::layout::{put_i64, put_u16, put_u32, EVENT_HEADER_SIZE, EXT_ITEM_HEADER_SIZE};
use crate::Guid;

/// The constant part of an event's records, built once per event definition: a complete
/// EVENT_HEADER with the provider, descriptor and extended-info flag filled in, followed by the
/// extended items. [`write_event_from_template`] copies it and patches the per-event fields, which
/// is cheaper on the hot path than writing the header field by field.
pub fn event_record_template(
    provider_id: Guid,
    descriptor: &EventDescriptor,
    ext: &[u8],
) -> Vec<u8> {
    let mut t = vec![0u8; EVENT_HEADER_SIZE + ext.len()];
    let h = EventHeaderFields {
        provider_id,
        descriptor: *descriptor,
        ..Default::default()
    };
    let flags = if ext.is_empty() {
        0
    } else {
        event_flags::EXTENDED_INFO
    };
    write_header(&mut t, EVENT_HEADER_SIZE + ext.len(), flags, &h);
    t[EVENT_HEADER_SIZE..].copy_from_slice(ext);
    t
}

/// Writes one EVENT_HEADER record from a [`event_record_template`]: the template, then the
/// payload pieces, zero padding to 8 bytes; patches Size, thread, process, time stamp and
/// activity id, and adds the session's own header flags (`session_flags`:
/// [`PRIVATE_SESSION`](event_flags::PRIVATE_SESSION) for a private session's records, else 0). `dst` must be exactly `align8(template.len() + payload length)` bytes (panics
/// otherwise); the size must be at most 65535.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub fn write_event_from_template(
    dst: &mut [u8],
    template: &[u8],
    session_flags: u16,
    thread_id: u32,
    process_id: u32,
    timestamp: i64,
    activity_id: &Guid,
    payload: &[&[u8]],
) {
    let at = copy_template_and_payload(dst, template, 0, payload);
    patch_header(
        dst,
        at,
        session_flags,
        thread_id,
        process_id,
        timestamp,
        activity_id,
    );
}

/// Bytes a related activity id adds to a record: its extended item, header and GUID.
pub const RELATED_ACTIVITY_ITEM_SIZE: usize = EXT_ITEM_HEADER_SIZE + 16;

/// [`write_event_from_template`] with a related activity id, recorded where Windows puts it: an
/// `EVENT_HEADER_EXT_TYPE_RELATED_ACTIVITYID` item first after the header, before the template's
/// own items. `dst` must be exactly `align8(template.len() + RELATED_ACTIVITY_ITEM_SIZE + payload
/// length)` bytes.
#[inline]
#[allow(clippy::too_many_arguments)]
pub fn write_event_from_template_related(
    dst: &mut [u8],
    template: &[u8],
    session_flags: u16,
    thread_id: u32,
    process_id: u32,
    timestamp: i64,
    activity_id: &Guid,
    related_activity_id: &Guid,
    payload: &[&[u8]],
) {
    let item = RELATED_ACTIVITY_ITEM_SIZE;
    let at = copy_template_and_payload(dst, template, item, payload);
    // The header stays in front; the template's items move up to make room for the new one.
    dst.copy_within(EVENT_HEADER_SIZE..template.len(), EVENT_HEADER_SIZE + item);
    let more = u16::from(template.len() > EVENT_HEADER_SIZE);
    let ext = &mut dst[EVENT_HEADER_SIZE..EVENT_HEADER_SIZE + item];
    put_u16(ext, 0, item as u16);
    put_u16(ext, 2, ext_type::RELATED_ACTIVITYID);
    put_u16(ext, 4, more);
    put_u16(ext, 6, 16);
    ext[8..].copy_from_slice(&related_activity_id.0);
    patch_header(
        dst,
        at,
        session_flags | event_flags::EXTENDED_INFO,
        thread_id,
        process_id,
        timestamp,
        activity_id,
    );
}

/// Copies the template to the start of `dst` and the payload after it and `gap` more bytes,
/// zeroing the padding; returns the record's size.
#[inline(always)]
fn copy_template_and_payload(
    dst: &mut [u8],
    template: &[u8],
    gap: usize,
    payload: &[&[u8]],
) -> usize {
    let footprint = dst.len();
    // Zero the last word first: the padding is then zero whatever the payload leaves of it.
    dst[footprint - 8..].fill(0);
    let (head, rest) = dst.split_at_mut(template.len() + gap);
    head[..template.len()].copy_from_slice(template);
    let mut at = 0;
    for p in payload {
        copy_small(&mut rest[at..at + p.len()], p);
        at += p.len();
    }
    template.len() + gap + at
}

/// Patches the per-event fields of a record's header and adds `flags` to the template's.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn patch_header(
    head: &mut [u8],
    size: usize,
    flags: u16,
    thread_id: u32,
    process_id: u32,
    timestamp: i64,
    activity_id: &Guid,
) {
    put_u16(head, 0x00, size as u16);
    let flags = u16::from_le_bytes([head[0x04], head[0x05]]) | flags;
    put_u16(head, 0x04, flags);
    put_u32(head, 0x08, thread_id);
    put_u32(head, 0x0C, process_id);
    put_i64(head, 0x10, timestamp);
    if *activity_id != Guid::ZERO {
        head[0x40..0x50].copy_from_slice(&activity_id.0);
    }
}

/// Copies `src` into `dst` (same length). Payload pieces are mostly a few bytes (one field
/// each); two overlapping word moves beat a call to `memcpy` for those.
#[inline(always)]
fn copy_small(dst: &mut [u8], src: &[u8]) {
    let n = src.len();
    debug_assert_eq!(dst.len(), n);
    if (8..=16).contains(&n) {
        let a = u64::from_ne_bytes(src[..8].try_into().unwrap_or([0; 8]));
        let b = u64::from_ne_bytes(src[n - 8..].try_into().unwrap_or([0; 8]));
        dst[n - 8..].copy_from_slice(&b.to_ne_bytes());
        dst[..8].copy_from_slice(&a.to_ne_bytes());
    } else if (4..8).contains(&n) {
        let a = u32::from_ne_bytes(src[..4].try_into().unwrap_or([0; 4]));
        let b = u32::from_ne_bytes(src[n - 4..].try_into().unwrap_or([0; 4]));
        dst[n - 4..].copy_from_slice(&b.to_ne_bytes());
        dst[..4].copy_from_slice(&a.to_ne_bytes());
    } else if n < 4 {
        for (d, s) in dst.iter_mut().zip(src) {
            *d = *s;
        }
    } else {
        dst.copy_from_slice(src);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::etl::event::{event_record_size, push_ext_item, write_event_record, EventRecord};
    use crate::etl::layout::align8;

    #[test]
    fn small_copies_copy_every_length() {
        for n in 0..40usize {
            let src: Vec<u8> = (0..n as u8)
                .map(|b| b.wrapping_mul(37).wrapping_add(1))
                .collect();
            let mut dst = vec![0u8; n];
            copy_small(&mut dst, &src);
            assert_eq!(dst, src, "length {n}");
        }
    }

    #[test]
    fn template_writer_equals_the_field_writer() {
        let d = EventDescriptor {
            id: 7,
            version: 1,
            channel: 11,
            level: 4,
            opcode: 2,
            task: 3,
            keyword: 0x55,
        };
        let provider = Guid::from_name("Template-Test");
        let ext = vec![0xAB; 24];
        let payload: [&[u8]; 2] = [b"abc", &[1, 2, 3, 4, 5]];
        let activity = Guid::from_name("activity");
        let size = align8(event_record_size(ext.len(), 8));
        let mut a = vec![0xEE; size];
        let mut b = vec![0xEE; size];
        let h = EventHeaderFields {
            thread_id: 11,
            process_id: 22,
            timestamp: 33,
            provider_id: provider,
            descriptor: d,
            activity_id: activity,
        };
        write_event_record(&mut a, &h, &ext, &payload);
        let t = event_record_template(provider, &d, &ext);
        write_event_from_template(&mut b, &t, 0, 11, 22, 33, &activity, &payload);
        assert_eq!(a, b);
    }

    #[test]
    fn related_activity_is_the_first_extended_item() {
        let d = EventDescriptor {
            id: 9,
            opcode: 1,
            ..Default::default()
        };
        let provider = Guid::from_name("Related-Test");
        let mut ext = Vec::new();
        push_ext_item(&mut ext, ext_type::PROV_TRAITS, true, b"\x05\x00ab\x00");
        push_ext_item(&mut ext, ext_type::EVENT_SCHEMA_TL, false, b"xyz");
        let (activity, related) = (Guid::from_name("a"), Guid::from_name("r"));
        let payload: [&[u8]; 2] = [b"hello", &[7; 9]];
        // The same record written by the field writer, with the item in front of `ext`.
        let mut with_item = Vec::new();
        push_ext_item(
            &mut with_item,
            ext_type::RELATED_ACTIVITYID,
            true,
            &related.0,
        );
        with_item.extend_from_slice(&ext);
        let h = EventHeaderFields {
            thread_id: 1,
            process_id: 2,
            timestamp: 3,
            provider_id: provider,
            descriptor: d,
            activity_id: activity,
        };
        let size = align8(event_record_size(with_item.len(), 14));
        let (mut a, mut b) = (vec![0xEE; size], vec![0xEE; size]);
        write_event_record(&mut a, &h, &with_item, &payload);
        let t = event_record_template(provider, &d, &ext);
        write_event_from_template_related(&mut b, &t, 0, 1, 2, 3, &activity, &related, &payload);
        assert_eq!(a, b);
        let rec = EventRecord::parse(&b, 0).unwrap();
        assert_eq!(rec.header.activity_id, activity);
        assert_eq!(rec.related_activity_id(), Some(related));
        assert_eq!(rec.ext.len(), 3);
        assert_eq!(rec.ext_item(ext_type::EVENT_SCHEMA_TL), Some(&b"xyz"[..]));
        assert_eq!(&rec.payload[..14], &[&b"hello"[..], &[7; 9]].concat()[..]);

        // Without extended items of its own the item says none follow.
        let t = event_record_template(provider, &d, &[]);
        let size = align8(t.len() + RELATED_ACTIVITY_ITEM_SIZE);
        let mut c = vec![0xEE; size];
        write_event_from_template_related(&mut c, &t, 0, 1, 2, 3, &activity, &related, &[]);
        let rec = EventRecord::parse(&c, 0).unwrap();
        assert_eq!(rec.related_activity_id(), Some(related));
        assert_eq!(&c[EVENT_HEADER_SIZE + 4..EVENT_HEADER_SIZE + 6], &[0, 0]);
    }
}
