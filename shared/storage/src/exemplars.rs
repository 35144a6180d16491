//! Exemplars: the bounded circular store Prometheus keeps (`storage.exemplars.max_exemplars`),
//! written by scrapes, read by `/api/v1/query_exemplars`. The oldest exemplar goes when a
//! new one arrives at a full store; a series' exemplar equal to its newest is a repeat
//! of the same scrape and is not stored again, and one older than its newest is refused
//! as out of order.

use crate::SeriesStore;
use cardinal_model::{Labels, Matcher, Timestamp};
use parking_lot::Mutex;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

#[derive(Clone, Debug, PartialEq)]
pub struct Exemplar {
    pub labels: Labels,
    pub value: f64,
    pub t: Timestamp,
}

#[derive(Default)]
pub struct ExemplarStats {
    pub appended: AtomicU64,
    pub out_of_order: AtomicU64,
}

#[derive(Default)]
pub struct ExemplarStore {
    inner: Mutex<Inner>,
    pub stats: ExemplarStats,
}

#[derive(Default)]
struct Inner {
    capacity: usize,
    ring: VecDeque<(Labels, Exemplar)>,
    /// Per series: its exemplars in the ring and its newest one.
    series: HashMap<Labels, (usize, Exemplar)>,
}

impl ExemplarStore {
    /// Sets how many exemplars are kept (0: none, the store off), dropping the oldest
    /// beyond it; Prometheus resizes alike on a reload.
    pub fn resize(&self, capacity: usize) {
        let mut inner = self.inner.lock();
        inner.capacity = capacity;
        while inner.ring.len() > capacity {
            inner.evict_oldest();
        }
    }

    pub fn capacity(&self) -> usize {
        self.inner.lock().capacity
    }

    pub fn enabled(&self) -> bool {
        self.capacity() > 0
    }

    /// Stores `e` for `series`; false when it was refused (out of order) or not kept (a
    /// repeat, or the store off).
    pub fn add(&self, series: &Labels, e: Exemplar) -> bool {
        let mut inner = self.inner.lock();
        if inner.capacity == 0 {
            return false;
        }
        if let Some((_, newest)) = inner.series.get(series) {
            if *newest == e {
                return false;
            }
            if e.t < newest.t {
                self.stats.out_of_order.fetch_add(1, Relaxed);
                return false;
            }
        }
        if inner.ring.len() == inner.capacity {
            inner.evict_oldest();
        }
        let entry = inner.series.entry(series.clone()).or_insert((0, e.clone()));
        entry.0 += 1;
        entry.1 = e.clone();
        inner.ring.push_back((series.clone(), e));
        self.stats.appended.fetch_add(1, Relaxed);
        true
    }

    /// Stores a batch's exemplars; each one taken (new, and in order) is also logged
    /// through `db`'s log, for remote-write senders with `send_exemplars`, as Prometheus
    /// logs exemplars in its WAL.
    pub fn add_logged(&self, db: &dyn SeriesStore, batch: Vec<(Labels, Exemplar)>) {
        if batch.is_empty() || !self.enabled() {
            return;
        }
        let mut log = db.batch();
        for (series, e) in batch {
            let Some(s) = db.get(&series) else { continue };
            if self.add(&series, e.clone()) {
                log.log_exemplar(&s, &e);
            }
        }
        log.commit();
    }

    /// The newest exemplar of `series`, if it has one stored.
    pub fn newest(&self, series: &Labels) -> Option<Exemplar> {
        self.inner.lock().series.get(series).map(|(_, newest)| newest.clone())
    }

    /// Exemplars in `[start, end]` of the series matching any of the matcher sets, each
    /// series with its exemplars oldest first; series sorted by labels.
    pub fn select(&self, sets: &[Vec<Matcher>], start: Timestamp, end: Timestamp) -> Vec<(Labels, Vec<Exemplar>)> {
        let inner = self.inner.lock();
        let mut out: HashMap<&Labels, Vec<Exemplar>> = HashMap::new();
        for (series, e) in inner.ring.iter().filter(|(_, e)| (start..=end).contains(&e.t)) {
            let matches = |set: &Vec<Matcher>| set.iter().all(|m| m.matches(series.get(&m.name).unwrap_or("")));
            if sets.iter().any(matches) {
                out.entry(series).or_default().push(e.clone());
            }
        }
        let mut out: Vec<(Labels, Vec<Exemplar>)> = out.into_iter().map(|(l, e)| (l.clone(), e)).collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Exemplars stored, and series with one.
    pub fn sizes(&self) -> (usize, usize) {
        let inner = self.inner.lock();
        (inner.ring.len(), inner.series.len())
    }
}

impl Inner {
    fn evict_oldest(&mut self) {
        let Some((series, _)) = self.ring.pop_front() else { return };
        if let Some(entry) = self.series.get_mut(&series) {
            entry.0 -= 1;
            if entry.0 == 0 {
                self.series.remove(&series);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cardinal_model::MatchOp;

    fn ex(id: &str, t: Timestamp) -> Exemplar {
        Exemplar { labels: Labels::from_pairs([("trace_id", id)]), value: 1.0, t }
    }

    fn series(i: &str) -> Labels {
        Labels::from_pairs([("__name__", "req_total"), ("i", i)])
    }

    #[test]
    fn keeps_the_newest_up_to_capacity_once_each_in_order() {
        let store = ExemplarStore::default();
        assert!(!store.add(&series("a"), ex("x", 1)), "off until sized");
        store.resize(3);
        assert!(store.add(&series("a"), ex("x", 1)));
        assert!(!store.add(&series("a"), ex("x", 1)), "the same exemplar again is a repeat");
        assert!(!store.add(&series("a"), ex("y", 0)), "older than the series' newest");
        assert_eq!(store.stats.out_of_order.load(Relaxed), 1);
        for t in 2..=4 {
            assert!(store.add(&series("b"), ex("z", t)));
        }
        assert_eq!(store.sizes(), (3, 1), "a's exemplar was the oldest and went");
        assert_eq!(store.newest(&series("b")), Some(ex("z", 4)));
        assert_eq!(store.newest(&series("a")), None, "gone with its last exemplar");
        let all = vec![vec![Matcher::new(MatchOp::Equal, "__name__", "req_total").unwrap()]];
        let got = store.select(&all, 3, 10);
        assert_eq!(got, [(series("b"), vec![ex("z", 3), ex("z", 4)])]);
        store.resize(1);
        assert_eq!(store.sizes(), (1, 1));
        store.resize(0);
        assert!(!store.enabled());
        assert_eq!(store.sizes(), (0, 0));
    }
}
