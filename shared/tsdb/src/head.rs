//! The head: every series in memory, appended to by many scrapers at once while queries
//! read. A series keeps sealed XOR chunks plus one open chunk; retention drops whole
//! chunks and, once a series has nothing left in the window, the series itself.

mod isolation;
mod latest;
mod packed;
mod sealed;
mod series_store;
mod table;

pub use isolation::ReadView;
use isolation::{COMMITTED, Isolation, Runs};
use packed::PackedPairs;
use sealed::SealedChunks;
use table::SeriesTable;

use crate::chunk::{SAMPLES_PER_CHUNK, XorAppender, XorIter};
use crate::index::{Postings, SeriesId};
use crate::symbols::Symbols;
use crate::wal::{RefExemplar, RefSample, Wal};
use cardinal_model::{Label, Labels, Matcher, Timestamp};
pub use cardinal_storage::{
    AppendError, AppendObserver, Cardinality, ObserverMemo, SeriesLimitReached, TimeBounds, follows,
};
use parking_lot::{Mutex, RwLock};
use rustc_hash::FxHashMap;
use smallvec::SmallVec;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};

/// A handle on one series; scrape loops cache these so that appending a known series
/// needs no lookup.
pub type SeriesRef = Arc<MemSeries>;

/// A series' samples: sealed chunks and the open one. The open chunk is never empty once
/// the series has a sample (a full chunk is sealed only as the next sample arrives), so
/// it holds the newest sample.
struct SeriesData {
    sealed: SealedChunks,
    open: XorAppender,
    open_min_t: Timestamp,
    /// Which append batches wrote the newest samples, for reads to skip uncommitted ones.
    runs: Runs,
}

pub struct MemSeries {
    pub id: SeriesId,
    hash: u64,
    /// Wall-clock creation time: an empty series is only removed once this is older than
    /// the retention cut, so a series created just before its first sample survives.
    created: Timestamp,
    /// (name, value) symbol pairs, sorted by name.
    labels: PackedPairs,
    data: Mutex<SeriesData>,
    removed: AtomicBool,
    /// The append observer's memo about this series (for rollups: whether it is an input
    /// under the current rules, and its slot), so that a sample of a series no rule wants
    /// costs one load.
    pub memo: ObserverMemo,
}

impl MemSeries {
    /// The stable hash of the series' labels: the same in every process and release.
    pub fn label_hash(&self) -> u64 {
        self.hash
    }

    /// Appends for batch `id`; `Ok(true)` when the sample opened a new chunk. Same
    /// timestamp and same bits is accepted as a no-op, as in Prometheus.
    fn push(&self, t: Timestamp, v: f64, id: u64, low_watermark: u64) -> Result<bool, AppendError> {
        if self.removed.load(Relaxed) {
            return Err(AppendError::Removed);
        }
        let mut d = self.data.lock();
        if let Some((last_t, last_v)) = d.open.last() {
            if !follows((last_t, last_v), t, v)? {
                return Ok(false);
            }
            if d.open.count() >= SAMPLES_PER_CHUNK {
                let room = d.open.len_bytes() + d.open.len_bytes() / 16;
                let full = std::mem::replace(&mut d.open, XorAppender::with_capacity(room));
                let min_t = d.open_min_t;
                d.sealed.push(min_t, last_t, &full.bytes());
            }
        }
        let opened = d.open.count() == 0;
        if opened {
            d.open_min_t = t;
        }
        d.open.append(t, v);
        d.runs.note(t, id, low_watermark);
        Ok(opened)
    }

    /// The newest sample at or before `maxt`, committed or not.
    pub fn last_at_or_before(&self, maxt: Timestamp) -> Option<(Timestamp, f64)> {
        self.last_seen(maxt, &ReadView::everything())
    }

    /// The newest sample at or before `maxt` that `view` may see.
    pub fn last_seen(&self, maxt: Timestamp, view: &ReadView) -> Option<(Timestamp, f64)> {
        let d = self.data.lock();
        let hidden = d.runs.hidden(view);
        let last = d.open.last()?;
        if last.0 <= maxt && hidden.is_empty() {
            return Some(last);
        }
        let mut best = None;
        d.for_each_chunk(i64::MIN, maxt, |t, v| {
            if t <= maxt && !is_hidden(&hidden, t) {
                best = Some((t, v));
            }
        });
        best
    }

    /// Appends every sample in `[mint, maxt]` to `out`, oldest first, committed or not.
    pub fn samples(&self, mint: Timestamp, maxt: Timestamp, out: &mut Vec<(Timestamp, f64)>) {
        self.samples_seen(mint, maxt, &ReadView::everything(), out);
    }

    /// Appends the samples in `[mint, maxt]` that `view` may see to `out`, oldest first.
    pub fn samples_seen(&self, mint: Timestamp, maxt: Timestamp, view: &ReadView, out: &mut Vec<(Timestamp, f64)>) {
        let d = self.data.lock();
        let hidden = d.runs.hidden(view);
        d.for_each_chunk(mint, maxt, |t, v| {
            if t >= mint && t <= maxt && !is_hidden(&hidden, t) {
                out.push((t, v));
            }
        });
    }

    /// The newest timestamp, if any sample exists.
    pub fn last_timestamp(&self) -> Option<Timestamp> {
        self.data.lock().open.last().map(|(t, _)| t)
    }
}

/// A label set from (name, value) symbol pairs sorted by name.
fn labels_of(sym: &Symbols, pairs: impl Iterator<Item = (u32, u32)>) -> Labels {
    Labels::from_sorted(pairs.map(|(n, v)| Label { name: sym.shared(n), value: sym.shared(v) }).collect())
}

fn is_hidden(hidden: &[(Timestamp, Timestamp)], t: Timestamp) -> bool {
    hidden.iter().any(|&(from, to)| t >= from && t <= to)
}

impl SeriesData {
    /// Calls `f` for each sample of the chunks overlapping `[mint, maxt]`.
    fn for_each_chunk(&self, mint: Timestamp, maxt: Timestamp, mut f: impl FnMut(Timestamp, f64)) {
        for c in self.sealed.iter().filter(|c| c.max_t >= mint && c.min_t <= maxt) {
            XorIter::new(c.data).for_each(|(t, v)| f(t, v));
        }
        if self.open.last().is_some_and(|(last_t, _)| last_t >= mint) && self.open_min_t <= maxt {
            self.open.iter().for_each(|(t, v)| f(t, v));
        }
    }
}

/// Counters the head keeps about itself (exported on `/metrics`).
#[derive(Default)]
pub struct HeadStats {
    pub samples_appended: AtomicU64,
    pub out_of_order: AtomicU64,
    pub out_of_bounds: AtomicU64,
    pub too_far_ahead: AtomicU64,
    pub duplicates: AtomicU64,
    pub series_created: AtomicU64,
    pub series_removed: AtomicU64,
    /// New series refused at the series limit.
    pub series_refused: AtomicU64,
    /// Chunks cut (including each series' first) and dropped; their difference is the
    /// number of chunks in the head.
    pub chunks_created: AtomicU64,
    pub chunks_removed: AtomicU64,
}

impl HeadStats {
    pub fn chunks(&self) -> u64 {
        self.chunks_created.load(Relaxed).saturating_sub(self.chunks_removed.load(Relaxed))
    }
}

#[derive(Default)]
struct Index {
    symbols: Symbols,
    postings: Postings,
}

pub struct Head {
    index: RwLock<Index>,
    /// By id: what postings resolve to.
    series: SeriesTable,
    /// By label-set hash, collisions side by side: what appends by labels look up.
    by_hash: SeriesTable,
    next_id: AtomicU64,
    /// Samples older than this are refused: blocks hold that range.
    min_valid: AtomicI64,
    /// Samples older than this much before the wall clock are refused (ms; `i64::MAX`:
    /// no limit): retention would drop them at once.
    max_age: AtomicI64,
    /// Samples further ahead of the wall clock than this are refused (ms; `i64::MAX`: no
    /// limit).
    max_ahead: AtomicI64,
    /// New series from outside (scrapes, pushes, profiles) are refused once the head holds
    /// this many (0: no limit); rule and rollup outputs are always created.
    series_limit: std::sync::atomic::AtomicUsize,
    /// Set once replay is done; from then on every series and sample is logged.
    wal: OnceLock<Arc<Wal>>,
    observer: OnceLock<Arc<dyn AppendObserver>>,
    isolation: Arc<Isolation>,
    pub stats: HeadStats,
}

impl Default for Head {
    fn default() -> Self {
        Head::new()
    }
}

impl Head {
    pub fn new() -> Self {
        Head {
            index: RwLock::default(),
            series: SeriesTable::new(|s| s.id),
            by_hash: SeriesTable::new(|s| s.hash),
            next_id: AtomicU64::new(1),
            min_valid: AtomicI64::new(i64::MIN),
            max_age: AtomicI64::new(i64::MAX),
            max_ahead: AtomicI64::new(i64::MAX),
            series_limit: std::sync::atomic::AtomicUsize::new(0),
            wal: OnceLock::new(),
            observer: OnceLock::new(),
            isolation: Arc::default(),
            stats: HeadStats::default(),
        }
    }

    /// Starts logging to `wal`. Called once, after the WAL has been replayed into the head.
    pub fn attach_wal(&self, wal: Arc<Wal>) {
        let _ = self.wal.set(wal);
    }

    pub fn wal(&self) -> Option<&Arc<Wal>> {
        self.wal.get()
    }

    /// Shows every sample accepted from now on to `observer`. Called once, after replay,
    /// so that replayed samples (already observed before the restart) are not seen twice.
    pub fn set_observer(&self, observer: Arc<dyn AppendObserver>) {
        let _ = self.observer.set(observer);
    }

    pub fn set_min_valid(&self, t: Timestamp) {
        self.min_valid.fetch_max(t, Relaxed);
    }

    pub fn min_valid(&self) -> Timestamp {
        self.min_valid.load(Relaxed)
    }

    /// Refuses samples older than `max_age` before the wall clock or more than
    /// `max_ahead` after it, at every entry point at once (scrape, federation, remote
    /// write, profiles, rules, WAL replay). `None`: no limit on that side.
    pub fn set_time_limits(&self, max_age: Option<std::time::Duration>, max_ahead: Option<std::time::Duration>) {
        let ms =
            |d: Option<std::time::Duration>| d.map_or(i64::MAX, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        self.max_age.store(ms(max_age), Relaxed);
        self.max_ahead.store(ms(max_ahead), Relaxed);
    }

    /// Caps the series [`Head::get_or_create_within_limit`] creates; 0 lifts the cap.
    pub fn set_series_limit(&self, limit: usize) {
        self.series_limit.store(limit, Relaxed);
    }

    /// Refuses `new` more series from outside input if they would not fit under the
    /// limit: what an all-or-nothing writer checks before creating any.
    pub fn check_room(&self, new: usize) -> Result<(), SeriesLimitReached> {
        let limit = self.series_limit.load(Relaxed);
        if limit > 0 && new > 0 && self.series.len().saturating_add(new) > limit {
            self.stats.series_refused.fetch_add(new as u64, Relaxed);
            return Err(SeriesLimitReached { limit });
        }
        Ok(())
    }

    /// [`Head::get_or_create`] for series from outside: a new one is refused (and
    /// counted) once the head holds as many series as its limit allows, while existing
    /// ones are found as ever, so a cardinality explosion cannot take the daemon down.
    pub fn get_or_create_within_limit(&self, labels: &Labels) -> Result<(SeriesRef, bool), SeriesLimitReached> {
        let limit = self.series_limit.load(Relaxed);
        if limit > 0 && self.series.len() >= limit {
            if let Some(s) = self.get(labels) {
                return Ok((s, false));
            }
            self.stats.series_refused.fetch_add(1, Relaxed);
            return Err(SeriesLimitReached { limit });
        }
        Ok(self.get_or_create(labels))
    }

    /// The sample times accepted now.
    pub fn bounds(&self) -> TimeBounds {
        let (age, ahead) = (self.max_age.load(Relaxed), self.max_ahead.load(Relaxed));
        let min_valid = self.min_valid.load(Relaxed);
        if age == i64::MAX && ahead == i64::MAX {
            return TimeBounds { min: min_valid, max: i64::MAX };
        }
        let now = cardinal_model::now_ms();
        TimeBounds { min: min_valid.max(now.saturating_sub(age)), max: now.saturating_add(ahead) }
    }

    /// Recreates a series from the WAL under its logged id, so that ids stay unique for
    /// the WAL's whole life and later records can keep referring to it.
    pub fn replay_series(&self, id: SeriesId, labels: &Labels) -> SeriesRef {
        self.next_id.fetch_max(id + 1, Relaxed);
        self.create(labels, Some(id)).0
    }

    pub fn all_series(&self) -> Vec<SeriesRef> {
        let mut all = Vec::with_capacity(self.series.len());
        self.series.for_each(|s| all.push(s.clone()));
        all
    }

    /// The oldest and newest sample times in the head.
    pub fn time_range(&self) -> Option<(Timestamp, Timestamp)> {
        let mut range: Option<(Timestamp, Timestamp)> = None;
        self.series.for_each(|s| {
            let d = s.data.lock();
            if let Some((last, _)) = d.open.last() {
                let first = d.sealed.first_min_t().unwrap_or(d.open_min_t);
                range = Some(range.map_or((first, last), |(a, b)| (a.min(first), b.max(last))));
            }
        });
        range
    }

    /// Every series' id and labels: what a WAL checkpoint must keep.
    pub fn live_series(&self) -> Vec<(SeriesId, Labels)> {
        let mut all = self.all_series();
        all.sort_by_key(|s| s.id);
        all.iter().map(|s| (s.id, self.labels(s))).collect()
    }

    /// A batch of appends logged as one WAL record, and made visible to reads, when
    /// committed (or dropped).
    pub fn appender(&self) -> Appender<'_> {
        Appender { head: self, logged: Vec::new(), logged_exemplars: Vec::new(), id: None, bounds: TimeBounds::ANY }
    }

    /// What a read starting now may see: the batches committed so far. Hold it for the
    /// whole read (a query's every selector, a `/federate` response), so that it sees each
    /// batch whole or not at all.
    pub fn read_view(&self) -> ReadView {
        self.isolation.read()
    }

    /// The series with exactly these labels, created if new. The bool says whether it was.
    pub fn get_or_create(&self, labels: &Labels) -> (SeriesRef, bool) {
        let (series, created) = self.create(labels, None);
        if created && let Some(wal) = self.wal.get() {
            wal.log_series(&[(series.id, labels)]);
        }
        (series, created)
    }

    /// The series with exactly these labels, if the head has it.
    pub fn get(&self, labels: &Labels) -> Option<SeriesRef> {
        // The table's shard before the index, as in `create`: the other order deadlocks
        // against a creator once a third thread waits to write the index.
        self.by_hash.find(labels.stable_hash(), |s| same_labels(&self.index.read().symbols, &s.labels, labels))
    }

    fn create(&self, labels: &Labels, with_id: Option<SeriesId>) -> (SeriesRef, bool) {
        let hash = labels.stable_hash();
        let mut bucket = self.by_hash.lock(hash);
        if let Some(s) = bucket.find(|s| same_labels(&self.index.read().symbols, &s.labels, labels)) {
            return (s, false);
        }
        let mut index = self.index.write();
        let pairs: Vec<(u32, u32)> =
            labels.iter().map(|l| (index.symbols.intern(&l.name), index.symbols.intern(&l.value))).collect();
        let id = with_id.unwrap_or_else(|| self.next_id.fetch_add(1, Relaxed));
        index.postings.add(id, &pairs);
        let series = Arc::new(MemSeries {
            id,
            hash,
            created: cardinal_model::now_ms(),
            labels: PackedPairs::new(&pairs),
            data: Mutex::new(SeriesData {
                sealed: SealedChunks::default(),
                open: XorAppender::new(),
                open_min_t: 0,
                runs: Runs::default(),
            }),
            removed: AtomicBool::new(false),
            memo: ObserverMemo::default(),
        });
        self.series.insert(series.clone());
        bucket.insert(series.clone());
        self.stats.series_created.fetch_add(1, Relaxed);
        (series, true)
    }

    /// Appends one sample, logged on its own; batches go through [`Head::appender`].
    pub fn append(&self, series: &MemSeries, t: Timestamp, v: f64) -> Result<(), AppendError> {
        let r = self.append_for(series, t, v, COMMITTED, self.bounds());
        if r.is_ok()
            && let Some(wal) = self.wal.get()
        {
            wal.log_samples(&[RefSample { id: series.id, t, v }]);
        }
        r
    }

    /// Appends without logging, visible at once, within `bounds`: for WAL replay.
    pub fn append_unlogged(
        &self,
        series: &MemSeries,
        t: Timestamp,
        v: f64,
        bounds: TimeBounds,
    ) -> Result<(), AppendError> {
        self.append_for(series, t, v, COMMITTED, bounds)
    }

    /// Appends without logging for batch `id`.
    fn append_for(
        &self,
        series: &MemSeries,
        t: Timestamp,
        v: f64,
        id: u64,
        bounds: TimeBounds,
    ) -> Result<(), AppendError> {
        if let Err(e) = bounds.check(t) {
            let counter =
                if e == AppendError::TooFarAhead { &self.stats.too_far_ahead } else { &self.stats.out_of_bounds };
            counter.fetch_add(1, Relaxed);
            return Err(e);
        }
        let r = series.push(t, v, id, self.isolation.low_watermark());
        if r == Ok(true) {
            self.stats.chunks_created.fetch_add(1, Relaxed);
        }
        let r = r.map(|_| ());
        if r.is_ok()
            && let Some(o) = self.observer.get()
        {
            o.observe(&series_store::Observed { head: self, series }, t, v);
        }
        match r {
            Ok(()) => &self.stats.samples_appended,
            Err(AppendError::OutOfOrder) => &self.stats.out_of_order,
            Err(AppendError::Duplicate) => &self.stats.duplicates,
            Err(AppendError::Removed | AppendError::OutOfBounds | AppendError::TooFarAhead) => return r,
        }
        .fetch_add(1, Relaxed);
        r
    }

    /// Series matching all matchers, in id order.
    pub fn select(&self, matchers: &[Matcher]) -> Vec<SeriesRef> {
        let ids = {
            let index = self.index.read();
            index.postings.select(matchers, &index.symbols)
        };
        ids.iter().filter_map(|id| self.series.get(*id)).collect()
    }

    /// The labels of a series.
    pub fn labels(&self, series: &MemSeries) -> Labels {
        labels_of(&self.index.read().symbols, series.labels.iter())
    }

    /// Puts series in groups by the labels `keep` accepts, comparing label symbols, so
    /// that only each group's labels are built: the groups in the order of their first
    /// series, and each series' group.
    pub fn group(&self, series: &[SeriesRef], keep: &dyn Fn(&str) -> bool) -> (Vec<Labels>, Vec<usize>) {
        let index = self.index.read();
        let sym = &index.symbols;
        // Per name symbol, asked once: 0 not yet, 1 kept, 2 not.
        let mut kept = vec![0u8; sym.slots()];
        let mut index_of: FxHashMap<SmallVec<[(u32, u32); 8]>, usize> = FxHashMap::default();
        let mut groups = Vec::new();
        let mut key = SmallVec::new();
        let group_of = series
            .iter()
            .map(|s| {
                key.clear();
                for (n, v) in s.labels.iter() {
                    let k = &mut kept[n as usize];
                    if *k == 0 {
                        *k = if keep(sym.get(n)) { 1 } else { 2 };
                    }
                    if *k == 1 {
                        key.push((n, v));
                    }
                }
                if let Some(&g) = index_of.get(&key) {
                    return g;
                }
                groups.push(labels_of(sym, key.iter().copied()));
                index_of.insert(key.clone(), groups.len() - 1);
                groups.len() - 1
            })
            .collect();
        (groups, group_of)
    }

    /// Runs `f` over each series' labels as borrowed strings, holding the symbol table
    /// once for the whole batch: what `/federate` streams from without building `Labels`.
    pub fn with_labels<R>(
        &self,
        series: &[SeriesRef],
        mut f: impl FnMut(&MemSeries, &mut dyn Iterator<Item = (&str, &str)>) -> R,
    ) -> Vec<R> {
        let index = self.index.read();
        let sym = &index.symbols;
        series.iter().map(|s| f(s, &mut s.labels.iter().map(|(n, v)| (sym.get(n), sym.get(v))))).collect()
    }

    /// Sorts series by metric name, then by their other labels, as `/federate` emits them.
    pub fn sort_by_labels(&self, series: &mut [SeriesRef]) {
        let index = self.index.read();
        let sym = &index.symbols;
        let name_sym = sym.lookup(cardinal_model::labels::METRIC_NAME);
        let name_of =
            |s: &MemSeries| s.labels.iter().find(|(n, _)| Some(*n) == name_sym).map(|(_, v)| sym.get(v)).unwrap_or("");
        series.sort_by(|a, b| {
            name_of(a).cmp(name_of(b)).then_with(|| {
                let la = a.labels.iter().map(|(n, v)| (sym.get(n), sym.get(v)));
                let lb = b.labels.iter().map(|(n, v)| (sym.get(n), sym.get(v)));
                la.cmp(lb)
            })
        });
    }

    /// Every label name in the head, sorted.
    pub fn label_names(&self) -> Vec<String> {
        let index = self.index.read();
        let mut out: Vec<String> = index.postings.names().map(|(n, _)| index.symbols.get(n).to_string()).collect();
        out.sort();
        out
    }

    /// Every value of a label name in the head, sorted.
    pub fn label_values(&self, name: &str) -> Vec<String> {
        let index = self.index.read();
        let Some(n) = index.symbols.lookup(name) else { return Vec::new() };
        let mut out: Vec<String> = index.postings.values_of(n).map(|(v, _)| index.symbols.get(v).to_string()).collect();
        out.sort();
        out
    }

    pub fn num_series(&self) -> usize {
        self.series.len()
    }

    /// Drops chunks that end before `mint`, and series with no sample at or after it.
    /// Returns the number of series removed.
    pub fn truncate(&self, mint: Timestamp) -> usize {
        let mut dead = Vec::new();
        self.series.for_each(|s| {
            let mut d = s.data.lock();
            let gone = d.sealed.drop_before(mint);
            self.stats.chunks_removed.fetch_add(gone as u64, Relaxed);
            let gone = match d.open.last() {
                None => s.created < mint,
                Some((last_t, _)) => last_t < mint,
            };
            if gone {
                dead.push(s.clone());
            }
        });
        dead.sort_by_key(|s| s.id);
        self.remove_series(&dead);
        dead.len()
    }

    fn remove_series(&self, dead: &[SeriesRef]) {
        if dead.is_empty() {
            return;
        }
        for s in dead {
            s.removed.store(true, Relaxed);
            self.series.remove(s);
            self.by_hash.remove(s);
        }
        let open_chunks = dead.iter().filter(|s| s.data.lock().open.count() > 0).count();
        self.stats.chunks_removed.fetch_add(open_chunks as u64, Relaxed);
        let ids: Vec<SeriesId> = dead.iter().map(|s| s.id).collect();
        let mut index = self.index.write();
        index.postings.remove(&ids, dead.iter().flat_map(|s| s.labels.iter()));
        for (n, v) in dead.iter().flat_map(|s| s.labels.iter()) {
            index.symbols.release(n);
            index.symbols.release(v);
        }
        self.stats.series_removed.fetch_add(dead.len() as u64, Relaxed);
    }

    /// Cardinality figures for `/api/v1/status/tsdb`.
    pub fn cardinality(&self, top: usize) -> Cardinality {
        let index = self.index.read();
        let sym = &index.symbols;
        let mut by_metric: Vec<(String, usize)> = sym
            .lookup(cardinal_model::labels::METRIC_NAME)
            .map(|n| index.postings.values_of(n).map(|(v, c)| (sym.get(v).to_string(), c)).collect())
            .unwrap_or_default();
        let mut by_label: Vec<(String, usize)> =
            index.postings.names().map(|(n, c)| (sym.get(n).to_string(), c)).collect();
        for list in [&mut by_metric, &mut by_label] {
            list.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            list.truncate(top);
        }
        let (mut chunks, mut bytes, mut min_t, mut max_t) = (0, 0, i64::MAX, i64::MIN);
        self.series.for_each(|s| {
            let d = s.data.lock();
            chunks += d.sealed.len() + usize::from(d.open.count() > 0);
            bytes += d.sealed.data_bytes() + d.open.len_bytes();
            if let Some(first) = d.sealed.first_min_t() {
                min_t = min_t.min(first);
            } else if d.open.count() > 0 {
                min_t = min_t.min(d.open_min_t);
            }
            if let Some((last_t, _)) = d.open.last() {
                max_t = max_t.max(last_t);
            }
        });
        Cardinality {
            num_series: self.series.len(),
            num_label_pairs: index.postings.label_pairs(),
            chunk_count: chunks,
            chunk_bytes: bytes,
            min_time: min_t,
            max_time: max_t,
            series_by_metric: by_metric,
            values_by_label: by_label,
        }
    }
}

/// Appends that reach the WAL together, as one record, and become visible to reads
/// together, when committed or dropped.
pub struct Appender<'a> {
    head: &'a Head,
    logged: Vec<RefSample>,
    logged_exemplars: Vec<RefExemplar>,
    /// Taken at the first append, so that a batch still fetching its scrape holds back
    /// nothing.
    id: Option<u64>,
    /// The times accepted, worked out at the first append.
    bounds: TimeBounds,
}

impl Appender<'_> {
    pub fn append(&mut self, series: &MemSeries, t: Timestamp, v: f64) -> Result<(), AppendError> {
        let id = match self.id {
            Some(id) => id,
            None => {
                self.bounds = self.head.bounds();
                *self.id.insert(self.head.isolation.open_append())
            }
        };
        let r = self.head.append_for(series, t, v, id, self.bounds);
        if r.is_ok() && self.head.wal.get().is_some() {
            self.logged.push(RefSample { id: series.id, t, v });
        }
        r
    }

    /// Logs an exemplar of `series` with the batch's samples (only a WAL's readers see it).
    pub fn log_exemplar(&mut self, series: &MemSeries, e: &cardinal_storage::exemplars::Exemplar) {
        if self.head.wal.get().is_some() {
            self.logged_exemplars.push(RefExemplar { id: series.id, t: e.t, v: e.value, labels: e.labels.clone() });
        }
    }

    pub fn commit(mut self) {
        self.log();
    }

    fn log(&mut self) {
        if let Some(wal) = self.head.wal.get() {
            wal.log_samples(&self.logged);
            wal.log_exemplars(&self.logged_exemplars);
        }
        self.logged.clear();
        self.logged_exemplars.clear();
        if let Some(id) = self.id.take() {
            self.head.isolation.close_append(id);
        }
    }
}

impl Drop for Appender<'_> {
    fn drop(&mut self) {
        self.log();
    }
}

fn same_labels(sym: &Symbols, pairs: &PackedPairs, labels: &Labels) -> bool {
    pairs.len() == labels.len()
        && pairs.iter().zip(labels.iter()).all(|((n, v), l)| sym.get(n) == &*l.name && sym.get(v) == &*l.value)
}

#[cfg(test)]
mod tests;
