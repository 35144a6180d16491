//! What the engine needs from storage: the series matching some matchers, and their
//! samples in a time range when decoded (stale markers included; the engine interprets
//! them).

use cardinal_model::{Matcher, Timestamp};
use cardinal_tsdb::{Db, Head, LazySeries};

/// A series with its samples, sorted by time: the storage's own result type.
pub type StoredSeries = cardinal_tsdb::SeriesSamples;

pub trait Queryable: Sync {
    /// The series matching `matchers` that may have samples in `[mint, maxt]`, not yet
    /// decoded: range evaluation decodes each where and when it needs it.
    fn select_lazy(&self, matchers: &[Matcher], mint: Timestamp, maxt: Timestamp) -> Vec<LazySeries>;
}

impl Queryable for Head {
    fn select_lazy(&self, matchers: &[Matcher], _: Timestamp, _: Timestamp) -> Vec<LazySeries> {
        Head::select(self, matchers).into_iter().map(|s| LazySeries::in_head(self.labels(&s), s)).collect()
    }
}

/// Blocks and head together: what the master's queries read.
impl Queryable for Db {
    fn select_lazy(&self, matchers: &[Matcher], mint: Timestamp, maxt: Timestamp) -> Vec<LazySeries> {
        Db::select_lazy(self, matchers, mint, maxt)
    }
}
