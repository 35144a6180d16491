//! What `/federate` reads of a database: the newest sample of each series a selector
//! matches, in the order federation emits them, visited a batch at a time without
//! building each series' label set, under one consistent view (a scrape still being
//! appended is served whole or not at all). The head implements it over its symbol
//! table; the contract keeps `/federate` off the database's types.

use cardinal_model::{Matcher, Timestamp};
use std::ops::Range;
use std::sync::Arc;

/// A database `/federate` can serve from.
pub trait LatestSamples: Send + Sync {
    /// The series matching any of `sets`, each once, sorted by metric name then labels,
    /// as a read starting now may see them. Held for the whole response.
    fn select_latest(self: Arc<Self>, sets: &[Vec<Matcher>]) -> Box<dyn Latest>;
}

/// Calls back with a series' labels (borrowed, in name order) and its newest sample.
pub type Visit<'f> = dyn FnMut(&mut dyn Iterator<Item = (&str, &str)>, Timestamp, f64) + 'f;

/// A selection of [`LatestSamples`], read a batch at a time.
pub trait Latest: Send + Sync {
    fn len(&self) -> usize;

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Calls `f` for each series in `range` whose newest sample at or before `maxt` is
    /// at or after `mint`, stale markers included.
    fn visit(&self, range: Range<usize>, mint: Timestamp, maxt: Timestamp, f: &mut Visit<'_>);
}
