//! What the engine needs from storage: the series matching some matchers, and their
//! samples in a time range when decoded (stale markers included; the engine interprets
//! them). The head and the block store implement [`Queryable`] themselves.

pub use cardinal_tsdb::Queryable;

/// A series with its samples, sorted by time: the storage's own result type.
pub type StoredSeries = cardinal_tsdb::SeriesSamples;
