//! What the engine needs from storage: the series matching some matchers, and their
//! samples in a time range when decoded (stale markers included; the engine interprets
//! them).

use cardinal_model::{Matcher, Timestamp};
use cardinal_tsdb::{Db, Head, LazySeries, ReadView};
use std::sync::Arc;

/// A series with its samples, sorted by time: the storage's own result type.
pub type StoredSeries = cardinal_tsdb::SeriesSamples;

pub trait Queryable: Sync {
    /// What a query starting now may see; every selector of the query reads through it.
    fn read_view(&self) -> ReadView;

    /// The series matching `matchers` that may have samples in `[mint, maxt]`, not yet
    /// decoded: range evaluation decodes each where and when it needs it.
    fn select_lazy(
        &self,
        matchers: &[Matcher],
        mint: Timestamp,
        maxt: Timestamp,
        view: &Arc<ReadView>,
    ) -> Vec<LazySeries>;
}

impl Queryable for Head {
    fn read_view(&self) -> ReadView {
        Head::read_view(self)
    }

    fn select_lazy(&self, matchers: &[Matcher], _: Timestamp, _: Timestamp, view: &Arc<ReadView>) -> Vec<LazySeries> {
        let lazy = |s: cardinal_tsdb::SeriesRef| LazySeries::in_head(self.labels(&s), s, view.clone());
        Head::select(self, matchers).into_iter().map(lazy).collect()
    }
}

/// Blocks and head together: what the master's queries read.
impl Queryable for Db {
    fn read_view(&self) -> ReadView {
        self.head.read_view()
    }

    fn select_lazy(
        &self,
        matchers: &[Matcher],
        mint: Timestamp,
        maxt: Timestamp,
        view: &Arc<ReadView>,
    ) -> Vec<LazySeries> {
        Db::select_lazy(self, matchers, mint, maxt, view)
    }
}
