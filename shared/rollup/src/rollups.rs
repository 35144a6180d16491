//! The rollup engine: sees every sample the head accepts, feeds the rules that match it,
//! writes their outputs back into the head on the interval grid, and checkpoints their
//! state after every flush.
//!
//! Matching costs nothing per sample: each series carries a tag saying which rules it
//! feeds under the current rule generation, computed from its labels the first time it
//! is seen; a series no rule wants is dismissed with one atomic load.

use crate::checkpoint::{self, SavedRule};
use crate::rule::{OutputSample, RuleState, RuleStats, rule_key};
use cardinal_config::{RollupOutput, RollupRule};
use cardinal_model::labels::METRIC_NAME;
use cardinal_model::{Labels, MatchOp, Matcher, Timestamp};
use cardinal_storage::{AppendObserver, ObservedSeries, SeriesStore};
use parking_lot::{Mutex, RwLock};
use std::cell::OnceCell;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The state file inside the storage directory.
pub const STATE_FILE: &str = "rollups.state";

type SharedRule = Arc<Mutex<RuleState>>;

/// Rule sets by index, and the index of each.
type Memberships = (Vec<Box<[u32]>>, HashMap<Box<[u32]>, u32>);

/// A tag bit: the series feeds several rules, listed in `RuleSet::memberships`.
const SEVERAL: u32 = 1 << 31;

/// The rules of one configuration, with the index that picks the rules a series feeds.
struct RuleSet {
    generation: u64,
    rules: Vec<SharedRule>,
    /// Rules whose selector names one metric, by that name; the rest are tried on every
    /// new series.
    by_name: HashMap<String, Vec<u32>>,
    any_name: Vec<u32>,
    /// Each rule's selector, kept outside the rule's lock: matching a new series must not
    /// wait for the samples the rule is taking.
    selectors: Vec<Vec<Matcher>>,
    /// Output names: a rule's own outputs never feed a rule (no loops).
    records: HashSet<String>,
    /// The shortest rule interval: how often flushing is worth trying.
    min_interval: Option<Duration>,
    /// Distinct sets of several rules that series feed (see [`RuleSet::classify`]).
    memberships: RwLock<Memberships>,
}

/// Engine-wide counters for `/metrics`.
#[derive(Default)]
pub struct EngineStats {
    pub flushes: AtomicU64,
    pub checkpoint_failures: AtomicU64,
    pub checkpoint_bytes: AtomicU64,
    /// Nanoseconds the last flush (with its checkpoint) took.
    pub last_flush_nanos: AtomicU64,
}

/// What `/metrics` reports per rule.
pub struct RuleStatus {
    pub record: String,
    pub output: RollupOutput,
    pub stats: RuleStats,
    pub inputs: usize,
    pub outputs: usize,
    pub state_bytes: usize,
}

pub struct Rollups {
    store: Arc<dyn SeriesStore>,
    generation: AtomicU64,
    current: RwLock<Arc<RuleSet>>,
    /// State read from the file at start, until a configured rule claims it.
    saved: Mutex<HashMap<String, SavedRule>>,
    state_path: Option<PathBuf>,
    pub stats: EngineStats,
}

impl Rollups {
    /// An engine writing to `store`, restoring state from `dir`'s state file when there is one
    /// (`None`: keep no state, for tests). A state file that cannot be read is reported
    /// and set aside; groups then resume from their output series in the head.
    pub fn open(store: Arc<dyn SeriesStore>, dir: Option<PathBuf>) -> Arc<Rollups> {
        let state_path = dir.map(|d| d.join(STATE_FILE));
        let saved = state_path.as_deref().map(read_state).unwrap_or_default();
        let empty = RuleSet::new(1, Vec::new());
        Arc::new(Rollups {
            store,
            generation: AtomicU64::new(1),
            current: RwLock::new(Arc::new(empty)),
            saved: Mutex::new(saved),
            state_path,
            stats: EngineStats::default(),
        })
    }

    /// Installs a configuration's rules. A rule that did not change keeps its state; a
    /// new one takes its state from the state file if it was saved there; a removed
    /// rule's outputs are marked stale. `now` is the wall-clock time (ms).
    pub fn apply(&self, rules: &[RollupRule], now: Timestamp) {
        let mut retired = Vec::new();
        {
            let mut current = self.current.write();
            if current.rules.len() == rules.len()
                && current.rules.iter().zip(rules).all(|(r, new)| rule_key(&r.lock().rule) == rule_key(new))
            {
                // Same rules: series keep their tags (re-matching every series costs a
                // label lookup each); only what the key leaves out can have changed.
                current.rules.iter().zip(rules).for_each(|(r, new)| r.lock().rule = new.clone());
                return;
            }
            let mut old: HashMap<String, SharedRule> =
                current.rules.iter().map(|r| (rule_key(&r.lock().rule), r.clone())).collect();
            let mut saved = self.saved.lock();
            let states = rules
                .iter()
                .map(|rule| {
                    let key = rule_key(rule);
                    if let Some(kept) = old.remove(&key) {
                        // Only what the key leaves out (the flush delay) can differ.
                        kept.lock().rule = rule.clone();
                        return kept;
                    }
                    let mut state = RuleState::new(rule.clone(), now);
                    if let Some(s) = saved.remove(&key) {
                        s.restore_into(&mut state);
                    }
                    Arc::new(Mutex::new(state))
                })
                .collect();
            for r in old.values() {
                r.lock().retire(now, &mut retired);
            }
            let generation = current.generation + 1;
            *current = Arc::new(RuleSet::new(generation, states));
            self.generation.store(generation, Ordering::Release);
        }
        self.write(&retired);
    }

    /// Targets of a sharded scrape job may be arriving from another collector, from
    /// `from` until `until` (wall clock, ms): see `RuleState::hand_over`.
    pub fn hand_over(&self, from: Timestamp, until: Timestamp) {
        for rule in &self.current.read().rules {
            rule.lock().hand_over(from, until);
        }
    }

    /// Writes out every window whose time has come and checkpoints the state. Returns the
    /// number of samples written.
    pub fn flush(&self, now: Timestamp) -> usize {
        let started = std::time::Instant::now();
        let set = self.current.read().clone();
        let mut out = Vec::new();
        for r in &set.rules {
            r.lock().flush(now, &mut out);
        }
        if out.is_empty() {
            return 0;
        }
        self.write(&out);
        self.checkpoint(&set, now);
        self.stats.flushes.fetch_add(1, Ordering::Relaxed);
        self.stats.last_flush_nanos.store(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
        out.len()
    }

    /// Saves every rule's state now (also called at shutdown).
    pub fn save(&self) {
        let set = self.current.read().clone();
        self.checkpoint(&set, cardinal_model::now_ms());
    }

    fn checkpoint(&self, set: &RuleSet, now: Timestamp) {
        let Some(path) = &self.state_path else { return };
        let mut w = checkpoint::Writer::new(set.rules.len(), now);
        for r in &set.rules {
            w.rule(&r.lock());
        }
        let data = w.finish();
        match checkpoint::write_atomic(path, &data) {
            Ok(()) => self.stats.checkpoint_bytes.store(data.len() as u64, Ordering::Relaxed),
            Err(e) => {
                self.stats.checkpoint_failures.fetch_add(1, Ordering::Relaxed);
                tracing::error!(error = %e, path = %path.display(), "saving rollup state failed");
            }
        }
    }

    fn write(&self, samples: &[OutputSample]) {
        let mut app = self.store.batch();
        for (labels, t, v) in samples {
            let (series, _) = self.store.get_or_create(labels);
            // Refused samples are re-flushes after a restart, already in the head.
            let _ = app.append(&series, *t, *v);
        }
        app.commit();
    }

    pub fn status(&self) -> Vec<RuleStatus> {
        let set = self.current.read().clone();
        set.rules
            .iter()
            .map(|r| {
                let r = r.lock();
                RuleStatus {
                    record: r.rule.record.clone(),
                    output: r.rule.output,
                    stats: r.stats.clone(),
                    inputs: r.inputs.len(),
                    outputs: r.live_groups(),
                    state_bytes: r.input_state_bytes(),
                }
            })
            .collect()
    }

    /// How often flushing is worth trying: a quarter of the shortest rule interval,
    /// between 100 ms and 1 s.
    pub fn tick(&self) -> Duration {
        let min = self.current.read().min_interval.unwrap_or(Duration::from_secs(1));
        (min / 4).clamp(Duration::from_millis(100), Duration::from_secs(1))
    }
}

fn read_state(path: &std::path::Path) -> HashMap<String, SavedRule> {
    let data = match std::fs::read(path) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return HashMap::new(),
        Err(e) => {
            tracing::error!(error = %e, path = %path.display(), "cannot read rollup state; starting afresh");
            return HashMap::new();
        }
    };
    checkpoint::decode(&data).unwrap_or_else(|e| {
        let aside = path.with_extension("corrupt");
        tracing::error!(error = %e, path = %path.display(), moved_to = %aside.display(),
            "rollup state file is damaged; counters resume from their last written values");
        let _ = std::fs::rename(path, aside);
        HashMap::new()
    })
}

impl RuleSet {
    fn new(generation: u64, rules: Vec<SharedRule>) -> RuleSet {
        let mut by_name: HashMap<String, Vec<u32>> = HashMap::new();
        let mut any_name = Vec::new();
        let mut selectors = Vec::with_capacity(rules.len());
        let mut records = HashSet::new();
        let mut min_interval = None;
        for (i, r) in rules.iter().enumerate() {
            let rule = &r.lock().rule;
            records.insert(rule.record.clone());
            min_interval = Some(min_interval.map_or(rule.interval, |m: Duration| m.min(rule.interval)));
            let matchers = rule.selector.matchers.clone();
            match matchers.iter().find(|m| m.name == METRIC_NAME && m.op == MatchOp::Equal) {
                Some(m) => by_name.entry(m.value.clone()).or_default().push(i as u32),
                None => any_name.push(i as u32),
            }
            selectors.push(matchers);
        }
        let memberships = RwLock::default();
        RuleSet { generation, rules, by_name, any_name, selectors, records, min_interval, memberships }
    }

    /// The rules a series with these labels feeds, as its tag keeps it: 0 for none, rule
    /// `i` alone as `i + 1` (the common case, read without a lock), several as
    /// `SEVERAL | index` into `memberships`.
    fn classify(&self, labels: &Labels) -> u32 {
        let name = labels.metric_name();
        if self.records.contains(name) {
            return 0;
        }
        let candidates = self.by_name.get(name).into_iter().flatten().chain(&self.any_name);
        let mut hits: Vec<u32> = candidates
            .copied()
            .filter(|&i| self.selectors[i as usize].iter().all(|m| m.matches(labels.get(&m.name).unwrap_or(""))))
            .collect();
        match hits[..] {
            [] => return 0,
            [one] => return one + 1,
            _ => {}
        }
        hits.sort_unstable();
        let hits: Box<[u32]> = hits.into();
        if let Some(&i) = self.memberships.read().1.get(&hits) {
            return SEVERAL | i;
        }
        let mut m = self.memberships.write();
        let next = m.0.len() as u32;
        let i = *m.1.entry(hits.clone()).or_insert(next);
        if i == next {
            m.0.push(hits);
        }
        SEVERAL | i
    }

    /// Gives the sample to the rules `tag` names. `labels` holds the series' labels once
    /// read (classifying may already have read them; a new input needs them).
    fn feed(
        &self,
        tag: u32,
        store: &dyn SeriesStore,
        series: &dyn ObservedSeries,
        labels: &OnceCell<Labels>,
        t: Timestamp,
        v: f64,
    ) {
        let one = |r: u32, slot: &mut u32| {
            self.rules[r as usize].lock().observe(
                series.label_hash(),
                slot,
                t,
                v,
                || labels.get_or_init(|| series.labels()).clone(),
                |out| resume_value(store, out),
            );
        };
        if tag & SEVERAL == 0 {
            // The series remembers its slot in its one rule's table.
            let memo = &series.memo().slot;
            let mut slot = memo.load(Ordering::Relaxed);
            let hint = slot;
            one(tag - 1, &mut slot);
            if slot != hint {
                memo.store(slot, Ordering::Relaxed);
            }
            return;
        }
        let memberships = self.memberships.read();
        // One slot cannot serve several rules' tables: each finds its input by key.
        memberships.0[(tag & !SEVERAL) as usize].iter().for_each(|r| one(*r, &mut { u32::MAX }));
    }
}

impl AppendObserver for Rollups {
    fn observe(&self, series: &dyn ObservedSeries, t: Timestamp, v: f64) {
        let generation = self.generation.load(Ordering::Acquire);
        let tag = series.memo().tag.load(Ordering::Relaxed);
        if tag == generation << 32 {
            return;
        }
        let set = self.current.read();
        let labels = OnceCell::new();
        let index = if tag >> 32 == set.generation {
            tag as u32
        } else {
            let i = if set.rules.is_empty() { 0 } else { set.classify(labels.get_or_init(|| series.labels())) };
            series.memo().tag.store(set.generation << 32 | u64::from(i), Ordering::Relaxed);
            i
        };
        if index != 0 {
            set.feed(index, self.store.as_ref(), series, &labels, t, v);
        }
    }
}

/// The newest value of an output series in the store, unless it is a stale marker.
fn resume_value(store: &dyn SeriesStore, labels: &Labels) -> Option<f64> {
    let (_, v) = store.last_sample(&store.get(labels)?)?;
    (!cardinal_model::is_stale_nan(v)).then_some(v)
}
