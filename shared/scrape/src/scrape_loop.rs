//! One target's scrape loop: fetch, parse, relabel, append, mark what vanished stale.
//!
//! A sample of a series seen before costs a hash lookup of its raw bytes in the loop's
//! cache and an append: no label parsing and no allocation. A scrape is all-or-nothing:
//! samples are collected first and appended only when every limit holds, as
//! Prometheus's appender commits or rolls back.

use crate::fetch::Fetcher;
use crate::metadata::{Field, Metadata};
use crate::sample_labels::{LabelLimits, check_limits, sample_labels};
use crate::target::Target;
use cardinal_exposition::{Entry, Format, Parser, parse_labels};
use cardinal_model::schedule::{next_slot, scrape_time};
use cardinal_model::{Label, Labels, LabelsBuilder, Timestamp, now_ms, stale_nan};
use cardinal_relabel::RelabelConfig;
use cardinal_storage::exemplars::{Exemplar, ExemplarStore};
use cardinal_storage::{AppendError, SeriesAppender, SeriesLimitReached, SeriesRef, SeriesStore};
use parking_lot::Mutex;
use rustc_hash::FxHashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant, SystemTime};

/// What every loop of a job shares.
pub struct LoopConfig {
    pub honor_labels: bool,
    pub honor_timestamps: bool,
    pub track_timestamps_staleness: bool,
    pub sample_limit: u64,
    pub limits: LabelLimits,
    pub metric_relabel: Vec<RelabelConfig>,
    pub interval: Duration,
    /// A scrape starting at most this late for its slot is stamped with the slot
    /// (`--scrape.timestamp-tolerance`); zero stamps every scrape with its start.
    pub timestamp_tolerance: Duration,
    pub fetcher: Fetcher,
    /// Set when the job breaks `target_limit`: every scrape fails with it.
    pub forced_error: Mutex<Option<String>>,
    /// Where the scrapes' exemplars go, when it is sized.
    pub exemplars: Arc<ExemplarStore>,
}

/// The state `/api/v1/targets` reports.
#[derive(Clone, Debug, Default)]
pub struct Health {
    pub last_error: String,
    pub last_scrape: Option<SystemTime>,
    pub last_duration: f64,
    pub up: Option<bool>,
    /// Samples the last scrape kept after metric relabeling.
    pub samples: u64,
}

impl Health {
    /// As `/api/v1/targets` names it: `up`, `down`, or `unknown` before the first scrape.
    pub fn state(&self) -> &'static str {
        match self.up {
            Some(true) => "up",
            Some(false) => "down",
            None => "unknown",
        }
    }
}

/// Process-wide scrape counters for `/metrics`.
#[derive(Default)]
pub struct ScrapeStats {
    pub scrapes: AtomicU64,
    pub failures: AtomicU64,
    pub samples_scraped: AtomicU64,
    pub sample_limit_exceeded: AtomicU64,
    /// Samples the head refused, as Prometheus counts them per scrape.
    pub out_of_bounds: AtomicU64,
    pub out_of_order: AtomicU64,
    pub duplicates: AtomicU64,
    /// New series not created because the head is at its series limit.
    pub series_refused: AtomicU64,
    /// Scrapes failed by `body_size_limit`, `label_limit` and its kin, and syncs of a
    /// job over `target_limit`, counted as Prometheus counts them.
    pub body_size_limit_exceeded: AtomicU64,
    pub label_limits_exceeded: AtomicU64,
    pub target_limit_exceeded: AtomicU64,
    /// Time between a target's scrapes, by configured interval
    /// (`prometheus_target_interval_length_seconds`).
    pub interval_lengths: Mutex<std::collections::BTreeMap<String, cardinal_exposition::summary::Summary>>,
}

struct CacheEntry {
    /// `None` when metric relabeling drops the series.
    series: Option<SeriesRef>,
    /// The last scrape that exposed it.
    last_iter: u32,
    /// The last scrape that appended it and tracks it for staleness (0: none).
    tracked_iter: u32,
}

enum Slot {
    Known(SeriesRef),
    New(usize),
}

struct Pending {
    key: Key,
    slot: Slot,
    t: Timestamp,
    v: f64,
    /// The sample carried its own timestamp (staleness may then be left untracked).
    explicit_ts: bool,
}

struct NewSeries {
    key: Key,
    labels: Option<Labels>,
}

/// A series' cache key: the 128-bit hash of its raw text, as two words rather than a
/// `u128`, whose 16-byte alignment would pad each entry (with its 16-byte series handle)
/// from 40 to 48 bytes.
type Key = [u64; 2];

fn key_of(series: &[u8]) -> Key {
    let h = xxhash_rust::xxh3::xxh3_128(series);
    [h as u64, (h >> 64) as u64]
}

/// Unseen cache entries are forgotten after this many scrapes.
const CACHE_KEEP_ITERATIONS: u32 = 10;

pub struct ScrapeLoop {
    store: Arc<dyn SeriesStore>,
    pub target: Target,
    cfg: Arc<LoopConfig>,
    stats: Arc<ScrapeStats>,
    pub health: Arc<Mutex<Health>>,
    pub metadata: Arc<Metadata>,
    /// Keyed by a 128-bit hash of the raw series text rather than the text itself: 16
    /// bytes instead of ~600 for an Istio series, and cheaper to hash. Keys are per target
    /// (a few thousand series), so a collision has odds of about 2^-100. Being hashes
    /// already, they need only Fx's multiply, not SipHash.
    cache: FxHashMap<Key, CacheEntry>,
    report_labels: Vec<Labels>,
    report: Vec<SeriesRef>,
    /// Scrapes so far; 32 bits (136 years of 1 s scrapes) keep cache entries at 32 bytes.
    iter: u32,
    /// The last successful scrape (0: none since the last failure); its tracked series
    /// that the next scrape lacks get stale markers.
    last_ok_iter: u32,
    /// The scrape being ingested; empty between scrapes, so that an idle target holds no
    /// sample buffer (64 bytes a series, a twentieth of a series' whole cost).
    batch: Vec<Pending>,
    /// The last scrape's batch length, to size the next batch in one allocation.
    batch_hint: usize,
    new_series: Vec<NewSeries>,
    label_buf: Vec<Label>,
    /// The scrape's exemplars with their series, stored once the scrape is.
    exemplars: Vec<(Labels, Exemplar)>,
}

/// Counts a scrape reports in its synthetic series.
#[derive(Default, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counts {
    pub scraped: u64,
    pub post_relabel: u64,
    pub added: u64,
    pub refused: Refused,
}

/// What the head did not take from a scrape that was otherwise stored.
#[derive(Default, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refused {
    /// Too old for the head, or too far ahead of the clock.
    pub out_of_bounds: u64,
    pub out_of_order: u64,
    pub duplicates: u64,
    /// New series past the head's series limit.
    pub series: u64,
}

impl Refused {
    /// What `/api/v1/targets` shows for a scrape that was stored but for these samples
    /// (empty when nothing was refused).
    pub fn describe(&self) -> String {
        let parts = [
            (self.out_of_bounds, "out of bounds (too old, or too far ahead of the clock)"),
            (self.out_of_order, "out of order"),
            (self.duplicates, "duplicate sample for timestamp"),
        ];
        let parts: Vec<String> = parts.iter().filter(|(n, _)| *n > 0).map(|(n, why)| format!("{n} {why}")).collect();
        if parts.is_empty() { String::new() } else { format!("samples refused: {}", parts.join(", ")) }
    }
}

const REPORT_NAMES: [&str; 5] = [
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
];

impl ScrapeLoop {
    pub fn new(store: Arc<dyn SeriesStore>, target: Target, cfg: Arc<LoopConfig>, stats: Arc<ScrapeStats>) -> Self {
        let report_labels: Vec<Labels> = REPORT_NAMES
            .iter()
            .map(|name| {
                let mut b = LabelsBuilder::new(target.labels.clone());
                b.set(cardinal_model::labels::METRIC_NAME, *name);
                b.build()
            })
            .collect();
        let report = report_labels.iter().map(|l| store.get_or_create(l).0).collect();
        ScrapeLoop {
            store,
            target,
            cfg,
            stats,
            health: Arc::default(),
            metadata: Arc::default(),
            cache: FxHashMap::default(),
            report_labels,
            report,
            iter: 0,
            last_ok_iter: 0,
            batch: Vec::new(),
            batch_hint: 0,
            new_series: Vec::new(),
            label_buf: Vec::new(),
            exemplars: Vec::new(),
        }
    }

    /// Scrapes on the interval, at a stable per-target offset within it, until `stop`
    /// fires; then marks every series of the target stale. Each wait is worked out from
    /// the wall clock, so the slots stay on the grid their timestamps are aligned to; a
    /// scrape that overran its interval skips the slots it missed.
    pub async fn run(mut self, mut stop: tokio::sync::watch::Receiver<bool>) {
        let period = self.cfg.interval.as_millis().max(1) as i64;
        let offset = (self.target.key % period as u64) as i64;
        let tolerance = self.cfg.timestamp_tolerance.as_millis() as i64;
        let mut slot = next_slot(now_ms(), period, offset);
        let interval = cardinal_model::format_duration(self.cfg.interval);
        let mut last: Option<Instant> = None;
        loop {
            let wait = Duration::from_millis((slot - now_ms()).max(0) as u64);
            tokio::select! {
                _ = tokio::time::sleep(wait) => {
                    let now = Instant::now();
                    if let Some(before) = last.replace(now) {
                        let secs = now.duration_since(before).as_secs_f64();
                        self.stats.interval_lengths.lock().entry(interval.clone()).or_default().observe(secs);
                    }
                    self.scrape_once(scrape_time(now_ms(), slot, period, tolerance)).await;
                    // From the slot, not from now: a timer that fired early must not
                    // scrape the same slot twice.
                    slot = next_slot(now_ms().max(slot), period, offset);
                }
                _ = stop.changed() => break,
            }
        }
        self.stale_all(now_ms(), true);
    }

    /// One scrape, stamped `t0`.
    pub async fn scrape_once(&mut self, t0: Timestamp) {
        let started = Instant::now();
        self.stats.scrapes.fetch_add(1, Relaxed);
        let forced = self.cfg.forced_error.lock().clone();
        let fetched = match forced {
            Some(e) => Err(e),
            None => self.cfg.fetcher.fetch(&self.target.url).await,
        };
        let outcome = match fetched {
            Ok(s) => self.ingest(&s.body, Format::from_content_type(&s.content_type), t0),
            Err(e) => {
                if e == crate::fetch::BODY_SIZE_LIMIT_EXCEEDED {
                    self.stats.body_size_limit_exceeded.fetch_add(1, Relaxed);
                }
                self.stale_all(t0, false);
                Err((e, Counts::default()))
            }
        };
        let duration = started.elapsed().as_secs_f64();
        let (up, counts, error) = match outcome {
            Ok(c) => (true, c, c.refused.describe()),
            Err((e, c)) => {
                self.stats.failures.fetch_add(1, Relaxed);
                (false, c, e)
            }
        };
        self.stats.samples_scraped.fetch_add(counts.scraped, Relaxed);
        self.evict_cache();
        self.write_report(t0, up, duration, counts);
        let mut h = self.health.lock();
        *h = Health {
            last_error: error,
            last_scrape: Some(SystemTime::now()),
            last_duration: duration,
            up: Some(up),
            samples: counts.post_relabel,
        };
    }

    /// Parses a body and appends it as one scrape at `t0`: all of it, or (on a parse error
    /// or a broken limit) none of it, and then everything of the last scrape goes stale.
    /// At the head's series limit the series it has are stored and the new ones refused,
    /// and the scrape is reported failed with the reason.
    pub fn ingest(&mut self, body: &[u8], format: Format, t0: Timestamp) -> Result<Counts, (String, Counts)> {
        let staged = self.stage(body, format, t0).and_then(|counts| {
            if self.cfg.sample_limit > 0 && counts.post_relabel > self.cfg.sample_limit {
                self.stats.sample_limit_exceeded.fetch_add(1, Relaxed);
                return Err(("sample limit exceeded".into(), counts));
            }
            Ok(counts)
        });
        self.batch_hint = self.batch.len();
        let exemplars = std::mem::take(&mut self.exemplars);
        let outcome = match staged {
            Ok(mut counts) => match self.commit(t0, &mut counts) {
                None => {
                    self.cfg.exemplars.add_logged(self.store.as_ref(), exemplars);
                    Ok(counts)
                }
                Some(limit) => Err((format!("{limit}: {} new series not stored", counts.refused.series), counts)),
            },
            Err(e) => {
                self.stale_all(t0, false);
                Err(e)
            }
        };
        self.batch = Vec::new();
        outcome
    }

    /// The first half of `ingest`: parses the body and resolves every sample against the
    /// cache, relabeling only series not seen before. Allocates nothing for known series
    /// but the batch, once, sized by the last scrape.
    pub fn stage(&mut self, body: &[u8], format: Format, t0: Timestamp) -> Result<Counts, (String, Counts)> {
        self.iter += 1;
        self.batch = Vec::with_capacity(self.batch_hint);
        self.new_series.clear();
        let mut counts = Counts::default();
        match self.parse_body(body, format, t0, &mut counts) {
            Ok(()) => Ok(counts),
            Err(e) => Err((e, counts)),
        }
    }

    fn parse_body(&mut self, body: &[u8], format: Format, t0: Timestamp, counts: &mut Counts) -> Result<(), String> {
        let mut parser = Parser::new(body, format);
        while let Some(entry) = parser.next().map_err(|e| e.to_string())? {
            let s = match entry {
                Entry::Sample(s) => s,
                Entry::Type { name, kind } => {
                    self.metadata.note(name, Field::Type(kind), self.iter.into());
                    continue;
                }
                Entry::Help { name, text } => {
                    self.metadata.note(name, Field::Help(text), self.iter.into());
                    continue;
                }
                Entry::Unit { name, unit } => {
                    self.metadata.note(name, Field::Unit(unit), self.iter.into());
                    continue;
                }
            };
            counts.scraped += 1;
            let explicit_ts = self.cfg.honor_timestamps && s.timestamp.is_some();
            let t = if explicit_ts { s.timestamp.unwrap_or(t0) } else { t0 };
            let key = key_of(s.series);
            if let Some(e) = self.cache.get_mut(&key) {
                e.last_iter = self.iter;
                if let Some(series) = &e.series {
                    counts.post_relabel += 1;
                    self.batch.push(Pending { key, slot: Slot::Known(series.clone()), t, v: s.value, explicit_ts });
                    if s.exemplar.is_some() {
                        self.note_exemplar(&s, t)?;
                    }
                }
                continue;
            }
            let mut buf = std::mem::take(&mut self.label_buf);
            parse_labels(s.name, s.labels, &mut buf)
                .map_err(|e| format!("{e} in series {:?}", String::from_utf8_lossy(s.series)))?;
            let labels =
                sample_labels(buf.clone(), &self.target.labels, self.cfg.honor_labels, &self.cfg.metric_relabel);
            self.label_buf = buf;
            if let Some(l) = &labels {
                if l.get(cardinal_model::labels::METRIC_NAME).is_none() {
                    return Err("__name__ label is missing".into());
                }
                check_limits(l, &self.cfg.limits).inspect_err(|_| {
                    self.stats.label_limits_exceeded.fetch_add(1, Relaxed);
                })?;
                counts.post_relabel += 1;
                self.batch.push(Pending { key, slot: Slot::New(self.new_series.len()), t, v: s.value, explicit_ts });
                if s.exemplar.is_some() {
                    self.note_exemplar(&s, t)?;
                }
            }
            self.new_series.push(NewSeries { key, labels });
        }
        Ok(())
    }

    /// Keeps a sample's exemplar, with its series' labels (relabeled as its samples are),
    /// for when the scrape is stored; nothing when exemplars are off. An exemplar without
    /// a timestamp takes its sample's.
    fn note_exemplar(&mut self, s: &cardinal_exposition::SampleRef<'_>, t: Timestamp) -> Result<(), String> {
        let Some(raw) = s.exemplar.filter(|_| self.cfg.exemplars.enabled()) else { return Ok(()) };
        let mut buf = Vec::new();
        parse_labels(s.name, s.labels, &mut buf)?;
        let cfg = &self.cfg;
        let Some(series) = sample_labels(buf, &self.target.labels, cfg.honor_labels, &cfg.metric_relabel) else {
            return Ok(());
        };
        let mut labels = Vec::new();
        cardinal_exposition::parser::parse_exemplar_labels(raw.labels, &mut labels)?;
        let e = Exemplar { labels: Labels::from_sorted(labels), value: raw.value, t: raw.timestamp.unwrap_or(t) };
        self.exemplars.push((series, e));
        Ok(())
    }

    /// Appends the batch, then marks stale what the previous scrape had and this one
    /// lacks, filling in `counts`' series added and samples refused. Returns the series
    /// limit if it refused new series (they are not cached, so a later scrape tries again).
    fn commit(&mut self, t0: Timestamp, counts: &mut Counts) -> Option<SeriesLimitReached> {
        let mut limit_hit = None;
        let mut resolved: Vec<Option<SeriesRef>> = Vec::with_capacity(self.new_series.len());
        // Taken, not drained: new series are rare after the first scrape, so their buffer
        // is not worth keeping (it would hold ~50 bytes per series for the loop's life).
        for n in std::mem::take(&mut self.new_series) {
            let Some(labels) = &n.labels else {
                self.cache.insert(n.key, CacheEntry { series: None, last_iter: self.iter, tracked_iter: 0 });
                resolved.push(None);
                continue;
            };
            match self.store.get_or_create_within_limit(labels) {
                Ok((s, created)) => {
                    counts.added += u64::from(created);
                    self.cache
                        .insert(n.key, CacheEntry { series: Some(s.clone()), last_iter: self.iter, tracked_iter: 0 });
                    resolved.push(Some(s));
                }
                Err(e) => {
                    counts.refused.series += 1;
                    limit_hit = Some(e);
                    resolved.push(None);
                }
            }
        }
        let track_explicit = self.cfg.track_timestamps_staleness;
        // One WAL record for the whole scrape, written when the appender drops.
        let mut app = self.store.batch();
        for p in self.batch.drain(..) {
            let series = match p.slot {
                Slot::Known(s) => s,
                Slot::New(i) => match &resolved[i] {
                    Some(s) => s.clone(),
                    None => continue,
                },
            };
            match app.append(&series, p.t, p.v) {
                // Retention removed it; forget it so the next scrape creates it afresh.
                Err(AppendError::Removed) => {
                    self.cache.remove(&p.key);
                }
                Err(AppendError::OutOfBounds | AppendError::TooFarAhead) => counts.refused.out_of_bounds += 1,
                Err(AppendError::OutOfOrder) => counts.refused.out_of_order += 1,
                Err(AppendError::Duplicate) => counts.refused.duplicates += 1,
                _ if !p.explicit_ts || track_explicit => {
                    if let Some(e) = self.cache.get_mut(&p.key) {
                        e.tracked_iter = self.iter;
                    }
                }
                _ => {}
            }
        }
        self.mark_stale(app.as_mut(), t0);
        app.commit();
        self.last_ok_iter = self.iter;
        let r = &counts.refused;
        for (counter, n) in [
            (&self.stats.out_of_bounds, r.out_of_bounds),
            (&self.stats.out_of_order, r.out_of_order),
            (&self.stats.duplicates, r.duplicates),
            (&self.stats.series_refused, r.series),
        ] {
            counter.fetch_add(n, Relaxed);
        }
        limit_hit
    }

    /// Writes stale markers for the series the last successful scrape tracked and the
    /// current one did not.
    fn mark_stale(&self, app: &mut dyn SeriesAppender, t: Timestamp) {
        if self.last_ok_iter == 0 {
            return;
        }
        for e in self.cache.values().filter(|e| e.tracked_iter == self.last_ok_iter) {
            if let Some(s) = &e.series {
                let _ = app.append(s, t, stale_nan());
            }
        }
    }

    /// Marks every series of the last successful scrape stale (a failed scrape counts as
    /// an empty one); with `with_report`, the report series too (the target is gone).
    fn stale_all(&mut self, t: Timestamp, with_report: bool) {
        let mut app = self.store.batch();
        self.mark_stale(app.as_mut(), t);
        self.last_ok_iter = 0;
        if with_report {
            for s in &self.report {
                let _ = app.append(s, t, stale_nan());
            }
        }
        app.commit();
    }

    fn evict_cache(&mut self) {
        let iter = self.iter;
        self.cache.retain(|_, e| iter - e.last_iter <= CACHE_KEEP_ITERATIONS);
        self.metadata.evict(iter.into(), CACHE_KEEP_ITERATIONS.into());
    }

    fn write_report(&mut self, t: Timestamp, up: bool, duration: f64, c: Counts) {
        let values = [f64::from(u8::from(up)), duration, c.scraped as f64, c.post_relabel as f64, c.added as f64];
        let mut app = self.store.batch();
        for (i, v) in values.into_iter().enumerate() {
            if app.append(&self.report[i], t, v) == Err(AppendError::Removed) {
                self.report[i] = self.store.get_or_create(&self.report_labels[i]).0;
                let _ = app.append(&self.report[i], t, v);
            }
        }
        app.commit();
    }
}
