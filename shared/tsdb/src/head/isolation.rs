//! Isolation: a query sees each append batch (a scrape, a rule group's outputs, a
//! remote-write request) whole or not at all, as in Prometheus. Samples are written to
//! their series as they are appended, so visibility is decided when reading: every batch
//! gets an append id when it first appends, each series remembers which id wrote its
//! newest samples, and a reader takes a [`ReadView`] of which ids were committed when
//! it started and skips the samples of the others.
//!
//! Without this a rule evaluated while a scrape commits saw some of the scrape's series
//! and not others: an alert fired for some pods of a first scrape, then the rest a round
//! later.

use cardinal_model::Timestamp;
use parking_lot::Mutex;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Samples appended outside any batch (WAL replay, single appends) carry this id and are
/// visible at once.
pub const COMMITTED: u64 = 0;

/// The head's register of open append batches and running reads.
#[derive(Default)]
pub struct Isolation {
    state: Mutex<State>,
    /// Every id below this is committed and seen by every running and future read, so a
    /// series need not remember it: the oldest open batch, the oldest batch a running read
    /// cannot see, or the next id, whichever is lowest.
    low_watermark: AtomicU64,
}

#[derive(Default)]
struct State {
    last_id: u64,
    appends: BTreeSet<u64>,
    /// Running reads, by the lowest id each cannot see.
    reads: BTreeMap<u64, usize>,
}

impl State {
    fn low_watermark(&self) -> u64 {
        let next = self.last_id + 1;
        let oldest_read = self.reads.keys().next().copied().unwrap_or(next);
        self.appends.first().copied().unwrap_or(next).min(oldest_read)
    }
}

impl Isolation {
    /// A new batch's id; its samples stay hidden until [`Isolation::close_append`].
    pub fn open_append(&self) -> u64 {
        let mut s = self.state.lock();
        s.last_id += 1;
        let id = s.last_id;
        s.appends.insert(id);
        self.low_watermark.store(s.low_watermark(), Relaxed);
        id
    }

    /// Makes the batch's samples visible to reads that start from now on.
    pub fn close_append(&self, id: u64) {
        let mut s = self.state.lock();
        s.appends.remove(&id);
        self.low_watermark.store(s.low_watermark(), Relaxed);
    }

    pub fn low_watermark(&self) -> u64 {
        self.low_watermark.load(Relaxed)
    }

    /// What a read starting now may see; it stays registered until dropped, so that
    /// series keep the records it needs.
    pub fn read(self: &Arc<Self>) -> ReadView {
        let mut s = self.state.lock();
        let open: Box<[u64]> = s.appends.iter().copied().collect();
        let max_id = s.last_id;
        let key = open.first().copied().unwrap_or(max_id + 1);
        *s.reads.entry(key).or_default() += 1;
        self.low_watermark.store(s.low_watermark(), Relaxed);
        ReadView { max_id, open, key, registry: Some(self.clone()) }
    }

    fn end_read(&self, key: u64) {
        let mut s = self.state.lock();
        if let Some(n) = s.reads.get_mut(&key) {
            *n -= 1;
            if *n == 0 {
                s.reads.remove(&key);
            }
        }
        self.low_watermark.store(s.low_watermark(), Relaxed);
    }
}

/// The batches a read may see: those with an id up to `max_id` that were not open when it
/// started.
pub struct ReadView {
    max_id: u64,
    /// Sorted.
    open: Box<[u64]>,
    key: u64,
    registry: Option<Arc<Isolation>>,
}

impl ReadView {
    /// Sees every sample, committed or not: for the head's own bookkeeping (order checks,
    /// staleness, compaction of ranges no batch still writes to).
    pub fn everything() -> Self {
        ReadView { max_id: u64::MAX, open: Box::new([]), key: 0, registry: None }
    }

    pub fn sees(&self, id: u64) -> bool {
        id == COMMITTED || (id <= self.max_id && self.open.binary_search(&id).is_err())
    }
}

impl Drop for ReadView {
    fn drop(&mut self) {
        if let Some(iso) = &self.registry {
            iso.end_read(self.key);
        }
    }
}

/// A run of a series' samples written by one batch, from `from` up to the next run.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Run {
    from: Timestamp,
    id: u64,
}

/// Which batches wrote a series' newest samples. Almost always the newest run alone (one
/// scrape, one sample); older runs are kept only while some read may not see them, when
/// batches interleave on one series (a remote-write request and a backfill, say). Kept
/// small: every series in the head has one.
#[derive(Debug, Default)]
pub struct Runs {
    /// With id [`COMMITTED`] when there is nothing to hide.
    newest: Run,
    /// Boxed: 8 bytes in every series rather than a `Vec`'s 24, for what few ever use.
    #[allow(clippy::box_collection)]
    older: Option<Box<Vec<Run>>>,
}

impl Runs {
    /// Notes that batch `id` appended a sample at `t`. `low_watermark` may be stale (lower
    /// than now): that only keeps runs longer.
    pub fn note(&mut self, t: Timestamp, id: u64, low_watermark: u64) {
        let settled = |r: &Run| r.id < low_watermark;
        if self.newest.id != id {
            // A settled run is still kept while an older one is not: it ends that one.
            if !settled(&self.newest) || self.older.is_some() {
                self.older.get_or_insert_default().push(self.newest);
            }
            self.newest = Run { from: t, id };
        }
        if let Some(older) = &mut self.older {
            let gone = older.iter().take_while(|r| settled(r)).count();
            older.drain(..gone);
            if older.is_empty() {
                self.older = None;
            }
        }
    }

    /// The time ranges (inclusive) of the samples `view` must not see, oldest first.
    pub fn hidden(&self, view: &ReadView) -> Vec<(Timestamp, Timestamp)> {
        let runs = || self.older.iter().flat_map(|o| o.iter()).chain([&self.newest]);
        let ends = runs().skip(1).map(|r| r.from - 1).chain([Timestamp::MAX]);
        runs().zip(ends).filter(|(r, _)| !view.sees(r.id)).map(|(r, end)| (r.from, end)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_sees_batches_closed_before_it_started() {
        let iso = Arc::new(Isolation::default());
        let a = iso.open_append();
        let b = iso.open_append();
        iso.close_append(b);
        let view = iso.read();
        let c = iso.open_append();
        iso.close_append(a);
        iso.close_append(c);
        assert!(!view.sees(a), "open when the read started");
        assert!(view.sees(b));
        assert!(!view.sees(c), "started after the read");
        assert!(view.sees(COMMITTED));
        let later = iso.read();
        assert!(later.sees(a) && later.sees(c));
    }

    #[test]
    fn the_low_watermark_waits_for_open_batches_and_running_reads() {
        let iso = Arc::new(Isolation::default());
        let a = iso.open_append();
        assert_eq!(iso.low_watermark(), a);
        let view = iso.read();
        iso.close_append(a);
        assert_eq!(iso.low_watermark(), a, "the read cannot see a");
        drop(view);
        assert_eq!(iso.low_watermark(), a + 1);
        let b = iso.open_append();
        iso.close_append(b);
        assert_eq!(iso.low_watermark(), b + 1);
    }

    #[test]
    fn a_series_hides_the_runs_a_read_cannot_see() {
        let iso = Arc::new(Isolation::default());
        let mut runs = Runs::default();
        let a = iso.open_append();
        runs.note(100, a, iso.low_watermark());
        runs.note(115, a, iso.low_watermark());
        let b = iso.open_append();
        runs.note(130, b, iso.low_watermark());
        iso.close_append(b);
        let view = iso.read();
        assert_eq!(runs.hidden(&view), [(100, 129)], "a is open, b committed");
        iso.close_append(a);
        assert_eq!(runs.hidden(&view), [(100, 129)], "the view keeps its moment");
        assert!(runs.hidden(&iso.read()).is_empty());
        let c = iso.open_append();
        runs.note(145, c, iso.low_watermark());
        assert_eq!(runs.older.as_deref().map(Vec::len), Some(2), "the running read still needs a's run");
        drop(view);
        let d = iso.open_append();
        runs.note(160, d, iso.low_watermark());
        assert_eq!(runs.older.as_deref(), Some(&vec![Run { from: 145, id: c }]), "settled runs are forgotten");
        assert_eq!(runs.hidden(&iso.read()), [(145, 159), (160, Timestamp::MAX)]);
    }

    #[test]
    fn a_settled_run_stays_while_an_older_one_is_open() {
        let iso = Arc::new(Isolation::default());
        let mut runs = Runs::default();
        let a = iso.open_append();
        runs.note(100, a, iso.low_watermark());
        let b = iso.open_append();
        runs.note(115, b, iso.low_watermark());
        iso.close_append(b);
        runs.note(130, COMMITTED, iso.low_watermark());
        assert_eq!(runs.hidden(&iso.read()), [(100, 114)], "b's and the replayed samples are visible");
        iso.close_append(a);
        runs.note(145, COMMITTED, iso.low_watermark());
        assert!(runs.newest.id == COMMITTED && runs.older.is_none(), "{runs:?}");
    }
}
