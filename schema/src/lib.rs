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
