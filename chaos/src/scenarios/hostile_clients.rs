//! Placeholder while this scenario is being built on its own branch.

use crate::lab::Lab;
use crate::{Budget, Outcome};

/// Runs the scenario.
pub fn run(_lab: &Lab, _budget: &Budget, out: &mut Outcome) {
    out.fail("not built yet");
}
