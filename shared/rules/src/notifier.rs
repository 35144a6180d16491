//! Sends alerts to Alertmanager as Prometheus's notifier does: external labels merged
//! in (the alert's own labels win), `alert_relabel_configs` applied, a bounded queue
//! that drops the oldest, batches of at most 64 POSTed to `/api/v2/alerts` of every
//! discovered Alertmanager in parallel. A failed batch is counted, not retried: the
//! rules re-send firing alerts every resend delay.

use cardinal_config::{AlertingConfig, AlertmanagerConfig};
use cardinal_discovery::{self as discovery, Groups};
use cardinal_model::{Labels, LabelsBuilder, Timestamp};
use cardinal_relabel::RelabelConfig;
use parking_lot::{Mutex, RwLock};
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, watch};

/// Alerts per POST, as Prometheus's `maxBatchSize`.
pub const MAX_BATCH: usize = 64;

/// One alert as Alertmanager's v2 API takes it. Times are milliseconds since the epoch.
#[derive(Clone, Debug, PartialEq)]
pub struct PostableAlert {
    pub labels: Labels,
    pub annotations: Labels,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    pub generator_url: String,
}

impl PostableAlert {
    fn to_json(&self) -> serde_json::Value {
        let map = |l: &Labels| -> serde_json::Map<String, serde_json::Value> {
            l.iter().map(|l| (l.name.to_string(), serde_json::Value::String(l.value.to_string()))).collect()
        };
        serde_json::json!({
            "labels": map(&self.labels),
            "annotations": map(&self.annotations),
            "startsAt": rfc3339(self.starts_at),
            "endsAt": rfc3339(self.ends_at),
            "generatorURL": self.generator_url,
        })
    }
}

/// Go's RFC3339Nano for a millisecond time: trailing zeros of the fraction dropped.
pub fn rfc3339(ms: Timestamp) -> String {
    format!("{}Z", cardinal_model::gotime::utc_millis(ms, "%Y-%m-%dT%H:%M:%S"))
}

/// Counters for one Alertmanager, by URL.
#[derive(Debug, Default)]
pub struct AmStats {
    /// Alerts delivered.
    pub sent: AtomicU64,
    /// Alerts that failed to send.
    pub errors: AtomicU64,
    pub latency_micros: AtomicU64,
    pub requests: AtomicU64,
    /// Requests that failed (Prometheus's `prometheus_notifications_errors_total`).
    pub failed_requests: AtomicU64,
}

#[derive(Debug, Default)]
pub struct NotifierStats {
    pub dropped: AtomicU64,
    pub per_am: RwLock<Vec<(String, Arc<AmStats>)>>,
}

struct Settings {
    external_labels: Labels,
    relabel: Vec<RelabelConfig>,
}

/// One `alertmanagers` entry: its client and its discovered targets.
struct AmSet {
    cfg: AlertmanagerConfig,
    client: reqwest::Client,
    groups: watch::Receiver<Groups>,
    discovery: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for AmSet {
    fn drop(&mut self) {
        for h in &self.discovery {
            h.abort();
        }
    }
}

pub struct Notifier {
    queue: Mutex<VecDeque<PostableAlert>>,
    capacity: usize,
    wake: Notify,
    settings: RwLock<Settings>,
    sets: RwLock<Vec<Arc<AmSet>>>,
    pub stats: NotifierStats,
}

impl Notifier {
    /// A notifier with a queue of `capacity` alerts, and its send loop.
    pub fn start(capacity: usize) -> Arc<Notifier> {
        let n = Arc::new(Notifier {
            queue: Mutex::new(VecDeque::new()),
            capacity: capacity.max(1),
            wake: Notify::new(),
            settings: RwLock::new(Settings { external_labels: Labels::empty(), relabel: Vec::new() }),
            sets: RwLock::new(Vec::new()),
            stats: NotifierStats::default(),
        });
        tokio::spawn(send_loop(Arc::downgrade(&n)));
        n
    }

    /// Checks an `alerting` config without applying it.
    pub fn check(cfg: &AlertingConfig) -> Result<(), String> {
        for am in &cfg.alertmanagers {
            check_version(am)?;
            client(am)?;
        }
        Ok(())
    }

    /// Applies a new `alerting` config and external labels; discovery restarts only for
    /// a changed config. On error nothing changes.
    pub fn apply(&self, cfg: &AlertingConfig, external_labels: Labels) -> Result<(), String> {
        let same = {
            let sets = self.sets.read();
            sets.len() == cfg.alertmanagers.len()
                && sets.iter().zip(&cfg.alertmanagers).all(|(s, c)| format!("{:?}", s.cfg) == format!("{c:?}"))
        };
        let new_sets: Option<Vec<Arc<AmSet>>> =
            if same { None } else { Some(cfg.alertmanagers.iter().map(start_set).collect::<Result<_, _>>()?) };
        *self.settings.write() = Settings { external_labels, relabel: cfg.alert_relabel_configs.clone() };
        if let Some(sets) = new_sets {
            *self.sets.write() = sets;
        }
        Ok(())
    }

    /// Queues alerts for sending, after external labels and alert relabeling. When the
    /// queue is full the oldest alerts are dropped and counted.
    pub fn send(&self, alerts: Vec<PostableAlert>) {
        let prepared: Vec<PostableAlert> = {
            let s = self.settings.read();
            alerts.into_iter().filter_map(|a| prepare(a, &s)).collect()
        };
        if prepared.is_empty() {
            return;
        }
        let mut q = self.queue.lock();
        q.extend(prepared);
        let over = q.len().saturating_sub(self.capacity);
        if over > 0 {
            q.drain(..over);
            self.stats.dropped.fetch_add(over as u64, Relaxed);
        }
        drop(q);
        self.wake.notify_one();
    }

    pub fn queue_len(&self) -> usize {
        self.queue.lock().len()
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The URLs alerts currently go to.
    pub fn alertmanagers(&self) -> Vec<String> {
        self.sets.read().iter().flat_map(|s| urls(s)).collect()
    }

    /// Alertmanagers discovered but dropped by their set's relabel_configs.
    pub fn dropped_alertmanagers(&self) -> Vec<String> {
        self.sets.read().iter().flat_map(|s| discovered(s).1).collect()
    }

    fn next_batch(&self) -> Vec<PostableAlert> {
        let mut q = self.queue.lock();
        let n = q.len().min(MAX_BATCH);
        q.drain(..n).collect()
    }

    fn am_stats(&self, url: &str) -> Arc<AmStats> {
        if let Some((_, s)) = self.stats.per_am.read().iter().find(|(u, _)| u == url) {
            return s.clone();
        }
        let mut all = self.stats.per_am.write();
        let s = Arc::new(AmStats::default());
        all.push((url.to_string(), s.clone()));
        s
    }
}

fn prepare(a: PostableAlert, s: &Settings) -> Option<PostableAlert> {
    let mut b = LabelsBuilder::new(a.labels.clone());
    for l in s.external_labels.iter() {
        if a.labels.get(&l.name).is_none() {
            b.set(l.name.clone(), l.value.clone());
        }
    }
    let labels = cardinal_relabel::process(&b.build(), &s.relabel)?;
    (!labels.is_empty()).then_some(PostableAlert { labels, ..a })
}

fn check_version(am: &AlertmanagerConfig) -> Result<(), String> {
    if am.api_version == "v2" {
        Ok(())
    } else {
        Err(format!("unsupported Alertmanager api_version {:?}: only v2 is served", am.api_version))
    }
}

fn client(am: &AlertmanagerConfig) -> Result<reqwest::Client, String> {
    cardinal_client::build_client(&am.http).map_err(|e| format!("alertmanager client: {e}"))
}

fn start_set(cfg: &AlertmanagerConfig) -> Result<Arc<AmSet>, String> {
    check_version(cfg)?;
    let client = client(cfg)?;
    let (groups, discovery) = discovery::spawn(&cfg.static_configs, discovery::from_config(cfg.sd()));
    Ok(Arc::new(AmSet { cfg: cfg.clone(), client, groups, discovery }))
}

/// The alerts URL of every discovered Alertmanager of a set, after its relabel_configs.
fn urls(set: &AmSet) -> Vec<String> {
    discovered(set).0
}

/// A set's Alertmanagers: the alerts URLs of those its relabel_configs keep (from the
/// labels after relabeling), and of those they drop (from the labels before, as
/// Prometheus lists them under `droppedAlertmanagers`).
fn discovered(set: &AmSet) -> (Vec<String>, Vec<String>) {
    let path = format!("{}/api/v2/alerts", set.cfg.path_prefix.trim_end_matches('/'));
    let url = |l: &Labels| {
        let get = |n: &str| l.get(n).unwrap_or("").to_string();
        format!("{}://{}{}", get("__scheme__"), get("__address__"), get("__alerts_path__"))
    };
    let (mut active, mut dropped) = (Vec::new(), Vec::new());
    for g in set.groups.borrow().iter() {
        for t in &g.targets {
            let mut b = LabelsBuilder::new(Labels::from_pairs(
                g.labels.iter().chain(&t.labels).map(|(k, v)| (k.as_str(), v.as_str())),
            ));
            b.set("__address__", t.address.clone());
            b.set("__scheme__", set.cfg.scheme.clone());
            b.set("__alerts_path__", path.clone());
            let discovered = b.build();
            match cardinal_relabel::process(&discovered, &set.cfg.relabel_configs) {
                Some(l) => active.push(url(&l)),
                None => dropped.push(url(&discovered)),
            }
        }
    }
    (active, dropped)
}

async fn send_loop(n: std::sync::Weak<Notifier>) {
    loop {
        let Some(notifier) = n.upgrade() else { return };
        // Wake on new alerts, or every second so a dropped notifier ends the loop.
        let _ = tokio::time::timeout(Duration::from_secs(1), notifier.wake.notified()).await;
        loop {
            let batch = notifier.next_batch();
            if batch.is_empty() {
                break;
            }
            post_everywhere(&notifier, &batch).await;
        }
    }
}

async fn post_everywhere(n: &Notifier, batch: &[PostableAlert]) {
    let body: Vec<serde_json::Value> = batch.iter().map(PostableAlert::to_json).collect();
    let body = bytes::Bytes::from(serde_json::to_vec(&body).unwrap_or_default());
    let sets: Vec<Arc<AmSet>> = n.sets.read().clone();
    let posts = sets.iter().flat_map(|set| {
        urls(set).into_iter().map(|url| {
            let (set, body) = (set.clone(), body.clone());
            async move {
                let stats = n.am_stats(&url);
                let started = Instant::now();
                let ok = post(&set, &url, body).await;
                stats.requests.fetch_add(1, Relaxed);
                stats.latency_micros.fetch_add(started.elapsed().as_micros() as u64, Relaxed);
                match ok {
                    Ok(()) => stats.sent.fetch_add(batch.len() as u64, Relaxed),
                    Err(e) => {
                        tracing::warn!(alertmanager = %url, error = %e, count = batch.len(), "error sending alerts");
                        stats.failed_requests.fetch_add(1, Relaxed);
                        stats.errors.fetch_add(batch.len() as u64, Relaxed)
                    }
                };
            }
        })
    });
    futures_util::future::join_all(posts).await;
}

async fn post(set: &AmSet, url: &str, body: bytes::Bytes) -> Result<(), String> {
    let req = set
        .client
        .post(url)
        .header("Content-Type", "application/json")
        .header("User-Agent", concat!("Cardinal/", env!("CARGO_PKG_VERSION")))
        .timeout(set.cfg.timeout.0)
        .body(body);
    let req = cardinal_client::authorize(req, &set.cfg.http)?;
    let resp = req.send().await.map_err(|e| cardinal_client::error_chain(&e))?;
    if resp.status().is_success() { Ok(()) } else { Err(format!("bad response status {}", resp.status())) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(name: &str) -> PostableAlert {
        PostableAlert {
            labels: Labels::from_pairs([("alertname", name), ("region", "us")]),
            annotations: Labels::empty(),
            starts_at: 1_700_000_000_180,
            ends_at: 1_700_000_240_000,
            generator_url: String::new(),
        }
    }

    #[test]
    fn times_are_go_rfc3339nano() {
        assert_eq!(rfc3339(1_700_000_000_180), "2023-11-14T22:13:20.18Z");
        assert_eq!(rfc3339(1_700_000_000_000), "2023-11-14T22:13:20Z");
    }

    #[tokio::test]
    async fn external_labels_relabeling_and_a_bounded_queue() {
        let n = Notifier::start(3);
        let cfg: AlertingConfig = serde_saphyr::from_str(
            "alert_relabel_configs:\n- {source_labels: [alertname], regex: Drop, action: drop}\n",
        )
        .unwrap();
        n.apply(&cfg, Labels::from_pairs([("region", "eu"), ("dc", "1")])).unwrap();
        n.send(vec![alert("A"), alert("Drop")]);
        let queued = n.queue.lock().clone();
        assert_eq!(queued.len(), 1, "relabeling dropped one");
        assert_eq!(
            queued[0].labels,
            Labels::from_pairs([("alertname", "A"), ("dc", "1"), ("region", "us")]),
            "alert labels win"
        );
        n.send((0..4).map(|i| alert(&format!("B{i}"))).collect());
        let names: Vec<String> =
            n.queue.lock().iter().map(|a| a.labels.get("alertname").unwrap().to_string()).collect();
        assert_eq!(names, ["B1", "B2", "B3"], "the oldest are dropped");
        assert_eq!(n.stats.dropped.load(Relaxed), 2);
    }

    #[tokio::test]
    async fn alertmanager_urls_follow_discovery_and_relabeling() {
        let cfg: AlertingConfig = serde_saphyr::from_str(
            "alertmanagers:\n- path_prefix: /am/\n  static_configs: [{targets: ['a:9093', 'b:9093']}]\n  relabel_configs:\n  - {source_labels: [__address__], regex: 'b:.*', action: drop}\n",
        )
        .unwrap();
        let n = Notifier::start(10);
        n.apply(&cfg, Labels::empty()).unwrap();
        assert_eq!(n.alertmanagers(), ["http://a:9093/am/api/v2/alerts"]);
        let v1: AlertingConfig = serde_saphyr::from_str("alertmanagers:\n- api_version: v1\n").unwrap();
        assert!(n.apply(&v1, Labels::empty()).unwrap_err().contains("only v2"));
        assert_eq!(n.alertmanagers().len(), 1, "a refused config changes nothing");
    }
}
