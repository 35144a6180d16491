//! Runs a scrape loop per target for every job, following discovery, and applies
//! reloaded configs: unchanged jobs keep running untouched; changed or removed jobs stop,
//! and their vanished targets' series go stale.

use crate::fetch::Fetcher;
use crate::metadata::{Metadata, MetricMeta};
use crate::sample_labels::LabelLimits;
use crate::scrape_loop::{Health, LoopConfig, ScrapeLoop, ScrapeStats};
use crate::target::{Dropped, Populated, Target, targets_from_groups};
use cardinal_config::{Config, ScrapeConfig};
use cardinal_discovery::{self as discovery, Groups, TargetGroup};
use cardinal_model::Labels;
use cardinal_storage::SeriesStore;
use cardinal_storage::exemplars::ExemplarStore;
use parking_lot::{Mutex, RwLock};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use tokio::sync::watch;

/// One target as `/api/v1/targets` shows it.
#[derive(Clone, Debug)]
pub struct TargetStatus {
    pub job: String,
    pub target: Target,
    pub health: Health,
    pub interval: std::time::Duration,
    pub timeout: std::time::Duration,
}

/// A running target's shared state: its health and the metadata it exposes.
type TargetState = (Target, Arc<Mutex<Health>>, Arc<Metadata>);

#[derive(Default)]
struct JobState {
    active: Vec<TargetState>,
    dropped: Vec<Dropped>,
    /// Targets discovery found that could not become targets (an invalid address after
    /// relabeling), over the job's life: `prometheus_target_sync_failed_total`.
    sync_failed: u64,
    /// How long syncing its targets took (`prometheus_target_sync_length_seconds`).
    sync_length: cardinal_exposition::summary::Summary,
}

struct Job {
    fingerprint: String,
    cfg: ScrapeConfig,
    state: Arc<RwLock<JobState>>,
    stop: watch::Sender<bool>,
}

/// A job's `prometheus_target_sync_failed_total`, `prometheus_target_metadata_cache_entries`
/// and `prometheus_target_sync_length_seconds`.
pub struct JobStats {
    pub job: String,
    pub sync_failed: u64,
    pub metadata_entries: usize,
    pub sync_length: cardinal_exposition::summary::Summary,
}

/// What every scrape loop shares beyond its job's config.
#[derive(Clone)]
struct LoopDefaults {
    timestamp_tolerance: std::time::Duration,
    exemplars: Arc<ExemplarStore>,
}

pub struct ScrapeManager {
    store: Arc<dyn SeriesStore>,
    defaults: LoopDefaults,
    jobs: Mutex<HashMap<String, Job>>,
    pub stats: Arc<ScrapeStats>,
}

impl ScrapeManager {
    /// `timestamp_tolerance`: how late a scrape may start and still be stamped with its
    /// slot (zero: never); `exemplars`: where scraped exemplars go (when it is sized).
    pub fn new(
        store: Arc<dyn SeriesStore>,
        timestamp_tolerance: std::time::Duration,
        exemplars: Arc<ExemplarStore>,
    ) -> Self {
        let defaults = LoopDefaults { timestamp_tolerance, exemplars };
        ScrapeManager { store, defaults, jobs: Mutex::default(), stats: Arc::default() }
    }

    /// Applies a config. Every job's HTTP client is built first, so a bad config changes
    /// nothing and the running one keeps going.
    pub fn apply(&self, cfg: &Config) -> Result<(), String> {
        let mut fresh = Vec::new();
        for sc in &cfg.scrape_configs {
            let fetcher = Fetcher::new(&sc.http, sc.timeout(), sc.body_size_limit.0)
                .map_err(|e| format!("job {:?}: {e}", sc.job_name))?;
            fresh.push((sc.clone(), fetcher));
        }
        let mut jobs = self.jobs.lock();
        let wanted: HashMap<&str, ()> = cfg.scrape_configs.iter().map(|s| (s.job_name.as_str(), ())).collect();
        jobs.retain(|name, job| {
            let keep = wanted.contains_key(name.as_str());
            if !keep {
                let _ = job.stop.send(true);
            }
            keep
        });
        for (sc, fetcher) in fresh {
            let fingerprint = format!("{sc:?}");
            if jobs.get(&sc.job_name).is_some_and(|j| j.fingerprint == fingerprint) {
                continue;
            }
            if let Some(old) = jobs.remove(&sc.job_name) {
                let _ = old.stop.send(true);
            }
            let (stop, stop_rx) = watch::channel(false);
            let state = Arc::new(RwLock::new(JobState::default()));
            let run = run_job(
                self.store.clone(),
                sc.clone(),
                fetcher,
                self.defaults.clone(),
                state.clone(),
                self.stats.clone(),
                stop_rx,
            );
            tokio::spawn(run);
            jobs.insert(sc.job_name.clone(), Job { fingerprint, cfg: sc, state, stop });
        }
        Ok(())
    }

    /// Active targets, by job then URL.
    pub fn active_targets(&self) -> Vec<TargetStatus> {
        let jobs = self.jobs.lock();
        let mut out: Vec<TargetStatus> = jobs
            .values()
            .flat_map(|j| {
                j.state
                    .read()
                    .active
                    .iter()
                    .map(|(t, h, _)| TargetStatus {
                        job: j.cfg.job_name.clone(),
                        target: t.clone(),
                        health: h.lock().clone(),
                        interval: j.cfg.interval(),
                        timeout: j.cfg.timeout(),
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        out.sort_by(|a, b| (&a.job, &a.target.url).cmp(&(&b.job, &b.target.url)));
        out
    }

    /// Each active target's labels and the metadata its last scrapes exposed.
    pub fn targets_metadata(&self) -> Vec<(Labels, Vec<(String, MetricMeta)>)> {
        let jobs = self.jobs.lock();
        let mut out: Vec<_> = jobs
            .values()
            .flat_map(|j| {
                j.state.read().active.iter().map(|(t, _, m)| (t.labels.clone(), m.snapshot())).collect::<Vec<_>>()
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Metadata of every active target, by family name, each distinct entry once.
    pub fn metadata(&self) -> std::collections::BTreeMap<String, std::collections::BTreeSet<MetricMeta>> {
        let mut out: std::collections::BTreeMap<String, std::collections::BTreeSet<MetricMeta>> = Default::default();
        for job in self.jobs.lock().values() {
            for (_, _, m) in &job.state.read().active {
                for (name, meta) in m.snapshot() {
                    out.entry(name).or_default().insert(meta);
                }
            }
        }
        out
    }

    /// Per job: what Prometheus's per-pool metrics report.
    pub fn job_stats(&self) -> Vec<JobStats> {
        let jobs = self.jobs.lock();
        let mut out: Vec<_> = jobs
            .iter()
            .map(|(name, j)| {
                let st = j.state.read();
                JobStats {
                    job: name.clone(),
                    sync_failed: st.sync_failed,
                    metadata_entries: st.active.iter().map(|(_, _, m)| m.family_count()).sum(),
                    sync_length: st.sync_length.clone(),
                }
            })
            .collect();
        out.sort_by(|a, b| a.job.cmp(&b.job));
        out
    }

    /// Each job's name and how many targets discovery found for it (kept or dropped).
    pub fn discovered(&self) -> Vec<(String, usize)> {
        let jobs = self.jobs.lock();
        let count = |j: &Job| j.state.read().active.len() + j.state.read().dropped.len();
        let mut out: Vec<(String, usize)> = jobs.iter().map(|(name, j)| (name.clone(), count(j))).collect();
        out.sort();
        out
    }

    /// Targets dropped by relabeling, with their discovered labels.
    pub fn dropped_targets(&self) -> Vec<Labels> {
        let jobs = self.jobs.lock();
        jobs.values()
            .flat_map(|j| j.state.read().dropped.iter().map(|d| d.discovered(&j.cfg)).collect::<Vec<_>>())
            .collect()
    }

    /// Stops every job (their targets' series go stale).
    pub fn stop(&self) {
        for (_, job) in self.jobs.lock().drain() {
            let _ = job.stop.send(true);
        }
    }
}

struct RunningTarget {
    stop: watch::Sender<bool>,
    handle: tokio::task::JoinHandle<()>,
}

async fn run_job(
    store: Arc<dyn SeriesStore>,
    sc: ScrapeConfig,
    fetcher: Fetcher,
    defaults: LoopDefaults,
    state: Arc<RwLock<JobState>>,
    stats: Arc<ScrapeStats>,
    mut stop: watch::Receiver<bool>,
) {
    let (mut groups_rx, sd_tasks) = discovery::spawn(&sc.static_configs, discovery::from_config(sc.sd()));
    let loop_cfg = Arc::new(LoopConfig {
        honor_labels: sc.honor_labels,
        honor_timestamps: sc.honor_timestamps,
        track_timestamps_staleness: sc.track_timestamps_staleness,
        sample_limit: sc.sample_limit,
        limits: LabelLimits {
            label_limit: sc.label_limit,
            name_length: sc.label_name_length_limit,
            value_length: sc.label_value_length_limit,
        },
        metric_relabel: sc.metric_relabel_configs.clone(),
        interval: sc.interval(),
        timestamp_tolerance: defaults.timestamp_tolerance,
        exemplars: defaults.exemplars,
        fetcher,
        forced_error: Mutex::new(None),
    });
    let mut running: HashMap<u64, RunningTarget> = HashMap::new();
    loop {
        let groups: Groups = groups_rx.borrow_and_update().clone();
        let started = std::time::Instant::now();
        sync_targets(&store, &sc, &groups, &loop_cfg, &stats, &state, &mut running);
        state.write().sync_length.observe(started.elapsed().as_secs_f64());
        tokio::select! {
            changed = groups_rx.changed() => if changed.is_err() { break },
            _ = stop.changed() => break,
        }
    }
    sd_tasks.iter().for_each(|t| t.abort());
    let stopping: Vec<_> = running.into_values().collect();
    for r in &stopping {
        let _ = r.stop.send(true);
    }
    for r in stopping {
        let _ = r.handle.await;
    }
}

/// Starts loops for new targets and stops those that vanished.
fn sync_targets(
    store: &Arc<dyn SeriesStore>,
    sc: &ScrapeConfig,
    groups: &[Arc<TargetGroup>],
    loop_cfg: &Arc<LoopConfig>,
    stats: &Arc<ScrapeStats>,
    state: &RwLock<JobState>,
    running: &mut HashMap<u64, RunningTarget>,
) {
    let (populated, errors) = targets_from_groups(sc, groups);
    let failures = errors.len();
    for e in errors {
        tracing::warn!(job = %sc.job_name, error = %e, "invalid target");
    }
    let mut targets = Vec::new();
    let mut dropped = Vec::new();
    for p in populated {
        match p {
            Populated::Target(t) => {
                if !targets.iter().any(|x: &Target| x.key == t.key) {
                    targets.push(t);
                }
            }
            Populated::Dropped(d) => dropped.push(d),
        }
    }
    let over_limit = sc.target_limit > 0 && targets.len() as u64 > sc.target_limit;
    if over_limit {
        stats.target_limit_exceeded.fetch_add(1, Relaxed);
    }
    *loop_cfg.forced_error.lock() = over_limit
        .then(|| format!("target_limit exceeded (number of targets: {}, limit: {})", targets.len(), sc.target_limit));
    let keys: std::collections::HashSet<u64> = targets.iter().map(|t| t.key).collect();
    running.retain(|k, r| {
        let keep = keys.contains(k);
        if !keep {
            let _ = r.stop.send(true);
        }
        keep
    });
    let mut active = Vec::new();
    let old = std::mem::take(&mut state.write().active);
    for t in targets {
        let key = t.key;
        if let Some((_, h, m)) = old.iter().find(|(o, _, _)| o.key == key).filter(|_| running.contains_key(&key)) {
            active.push((t, h.clone(), m.clone()));
            continue;
        }
        let l = ScrapeLoop::new(store.clone(), t.clone(), loop_cfg.clone(), stats.clone());
        active.push((t, l.health.clone(), l.metadata.clone()));
        let (stop, stop_rx) = watch::channel(false);
        running.insert(key, RunningTarget { stop, handle: tokio::spawn(l.run(stop_rx)) });
    }
    let mut st = state.write();
    st.active = active;
    st.dropped = dropped;
    st.sync_failed += failures as u64;
}
