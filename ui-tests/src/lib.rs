//! trybuild compile-pass and compile-fail cases for the evtrace macros (see `tests/` and
//! README.md), and end-to-end checks of the metadata and payloads they generate.
//!
//! The crate itself declares one public provider under `deny(missing_docs)`, so that a
//! generated item without documentation, or a broken link in it, fails the build and
//! `cargo doc`.
#![deny(missing_docs)]

/// An example provider, documented as users will see theirs.
#[evtrace::provider(name = "Evtrace-UiTests-Docs")]
pub mod example {
    /// Something happened.
    #[event(level = info, keywords = 0x2)]
    pub fn happened(what: &str, count: u32);
}
