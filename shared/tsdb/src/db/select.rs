//! Reading series for queries: blocks and head seen as one store, or the head alone.

use super::Db;
use crate::block::Block;
use crate::head::{Head, ReadView, SeriesRef};
use cardinal_model::{Labels, Matcher, Timestamp};
use rustc_hash::FxHashMap;
use std::sync::Arc;

/// One series' samples (sorted by time) from wherever they are stored.
pub struct SeriesSamples {
    pub labels: Labels,
    pub samples: Vec<(Timestamp, f64)>,
}

/// Where a selected series' samples are still stored: in blocks (before the head's lower
/// bound) and in the head (from it). Each reader decodes the time range it needs, on its
/// own thread: a 30-day range query reads tens of millions of samples, and decoding them
/// all up front into one allocation cost more than the query itself.
pub struct StoredSamples {
    blocks: Vec<(Arc<Block>, usize)>,
    head: Option<SeriesRef>,
    /// The head's lower bound when selected: blocks answer before it, the head from it.
    head_min: Timestamp,
    /// The head's append batches the read may see (blocks hold committed samples only).
    view: Arc<ReadView>,
}

impl StoredSamples {
    /// No blocks yet; the head (if the series is in it) from `head_min`, through `view`.
    fn new(head: Option<SeriesRef>, head_min: Timestamp, view: &Arc<ReadView>) -> Self {
        StoredSamples { blocks: Vec::new(), head, head_min, view: view.clone() }
    }

    /// Appends the samples in `[mint, maxt]` to `out`, oldest first.
    pub fn read(&self, mint: Timestamp, maxt: Timestamp, out: &mut Vec<(Timestamp, f64)>) {
        for (b, i) in &self.blocks {
            b.samples(*i, mint, maxt.min(self.head_min - 1), out);
        }
        if let Some(s) = &self.head {
            s.samples_seen(mint.max(self.head_min), maxt, &self.view, out);
        }
    }
}

/// A selected series: its labels, its samples not yet decoded.
pub struct LazySeries {
    pub labels: Labels,
    stored: StoredSamples,
}

impl LazySeries {
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

/// Selected series put in groups by some of their labels, as an aggregation needs them,
/// without each series' own label set.
pub struct Grouped {
    /// Each group's labels, in the order of the first series in it.
    pub groups: Vec<Labels>,
    /// Each series' group and samples, in selection order.
    pub series: Vec<(usize, StoredSamples)>,
}

impl Grouped {
    /// Groups series whose label sets are already built (blocks hold them).
    fn by_labels(series: Vec<LazySeries>, keep: &dyn Fn(&str) -> bool) -> Grouped {
        let (groups, group_of) = cardinal_model::labels::group_by(series.iter().map(|s| &s.labels), keep);
        Grouped { groups, series: group_of.into_iter().zip(series.into_iter().map(|s| s.stored)).collect() }
    }

    /// Groups head series by their label symbols: the series' own label sets are never
    /// built, which was most of the cost of a rule over 100k series.
    fn in_head(
        head: &Head,
        series: Vec<SeriesRef>,
        keep: &dyn Fn(&str) -> bool,
        stored: impl Fn(SeriesRef) -> StoredSamples,
    ) -> Grouped {
        let (groups, group_of) = head.group(&series, keep);
        Grouped { groups, series: group_of.into_iter().zip(series.into_iter().map(stored)).collect() }
    }
}

/// What a query reads from: the engine's view of storage, as Prometheus's
/// `storage.Queryable`.
pub trait Queryable: Sync {
    /// What a query starting now may see; every selector of the query reads through it.
    fn read_view(&self) -> ReadView;

    /// The series matching `matchers` that may have samples in `[mint, maxt]`, nothing
    /// decoded yet (each reader decodes the range it needs), the head read through `view`.
    fn select_lazy(
        &self,
        matchers: &[Matcher],
        mint: Timestamp,
        maxt: Timestamp,
        view: &Arc<ReadView>,
    ) -> Vec<LazySeries>;

    /// The same series grouped by the labels `keep` accepts, for an aggregation that
    /// needs only its groups' labels.
    fn select_grouped(
        &self,
        matchers: &[Matcher],
        mint: Timestamp,
        maxt: Timestamp,
        view: &Arc<ReadView>,
        keep: &dyn Fn(&str) -> bool,
    ) -> Grouped {
        Grouped::by_labels(self.select_lazy(matchers, mint, maxt, view), keep)
    }
}

/// The head as the whole store: the collector's.
impl Queryable for Head {
    fn read_view(&self) -> ReadView {
        Head::read_view(self)
    }

    fn select_lazy(&self, matchers: &[Matcher], _: Timestamp, _: Timestamp, view: &Arc<ReadView>) -> Vec<LazySeries> {
        let series =
            |s: SeriesRef| LazySeries { labels: self.labels(&s), stored: StoredSamples::new(Some(s), i64::MIN, view) };
        self.select(matchers).into_iter().map(series).collect()
    }

    fn select_grouped(
        &self,
        matchers: &[Matcher],
        _: Timestamp,
        _: Timestamp,
        view: &Arc<ReadView>,
        keep: &dyn Fn(&str) -> bool,
    ) -> Grouped {
        Grouped::in_head(self, self.select(matchers), keep, |s| StoredSamples::new(Some(s), i64::MIN, view))
    }
}

/// Blocks and head together: the master's. A series in many blocks and the head is one
/// entry.
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
        let head_min = self.head.min_valid();
        let in_head = |s: SeriesRef| LazySeries {
            labels: self.head.labels(&s),
            stored: StoredSamples::new(Some(s), head_min, view),
        };
        let blocks = self.blocks_overlapping(mint, maxt);
        if blocks.is_empty() {
            // No merging to do (the collector, a young master).
            return self.head.select(matchers).into_iter().map(in_head).collect();
        }
        let mut out: Vec<LazySeries> = Vec::new();
        let mut pos: FxHashMap<Labels, usize> = FxHashMap::default();
        for b in &blocks {
            for i in b.select(matchers) {
                let labels = b.labels(i);
                let at = *pos.entry(labels.clone()).or_insert_with(|| {
                    out.push(LazySeries { labels: labels.clone(), stored: StoredSamples::new(None, head_min, view) });
                    out.len() - 1
                });
                out[at].stored.blocks.push((b.clone(), i));
            }
        }
        for s in self.head.select(matchers) {
            let series = in_head(s);
            match pos.get(&series.labels) {
                Some(&at) => out[at].stored.head = series.stored.head,
                None => out.push(series),
            }
        }
        out
    }

    fn select_grouped(
        &self,
        matchers: &[Matcher],
        mint: Timestamp,
        maxt: Timestamp,
        view: &Arc<ReadView>,
        keep: &dyn Fn(&str) -> bool,
    ) -> Grouped {
        if !self.blocks_overlapping(mint, maxt).is_empty() {
            return Grouped::by_labels(self.select_lazy(matchers, mint, maxt, view), keep);
        }
        let head_min = self.head.min_valid();
        Grouped::in_head(&self.head, self.head.select(matchers), keep, |s| StoredSamples::new(Some(s), head_min, view))
    }
}

impl Db {
    fn blocks_overlapping(&self, mint: Timestamp, maxt: Timestamp) -> Vec<Arc<Block>> {
        self.blocks().into_iter().filter(|b| b.meta.max_time > mint && b.meta.min_time <= maxt).collect()
    }

    /// Every series matching `matchers` with its committed samples in `[mint, maxt]`,
    /// from blocks and head together; series without samples there are left out.
    pub fn select(&self, matchers: &[Matcher], mint: Timestamp, maxt: Timestamp) -> Vec<SeriesSamples> {
        let view = Arc::new(self.head.read_view());
        LazySeries::decode_all(&self.select_lazy(matchers, mint, maxt, &view), mint, maxt)
    }
}
