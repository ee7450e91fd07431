//! TraceLogging metadata: the provider-traits and event-schema blobs an event carries in its
//! extended items, their encoders, and the decoder of an event's fields.
//!
//! # Encoding (byte for byte what the macros must generate)
//! Provider traits (extended item type 12, [`provider_traits`]):
//! `u16 total size` (of the whole blob, this field included), the provider name in UTF-8, `NUL`,
//! then optional trait chunks, each `u16 chunk size, u8 trait type, data` (type 1 = provider
//! group, data = 16-byte GUID; [`provider_traits_with_group`]).
//!
//! Event schema (extended item type 11, [`EventSchemaBuilder`]):
//! `u16 total size` (whole blob), the event tags (1 byte `0x00` when there are none, see
//! [`encode_tags`]), the event name in UTF-8, `NUL`, then for each field in payload order:
//! - the field name in UTF-8, `NUL`;
//! - the InType byte ([`in_type`]): low 5 bits the type, `0x20` constant-count array,
//!   `0x40` variable-count array (a u16 element count precedes the elements in the payload),
//!   `0x80` set when an OutType byte follows;
//! - the OutType byte ([`out_type`]) only when the InType has `0x80`; its own `0x80` bit means
//!   4 bytes of field tags follow (each `0x80 | 7 bits`, last without `0x80`, high bits first);
//!   the builder writes the OutType only when it is non-zero or tags are present;
//! - a u16 element count only for constant-count arrays.
//!
//! A struct is InType 24 with the number of member fields (1-127) in the OutType byte; the
//! members are the fields that follow. Payload data is packed with no alignment: strings
//! `NUL`-terminated (InTypes 1, 2) or counted with a u16 *byte* count (22, 23, 14, 25).
//!
//! Both items go into the record provider traits first, event schema second
//! ([`tracelogging_extended_items`]), as Windows writes them; channel 11 marks TraceLogging
//! events.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use super::event::{ext_type, push_ext_item, EventRecord};
use super::layout::Bytes;
use super::value::{SystemTimeValue, Value};
use super::FormatError;
use crate::Guid;

pub use evtrace_schema::{in_type, out_type};

fn with_size(mut body: Vec<u8>) -> Vec<u8> {
    let n = body.len();
    assert!(
        n <= 0xFFFF,
        "TraceLogging metadata of {n} bytes exceeds 64 KB"
    );
    body[..2].copy_from_slice(&(n as u16).to_le_bytes());
    body
}

/// Provider traits for a provider name: `u16 size, name, NUL` and no further traits.
pub fn provider_traits(name: &str) -> Vec<u8> {
    let mut v = vec![0, 0];
    v.extend_from_slice(name.as_bytes());
    v.push(0);
    with_size(v)
}

/// Provider traits with a provider-group trait (type 1, the group's GUID).
pub fn provider_traits_with_group(name: &str, group: Guid) -> Vec<u8> {
    let mut v = provider_traits(name);
    v.extend_from_slice(&19u16.to_le_bytes());
    v.push(1);
    v.extend_from_slice(&group.0);
    with_size(v)
}

/// Appends event tags (28 bits) as TraceLogging encodes them: 7 bits a byte, high bits first,
/// `0x80` on every byte but the last; 1, 2 or 4 bytes. Tags 0 are one `0x00` byte.
pub fn encode_tags(tags: u32, out: &mut Vec<u8>) {
    let t = tags & 0x0FFF_FFFF;
    if t & 0x0FE0_0000 == t {
        out.push((t >> 21) as u8);
    } else if t & 0x0FFF_C000 == t {
        out.push((t >> 21) as u8 | 0x80);
        out.push((t >> 14) as u8 & 0x7F);
    } else {
        out.push((t >> 21) as u8 | 0x80);
        out.push((t >> 14) as u8 | 0x80);
        out.push((t >> 7) as u8 | 0x80);
        out.push(t as u8 & 0x7F);
    }
}

/// Builds an event-schema blob (see the module documentation for the encoding).
///
/// ```
/// use evtrace_runtime::etl::{in_type, out_type, EventSchemaBuilder};
/// let schema = EventSchemaBuilder::new("Started")
///     .field("pid", in_type::UINT32, out_type::PID)
///     .field("name", in_type::COUNTED_ANSI_STRING, out_type::UTF8)
///     .build();
/// assert_eq!(&schema[..2], &(schema.len() as u16).to_le_bytes());
/// ```
#[derive(Clone, Debug, Default)]
pub struct EventSchemaBuilder {
    name: String,
    tags: u32,
    fields: Vec<u8>,
}

impl EventSchemaBuilder {
    /// A schema for the event `name`, no fields, no tags.
    pub fn new(name: &str) -> Self {
        EventSchemaBuilder {
            name: name.to_string(),
            ..Default::default()
        }
    }

    /// Sets the event tags (28 bits).
    pub fn tags(mut self, tags: u32) -> Self {
        self.tags = tags;
        self
    }

    /// Adds a field. `in_type` may carry [`in_type::VCOUNT`] for a variable-count array;
    /// `out_type` 0 is the default format and costs no byte.
    pub fn field(self, name: &str, in_type: u8, out_type: u8) -> Self {
        self.field_tagged(name, in_type, out_type, 0)
    }

    /// Adds a field with field tags (28 bits).
    pub fn field_tagged(mut self, name: &str, in_type: u8, out_type: u8, tags: u32) -> Self {
        self.push_field(
            name,
            in_type & !in_type::CHAIN,
            out_type & out_type::TYPE_MASK,
            tags,
        );
        self
    }

    /// Adds a variable-count array field (a u16 element count precedes the elements).
    pub fn array(self, name: &str, in_type: u8, out_type: u8) -> Self {
        self.field(
            name,
            (in_type & in_type::TYPE_MASK) | in_type::VCOUNT,
            out_type,
        )
    }

    /// Adds a constant-count array field of `count` elements.
    pub fn fixed_array(mut self, name: &str, in_type: u8, out_type: u8, count: u16) -> Self {
        self.push_field(
            name,
            (in_type & in_type::TYPE_MASK) | in_type::CCOUNT,
            out_type & out_type::TYPE_MASK,
            0,
        );
        self.fields.extend_from_slice(&count.to_le_bytes());
        self
    }

    /// Adds a struct whose `field_count` (1-127) members are the fields added next.
    pub fn struct_field(mut self, name: &str, field_count: u8) -> Self {
        self.push_field(name, in_type::STRUCT, field_count & out_type::TYPE_MASK, 0);
        self
    }

    fn push_field(&mut self, name: &str, in_t: u8, out_t: u8, tags: u32) {
        self.fields.extend_from_slice(name.as_bytes());
        self.fields.push(0);
        if tags != 0 {
            let t = tags & 0x0FFF_FFFF;
            self.fields.extend_from_slice(&[
                in_t | in_type::CHAIN,
                out_t | out_type::CHAIN,
                0x80 | (t >> 21) as u8,
                0x80 | (t >> 14) as u8,
                0x80 | (t >> 7) as u8,
                t as u8 & 0x7F,
            ]);
        } else if out_t != 0 || in_t & in_type::TYPE_MASK == in_type::STRUCT {
            self.fields
                .extend_from_slice(&[in_t | in_type::CHAIN, out_t]);
        } else {
            self.fields.push(in_t);
        }
    }

    /// The schema blob. Panics if it would exceed 65535 bytes.
    pub fn build(&self) -> Vec<u8> {
        let mut v = vec![0, 0];
        encode_tags(self.tags, &mut v);
        v.extend_from_slice(self.name.as_bytes());
        v.push(0);
        v.extend_from_slice(&self.fields);
        with_size(v)
    }
}

/// The extended items of a TraceLogging event, built once per event definition and copied as
/// they are into every record: the provider-traits item (type 12) then the event-schema item
/// (type 11), each with its 8-byte item header and padded to 8 bytes. Empty traits are left out.
pub fn tracelogging_extended_items(provider_traits: &[u8], event_schema: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(provider_traits.len() + event_schema.len() + 32);
    if !provider_traits.is_empty() {
        push_ext_item(&mut v, ext_type::PROV_TRAITS, true, provider_traits);
    }
    push_ext_item(&mut v, ext_type::EVENT_SCHEMA_TL, false, event_schema);
    v
}

// ---------------------------------------------------------------------------------------------
// Decoding

/// Decoded provider traits.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ProviderTraits {
    /// Provider name.
    pub name: String,
    /// Provider group GUID (trait type 1), if present.
    pub group: Option<Guid>,
    /// Other traits: (type, data).
    pub other: Vec<(u8, Vec<u8>)>,
}

fn nul_str(b: &Bytes<'_>, at: usize, what: &str) -> Result<(String, usize), FormatError> {
    let rest = &b.data[at.min(b.len())..];
    let Some(n) = rest.iter().position(|&c| c == 0) else {
        return Err(b.err(at, format!("{what} is not NUL-terminated")));
    };
    Ok((String::from_utf8_lossy(&rest[..n]).into_owned(), at + n + 1))
}

/// Reads a `u16 size` blob header and returns the blob limited to that size.
fn sized<'a>(data: &'a [u8], base: u64, what: &str) -> Result<Bytes<'a>, FormatError> {
    let b = Bytes::new(data, base);
    let size = usize::from(b.u16(0, what)?);
    if size < 2 {
        return Err(b.err(0, format!("{what} size {size} is too small")));
    }
    b.sub(0, size, what)
}

/// Decodes a provider-traits blob.
pub fn parse_provider_traits(data: &[u8]) -> Result<ProviderTraits, FormatError> {
    let b = sized(data, 0, "provider traits")?;
    let (name, mut at) = nul_str(&b, 2, "provider name")?;
    let mut t = ProviderTraits {
        name,
        ..Default::default()
    };
    while at + 3 <= b.len() {
        let size = usize::from(b.u16(at, "trait size")?);
        let ty = b.u8(at + 2, "trait type")?;
        if size < 3 {
            return Err(b.err(at, format!("trait size {size} is too small")));
        }
        let d = b.slice(at + 3, size - 3, "trait data")?;
        if ty == 1 && d.len() == 16 {
            t.group = Some(Guid(d.try_into().unwrap_or([0; 16])));
        } else {
            t.other.push((ty, d.to_vec()));
        }
        at += size;
    }
    Ok(t)
}

/// How a field repeats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Repeat {
    /// One value.
    One,
    /// A constant number of values (count in the metadata).
    Const(u16),
    /// A u16 count in the payload, then the values.
    Variable,
}

/// One field of an event schema.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldDef {
    /// Field name.
    pub name: String,
    /// InType without flags ([`in_type`]).
    pub in_type: u8,
    /// OutType without the chain flag ([`out_type`]); for a struct, its member count.
    pub out_type: u8,
    /// Field tags.
    pub tags: u32,
    /// Array-ness.
    pub repeat: Repeat,
    /// Custom serializer type info (InType flags 0x60), if any.
    pub custom: Option<Vec<u8>>,
    /// Members, for a struct.
    pub members: Vec<FieldDef>,
}

/// A decoded event schema.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventSchema {
    /// Event name.
    pub name: String,
    /// Event tags.
    pub tags: u32,
    /// Top-level fields (struct members nested).
    pub fields: Vec<FieldDef>,
}

fn read_tags(b: &Bytes<'_>, mut at: usize, what: &str) -> Result<(u32, usize), FormatError> {
    let mut tags = 0u32;
    let mut i = 0;
    loop {
        let c = b.u8(at, what)?;
        at += 1;
        if i < 4 {
            tags |= u32::from(c & 0x7F) << (21 - 7 * i);
        }
        i += 1;
        if c & 0x80 == 0 {
            return Ok((tags, at));
        }
    }
}

const MAX_DEPTH: usize = 32;

/// Decodes an event-schema blob.
pub fn parse_event_schema(data: &[u8]) -> Result<EventSchema, FormatError> {
    let b = sized(data, 0, "event schema")?;
    let (tags, at) = read_tags(&b, 2, "event tags")?;
    let (name, mut at) = nul_str(&b, at, "event name")?;
    let mut flat = Vec::new();
    while at < b.len() {
        let (fname, next) = nul_str(&b, at, "field name")?;
        at = next;
        let raw_in = b.u8(at, "InType")?;
        at += 1;
        let mut out_t = 0;
        let mut ftags = 0;
        if raw_in & in_type::CHAIN != 0 {
            let raw_out = b.u8(at, "OutType")?;
            at += 1;
            out_t = raw_out & out_type::TYPE_MASK;
            if raw_out & out_type::CHAIN != 0 {
                (ftags, at) = read_tags(&b, at, "field tags")?;
            }
        }
        let mut repeat = Repeat::One;
        let mut custom = None;
        match raw_in & in_type::COUNT_MASK {
            in_type::CCOUNT => {
                repeat = Repeat::Const(b.u16(at, "constant count")?);
                at += 2;
            }
            in_type::VCOUNT => repeat = Repeat::Variable,
            in_type::CUSTOM => {
                let n = usize::from(b.u16(at, "custom type-info size")?);
                custom = Some(b.slice(at + 2, n, "custom type info")?.to_vec());
                at += 2 + n;
            }
            _ => {}
        }
        flat.push(FieldDef {
            name: fname,
            in_type: raw_in & in_type::TYPE_MASK,
            out_type: out_t,
            tags: ftags,
            repeat,
            custom,
            members: Vec::new(),
        });
    }
    let mut it = flat.into_iter();
    let mut fields = Vec::new();
    while let Some(f) = nest(&mut it, 0, &b)? {
        fields.push(f);
    }
    Ok(EventSchema { name, tags, fields })
}

/// Takes the next field and, for a struct, its members (recursively).
fn nest(
    it: &mut impl Iterator<Item = FieldDef>,
    depth: usize,
    b: &Bytes<'_>,
) -> Result<Option<FieldDef>, FormatError> {
    let Some(mut f) = it.next() else {
        return Ok(None);
    };
    if f.in_type == in_type::STRUCT && f.custom.is_none() {
        if depth >= MAX_DEPTH {
            return Err(b.err(0, format!("structs nested deeper than {MAX_DEPTH}")));
        }
        for _ in 0..f.out_type {
            match nest(it, depth + 1, b)? {
                Some(m) => f.members.push(m),
                None => {
                    return Err(b.err(
                        0,
                        format!(
                            "struct `{}` declares {} members, the schema ends first",
                            f.name, f.out_type
                        ),
                    ))
                }
            }
        }
    }
    Ok(Some(f))
}

/// Most values one event may decode into (zero-size array elements could otherwise multiply).
const MAX_VALUES: usize = 1 << 18;

struct Payload<'a> {
    b: Bytes<'a>,
    at: usize,
    budget: usize,
}

/// Decodes 8-bit text: UTF-8 when it is valid or the OutType says so, else Windows-1252.
fn ansi(bytes: &[u8], out_t: u8) -> String {
    if let Ok(s) = std::str::from_utf8(bytes) {
        return s.to_string();
    }
    if matches!(out_t, out_type::UTF8 | out_type::JSON | out_type::XML) {
        return String::from_utf8_lossy(bytes).into_owned();
    }
    bytes.iter().map(|&c| cp1252(c)).collect()
}

fn cp1252(c: u8) -> char {
    const HIGH: [u16; 32] = [
        0x20AC, 0x81, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
        0x2039, 0x0152, 0x8D, 0x017D, 0x8F, 0x90, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013,
        0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x9D, 0x017E, 0x0178,
    ];
    match c {
        0x80..=0x9F => char::from_u32(u32::from(HIGH[usize::from(c - 0x80)])).unwrap_or('\u{FFFD}'),
        _ => char::from(c),
    }
}

fn utf16(bytes: &[u8]) -> String {
    let units: Vec<u16> = bytes
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    String::from_utf16_lossy(&units)
}

fn socket_addr(d: &[u8]) -> Option<SocketAddr> {
    let family = u16::from_le_bytes(d.get(..2)?.try_into().ok()?);
    let port = u16::from_be_bytes(d.get(2..4)?.try_into().ok()?);
    match family {
        2 => {
            let ip: [u8; 4] = d.get(4..8)?.try_into().ok()?;
            Some(SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(ip), port)))
        }
        // AF_INET6 is 23 on Windows, 10 on Linux.
        23 | 10 => {
            let flow = u32::from_be_bytes(d.get(4..8)?.try_into().ok()?);
            let ip: [u8; 16] = d.get(8..24)?.try_into().ok()?;
            let scope = d
                .get(24..28)
                .map_or(0, |s| u32::from_le_bytes(s.try_into().unwrap_or([0; 4])));
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(ip),
                port,
                flow,
                scope,
            )))
        }
        _ => None,
    }
}

impl<'a> Payload<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], FormatError> {
        let s = self.b.slice(self.at, n, what)?;
        self.at += n;
        Ok(s)
    }

    fn arr<const N: usize>(&mut self, what: &str) -> Result<[u8; N], FormatError> {
        let v = self.b.array::<N>(self.at, what)?;
        self.at += N;
        Ok(v)
    }

    fn counted(&mut self, what: &str) -> Result<&'a [u8], FormatError> {
        let n = usize::from(u16::from_le_bytes(self.arr::<2>(what)?));
        self.take(n, what)
    }

    fn field(&mut self, f: &FieldDef, depth: usize) -> Result<Value, FormatError> {
        let count = match f.repeat {
            Repeat::One => return self.one(f, depth),
            Repeat::Const(n) => usize::from(n),
            Repeat::Variable => usize::from(u16::from_le_bytes(self.arr::<2>("array count")?)),
        };
        let mut items = Vec::with_capacity(count.min(1024));
        for _ in 0..count {
            items.push(self.one(f, depth)?);
        }
        Ok(Value::Array(items))
    }

    fn one(&mut self, f: &FieldDef, depth: usize) -> Result<Value, FormatError> {
        if self.budget == 0 {
            return Err(self
                .b
                .err(self.at, format!("more than {MAX_VALUES} values")));
        }
        self.budget -= 1;
        if f.custom.is_some() {
            return Ok(Value::Bytes(self.counted("custom field")?.to_vec()));
        }
        let o = f.out_type;
        let what = f.name.as_str();
        Ok(match f.in_type {
            in_type::NULL => Value::Null,
            in_type::UNICODE_STRING => {
                let rest = &self.b.data[self.at.min(self.b.len())..];
                let Some(n) = rest.chunks_exact(2).position(|c| c == [0, 0]) else {
                    return Err(self.b.err(
                        self.at,
                        format!("`{what}`: UTF-16 string is not NUL-terminated"),
                    ));
                };
                let s = utf16(&rest[..n * 2]);
                self.at += n * 2 + 2;
                Value::Str(s)
            }
            in_type::ANSI_STRING => {
                let rest = &self.b.data[self.at.min(self.b.len())..];
                let Some(n) = rest.iter().position(|&c| c == 0) else {
                    return Err(self
                        .b
                        .err(self.at, format!("`{what}`: string is not NUL-terminated")));
                };
                let s = ansi(&rest[..n], o);
                self.at += n + 1;
                Value::Str(s)
            }
            in_type::INT8 => {
                let v = self.arr::<1>(what)?[0];
                match o {
                    out_type::STRING => Value::Char(cp1252(v)),
                    out_type::HEX => Value::Hex {
                        value: u64::from(v),
                        width: 1,
                    },
                    out_type::BOOLEAN => Value::Bool(v != 0),
                    _ => Value::I64(i64::from(v as i8)),
                }
            }
            in_type::UINT8 => {
                let v = self.arr::<1>(what)?[0];
                match o {
                    out_type::STRING => Value::Char(cp1252(v)),
                    out_type::HEX => Value::Hex {
                        value: u64::from(v),
                        width: 1,
                    },
                    out_type::BOOLEAN => Value::Bool(v != 0),
                    _ => Value::U64(u64::from(v)),
                }
            }
            in_type::INT16 => {
                let v = i16::from_le_bytes(self.arr(what)?);
                match o {
                    out_type::HEX => Value::Hex {
                        value: u64::from(v as u16),
                        width: 2,
                    },
                    _ => Value::I64(i64::from(v)),
                }
            }
            in_type::UINT16 => {
                let raw = self.arr::<2>(what)?;
                let v = u16::from_le_bytes(raw);
                match o {
                    out_type::STRING => {
                        Value::Char(char::from_u32(u32::from(v)).unwrap_or('\u{FFFD}'))
                    }
                    out_type::HEX => Value::Hex {
                        value: u64::from(v),
                        width: 2,
                    },
                    out_type::PORT => Value::U64(u64::from(u16::from_be_bytes(raw))),
                    out_type::BOOLEAN => Value::Bool(v != 0),
                    _ => Value::U64(u64::from(v)),
                }
            }
            in_type::INT32 => {
                let v = i32::from_le_bytes(self.arr(what)?);
                match o {
                    out_type::HEX
                    | out_type::HRESULT
                    | out_type::NTSTATUS
                    | out_type::WIN32ERROR => Value::Hex {
                        value: u64::from(v as u32),
                        width: 4,
                    },
                    out_type::BOOLEAN => Value::Bool(v != 0),
                    _ => Value::I64(i64::from(v)),
                }
            }
            in_type::UINT32 | in_type::HEXINT32 => {
                let raw = self.arr::<4>(what)?;
                let v = u32::from_le_bytes(raw);
                match o {
                    out_type::IPV4 => Value::Ip(IpAddr::V4(Ipv4Addr::from(raw))),
                    out_type::BOOLEAN => Value::Bool(v != 0),
                    // A Unicode code point (UINT8 and UINT16 take STRING the same way): how
                    // evtrace's messages keep a Rust `char`.
                    out_type::STRING if f.in_type == in_type::UINT32 => {
                        Value::Char(char::from_u32(v).unwrap_or('\u{FFFD}'))
                    }
                    out_type::HEX
                    | out_type::WIN32ERROR
                    | out_type::NTSTATUS
                    | out_type::HRESULT
                    | out_type::CODE_POINTER => Value::Hex {
                        value: u64::from(v),
                        width: 4,
                    },
                    _ if f.in_type == in_type::HEXINT32 => Value::Hex {
                        value: u64::from(v),
                        width: 4,
                    },
                    _ => Value::U64(u64::from(v)),
                }
            }
            in_type::INT64 => {
                let v = i64::from_le_bytes(self.arr(what)?);
                match o {
                    out_type::HEX => Value::Hex {
                        value: v as u64,
                        width: 8,
                    },
                    _ => Value::I64(v),
                }
            }
            in_type::UINT64 | in_type::HEXINT64 | in_type::POINTER => {
                let v = u64::from_le_bytes(self.arr(what)?);
                match o {
                    out_type::HEX | out_type::CODE_POINTER => Value::Hex { value: v, width: 8 },
                    _ if f.in_type != in_type::UINT64 => Value::Hex { value: v, width: 8 },
                    _ => Value::U64(v),
                }
            }
            in_type::FLOAT => Value::F64(f64::from(f32::from_le_bytes(self.arr(what)?))),
            in_type::DOUBLE => Value::F64(f64::from_le_bytes(self.arr(what)?)),
            in_type::BOOL32 => Value::Bool(u32::from_le_bytes(self.arr(what)?) != 0),
            in_type::BINARY | in_type::COUNTED_BINARY => {
                let d = self.counted(what)?;
                match o {
                    out_type::IPV6 if d.len() == 16 => {
                        let a: [u8; 16] = d.try_into().unwrap_or([0; 16]);
                        Value::Ip(IpAddr::V6(Ipv6Addr::from(a)))
                    }
                    out_type::SOCKETADDRESS => {
                        socket_addr(d).map_or_else(|| Value::Bytes(d.to_vec()), Value::Socket)
                    }
                    out_type::SIGNED | out_type::UNSIGNED if d.len() == 16 => {
                        let a: [u8; 16] = d.try_into().unwrap_or([0; 16]);
                        if o == out_type::SIGNED {
                            Value::I128(i128::from_le_bytes(a))
                        } else {
                            Value::U128(u128::from_le_bytes(a))
                        }
                    }
                    _ => Value::Bytes(d.to_vec()),
                }
            }
            in_type::GUID => Value::Guid(Guid(self.arr(what)?)),
            in_type::FILETIME => Value::FileTime(i64::from_le_bytes(self.arr(what)?)),
            in_type::SYSTEMTIME => {
                let r: [u8; 16] = self.arr(what)?;
                let w = |i: usize| u16::from_le_bytes([r[i * 2], r[i * 2 + 1]]);
                Value::SystemTime(SystemTimeValue {
                    year: w(0),
                    month: w(1),
                    day_of_week: w(2),
                    day: w(3),
                    hour: w(4),
                    minute: w(5),
                    second: w(6),
                    milliseconds: w(7),
                })
            }
            in_type::SID => {
                let head = self.b.slice(self.at, 8, what)?;
                let n = usize::from(head[1]);
                if n > 15 {
                    return Err(self
                        .b
                        .err(self.at, format!("`{what}`: SID with {n} sub-authorities")));
                }
                let d = self.take(8 + 4 * n, what)?;
                let auth = d[2..8].iter().fold(0u64, |a, &x| a << 8 | u64::from(x));
                let mut s = format!("S-{}-{auth}", d[0]);
                for c in d[8..].chunks_exact(4) {
                    s.push_str(&format!(
                        "-{}",
                        u32::from_le_bytes([c[0], c[1], c[2], c[3]])
                    ));
                }
                Value::Sid(s)
            }
            in_type::COUNTED_STRING => Value::Str(utf16(self.counted(what)?)),
            in_type::COUNTED_ANSI_STRING => {
                let d = self.counted(what)?;
                Value::Str(ansi(d, o))
            }
            in_type::STRUCT => {
                let mut members = Vec::with_capacity(f.members.len());
                for m in &f.members {
                    let v = self.field(m, depth + 1)?;
                    members.push((m.name.clone(), v));
                }
                Value::Struct(members)
            }
            t => return Err(self.b.err(self.at, format!("`{what}`: unknown InType {t}"))),
        })
    }
}

/// Fields decoded from a payload.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct DecodedFields {
    /// Fields in schema order, as far as the payload allowed.
    pub fields: Vec<(String, Value)>,
    /// Why decoding stopped early, if it did (the fields before it are kept).
    pub error: Option<FormatError>,
    /// Payload bytes left over after the last field.
    pub trailing: usize,
}

impl EventSchema {
    /// Decodes a payload with this schema; `base` is the payload's file offset, for errors.
    pub fn decode(&self, payload: &[u8], base: u64) -> DecodedFields {
        let mut p = Payload {
            b: Bytes::new(payload, base),
            at: 0,
            budget: MAX_VALUES,
        };
        let mut out = DecodedFields::default();
        for f in &self.fields {
            match p.field(f, 0) {
                Ok(v) => out.fields.push((f.name.clone(), v)),
                Err(e) => {
                    out.error = Some(e);
                    return out;
                }
            }
        }
        out.trailing = payload.len().saturating_sub(p.at);
        out
    }
}

/// A decoded TraceLogging event.
#[derive(Clone, Debug, PartialEq)]
pub struct TraceLoggingEvent {
    /// Provider traits, when the record carries them.
    pub provider: Option<ProviderTraits>,
    /// The schema.
    pub schema: EventSchema,
    /// The decoded fields.
    pub decoded: DecodedFields,
}

/// Decodes a record's TraceLogging metadata and fields. `None` when the record has no schema
/// item (a manifest-based event); `Err` when the metadata itself is corrupt. `payload_offset`
/// is the payload's file offset, for errors.
pub fn decode_event(
    rec: &EventRecord<'_>,
    payload_offset: u64,
) -> Option<Result<TraceLoggingEvent, FormatError>> {
    let schema = rec.ext_item(ext_type::EVENT_SCHEMA_TL)?;
    let provider = match rec
        .ext_item(ext_type::PROV_TRAITS)
        .map(parse_provider_traits)
    {
        Some(Err(e)) => return Some(Err(e)),
        Some(Ok(p)) => Some(p),
        None => None,
    };
    Some(parse_event_schema(schema).map(|schema| {
        let decoded = schema.decode(rec.payload, payload_offset);
        TraceLoggingEvent {
            provider,
            schema,
            decoded,
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traits_and_tags_encode_like_windows() {
        // primitive-types.etl: "0f 00 solar_system 00".
        assert_eq!(provider_traits("solar_system"), b"\x0f\x00solar_system\x00");
        let g: Guid = "4F50731A-89CF-4782-B3E0-DCE8C90476BA".parse().unwrap();
        let t = provider_traits_with_group("Microsoft.Windows.Subsystem.LxCore", g);
        assert_eq!(t.len(), 0x38);
        let back = parse_provider_traits(&t).unwrap();
        assert_eq!(back.name, "Microsoft.Windows.Subsystem.LxCore");
        assert_eq!(back.group, Some(g));
        for tags in [
            0,
            0x0FE0_0000,
            0x0020_0000,
            0x0FFF_C000,
            0x0000_4000,
            0x0ABC_DEF1,
            1,
        ] {
            let mut v = vec![0, 0];
            encode_tags(tags, &mut v);
            assert_eq!(
                read_tags(&Bytes::new(&v, 0), 2, "t").unwrap(),
                (tags, v.len())
            );
        }
    }

    #[test]
    fn schema_matches_primitive_types_sample() {
        let s = EventSchemaBuilder::new("PrimitiveTypesTest")
            .field("string_type", in_type::ANSI_STRING, 0)
            .field("boolean_type", in_type::UINT8, out_type::BOOLEAN)
            .field("char_type", in_type::UINT8, out_type::STRING)
            .field("int16_type", in_type::INT16, 0)
            .build();
        let mut expect = b"\x00\x00\x00PrimitiveTypesTest\x00string_type\x00\x02boolean_type\x00\x84\x03char_type\x00\x84\x02int16_type\x00\x05".to_vec();
        let n = expect.len() as u16;
        expect[..2].copy_from_slice(&n.to_le_bytes());
        assert_eq!(s, expect);
    }

    #[test]
    fn every_type_round_trips() {
        let g: Guid = "D3DD3DD4-AAC2-4E2A-8DD4-A8FB61B77615".parse().unwrap();
        let schema = EventSchemaBuilder::new("All")
            .tags(0x0123_4567)
            .field("z16", in_type::UNICODE_STRING, 0)
            .field("z8", in_type::ANSI_STRING, out_type::UTF8)
            .field("i8", in_type::INT8, 0)
            .field("u8", in_type::UINT8, 0)
            .field("i16", in_type::INT16, 0)
            .field("u16", in_type::UINT16, 0)
            .field("i32", in_type::INT32, 0)
            .field("u32", in_type::UINT32, 0)
            .field("i64", in_type::INT64, 0)
            .field("u64", in_type::UINT64, 0)
            .field("f32", in_type::FLOAT, 0)
            .field("f64", in_type::DOUBLE, 0)
            .field("b32", in_type::BOOL32, 0)
            .field("bin", in_type::BINARY, 0)
            .field("guid", in_type::GUID, 0)
            .field("ft", in_type::FILETIME, 0)
            .field("st", in_type::SYSTEMTIME, 0)
            .field("sid", in_type::SID, 0)
            .field("h32", in_type::HEXINT32, 0)
            .field("h64", in_type::HEXINT64, 0)
            .field("c16", in_type::COUNTED_STRING, 0)
            .field_tagged(
                "c8",
                in_type::COUNTED_ANSI_STRING,
                out_type::JSON,
                0x0FFF_FFFF,
            )
            .field("cbin", in_type::COUNTED_BINARY, 0)
            .field("pid", in_type::UINT32, out_type::PID)
            .field("port", in_type::UINT16, out_type::PORT)
            .field("ip4", in_type::UINT32, out_type::IPV4)
            .field("ip6", in_type::COUNTED_BINARY, out_type::IPV6)
            .field("sock", in_type::COUNTED_BINARY, out_type::SOCKETADDRESS)
            .field("err", in_type::UINT32, out_type::WIN32ERROR)
            .field("ch", in_type::UINT8, out_type::STRING)
            .field("flag", in_type::UINT8, out_type::BOOLEAN)
            .array("va", in_type::UINT16, 0)
            .fixed_array("ca", in_type::INT8, 0, 3)
            .struct_field("pt", 2)
            .field("x", in_type::INT32, 0)
            .array("names", in_type::COUNTED_ANSI_STRING, 0)
            .field("after", in_type::NULL, 0)
            .build();
        let mut p: Vec<u8> = Vec::new();
        p.extend("hé".encode_utf16().flat_map(u16::to_le_bytes));
        p.extend_from_slice(&[0, 0]);
        p.extend_from_slice("ü8\0".as_bytes());
        p.push(0xFF);
        p.push(200);
        p.extend_from_slice(&(-2i16).to_le_bytes());
        p.extend_from_slice(&60000u16.to_le_bytes());
        p.extend_from_slice(&(-3i32).to_le_bytes());
        p.extend_from_slice(&4_000_000_000u32.to_le_bytes());
        p.extend_from_slice(&(-5i64).to_le_bytes());
        p.extend_from_slice(&u64::MAX.to_le_bytes());
        p.extend_from_slice(&1.5f32.to_le_bytes());
        p.extend_from_slice(&(-2.25f64).to_le_bytes());
        p.extend_from_slice(&1u32.to_le_bytes());
        p.extend_from_slice(&[2, 0, 0xAB, 0xCD]);
        p.extend_from_slice(&g.0);
        p.extend_from_slice(&0x01D7_A58B_4DFA_1070i64.to_le_bytes());
        for w in [2021u16, 9, 4, 9, 14, 59, 35, 799] {
            p.extend_from_slice(&w.to_le_bytes());
        }
        p.extend_from_slice(&[1, 2, 0, 0, 0, 0, 0, 5, 32, 0, 0, 0, 0x20, 0x02, 0, 0]);
        p.extend_from_slice(&0xDEADu32.to_le_bytes());
        p.extend_from_slice(&0xBEEFu64.to_le_bytes());
        p.extend_from_slice(&[4, 0, b'o', 0, b'k', 0]);
        p.extend_from_slice(b"\x07\x00{\"a\":1}");
        p.extend_from_slice(&[1, 0, 7]);
        p.extend_from_slice(&1234u32.to_le_bytes());
        p.extend_from_slice(&443u16.to_be_bytes());
        p.extend_from_slice(&[192, 168, 1, 2]);
        p.extend_from_slice(&[16, 0]);
        p.extend_from_slice(&Ipv6Addr::LOCALHOST.octets());
        p.extend_from_slice(&[16, 0, 2, 0, 0x1F, 0x90, 10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
        p.extend_from_slice(&5u32.to_le_bytes());
        p.push(b'A');
        p.push(1);
        p.extend_from_slice(&[2, 0, 1, 0, 2, 0]);
        p.extend_from_slice(&[1, 2, 0xFE]);
        p.extend_from_slice(&(-9i32).to_le_bytes());
        p.extend_from_slice(&[2, 0, 1, 0, b'a', 2, 0, b'b', b'c']);

        let s = parse_event_schema(&schema).unwrap();
        assert_eq!(s.name, "All");
        assert_eq!(s.tags, 0x0123_4567);
        let d = s.decode(&p, 0);
        assert_eq!(d.error, None);
        assert_eq!(d.trailing, 0);
        let get = |n: &str| {
            d.fields
                .iter()
                .find(|(k, _)| k == n)
                .map(|(_, v)| v.clone())
                .unwrap()
        };
        assert_eq!(get("z16"), Value::Str("hé".into()));
        assert_eq!(get("z8"), Value::Str("ü8".into()));
        assert_eq!(get("i8"), Value::I64(-1));
        assert_eq!(get("u8"), Value::U64(200));
        assert_eq!(get("i16"), Value::I64(-2));
        assert_eq!(get("u16"), Value::U64(60000));
        assert_eq!(get("i32"), Value::I64(-3));
        assert_eq!(get("u32"), Value::U64(4_000_000_000));
        assert_eq!(get("i64"), Value::I64(-5));
        assert_eq!(get("u64"), Value::U64(u64::MAX));
        assert_eq!(get("f32"), Value::F64(1.5));
        assert_eq!(get("f64"), Value::F64(-2.25));
        assert_eq!(get("b32"), Value::Bool(true));
        assert_eq!(get("bin"), Value::Bytes(vec![0xAB, 0xCD]));
        assert_eq!(get("guid"), Value::Guid(g));
        assert_eq!(get("ft").to_string(), "2021-09-09T14:59:35.7990000Z");
        assert_eq!(get("st").to_string(), "2021-09-09T14:59:35.799");
        assert_eq!(get("sid"), Value::Sid("S-1-5-32-544".into()));
        assert_eq!(get("h32").to_string(), "0x0000DEAD");
        assert_eq!(get("h64").to_string(), "0x000000000000BEEF");
        assert_eq!(get("c16"), Value::Str("ok".into()));
        assert_eq!(get("c8"), Value::Str("{\"a\":1}".into()));
        assert_eq!(get("cbin"), Value::Bytes(vec![7]));
        assert_eq!(get("pid"), Value::U64(1234));
        assert_eq!(get("port"), Value::U64(443));
        assert_eq!(get("ip4").to_string(), "192.168.1.2");
        assert_eq!(get("ip6").to_string(), "::1");
        assert_eq!(get("sock").to_string(), "10.0.0.1:8080");
        assert_eq!(get("err").to_string(), "0x00000005");
        assert_eq!(get("ch"), Value::Char('A'));
        assert_eq!(get("flag"), Value::Bool(true));
        assert_eq!(get("va"), Value::Array(vec![Value::U64(1), Value::U64(2)]));
        assert_eq!(
            get("ca"),
            Value::Array(vec![Value::I64(1), Value::I64(2), Value::I64(-2)])
        );
        assert_eq!(get("pt").to_string(), "{x=-9, names=[a, bc]}");
        assert_eq!(get("after"), Value::Null);
        let tagged = s.fields.iter().find(|f| f.name == "c8").unwrap();
        assert_eq!(tagged.tags, 0x0FFF_FFFF);
        assert_eq!(tagged.out_type, out_type::JSON);

        // Every truncation decodes as far as it can, without panicking.
        for cut in 0..p.len() {
            let d = s.decode(&p[..cut], 0);
            assert!(d.error.is_some(), "cut at {cut}");
        }
        for cut in 0..schema.len() {
            let _ = parse_event_schema(&schema[..cut]);
        }
    }

    #[test]
    fn hostile_metadata_is_bounded() {
        // 40 nested structs exceed the depth limit.
        let mut b = EventSchemaBuilder::new("deep");
        for i in 0..40 {
            b = b.struct_field(&format!("s{i}"), 1);
        }
        b = b.field("leaf", in_type::UINT8, 0);
        assert!(parse_event_schema(&b.build()).is_err());
        // Arrays of arrays of empty values cannot multiply without bound.
        let s = EventSchemaBuilder::new("wide")
            .array("a", in_type::STRUCT, 1)
            .array("b", in_type::STRUCT, 1)
            .fixed_array("c", in_type::NULL, 0, u16::MAX)
            .build();
        let st = parse_event_schema(&s).unwrap();
        let d = st.decode(&[0xFF; 4], 0);
        assert!(
            d.error.as_ref().unwrap().what.contains("values"),
            "{:?}",
            d.error
        );
        assert!(d.error.is_some());
    }
}
