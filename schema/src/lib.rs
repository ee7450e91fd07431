//! What evtrace's macros and its runtime must agree on, byte for byte: the TraceLogging field
//! type codes ([`in_type`], [`out_type`]) and ETW's GUIDs with the rule that derives a provider's
//! from its name ([`Guid::from_name`]). The macros use them at compile time to build event
//! metadata and provider GUIDs; the runtime writes and reads the same values. One definition
//! keeps the two from drifting apart.

#![warn(missing_docs)]

mod guid;
mod types;

pub use guid::{Guid, ParseGuidError};
pub use types::{in_type, out_type};

/// Longest provider, event or field name, in bytes.
pub const MAX_NAME_LEN: usize = 255;
/// Most fields an event may have (the limit of TraceLogging decoders).
pub const MAX_FIELDS: usize = 128;

/// Checks a provider, event or field name: non-empty, at most [`MAX_NAME_LEN`] bytes, printable
/// ASCII (etl-parser decodes names as ASCII; a NUL would end the name early).
pub fn check_name(what: &str, name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err(format!("{what} name is empty"));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(format!(
            "{what} name is {} bytes long; the limit is {MAX_NAME_LEN}",
            name.len()
        ));
    }
    if let Some(c) = name.chars().find(|c| !(' '..='~').contains(c)) {
        return Err(format!(
            "{what} name `{}` contains {c:?}; names must be printable ASCII so that every ETL reader decodes them",
            name.escape_default()
        ));
    }
    Ok(())
}
