//! The one error type of the format layer.

/// Something in the bytes is not what the format allows: says what and where.
///
/// `offset` is the file offset when the caller gave one (decoders take the file offset of the
/// slice they are handed), otherwise the offset inside the slice.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at offset {offset:#x}: {what}")]
pub struct FormatError {
    /// Where the problem was found.
    pub offset: u64,
    /// What was wrong.
    pub what: String,
}

impl FormatError {
    /// A new error at `offset`.
    pub fn new(offset: u64, what: impl Into<String>) -> Self {
        FormatError {
            offset,
            what: what.into(),
        }
    }
}
