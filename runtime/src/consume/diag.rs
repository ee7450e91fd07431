//! What a reader skipped or could not read, counted per file and kind.

use std::collections::BTreeMap;

/// How many locations are kept in full.
pub const KEPT_LOCATIONS: usize = 32;

/// One thing skipped or unreadable, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    /// File index.
    pub file: usize,
    /// File offset.
    pub offset: u64,
    /// Kind, e.g. `corrupt buffer` or `system record`.
    pub kind: String,
    /// Why, or what.
    pub reason: String,
}

/// Counts of skipped and unreadable items per file and kind, with the first locations.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Diagnostics {
    counts: BTreeMap<(usize, String), u64>,
    first: Vec<Location>,
}

impl Diagnostics {
    pub(crate) fn add(&mut self, file: usize, offset: u64, kind: &str, reason: impl Into<String>) {
        *self.counts.entry((file, kind.to_string())).or_default() += 1;
        if self.first.len() < KEPT_LOCATIONS {
            self.first.push(Location {
                file,
                offset,
                kind: kind.to_string(),
                reason: reason.into(),
            });
        }
    }

    /// `(file, kind, count)` for every kind seen, by file then kind.
    pub fn counts(&self) -> impl Iterator<Item = (usize, &str, u64)> + '_ {
        self.counts.iter().map(|((f, k), n)| (*f, k.as_str(), *n))
    }

    /// Total count of one kind over all files.
    pub fn total(&self, kind: &str) -> u64 {
        self.counts
            .iter()
            .filter(|((_, k), _)| k == kind)
            .map(|(_, n)| n)
            .sum()
    }

    /// The first [`KEPT_LOCATIONS`] locations, in the order met.
    pub fn first(&self) -> &[Location] {
        &self.first
    }

    /// Whether nothing was skipped.
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }
}
