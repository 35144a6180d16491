//! Storage. [`chunk`] is Prometheus's XOR chunk encoding; [`head`] keeps recent series in
//! memory, found through [`index`]'s postings and interned label [`symbols`]; [`wal`]
//! makes the head durable; [`block`] holds older data on disk, immutable, and [`db`]
//! puts head and blocks together with compaction and retention.

pub mod chunk;
pub mod head;
mod ids;
pub mod index;
pub mod symbols;
/// The write-ahead log, its own crate (`shared/wal`).
pub use cardinal_wal as wal;

pub use head::{
    AppendError, AppendObserver, Cardinality, Head, HeadStats, MemSeries, ReadView, SeriesLimitReached, SeriesRef,
    TimeBounds,
};
pub mod block;
pub mod compact;
pub mod db;

pub use db::{Db, DbOptions, Grouped, LazySeries, Querier, Queryable, SeriesSamples};
