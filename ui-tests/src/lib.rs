//! trybuild compile-pass and compile-fail cases for the evtrace macros (see `tests/` and
//! README.md), and end-to-end checks of the metadata and payloads they generate.
