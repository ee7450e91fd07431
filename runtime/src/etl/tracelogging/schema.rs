//! The metadata decoders: provider traits and event schemas (field names, types, arrays and
//! structs), with their limits.

use super::{in_type, out_type};
use crate::etl::layout::Bytes;
use crate::etl::FormatError;
use crate::Guid;

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

pub(super) fn read_tags(
    b: &Bytes<'_>,
    mut at: usize,
    what: &str,
) -> Result<(u32, usize), FormatError> {
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
