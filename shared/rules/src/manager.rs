//! Runs rule groups on their intervals. Groups run concurrently, each in evaluation
//! slots offset by a stable hash of its file and name (as Prometheus spreads them);
//! a reload keeps unchanged groups running with their state, and stale-marks what
//! removed groups wrote.

use crate::file::{self, Rule, RuleGroup};
use crate::group::{AlertContext, GroupRunner, Notification, RuleHealth, RuleStorage};
use crate::notifier::{Notifier, PostableAlert};
use cardinal_model::schedule::next_slot;
use cardinal_model::{Labels, Timestamp, now_ms};
use cardinal_promql::Engine;
use cardinal_storage::Storage;
use parking_lot::{Mutex, RwLock};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, SystemTime};
use tokio::sync::watch;

/// Alerting settings from the command line, with Prometheus's flag defaults.
#[derive(Clone, Debug)]
pub struct AlertOptions {
    /// `--web.external-url`: the base of generator URLs and `$externalURL`.
    pub external_url: String,
    /// `--rules.alert.resend-delay`.
    pub resend_delay: Duration,
    /// `--rules.alert.for-outage-tolerance`: the oldest `for` state restored.
    pub outage_tolerance: Duration,
    /// `--rules.alert.for-grace-period`: the least time left to fire after a restore.
    pub for_grace_period: Duration,
}

impl Default for AlertOptions {
    fn default() -> Self {
        AlertOptions {
            external_url: "http://localhost:9090".into(),
            resend_delay: Duration::from_secs(60),
            outage_tolerance: Duration::from_secs(3600),
            for_grace_period: Duration::from_secs(600),
        }
    }
}

/// What every group's task shares.
struct Deps {
    /// What rules read and write: the daemon's whole database.
    storage: Arc<dyn Storage + Send + Sync>,
    engine: Engine,
    opts: AlertOptions,
    ctx: RwLock<AlertContext>,
    notifier: Option<Arc<Notifier>>,
}

/// A group as `/api/v1/rules` and `/metrics` show it.
#[derive(Clone, Debug)]
pub struct GroupStatus {
    pub file: String,
    pub name: String,
    pub interval: Duration,
    pub limit: u64,
    pub last_duration: f64,
    pub last_evaluation: Option<SystemTime>,
    pub iterations: u64,
    pub missed: u64,
    pub failures: u64,
    pub samples: u64,
    pub rules: Vec<(Rule, RuleHealth)>,
}

struct Shared {
    runner: GroupRunner,
    status: GroupStatus,
}

struct Running {
    fingerprint: String,
    shared: Arc<Mutex<Shared>>,
    stop: watch::Sender<bool>,
}

pub struct RuleManager {
    deps: Arc<Deps>,
    groups: Mutex<HashMap<(String, String), Running>>,
    /// Set after the first install: groups started by a reload need no restore.
    installed: AtomicBool,
}

impl RuleManager {
    /// Rules read `storage` (the whole database, as queries do) and write to it.
    pub fn new(
        storage: Arc<dyn Storage + Send + Sync>,
        engine: Engine,
        opts: AlertOptions,
        notifier: Option<Arc<Notifier>>,
    ) -> Self {
        let ctx = AlertContext {
            external_labels: Labels::empty(),
            external_url: opts.external_url.clone(),
            resend_delay_ms: opts.resend_delay.as_millis() as i64,
        };
        let deps = Arc::new(Deps { storage, engine, opts, ctx: RwLock::new(ctx), notifier });
        RuleManager { deps, groups: Mutex::default(), installed: AtomicBool::new(false) }
    }

    /// The external labels alert templates see (`$externalLabels`).
    pub fn set_external_labels(&self, labels: Labels) {
        self.deps.ctx.write().external_labels = labels;
    }

    /// Reads and checks the rule files without touching what runs.
    pub fn load(patterns: &[String]) -> Result<Vec<(String, RuleGroup)>, String> {
        let mut wanted = Vec::new();
        for f in file::expand(patterns)? {
            for g in file::load(&f).map_err(|e| e.join("; "))?.groups {
                wanted.push((f.clone(), g));
            }
        }
        Ok(wanted)
    }

    /// Loads and installs in one step; on error nothing changes.
    pub fn apply(&self, patterns: &[String], default_interval: Duration) -> Result<(), String> {
        self.install(Self::load(patterns)?, default_interval);
        Ok(())
    }

    /// (Re)starts the groups that changed, keeps the unchanged ones running with their
    /// state, and stops the ones no longer wanted.
    pub fn install(&self, wanted: Vec<(String, RuleGroup)>, default_interval: Duration) {
        let mut groups = self.groups.lock();
        let keys: std::collections::HashSet<(String, String)> =
            wanted.iter().map(|(f, g)| (f.clone(), g.name.clone())).collect();
        groups.retain(|k, r| {
            let keep = keys.contains(k);
            if !keep {
                let _ = r.stop.send(true);
            }
            keep
        });
        for (f, g) in wanted {
            let interval = g.interval.map_or(default_interval, |d| d.0);
            let fingerprint = format!("{interval:?}{g:?}");
            let key = (f.clone(), g.name.clone());
            if groups.get(&key).is_some_and(|r| r.fingerprint == fingerprint) {
                continue;
            }
            if let Some(old) = groups.remove(&key) {
                let _ = old.stop.send(true);
            }
            groups.insert(key, self.start(f, g, interval, fingerprint));
        }
        self.installed.store(true, Relaxed);
    }

    fn start(&self, file: String, group: RuleGroup, interval: Duration, fingerprint: String) -> Running {
        let status = GroupStatus {
            file: file.clone(),
            name: group.name.clone(),
            interval,
            limit: group.limit,
            last_duration: 0.0,
            last_evaluation: None,
            iterations: 0,
            missed: 0,
            failures: 0,
            samples: 0,
            rules: group.rules.iter().map(|r| (r.clone(), RuleHealth::default())).collect(),
        };
        let restored = self.installed.load(Relaxed);
        let shared = Arc::new(Mutex::new(Shared { runner: GroupRunner::new(group, interval, restored), status }));
        let (stop, stop_rx) = watch::channel(false);
        tokio::spawn(run(self.deps.clone(), shared.clone(), stop_rx));
        Running { fingerprint, shared, stop }
    }

    /// Every group, by file then name.
    pub fn status(&self) -> Vec<GroupStatus> {
        let mut out: Vec<GroupStatus> = self.groups.lock().values().map(|r| r.shared.lock().status.clone()).collect();
        out.sort_by(|a, b| (&a.file, &a.name).cmp(&(&b.file, &b.name)));
        out
    }

    /// Stops every group.
    pub fn stop(&self) {
        for (_, r) in self.groups.lock().drain() {
            let _ = r.stop.send(true);
        }
    }
}

async fn run(deps: Arc<Deps>, shared: Arc<Mutex<Shared>>, mut stop: watch::Receiver<bool>) {
    let (interval_ms, offset_ms, query_offset) = {
        let s = shared.lock();
        let interval_ms = s.status.interval.as_millis().max(1) as i64;
        let key = format!("{};{}", s.status.file, s.status.name);
        let offset = (cardinal_model::stable_hash(key.as_bytes()) % interval_ms as u64) as i64;
        let query_offset = s.runner.group.query_offset.map_or(0, |d| d.0.as_millis() as i64);
        (interval_ms, offset, query_offset)
    };
    let mut ts = next_slot(now_ms(), interval_ms, offset_ms);
    let mut evaluations = 0;
    loop {
        let wait = Duration::from_millis((ts - now_ms()).max(0) as u64);
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.changed() => break,
        }
        let (d, sh) = (deps.clone(), shared.clone());
        let eval_at = ts - query_offset;
        evaluations += 1;
        // As Prometheus, restore `for` state after the second evaluation since start:
        // by then scrapes and recording rules have filled in what alerts depend on.
        let restore = evaluations == 2;
        let _ = tokio::task::spawn_blocking(move || evaluate(&d, &sh, eval_at, restore)).await;
        // Iterations whose slot passed while evaluating are skipped and counted.
        let behind = (now_ms() - ts) / interval_ms;
        if behind > 0 {
            shared.lock().status.missed += behind as u64;
        }
        ts += interval_ms * (behind + 1);
    }
    shared.lock().runner.stale_all(deps.storage.as_ref(), now_ms());
}

fn evaluate(deps: &Deps, shared: &Mutex<Shared>, t: Timestamp, restore: bool) {
    let started = std::time::Instant::now();
    let ctx = deps.ctx.read().clone();
    let mut s = shared.lock();
    let storage = RuleStorage { read: deps.storage.as_ref(), write: deps.storage.as_ref() };
    let done = s.runner.eval(&deps.engine, storage, t, &ctx);
    if restore && s.runner.needs_restore() {
        let o = &deps.opts;
        s.runner.restore(
            deps.storage.as_ref(),
            now_ms(),
            o.outage_tolerance.as_millis() as i64,
            o.for_grace_period.as_millis() as i64,
        );
    }
    let health = s.runner.health.clone();
    let st = &mut s.status;
    st.last_duration = started.elapsed().as_secs_f64();
    st.last_evaluation = Some(SystemTime::now());
    st.iterations += 1;
    st.failures += done.failures as u64;
    st.samples = done.samples as u64;
    for ((_, h), new) in st.rules.iter_mut().zip(health) {
        *h = new;
    }
    drop(s);
    if let Some(n) = &deps.notifier {
        n.send(done.notifications.iter().flat_map(|x| postable(x, &ctx.external_url)).collect());
    }
}

/// Alerts as Alertmanager gets them: `startsAt` is when the alert fired; `endsAt` its
/// resolution, or while firing the time it stays valid without a resend.
fn postable(n: &Notification, external_url: &str) -> Vec<PostableAlert> {
    let generator_url = format!("{}{}", external_url.trim_end_matches('/'), cardinal_template::link(&n.expr, 1));
    n.alerts
        .iter()
        .map(|a| PostableAlert {
            labels: a.labels.clone(),
            annotations: a.annotations.clone(),
            starts_at: a.fired_at.unwrap_or(a.active_at),
            ends_at: a.resolved_at.unwrap_or(a.valid_until),
            generator_url: generator_url.clone(),
        })
        .collect()
}
