//! Reading series for queries: the storage contract (`cardinal-storage`) implemented for
//! the head alone (the collector's whole store) and for blocks and head together (the
//! master's). A query's querier holds the head's read view it took when it started.

use super::Db;
use crate::block::Block;
use crate::head::{Head, ReadView, SeriesRef};
use cardinal_model::{Labels, Matcher, Timestamp};
use cardinal_storage::{Grouped, LazySeries, Querier, Queryable, SampleSource, SeriesSamples, Stored};
use rustc_hash::FxHashMap;
use std::sync::Arc;

/// One series' places: in blocks (block, index there), in late heads, and in the head.
#[derive(Default)]
struct Places {
    blocks: Vec<(Arc<Block>, usize)>,
    late: Vec<SeriesRef>,
    head: Option<SeriesRef>,
}

/// Where a selection's series are stored: in blocks and late heads (before the head's
/// lower bound) and in the head (from it). Each reader decodes the time range it needs,
/// on its own thread: a 30-day range query reads tens of millions of samples, and
/// decoding them all up front into one allocation cost more than the query itself.
struct StoredSeries {
    series: Vec<Places>,
    /// The head's lower bound when selected: blocks answer before it, the head from it.
    head_min: Timestamp,
    /// The head's append batches the read may see (blocks hold committed samples only).
    view: Arc<ReadView>,
}

impl SampleSource for StoredSeries {
    fn read(&self, i: usize, mint: Timestamp, maxt: Timestamp, out: &mut Vec<(Timestamp, f64)>) {
        let places = &self.series[i];
        let (start, before_head) = (out.len(), maxt.min(self.head_min - 1));
        for (b, at) in &places.blocks {
            b.samples(*at, mint, before_head, out);
        }
        for s in &places.late {
            s.samples(mint, before_head, out);
        }
        in_time_order(out, start);
        if let Some(s) = &places.head {
            s.samples_seen(mint.max(self.head_min), maxt, &self.view, out);
        }
    }
}

/// Orders `out[start..]`, read from places that may overlap (late samples' blocks beside
/// the head's), keeping each timestamp once (a sample both in a block and written late).
/// Already in order, the usual case, it costs one pass.
fn in_time_order(out: &mut Vec<(Timestamp, f64)>, start: usize) {
    if out[start..].windows(2).all(|w| w[0].0 < w[1].0) {
        return;
    }
    let mut read = out.split_off(start);
    read.sort_by_key(|s| s.0);
    read.dedup_by_key(|s| s.0);
    out.append(&mut read);
}

/// A selection's series, each once however many places hold it.
#[derive(Default)]
struct Found {
    labels: Vec<Labels>,
    places: Vec<Places>,
    at: FxHashMap<Labels, usize>,
}

impl Found {
    fn place(&mut self, labels: &Labels) -> &mut Places {
        let i = *self.at.entry(labels.clone()).or_insert_with(|| {
            self.labels.push(labels.clone());
            self.places.push(Places::default());
            self.places.len() - 1
        });
        &mut self.places[i]
    }
}

/// Series found in the head alone: the common case, with no block lists to carry.
struct HeadSeries {
    series: Vec<SeriesRef>,
    head_min: Timestamp,
    view: Arc<ReadView>,
}

impl SampleSource for HeadSeries {
    fn read(&self, i: usize, mint: Timestamp, maxt: Timestamp, out: &mut Vec<(Timestamp, f64)>) {
        self.series[i].samples_seen(mint.max(self.head_min), maxt, &self.view, out);
    }
}

/// A query's view of the head, from `head_min` on (earlier samples are in blocks).
struct HeadQuerier<'a> {
    head: &'a Head,
    head_min: Timestamp,
    view: Arc<ReadView>,
}

impl HeadQuerier<'_> {
    fn source(&self, series: Vec<SeriesRef>) -> Arc<HeadSeries> {
        Arc::new(HeadSeries { series, head_min: self.head_min, view: self.view.clone() })
    }
}

impl Querier for HeadQuerier<'_> {
    fn select(&self, matchers: &[Matcher], _: Timestamp, _: Timestamp) -> Vec<LazySeries> {
        let series = self.head.select(matchers);
        let labels: Vec<Labels> = series.iter().map(|s| self.head.labels(s)).collect();
        LazySeries::sharing(labels, self.source(series))
    }

    /// Groups head series by their label symbols: the series' own label sets are never
    /// built, which was most of the cost of a rule over 100k series.
    fn select_grouped(&self, matchers: &[Matcher], _: Timestamp, _: Timestamp, keep: &dyn Fn(&str) -> bool) -> Grouped {
        let series = self.head.select(matchers);
        let (groups, group_of) = self.head.group(&series, keep);
        let source: Arc<dyn SampleSource> = self.source(series);
        let series = group_of.into_iter().enumerate().map(|(i, g)| (g, Stored::new(source.clone(), i))).collect();
        Grouped { groups, series }
    }

    fn label_names(&self, mint: Timestamp, maxt: Timestamp) -> Vec<String> {
        if !head_overlaps(self.head, mint, maxt) {
            return Vec::new();
        }
        self.head.label_names()
    }

    fn label_values(&self, name: &str, mint: Timestamp, maxt: Timestamp) -> Vec<String> {
        if !head_overlaps(self.head, mint, maxt) {
            return Vec::new();
        }
        self.head.label_values(name)
    }
}

/// The head as the whole store: the collector's.
impl Queryable for Head {
    fn querier(&self) -> Box<dyn Querier + '_> {
        Box::new(HeadQuerier { head: self, head_min: i64::MIN, view: Arc::new(self.read_view()) })
    }
}

/// Blocks and head together: the master's. A series in many blocks and the head is one
/// entry.
struct DbQuerier<'a> {
    db: &'a Db,
    head: HeadQuerier<'a>,
}

impl Querier for DbQuerier<'_> {
    fn select(&self, matchers: &[Matcher], mint: Timestamp, maxt: Timestamp) -> Vec<LazySeries> {
        // Late heads before blocks: one written out in between is then read twice (and
        // each timestamp kept once), never missed.
        let late = self.db.late_heads();
        let blocks = self.db.blocks_overlapping(mint, maxt);
        let late_series: Vec<_> = late.iter().map(|l| (l, l.head.select(matchers))).collect();
        if blocks.is_empty() && late_series.iter().all(|(_, s)| s.is_empty()) {
            // No merging to do (the collector, a young master).
            return self.head.select(matchers, mint, maxt);
        }
        let mut found = Found::default();
        for b in &blocks {
            for i in b.select(matchers) {
                found.place(b.labels(i)).blocks.push((b.clone(), i));
            }
        }
        for (l, series) in late_series {
            for s in series {
                let labels = l.head.labels(&s);
                found.place(&labels).late.push(s);
            }
        }
        for s in self.head.head.select(matchers) {
            let labels = self.head.head.labels(&s);
            found.place(&labels).head = Some(s);
        }
        let Found { labels, places, .. } = found;
        let source = StoredSeries { series: places, head_min: self.head.head_min, view: self.head.view.clone() };
        LazySeries::sharing(labels, Arc::new(source))
    }

    fn select_grouped(
        &self,
        matchers: &[Matcher],
        mint: Timestamp,
        maxt: Timestamp,
        keep: &dyn Fn(&str) -> bool,
    ) -> Grouped {
        let late = self.db.late_heads().iter().any(|l| l.head.num_series() > 0);
        if late || !self.db.blocks_overlapping(mint, maxt).is_empty() {
            return Grouped::by_labels(self.select(matchers, mint, maxt), keep);
        }
        self.head.select_grouped(matchers, mint, maxt, keep)
    }

    fn label_names(&self, mint: Timestamp, maxt: Timestamp) -> Vec<String> {
        self.db.label_names(mint, maxt)
    }

    fn label_values(&self, name: &str, mint: Timestamp, maxt: Timestamp) -> Vec<String> {
        self.db.label_values(name, mint, maxt)
    }
}

impl Queryable for Db {
    fn querier(&self) -> Box<dyn Querier + '_> {
        let head =
            HeadQuerier { head: &self.head, head_min: self.head.min_valid(), view: Arc::new(self.head.read_view()) };
        Box::new(DbQuerier { db: self, head })
    }
}

/// Whether `head` may hold samples in `[mint, maxt]`: as Prometheus answers label names
/// and values for a time range, by the span of each head and block, not series by series.
/// An unbounded range needs no look at the head's span (which visits every series).
pub(super) fn head_overlaps(head: &Head, mint: Timestamp, maxt: Timestamp) -> bool {
    if mint == Timestamp::MIN && maxt == Timestamp::MAX {
        return true;
    }
    head.time_range().is_some_and(|(min, max)| min <= maxt && max >= mint)
}

impl Db {
    pub(super) fn blocks_overlapping(&self, mint: Timestamp, maxt: Timestamp) -> Vec<Arc<Block>> {
        self.blocks().into_iter().filter(|b| b.meta.max_time > mint && b.meta.min_time <= maxt).collect()
    }

    /// Every series matching `matchers` with its committed samples in `[mint, maxt]`,
    /// from blocks and head together; series without samples there are left out.
    pub fn select(&self, matchers: &[Matcher], mint: Timestamp, maxt: Timestamp) -> Vec<SeriesSamples> {
        LazySeries::decode_all(&self.querier().select(matchers, mint, maxt), mint, maxt)
    }
}
