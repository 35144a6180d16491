//! The HA tracker in front of the head: a [`SeriesStore`] that federation scrapes and
//! remote-write pushes write through. A series carrying both the cluster and the replica
//! label is stored without the replica label, and only the elected replica's samples are
//! appended (those of the others are dropped, counted, and — for counters — remembered
//! for the splice). A series without both labels passes through untouched, as in Mimir.
//! The election is made once per batch (a scrape, a push) and replica.

use crate::splice::Splice;
use crate::tracker::Tracker;
use cardinal_config::HaTrackerConfig;
use cardinal_exposition::text;
use cardinal_model::{Labels, LabelsBuilder, Timestamp};
use cardinal_storage::{AppendError, SeriesAppender, SeriesLimitReached, SeriesRef, SeriesStore, TimeBounds};
use parking_lot::Mutex;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

pub struct HaStore {
    inner: Arc<dyn SeriesStore>,
    cfg: HaTrackerConfig,
    pub tracker: Tracker,
    /// Counter series' splices by the stable hash of their stored labels, shared by the
    /// handles of every replica. Held here, since a push's handles last one request;
    /// splices untouched for an hour are forgotten as the map grows.
    splices: Mutex<Splices>,
    /// Cluster and replica names, one allocation each.
    names: Mutex<HashSet<Arc<str>>>,
}

/// Our handle: the head's, and for a series of an HA pair which replica it came from.
#[derive(Default)]
struct Splices {
    by_series: HashMap<u64, Arc<Splice>>,
    /// Size at which unused entries are next pruned.
    prune_at: usize,
}

/// How long (sample time, ms) a splice is kept without a sample of its series.
const FORGET_AFTER_MS: i64 = 3_600_000;

struct HaSeries {
    inner: SeriesRef,
    pair: Option<Pair>,
}

/// A series' cluster and replica, as its labels name them.
type Names = (Arc<str>, Arc<str>);

struct Pair {
    cluster: Arc<str>,
    replica: Arc<str>,
    splice: Option<Arc<Splice>>,
}

impl HaStore {
    pub fn new(inner: Arc<dyn SeriesStore>, cfg: HaTrackerConfig) -> HaStore {
        let tracker = Tracker::new(cfg.failover_timeout.0);
        HaStore { inner, cfg, tracker, splices: Mutex::default(), names: Mutex::default() }
    }

    fn intern(&self, name: &str) -> Arc<str> {
        let mut names = self.names.lock();
        match names.get(name) {
            Some(n) => n.clone(),
            None => {
                let n: Arc<str> = Arc::from(name);
                names.insert(n.clone());
                n
            }
        }
    }

    /// The labels to store, and the pair's cluster and replica when it has both labels.
    fn split(&self, labels: &Labels) -> (Labels, Option<Names>) {
        let (Some(cluster), Some(replica)) = (labels.get(&self.cfg.cluster_label), labels.get(&self.cfg.replica_label))
        else {
            return (labels.clone(), None);
        };
        let pair = (self.intern(cluster), self.intern(replica));
        let mut b = LabelsBuilder::new(labels.clone());
        b.del(&self.cfg.replica_label);
        (b.build(), Some(pair))
    }

    fn wrap(&self, inner: SeriesRef, stored: &Labels, pair: Option<Names>) -> SeriesRef {
        let pair = pair.map(|(cluster, replica)| {
            let counter = self.cfg.counter_names.re.is_match(stored.metric_name());
            let splice = counter.then(|| self.splice(stored, &inner));
            Pair { cluster, replica, splice }
        });
        SeriesRef::new(Arc::new(HaSeries { inner, pair }))
    }

    fn splice(&self, stored: &Labels, inner: &SeriesRef) -> Arc<Splice> {
        let mut splices = self.splices.lock();
        let key = stored.stable_hash();
        if let Some(s) = splices.by_series.get(&key) {
            return s.clone();
        }
        if splices.by_series.len() >= splices.prune_at {
            let oldest = cardinal_model::now_ms() - FORGET_AFTER_MS;
            splices.by_series.retain(|_, s| s.newest() >= oldest);
            splices.prune_at = (2 * splices.by_series.len()).max(1024);
        }
        let last = self.inner.last_sample(inner).filter(|(_, v)| !v.is_nan());
        let s = Arc::new(Splice::from_stored(last));
        splices.by_series.insert(key, s.clone());
        s
    }

    fn lookup(
        &self,
        labels: &Labels,
        find: impl FnOnce(&Labels) -> Result<(SeriesRef, bool), SeriesLimitReached>,
    ) -> Result<(SeriesRef, bool), SeriesLimitReached> {
        let (stored, pair) = self.split(labels);
        let (inner, created) = find(&stored)?;
        Ok((self.wrap(inner, &stored, pair), created))
    }

    /// The tracker's metrics, for `/metrics`.
    pub fn write_metrics(&self, out: &mut String) {
        let status = self.tracker.status();
        let families: [(&str, &str, &str); 3] = [
            ("cardinal_ha_tracker_elected_replica", "gauge", "The replica elected for each cluster (1)."),
            ("cardinal_ha_tracker_elected_replica_changes_total", "counter", "Elections, the first included."),
            ("cardinal_ha_deduped_samples_total", "counter", "Samples of a replica not elected, dropped."),
        ];
        for (i, (name, kind, help)) in families.into_iter().enumerate() {
            text::write_help(out, name, help);
            text::write_type(out, name, kind);
            for (cluster, s) in &status {
                match i {
                    0 => text::write_sample(
                        out,
                        name,
                        [("cluster", cluster.as_str()), ("replica", &s.elected)],
                        1.0,
                        None,
                    ),
                    1 => text::write_sample(out, name, [("cluster", cluster.as_str())], s.changes as f64, None),
                    _ => text::write_sample(out, name, [("cluster", cluster.as_str())], s.deduped_samples as f64, None),
                }
            }
        }
    }
}

fn ours(r: &SeriesRef) -> &HaSeries {
    r.get::<HaSeries>().expect("a handle given out by the HA store")
}

impl SeriesStore for HaStore {
    fn get_or_create(&self, labels: &Labels) -> (SeriesRef, bool) {
        let found = self.lookup(labels, |l| Ok(self.inner.get_or_create(l)));
        found.unwrap_or_else(|_: SeriesLimitReached| unreachable!("get_or_create has no limit"))
    }

    fn get_or_create_within_limit(&self, labels: &Labels) -> Result<(SeriesRef, bool), SeriesLimitReached> {
        self.lookup(labels, |l| self.inner.get_or_create_within_limit(l))
    }

    fn get(&self, labels: &Labels) -> Option<SeriesRef> {
        let (stored, pair) = self.split(labels);
        let inner = self.inner.get(&stored)?;
        Some(self.wrap(inner, &stored, pair))
    }

    fn check_room(&self, new: usize) -> Result<(), SeriesLimitReached> {
        self.inner.check_room(new)
    }

    fn bounds(&self) -> TimeBounds {
        self.inner.bounds()
    }

    /// A standby replica's samples are not checked against what another stored; the
    /// elected one's are, as it sent them (before the splice).
    fn last_sample(&self, series: &SeriesRef) -> Option<(Timestamp, f64)> {
        let s = ours(series);
        let last = self.inner.last_sample(&s.inner)?;
        let Some(p) = &s.pair else { return Some(last) };
        if self.tracker.elected(&p.cluster).is_some_and(|e| e != p.replica) {
            return None;
        }
        Some(p.splice.as_ref().map_or(last, |sp| (last.0, sp.raw(&p.replica, last.1))))
    }

    fn batch(&self) -> Box<dyn SeriesAppender + '_> {
        Box::new(HaAppender { store: self, inner: self.inner.batch(), verdicts: Vec::new(), now: Instant::now() })
    }

    fn write_error(&self) -> Option<String> {
        self.inner.write_error()
    }

    fn sync(&self) -> std::io::Result<()> {
        self.inner.sync()
    }
}

struct HaAppender<'a> {
    store: &'a HaStore,
    inner: Box<dyn SeriesAppender + 'a>,
    /// Per cluster and replica in this batch: elected or not, and samples dropped.
    verdicts: Vec<(Arc<str>, Arc<str>, bool, u64)>,
    now: Instant,
}

impl HaAppender<'_> {
    /// Whether `p`'s replica is elected, asked of the tracker once per batch; a sample
    /// refused is counted.
    fn elected(&mut self, p: &Pair) -> bool {
        let found = self.verdicts.iter_mut().find(|v| Arc::ptr_eq(&v.0, &p.cluster) && Arc::ptr_eq(&v.1, &p.replica));
        let v = match found {
            Some(v) => v,
            None => {
                let ok = self.store.tracker.accept(&p.cluster, &p.replica, self.now);
                self.verdicts.push((p.cluster.clone(), p.replica.clone(), ok, 0));
                self.verdicts.last_mut().expect("just pushed")
            }
        };
        v.3 += u64::from(!v.2);
        v.2
    }
}

impl SeriesAppender for HaAppender<'_> {
    fn append(&mut self, series: &SeriesRef, t: Timestamp, v: f64) -> Result<(), AppendError> {
        let s = ours(series);
        let Some(p) = &s.pair else { return self.inner.append(&s.inner, t, v) };
        if !self.elected(p) {
            if let Some(sp) = &p.splice {
                sp.standby(&p.replica, t, v);
            }
            return Ok(());
        }
        match &p.splice {
            Some(sp) => sp.store(&p.replica, t, v, |out| self.inner.append(&s.inner, t, out)),
            None => self.inner.append(&s.inner, t, v),
        }
    }

    /// Exemplars of the elected replica only, as its samples.
    fn log_exemplar(&mut self, series: &SeriesRef, e: &cardinal_storage::exemplars::Exemplar) {
        let s = ours(series);
        if s.pair.as_ref().is_none_or(|p| self.store.tracker.elected(&p.cluster).is_some_and(|r| r == p.replica)) {
            self.inner.log_exemplar(&s.inner, e);
        }
    }

    fn commit(self: Box<Self>) {
        for (cluster, _, _, dropped) in &self.verdicts {
            if *dropped > 0 {
                self.store.tracker.deduped(cluster, *dropped);
            }
        }
        self.inner.commit();
    }
}
