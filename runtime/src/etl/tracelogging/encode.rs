//! The encoders: provider traits, event schemas (with their tags) and the two extended items a
//! TraceLogging record carries.

use super::{in_type, out_type};
use crate::etl::event::{ext_type, push_ext_item};
use crate::Guid;

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
