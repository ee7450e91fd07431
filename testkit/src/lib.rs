//! What the workspace's tests share, so that each test binary does not write it again:
//!
//! - [`Scratch`]: a test's own folder, removed when the test passes, kept when it fails;
//! - [`dies_with_test`]: a child process that cannot outlive the test that started it;
//! - [`readers`]: the independent ETL readers from PyPI, run on a file;
//! - [`skip`]: how a test says it skips, where the line is seen;
//! - [`XorShift`]: the seeded generator of the randomised tests.

#![warn(missing_docs)]

pub mod readers;
mod rng;
mod scratch;

pub use readers::skip;
pub use rng::XorShift;
pub use scratch::{dies_with_test, Scratch};
