//! The storage contract: what the query engine and rules need from a database, and
//! nothing of how one is built (Prometheus's `storage.Queryable`, `storage.Querier` and
//! `storage.Appendable`). A query takes one [`Querier`] when it starts, so every selector
//! of it sees the same data; a selection's series come with their labels and a handle to
//! their samples, decoded only for the time range a reader asks for, on whatever thread
//! reads them. Writers take an [`Appender`], whose samples readers see together at
//! [`Appender::commit`].
//!
//! Writers that keep handles on their series (scrapes, pushes, rollups) write through a
//! [`SeriesStore`] (`series_store.rs`); `/federate` reads the newest samples through
//! [`LatestSamples`] (`latest.rs`); the status pages read [`DbStatus`] (`status.rs`).
//!
//! `cardinal-tsdb` implements it for its head (the collector's whole store) and for
//! blocks and head together (the master's); `shared/promql/tests/storage.rs` runs the
//! engine over an implementation held in plain vectors.

pub mod exemplars;
mod latest;
mod series_store;
mod status;

pub use latest::{Latest, LatestSamples, Visit};
pub use series_store::{
    AppendError, AppendObserver, ObservedSeries, ObserverMemo, SeriesAppender, SeriesLimitReached, SeriesRef,
    SeriesStore, TimeBounds, follows,
};
pub use status::{BlockInfo, Cardinality, DbStatus};

use cardinal_model::{Labels, Matcher, Timestamp};
use std::sync::Arc;

/// A database queries can read.
pub trait Queryable: Sync {
    /// What a query starting now may see; every selector of the query reads through it.
    fn querier(&self) -> Box<dyn Querier + '_>;
}

/// A database samples can be written to.
pub trait Appendable: Sync {
    fn appender(&self) -> Box<dyn Appender + '_>;
}

/// A database read and written: what rule evaluation runs over.
pub trait Storage: Queryable + Appendable {}

impl<T: Queryable + Appendable> Storage for T {}

/// One batch of writes.
pub trait Appender {
    /// Appends `(t, v)` to the series `labels` names, creating it if it is new. Refused
    /// (with the reason) when the series already has a newer sample, or `t` is outside
    /// what the database accepts.
    fn append(&mut self, labels: &Labels, t: Timestamp, v: f64) -> Result<(), String>;

    /// Makes the batch's samples visible to readers (and durable, where the database logs).
    fn commit(self: Box<Self>);
}

/// One query's view of a database.
pub trait Querier: Sync {
    /// The series matching `matchers` that may have samples in `[mint, maxt]`, nothing
    /// decoded yet.
    fn select(&self, matchers: &[Matcher], mint: Timestamp, maxt: Timestamp) -> Vec<LazySeries>;

    /// Every label name with a series that may have samples in `[mint, maxt]`, sorted.
    fn label_names(&self, mint: Timestamp, maxt: Timestamp) -> Vec<String> {
        let mut out: Vec<String> = self
            .select(&[any_series()], mint, maxt)
            .iter()
            .flat_map(|s| s.labels.iter().map(|l| l.name.to_string()).collect::<Vec<_>>())
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// Every value label `name` has on a series that may have samples in `[mint, maxt]`,
    /// sorted.
    fn label_values(&self, name: &str, mint: Timestamp, maxt: Timestamp) -> Vec<String> {
        let mut out: Vec<String> = self
            .select(&[any_series()], mint, maxt)
            .iter()
            .filter_map(|s| s.labels.get(name).map(str::to_string))
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// The same series grouped by the labels `keep` accepts, for an aggregation that
    /// needs only its groups' labels. A store that can group without building each
    /// series' labels (the head, by label symbols) overrides this.
    fn select_grouped(
        &self,
        matchers: &[Matcher],
        mint: Timestamp,
        maxt: Timestamp,
        keep: &dyn Fn(&str) -> bool,
    ) -> Grouped {
        Grouped::by_labels(self.select(matchers, mint, maxt), keep)
    }
}

/// A matcher every series passes (each has a metric name).
fn any_series() -> Matcher {
    Matcher::new(cardinal_model::MatchOp::Regex, cardinal_model::labels::METRIC_NAME, ".+").expect("a valid regex")
}

/// Where the series of one selection keep their samples.
pub trait SampleSource: Send + Sync {
    /// Appends the samples of the selection's series `i` in `[mint, maxt]` to `out`,
    /// oldest first, stale markers included (the engine interprets them).
    fn read(&self, i: usize, mint: Timestamp, maxt: Timestamp, out: &mut Vec<(Timestamp, f64)>);
}

/// One selected series' samples, not decoded yet: its selection's source and its place
/// there (one shared allocation per selection, not one per series).
#[derive(Clone)]
pub struct Stored {
    source: Arc<dyn SampleSource>,
    index: usize,
}

impl Stored {
    pub fn new(source: Arc<dyn SampleSource>, index: usize) -> Stored {
        Stored { source, index }
    }

    /// Appends the samples in `[mint, maxt]` to `out`, oldest first.
    pub fn read(&self, mint: Timestamp, maxt: Timestamp, out: &mut Vec<(Timestamp, f64)>) {
        self.source.read(self.index, mint, maxt, out);
    }
}

/// A selected series: its labels, its samples not yet decoded.
pub struct LazySeries {
    pub labels: Labels,
    pub stored: Stored,
}

impl LazySeries {
    /// A selection's series, `labels[i]` stored as `source`'s series `i`.
    pub fn sharing(labels: Vec<Labels>, source: Arc<dyn SampleSource>) -> Vec<LazySeries> {
        let lazy = |(i, labels)| LazySeries { labels, stored: Stored::new(source.clone(), i) };
        labels.into_iter().enumerate().map(lazy).collect()
    }

    /// Appends the samples in `[mint, maxt]` to `out`, oldest first.
    pub fn samples(&self, mint: Timestamp, maxt: Timestamp, out: &mut Vec<(Timestamp, f64)>) {
        self.stored.read(mint, maxt, out);
    }

    /// Each series with its samples in `[mint, maxt]`; series without any are left out.
    pub fn decode_all(series: &[LazySeries], mint: Timestamp, maxt: Timestamp) -> Vec<SeriesSamples> {
        let decode = |s: &LazySeries| {
            let mut samples = Vec::new();
            s.samples(mint, maxt, &mut samples);
            (!samples.is_empty()).then(|| SeriesSamples { labels: s.labels.clone(), samples })
        };
        series.iter().filter_map(decode).collect()
    }
}

/// One series' samples (sorted by time), decoded.
pub struct SeriesSamples {
    pub labels: Labels,
    pub samples: Vec<(Timestamp, f64)>,
}

/// Selected series put in groups by some of their labels, as an aggregation needs them,
/// without each series' own label set.
pub struct Grouped {
    /// Each group's labels, in the order of the first series in it.
    pub groups: Vec<Labels>,
    /// Each series' group and samples, in selection order.
    pub series: Vec<(usize, Stored)>,
}

impl Grouped {
    /// Groups series whose label sets are already built.
    pub fn by_labels(series: Vec<LazySeries>, keep: &dyn Fn(&str) -> bool) -> Grouped {
        let (groups, group_of) = cardinal_model::labels::group_by(series.iter().map(|s| &s.labels), keep);
        Grouped { groups, series: group_of.into_iter().zip(series.into_iter().map(|s| s.stored)).collect() }
    }
}
