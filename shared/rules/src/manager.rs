//! Runs rule groups on their intervals. Groups run concurrently, each in evaluation
//! slots offset by a stable hash of its file and name (as Prometheus spreads them);
//! a reload keeps unchanged groups running with their state, and stale-marks what
//! removed groups wrote.

use crate::file::{self, Rule, RuleGroup};
use crate::group::{GroupRunner, RuleHealth};
use cardinal_model::{Timestamp, now_ms};
use cardinal_promql::Engine;
use cardinal_tsdb::Head;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::watch;

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
    head: Arc<Head>,
    engine: Engine,
    groups: Mutex<HashMap<(String, String), Running>>,
}

impl RuleManager {
    pub fn new(head: Arc<Head>, engine: Engine) -> Self {
        RuleManager { head, engine, groups: Mutex::default() }
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
        let shared = Arc::new(Mutex::new(Shared { runner: GroupRunner::new(group), status }));
        let (stop, stop_rx) = watch::channel(false);
        tokio::spawn(run(self.head.clone(), self.engine.clone(), shared.clone(), stop_rx));
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

/// The first evaluation slot after `now`: a multiple of the interval plus the group's
/// stable offset.
pub fn next_slot(now: Timestamp, interval_ms: i64, offset_ms: i64) -> Timestamp {
    let base = (now - offset_ms).div_euclid(interval_ms) * interval_ms + offset_ms;
    if base > now { base } else { base + interval_ms }
}

async fn run(head: Arc<Head>, engine: Engine, shared: Arc<Mutex<Shared>>, mut stop: watch::Receiver<bool>) {
    let (interval_ms, offset_ms, query_offset) = {
        let s = shared.lock();
        let interval_ms = s.status.interval.as_millis().max(1) as i64;
        let key = format!("{};{}", s.status.file, s.status.name);
        let offset = (cardinal_model::stable_hash(key.as_bytes()) % interval_ms as u64) as i64;
        let query_offset = s.runner.group.query_offset.map_or(0, |d| d.0.as_millis() as i64);
        (interval_ms, offset, query_offset)
    };
    let mut ts = next_slot(now_ms(), interval_ms, offset_ms);
    loop {
        let wait = Duration::from_millis((ts - now_ms()).max(0) as u64);
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.changed() => break,
        }
        let (h, e, sh) = (head.clone(), engine.clone(), shared.clone());
        let eval_at = ts - query_offset;
        let _ = tokio::task::spawn_blocking(move || evaluate(&h, &e, &sh, eval_at)).await;
        // Iterations whose slot passed while evaluating are skipped and counted.
        let behind = (now_ms() - ts) / interval_ms;
        if behind > 0 {
            shared.lock().status.missed += behind as u64;
        }
        ts += interval_ms * (behind + 1);
    }
    shared.lock().runner.stale_all(&head, now_ms());
}

fn evaluate(head: &Head, engine: &Engine, shared: &Mutex<Shared>, t: Timestamp) {
    let started = std::time::Instant::now();
    let mut s = shared.lock();
    let (samples, failures) = s.runner.eval(engine, head, t);
    let health = s.runner.health.clone();
    let st = &mut s.status;
    st.last_duration = started.elapsed().as_secs_f64();
    st.last_evaluation = Some(SystemTime::now());
    st.iterations += 1;
    st.failures += failures as u64;
    st.samples = samples as u64;
    for ((_, h), new) in st.rules.iter_mut().zip(health) {
        *h = new;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_offset_multiples_of_the_interval() {
        assert_eq!(next_slot(10_500, 1000, 200), 11_200);
        assert_eq!(next_slot(11_200, 1000, 200), 12_200, "strictly after now");
        assert_eq!(next_slot(0, 15_000, 0), 15_000);
        assert_eq!(next_slot(-1, 1000, 0), 0);
    }
}
