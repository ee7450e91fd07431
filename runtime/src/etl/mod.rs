//! The ETL file format (`.etl`), pure: encoders for the writer and decoders for the reader.
//!
//! Nothing here knows about sessions, threads or files on disk: every function takes or fills byte
//! slices, so the engine can call the encoders on its hot path and the reader can be fuzzed.
//! The layout follows ETW-REFERENCE section 10 and was checked byte for byte against files written
//! by Windows (`shared/etl-samples`).
//!
//! # File
//! A file is a sequence of buffers. The first is the header buffer ([`write_header_buffer`]):
//! a [`BufferHeader`] (type 4, flags 0x21, sequence 0) followed by one system record that holds
//! the `TRACE_LOGFILE_HEADER` ([`LogfileHeader`]). Every other buffer is a [`BufferHeader`]
//! followed by 8-byte aligned records up to `SavedOffset`; the rest of the buffer is `0xFF`
//! ([`fill_tail`]). A compressed buffer (flag [`buffer_flags::COMPRESSED`]) is stored as its header
//! followed by the MS-XCA plain LZ77 stream of the bytes after the header ([`xpress`]); see
//! [`compress_buffer`].
//!
//! # Records
//! - EVENT_HEADER records ([`write_event_record`]): a 0x50-byte header, extended-data items, the
//!   payload. `Size` counts header + items + payload, not the alignment padding that follows.
//! - TraceLogging events carry two extended items, provider traits first and the event schema
//!   second ([`tracelogging_extended_items`]); their encoding is documented in [`tracelogging`].
//! - Loss markers ([`write_lost_record`]) and TraceMessage (WPP) records ([`write_message_record`]).
//! - The reader ([`read`]) also recognises the classic system, compact, perfinfo, full and instance
//!   headers that Windows kernel loggers write; [`kernel`] decodes the payloads of Windows'
//!   documented kernel classes by their field layouts.

mod buffer;
mod error;
mod event;
mod header;
pub mod kernel;
pub mod layout;
mod message;
pub mod message_format;
pub mod read;
mod template;
mod time;
pub mod tracelogging;
mod value;
pub mod xpress;

pub use buffer::{
    buffer_events, buffer_flags, buffer_type, compress_buffer, count_records, decompress_buffer,
    fill_tail, starts_with_loss, BufferHeader,
};
pub use error::FormatError;
pub use event::{
    event_flags, event_record_size, ext_type, push_ext_item, write_event_record, write_lost_record,
    EventDescriptor, EventHeaderFields, EventRecord, ExtItem, LossKind, LOST_EVENT_PROVIDER,
    LOST_RECORD_SIZE,
};
pub use header::{parse_header_buffer, write_header_buffer, ClockType, LogfileHeader};
pub use layout::{align8, BUFFER_HEADER_SIZE, EVENT_HEADER_SIZE};
pub use message::{
    message_flags, message_record_size, write_message_record, MessageHeaderFields, MessageRecord,
};
pub use template::{
    event_record_template, write_event_from_template, write_event_from_template_related,
    RELATED_ACTIVITY_ITEM_SIZE,
};
pub use time::{
    filetime_to_rfc3339, rfc3339_to_unix_nanos, unix_nanos_to_rfc3339, FILETIME_UNIX_EPOCH,
};
pub use tracelogging::{
    in_type, out_type, provider_traits, provider_traits_with_group, tracelogging_extended_items,
    EventSchemaBuilder,
};
pub use value::{SystemTimeValue, Value};
