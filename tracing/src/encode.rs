//! `tracing` field values -> TraceLogging payload bytes, with each field's type.
//!
//! Values keep their native types: u64/i64 as UINT64/INT64, f64 as DOUBLE, bool as BOOL32,
//! str as a NUL-terminated UTF-8 ANSISTRING, bytes as BINARY (u16 length first), u128/i128 as
//! 16 bytes of BINARY with OutType UNSIGNED/SIGNED (no 128-bit InType exists); `Debug` and
//! `Display` values (and errors) become strings.

use std::fmt::{self, Write as _};

use evtrace_schema::{in_type, out_type};
use tracing_core::field::{Field, Visit};

/// One field's TraceLogging type: (InType, OutType).
pub type FieldType = (u8, u8);

/// The types a value can be recorded with.
pub mod types {
    use super::*;
    /// u64.
    pub const U64: FieldType = (in_type::UINT64, 0);
    /// i64.
    pub const I64: FieldType = (in_type::INT64, 0);
    /// u128: 16 bytes little-endian.
    pub const U128: FieldType = (in_type::BINARY, out_type::UNSIGNED);
    /// i128: 16 bytes little-endian.
    pub const I128: FieldType = (in_type::BINARY, out_type::SIGNED);
    /// f64.
    pub const F64: FieldType = (in_type::DOUBLE, 0);
    /// bool as a u32.
    pub const BOOL: FieldType = (in_type::BOOL32, 0);
    /// Text, NUL-terminated.
    pub const STR: FieldType = (in_type::ANSI_STRING, out_type::UTF8);
    /// Bytes, u16 length first.
    pub const BYTES: FieldType = (in_type::BINARY, 0);
}

/// A field the payload holds: its index in the callsite's field set and its type.
pub type Slot = (u16, FieldType);

/// Where a value goes: the payload bytes and, per field, its slot. Only the first
/// `max_fields` fields are kept; the rest are counted in `dropped_fields`.
///
/// A callsite records the same signature nearly every time, so a payload can expect one (the
/// thread's last for the site): while the fields match it nothing is collected, and the
/// signature needs no comparing afterwards. The first field that differs copies what matched
/// into `slots` and collection goes on from there.
pub struct Payload<'a> {
    /// The payload bytes.
    pub bytes: &'a mut Vec<u8>,
    slots: &'a mut Vec<Slot>,
    expect: &'static [Slot],
    kept: usize,
    diverged: bool,
    max_fields: usize,
    /// Fields left out for being over `max_fields`.
    pub dropped_fields: usize,
}

impl<'a> Payload<'a> {
    /// A payload collecting its slots into `slots` after those already there.
    pub fn collecting(bytes: &'a mut Vec<u8>, slots: &'a mut Vec<Slot>, max_fields: usize) -> Self {
        Payload {
            kept: slots.len(),
            bytes,
            slots,
            expect: &[],
            diverged: true,
            max_fields,
            dropped_fields: 0,
        }
    }

    /// A payload expecting the signature `expect`; `slots` must be empty.
    pub fn expecting(
        bytes: &'a mut Vec<u8>,
        slots: &'a mut Vec<Slot>,
        max_fields: usize,
        expect: &'static [Slot],
    ) -> Self {
        debug_assert!(slots.is_empty());
        Payload {
            bytes,
            slots,
            expect,
            kept: 0,
            diverged: false,
            max_fields,
            dropped_fields: 0,
        }
    }

    /// Starts a field with this slot; false when it is over the limit (and then counted).
    #[inline(always)]
    pub fn push_slot(&mut self, slot: Slot) -> bool {
        if self.kept >= self.max_fields {
            self.dropped_fields += 1;
            return false;
        }
        if !self.diverged && self.expect.get(self.kept) == Some(&slot) {
            self.kept += 1;
            return true;
        }
        self.diverge(slot);
        true
    }

    /// Collects from here on: what matched so far, then `slot`.
    #[cold]
    fn diverge(&mut self, slot: Slot) {
        if !self.diverged {
            self.diverged = true;
            self.slots.extend_from_slice(&self.expect[..self.kept]);
        }
        self.slots.push(slot);
        self.kept += 1;
    }

    #[inline(always)]
    fn slot(&mut self, field: &Field, ty: FieldType) -> bool {
        self.push_slot((field.index() as u16, ty))
    }

    /// Whether the fields recorded are exactly the expected signature.
    pub fn matches_expected(&self) -> bool {
        !self.diverged && self.kept == self.expect.len()
    }

    /// The fields' slots, in record order.
    pub fn slots(&self) -> &[Slot] {
        if self.diverged {
            self.slots
        } else {
            &self.expect[..self.kept]
        }
    }

    /// A string up to its first NUL (a NUL inside would end it early for readers and shift
    /// every field after it), then the NUL.
    #[inline]
    pub fn push_str(bytes: &mut Vec<u8>, s: &str) {
        // `find` on a char searches with memchr: a byte loop costs more than the copy.
        let n = s.find('\0').unwrap_or(s.len());
        bytes.extend_from_slice(&s.as_bytes()[..n]);
        bytes.push(0);
    }

    /// A u16 length and the bytes, cut to 65535 (no event is larger than 64 KB anyway).
    fn push_counted(bytes: &mut Vec<u8>, b: &[u8]) {
        let n = b.len().min(usize::from(u16::MAX));
        bytes.extend_from_slice(&(n as u16).to_le_bytes());
        bytes.extend_from_slice(&b[..n]);
    }

    /// Text written by `Debug` or `Display`, straight into the payload.
    fn push_formatted(&mut self, field: &Field, v: fmt::Arguments<'_>) {
        if !self.slot(field, types::STR) {
            return;
        }
        let start = self.bytes.len();
        let _ = ByteWriter(self.bytes).write_fmt(v);
        if let Some(n) = self.bytes[start..].iter().position(|&c| c == 0) {
            self.bytes.truncate(start + n);
        }
        self.bytes.push(0);
    }
}

/// Appends text to a byte vector.
struct ByteWriter<'a>(&'a mut Vec<u8>);

impl fmt::Write for ByteWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

impl Visit for Payload<'_> {
    fn record_u64(&mut self, field: &Field, value: u64) {
        if self.slot(field, types::U64) {
            self.bytes.extend_from_slice(&value.to_le_bytes());
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        if self.slot(field, types::I64) {
            self.bytes.extend_from_slice(&value.to_le_bytes());
        }
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        if self.slot(field, types::U128) {
            Payload::push_counted(self.bytes, &value.to_le_bytes());
        }
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        if self.slot(field, types::I128) {
            Payload::push_counted(self.bytes, &value.to_le_bytes());
        }
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        if self.slot(field, types::F64) {
            self.bytes.extend_from_slice(&value.to_le_bytes());
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        if self.slot(field, types::BOOL) {
            self.bytes
                .extend_from_slice(&u32::from(value).to_le_bytes());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if self.slot(field, types::STR) {
            Payload::push_str(self.bytes, value);
        }
    }

    fn record_bytes(&mut self, field: &Field, value: &[u8]) {
        if self.slot(field, types::BYTES) {
            Payload::push_counted(self.bytes, value);
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.push_formatted(field, format_args!("{value}"));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.push_formatted(field, format_args!("{value:?}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static EXPECT: [Slot; 3] = [(0, types::STR), (1, types::U64), (2, types::BOOL)];

    #[test]
    fn a_payload_that_matches_its_expectation_collects_nothing() {
        let (mut b, mut s) = (Vec::new(), Vec::new());
        let mut p = Payload::expecting(&mut b, &mut s, 128, &EXPECT);
        for slot in EXPECT {
            assert!(p.push_slot(slot));
        }
        assert!(p.matches_expected());
        assert_eq!(p.slots(), &EXPECT);
        assert!(s.is_empty());
    }

    #[test]
    fn a_payload_that_differs_keeps_what_matched_then_collects() {
        let (mut b, mut s) = (Vec::new(), Vec::new());
        let mut p = Payload::expecting(&mut b, &mut s, 128, &EXPECT);
        p.push_slot(EXPECT[0]);
        p.push_slot((1, types::STR));
        p.push_slot(EXPECT[2]);
        assert!(!p.matches_expected());
        assert_eq!(p.slots(), &[EXPECT[0], (1, types::STR), EXPECT[2]]);

        // Fewer fields than expected (a value left out) is no match either.
        let (mut b, mut s) = (Vec::new(), Vec::new());
        let mut p = Payload::expecting(&mut b, &mut s, 128, &EXPECT);
        p.push_slot(EXPECT[0]);
        assert!(!p.matches_expected());
        assert_eq!(p.slots(), &EXPECT[..1]);
    }

    #[test]
    fn fields_past_the_limit_are_counted_whether_collecting_or_expecting() {
        let (mut b, mut s) = (Vec::new(), vec![EXPECT[0]]);
        let mut p = Payload::collecting(&mut b, &mut s, 2);
        assert!(p.push_slot(EXPECT[1]));
        assert!(!p.push_slot(EXPECT[2]));
        assert_eq!((p.slots().len(), p.dropped_fields), (2, 1));

        let (mut b, mut s) = (Vec::new(), Vec::new());
        let mut p = Payload::expecting(&mut b, &mut s, 2, &EXPECT);
        for slot in EXPECT {
            p.push_slot(slot);
        }
        assert_eq!((p.slots(), p.dropped_fields), (&EXPECT[..2], 1));
        assert!(!p.matches_expected());
    }
}
