//! What the engine needs from storage: the contract of `cardinal-storage` (a querier per
//! query, the series matching some matchers, their samples in a time range when decoded,
//! stale markers included; the engine interprets them). The engine runs over any
//! implementation: the head and the block store (`cardinal-tsdb`), or one in memory
//! (`tests/storage.rs`).

pub use cardinal_storage::{Grouped, LazySeries, Querier, Queryable, SampleSource, Stored};

/// A series with its samples, sorted by time.
pub type StoredSeries = cardinal_storage::SeriesSamples;
