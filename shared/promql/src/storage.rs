//! What the engine needs from storage: the series matching some matchers, with their
//! samples in a time range (stale markers included; the engine interprets them).

use cardinal_model::{Matcher, Timestamp};
use cardinal_tsdb::{Db, Head};

/// A series with its samples, sorted by time: the storage's own result type.
pub type StoredSeries = cardinal_tsdb::SeriesSamples;

pub trait Queryable: Sync {
    fn select(&self, matchers: &[Matcher], mint: Timestamp, maxt: Timestamp) -> Vec<StoredSeries>;
}

impl Queryable for Head {
    fn select(&self, matchers: &[Matcher], mint: Timestamp, maxt: Timestamp) -> Vec<StoredSeries> {
        Head::select(self, matchers)
            .into_iter()
            .filter_map(|s| {
                let mut samples = Vec::new();
                s.samples(mint, maxt, &mut samples);
                (!samples.is_empty()).then(|| StoredSeries { labels: self.labels(&s), samples })
            })
            .collect()
    }
}

/// Blocks and head together: what the master's queries read.
impl Queryable for Db {
    fn select(&self, matchers: &[Matcher], mint: Timestamp, maxt: Timestamp) -> Vec<StoredSeries> {
        Db::select(self, matchers, mint, maxt)
    }
}
