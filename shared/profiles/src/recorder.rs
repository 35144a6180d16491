//! Profile recording rules: each matching profile adds its total to a counter per group,
//! written to the head at the profile's own end time.
//!
//! The counters' state is the head itself: an output series continues from its newest
//! value there (which the WAL restores after a restart), so nothing else needs saving.
//! Samples of one series must move forward in time; a profile older than the series'
//! newest sample (a late upload, a skewed clock) is counted 1 ms after it, and none is
//! dated after it arrived.

use crate::Rejection;
use crate::dedup::Dedup;
use crate::profile::Profile;
use cardinal_config::ProfileRule;
use cardinal_config::profile::PROFILE_TYPE_LABEL;
use cardinal_model::{Labels, Timestamp, is_stale_nan};
use cardinal_storage::{SeriesStore, TimeBounds};
use parking_lot::{Mutex, RwLock};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// One upload (an `/ingest` request, a pushed sample): its profiles and an identity that
/// a retry of it shares.
pub struct Upload {
    pub identity: u64,
    pub profiles: Vec<Profile>,
}

struct Rule {
    rule: ProfileRule,
    matches: AtomicU64,
}

#[derive(Default)]
pub struct Stats {
    /// Uploads received, counting rejected and duplicate ones.
    pub received: AtomicU64,
    pub deduplicated: AtomicU64,
    pub bytes: AtomicU64,
    pub decode_nanos: AtomicU64,
    pub decoded: AtomicU64,
    pub samples_written: AtomicU64,
    pub rejected: Mutex<BTreeMap<&'static str, u64>>,
    /// Events decoders stepped over (JFR events of types the recording does not describe).
    pub events_skipped: AtomicU64,
    /// Profiles recorded per `__profile_type__`: what rules can match, for whoever writes
    /// them. Up to [`MAX_TYPES_SEEN`] types, the rest as `other`.
    pub types_received: Mutex<BTreeMap<String, u64>>,
}

/// Distinct profile types counted by name; clients choose them, so they are bounded.
pub const MAX_TYPES_SEEN: usize = 64;

/// What `/metrics` shows of one rule.
pub struct RuleStatus {
    pub record: String,
    pub matches: u64,
}

pub struct Recorder {
    store: Arc<dyn SeriesStore>,
    rules: RwLock<Arc<Vec<Rule>>>,
    /// Held while recording: reading a counter and appending its next value is one step.
    dedup: Mutex<Dedup>,
    pub stats: Stats,
}

/// One output sample's worth: the summed totals and the newest profile end among them.
type Sums = HashMap<Labels, (f64, Timestamp)>;

impl Recorder {
    pub fn new(store: Arc<dyn SeriesStore>) -> Arc<Recorder> {
        Arc::new(Recorder {
            store,
            rules: RwLock::new(Arc::new(Vec::new())),
            dedup: Mutex::new(Dedup::default()),
            stats: Stats::default(),
        })
    }

    /// Installs a new rule set; a rule that stays keeps its match count.
    pub fn apply(&self, rules: &[ProfileRule]) {
        let old = self.rules.read().clone();
        let count = |r: &ProfileRule| {
            old.iter()
                .find(|o| o.rule.record == r.record && o.rule.fixed_labels == r.fixed_labels)
                .map_or(0, |o| o.matches.load(Relaxed))
        };
        let new = rules.iter().map(|r| Rule { rule: r.clone(), matches: AtomicU64::new(count(r)) }).collect();
        *self.rules.write() = Arc::new(new);
    }

    pub fn rule_status(&self) -> Vec<RuleStatus> {
        self.rules
            .read()
            .iter()
            .map(|r| RuleStatus { record: r.rule.record.clone(), matches: r.matches.load(Relaxed) })
            .collect()
    }

    /// Uploads remembered for recognising retries.
    pub fn remembered_uploads(&self) -> usize {
        self.dedup.lock().len()
    }

    pub fn reject(&self, r: &Rejection) {
        *self.stats.rejected.lock().entry(r.reason()).or_default() += 1;
    }

    /// Records decoded uploads; an upload recorded in the last ten minutes is skipped.
    /// Returns the number of samples written (to the head and its WAL buffer). Nothing is
    /// recorded of uploads that hold a profile dated outside the times the head accepts
    /// (too far ahead of its clock, or older than it keeps), or whose counters would be
    /// new series past the head's series limit.
    pub fn record(&self, uploads: &[Upload], now: Timestamp) -> Result<usize, Rejection> {
        let rules = self.rules.read().clone();
        let bounds = self.store.bounds();
        let mut dedup = self.dedup.lock();
        let mut sums = Sums::new();
        let mut fresh = Vec::new();
        for u in uploads {
            if dedup.contains(u.identity) || fresh.contains(&u.identity) {
                self.stats.deduplicated.fetch_add(1, Relaxed);
                continue;
            }
            fresh.push(u.identity);
            for p in &u.profiles {
                check_time(p.end_ms, bounds)?;
                evaluate(&rules, p, &mut sums);
            }
        }
        self.count_types(uploads.iter().filter(|u| fresh.contains(&u.identity)).flat_map(|u| &u.profiles));
        let new_series = sums.keys().filter(|l| self.store.get(l).is_none()).count();
        self.store.check_room(new_series).map_err(|e| Rejection::bad("series_limit", e.to_string()))?;
        let written = self.write(sums, now, bounds);
        for id in fresh {
            dedup.insert(id, now);
        }
        Ok(written)
    }

    fn count_types<'p>(&self, profiles: impl Iterator<Item = &'p Profile>) {
        let mut seen = self.stats.types_received.lock();
        for p in profiles {
            self.stats.events_skipped.fetch_add(p.skipped_events(), Relaxed);
            for t in &p.types {
                let id = t.id();
                let key = if seen.contains_key(&id) || seen.len() < MAX_TYPES_SEEN { id } else { "other".into() };
                *seen.entry(key).or_default() += 1;
            }
        }
    }

    /// Appends each counter's new total, dated with its newest profile's end (no later
    /// than `now`, no earlier than the store's lower bound or its last sample).
    fn write(&self, sums: Sums, now: Timestamp, bounds: TimeBounds) -> usize {
        let mut app = self.store.batch();
        let mut written = 0;
        for (labels, (delta, end)) in sums {
            let (series, _) = self.store.get_or_create(&labels);
            let last = self.store.last_sample(&series);
            let base = last.map(|(_, v)| v).filter(|v| !is_stale_nan(*v)).unwrap_or(0.0);
            let after = last.map_or(Timestamp::MIN, |(t, _)| t + 1);
            let t = end.min(now).max(bounds.min).max(after);
            match app.append(&series, t, base + delta) {
                Ok(()) => written += 1,
                Err(e) => tracing::warn!(series = %labels, error = ?e, "profile counter sample refused"),
            }
        }
        app.commit();
        self.stats.samples_written.fetch_add(written as u64, Relaxed);
        written
    }
}

/// Refuses a profile dated where the head takes no samples, naming why.
fn check_time(end_ms: Timestamp, bounds: TimeBounds) -> Result<(), Rejection> {
    if end_ms > bounds.max {
        let msg = format!("profile time {end_ms} ms is too far in the future of this server's clock");
        return Err(Rejection::bad("too_far_ahead", msg));
    }
    if end_ms < bounds.min {
        let msg = format!("profile time {end_ms} ms is older than this server keeps (from {} ms)", bounds.min);
        return Err(Rejection::bad("too_old", msg));
    }
    Ok(())
}

/// Adds what `p` contributes under each rule to `sums`.
fn evaluate(rules: &[Rule], p: &Profile, sums: &mut Sums) {
    let ids: Vec<String> = p.types.iter().map(|t| t.id()).collect();
    let mut function_totals: HashMap<&str, Vec<Vec<f64>>> = HashMap::new();
    for r in rules {
        let Some(k) = ids.iter().position(|id| *id == r.rule.profile_type) else { continue };
        for (gi, g) in p.groups.iter().enumerate() {
            let get = |name: &str| -> Option<&str> {
                match name {
                    PROFILE_TYPE_LABEL => Some(&ids[k]),
                    "__name__" => Some(&p.types[k].name),
                    _ => p.labels.iter().chain(&g.labels).find(|(n, _)| n == name).map(|(_, v)| v.as_str()),
                }
            };
            if !r.rule.matchers.iter().all(|m| m.matches(get(&m.name).unwrap_or(""))) {
                continue;
            }
            let value = match &r.rule.function_name {
                None => g.totals[k],
                Some(f) => function_totals.entry(f).or_insert_with(|| p.function_totals(f))[gi][k],
            };
            r.matches.fetch_add(1, Relaxed);
            let entry = sums.entry(output_labels(&r.rule, get)).or_insert((0.0, Timestamp::MIN));
            entry.0 += value;
            entry.1 = entry.1.max(p.end_ms);
        }
    }
}

fn output_labels<'a>(rule: &ProfileRule, get: impl Fn(&str) -> Option<&'a str>) -> Labels {
    let mut pairs: BTreeMap<&str, &str> = rule.fixed_labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    for name in &rule.group_by {
        if let Some(v) = get(name).filter(|v| !v.is_empty()) {
            pairs.insert(name, v);
        }
    }
    pairs.insert("__name__", &rule.record);
    Labels::from_pairs(pairs)
}
