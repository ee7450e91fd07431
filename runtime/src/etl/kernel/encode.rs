//! Kernel records as Windows writes them: a 64-bit `SYSTEM_TRACE_HEADER` and the MOF payload
//! of the class, field by field in its documented order.

use std::net::IpAddr;

use crate::etl::layout::{header_type, put_i64, put_u16, put_u32, SYSTEM_HEADER_SIZE};

/// The header fields of one system record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SystemHeaderFields {
    /// The class version (`SYSTEM_TRACE_HEADER.Version`).
    pub version: u16,
    /// HookId: the group (`EVENT_TRACE_GROUP_*`) in the high byte, the event type in the low.
    pub hook_id: u16,
    /// Thread id.
    pub thread_id: u32,
    /// Process id.
    pub process_id: u32,
    /// Raw timestamp.
    pub timestamp: i64,
}

/// Bytes a system record with `payload_len` bytes of MOF data takes (before 8-byte alignment).
pub fn system_record_size(payload_len: usize) -> usize {
    SYSTEM_HEADER_SIZE + payload_len
}

/// Writes a 64-bit system record at the start of `dst` (which must hold
/// `align8(system_record_size(..))` bytes); returns the aligned length. `Size` counts the header
/// and payload, not the padding. KernelTime and UserTime are 0: no per-thread CPU time is kept.
pub fn write_system_record(dst: &mut [u8], h: &SystemHeaderFields, payload: &[&[u8]]) -> usize {
    let len: usize = payload.iter().map(|p| p.len()).sum();
    let size = system_record_size(len);
    let aligned = crate::etl::align8(size);
    let d = &mut dst[..aligned];
    d[..SYSTEM_HEADER_SIZE].fill(0);
    put_u16(d, 0, h.version);
    d[2] = header_type::SYSTEM64;
    d[3] = 0xC0;
    put_u16(d, 4, u16::try_from(size).unwrap_or(u16::MAX));
    put_u16(d, 6, h.hook_id);
    put_u32(d, 8, h.thread_id);
    put_u32(d, 12, h.process_id);
    put_i64(d, 16, h.timestamp);
    let mut at = SYSTEM_HEADER_SIZE;
    for p in payload {
        d[at..at + p.len()].copy_from_slice(p);
        at += p.len();
    }
    d[at..].fill(0);
    aligned
}

/// Appends MOF fields to a payload in a class's order, for 64-bit layouts.
pub struct Mof<'a>(pub &'a mut Vec<u8>);

impl Mof<'_> {
    /// A u8 (or a sint8's bits).
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.0.push(v);
        self
    }
    /// A u16.
    pub fn u16(&mut self, v: u16) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    /// A u32 (or a sint32's bits).
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    /// A u64, and a pointer of a 64-bit writer.
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    /// `n` zero bytes: fields Linux has no value for.
    pub fn zeros(&mut self, n: usize) -> &mut Self {
        self.0.resize(self.0.len() + n, 0);
        self
    }
    /// A NUL-terminated 8-bit string (a NUL inside ends it early, as a reader would).
    pub fn ansi(&mut self, s: &str) -> &mut Self {
        let b = s.as_bytes();
        let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
        self.0.extend_from_slice(&b[..end]);
        self.0.push(0);
        self
    }
    /// A NUL-terminated UTF-16LE string.
    pub fn utf16(&mut self, s: &str) -> &mut Self {
        for u in s.encode_utf16().take_while(|&u| u != 0).chain([0]) {
            self.0.extend_from_slice(&u.to_le_bytes());
        }
        self
    }
    /// A null user SID (`TOKEN_USER` absent: four zero bytes).
    pub fn null_sid(&mut self) -> &mut Self {
        self.zeros(4)
    }
    /// An `IPAddrV4` or `IPAddrV6`, in network order.
    pub fn ip(&mut self, a: IpAddr) -> &mut Self {
        match a {
            IpAddr::V4(v4) => self.0.extend_from_slice(&v4.octets()),
            IpAddr::V6(v6) => self.0.extend_from_slice(&v6.octets()),
        }
        self
    }
    /// A `Port`, in network order.
    pub fn port(&mut self, p: u16) -> &mut Self {
        self.0.extend_from_slice(&p.to_be_bytes());
        self
    }
}
