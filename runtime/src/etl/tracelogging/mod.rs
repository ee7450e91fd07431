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

mod encode;
mod fields;
mod schema;
#[cfg(test)]
mod tests;

pub use encode::{
    encode_tags, provider_traits, provider_traits_with_group, tracelogging_extended_items,
    EventSchemaBuilder,
};
pub use evtrace_schema::{in_type, out_type};
pub use fields::DecodedFields;
pub use schema::{
    parse_event_schema, parse_provider_traits, EventSchema, FieldDef, ProviderTraits, Repeat,
};

use super::event::{ext_type, EventRecord};
use super::FormatError;

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
