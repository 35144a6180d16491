//! The head as `/federate`'s source (the storage contract's `LatestSamples`): series
//! selected and sorted by their label symbols, each one's newest sample read off its open
//! chunk, labels lent from the symbol table a batch at a time.

use super::{Head, ReadView, SeriesRef};
use cardinal_model::{Matcher, Timestamp};
use cardinal_storage::{Latest, LatestSamples, Visit};
use std::collections::HashSet;
use std::ops::Range;
use std::sync::Arc;

struct Selection {
    head: Arc<Head>,
    series: Vec<SeriesRef>,
    view: ReadView,
}

impl LatestSamples for Head {
    fn select_latest(self: Arc<Self>, sets: &[Vec<Matcher>]) -> Box<dyn Latest> {
        // Taken first and held while the response streams: each scrape is served whole
        // or not at all, however long the stream takes.
        let view = self.read_view();
        let series = self.select_union(sets);
        Box::new(Selection { head: self, series, view })
    }
}

impl Head {
    /// Series matching any of the selectors, each once, sorted as Prometheus emits them.
    fn select_union(&self, sets: &[Vec<Matcher>]) -> Vec<SeriesRef> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for ms in sets {
            for s in self.select(ms) {
                if seen.insert(s.id) {
                    out.push(s);
                }
            }
        }
        self.sort_by_labels(&mut out);
        out
    }
}

impl Latest for Selection {
    fn len(&self) -> usize {
        self.series.len()
    }

    fn visit(&self, range: Range<usize>, mint: Timestamp, maxt: Timestamp, f: &mut Visit<'_>) {
        self.head.with_labels(&self.series[range], |s, labels| {
            if let Some((t, v)) = s.last_seen(maxt, &self.view).filter(|(t, _)| *t >= mint) {
                f(labels, t, v);
            }
        });
    }
}
