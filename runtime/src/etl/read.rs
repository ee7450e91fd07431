//! The reader: buffers and records out of byte slices.
