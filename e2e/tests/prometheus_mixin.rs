//! Monitoring the monitoring: the Prometheus mixin's alerts (v2.42's, rendered with their
//! defaults in `fixtures/prometheus-mixin-alerts.yml`) over a collector that scrapes its
//! own `/metrics` as `job="prometheus"`, beside a real Prometheus 2.42 doing the same
//! with the same configuration. Every metric the alerts read that Prometheus has, ours
//! has too, with Prometheus's type and label names; and each alert's expression holds on
//! ours exactly when it holds on Prometheus — limits hit, a failing rule, and the quiet
//! ones — so an operator's alerts on their Prometheus fire on us as they would there.

use e2e::prometheus::{OWN_ADDRESS, Prometheus, free_addr};
use e2e::{Daemon, TestTarget, wait_until};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

const MIXIN: &str = include_str!("../fixtures/prometheus-mixin-alerts.yml");

/// What the mixin's dashboards (v2.42's `dashboards.libsonnet`) read beyond its alerts,
/// and the HTTP handler metrics.
const DASHBOARDS_READ: &[&str] = &[
    "prometheus_build_info",
    "prometheus_engine_query_duration_seconds",
    "prometheus_engine_query_duration_seconds_count",
    "prometheus_remote_storage_enqueue_retries_total",
    "prometheus_remote_storage_samples_in_total",
    "prometheus_remote_storage_samples_pending",
    "prometheus_remote_storage_samples_dropped_total",
    "prometheus_remote_storage_samples_retried_total",
    "prometheus_remote_storage_shard_capacity",
    "prometheus_remote_storage_shards",
    "prometheus_remote_storage_shards_min",
    "prometheus_sd_discovered_targets",
    "prometheus_target_interval_length_seconds_count",
    "prometheus_target_interval_length_seconds_sum",
    "prometheus_target_sync_length_seconds_sum",
    "prometheus_tsdb_head_chunks",
    "prometheus_tsdb_head_series",
    "prometheus_tsdb_wal_segment_current",
    "prometheus_wal_watcher_current_segment",
    "process_start_time_seconds",
    // Not read by the mixin, but by operators' own dashboards: requests by handler.
    "prometheus_http_requests_total",
    "prometheus_http_request_duration_seconds_bucket",
    "prometheus_http_request_duration_seconds_count",
];

/// A rule that fails at every evaluation, in both (`group_left` needs one `up` series a
/// match group on its right and finds several), and an alert that always fires, so
/// both send to the Alertmanager that is not there.
const FAILING: &str = "groups:\n  - name: failing\n    rules:\n      - {record: broken, expr: 'vector(1) + on() group_left() up'}\n      - {alert: Always, expr: vector(1)}\n";

/// Three samples, more than 100 bytes, two labels apiece: over the limits below.
const BODY: &str = "# TYPE demo_requests_total counter\ndemo_requests_total{code=\"200\",method=\"get\"} 5\n\
                    demo_requests_total{code=\"500\",method=\"get\"} 1\n# TYPE demo_up gauge\ndemo_up 1\n";

/// The configuration both servers run: a self-scrape job `prometheus` at `own`, jobs
/// over each scrape limit at `target`, a job whose relabeling leaves no address, and an
/// Alertmanager and a remote-write receiver that are not there.
fn config(own: &str, target: &str, dead: &str, rules: &std::path::Path) -> String {
    let rules = rules.display();
    format!(
        "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\n\
         rule_files: ['{rules}/mixin.yml', '{rules}/failing.yml']\n\
         alerting: {{alertmanagers: [{{static_configs: [{{targets: ['{dead}']}}]}}]}}\n\
         remote_write: [{{url: 'http://{dead}/api/v1/write'}}]\n\
         scrape_configs:\n\
         \x20 - {{job_name: prometheus, static_configs: [{{targets: ['{own}']}}]}}\n\
         \x20 - {{job_name: sample-limited, sample_limit: 1, static_configs: [{{targets: ['{target}']}}]}}\n\
         \x20 - {{job_name: body-limited, body_size_limit: 100B, static_configs: [{{targets: ['{target}']}}]}}\n\
         \x20 - {{job_name: label-limited, label_limit: 1, static_configs: [{{targets: ['{target}']}}]}}\n\
         \x20 - {{job_name: target-limited, target_limit: 1, static_configs: [{{targets: ['{target}', '{dead}']}}]}}\n\
         \x20 - job_name: sync-failing\n\
         \x20   static_configs: [{{targets: ['{target}']}}]\n\
         \x20   relabel_configs: [{{target_label: __address__, replacement: ''}}]\n"
    )
}

/// Each family of a `/metrics` page: its type and the label names its samples carry.
fn families(page: &str) -> BTreeMap<String, (String, BTreeSet<String>)> {
    let label = regex::Regex::new(r#"([a-zA-Z_][a-zA-Z0-9_]*)=""#).unwrap();
    let mut out: BTreeMap<String, (String, BTreeSet<String>)> = BTreeMap::new();
    for line in page.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            out.entry(name.to_string()).or_default().0 = kind.to_string();
        } else if !line.starts_with('#') && !line.is_empty() {
            let name = line.split(['{', ' ']).next().unwrap();
            let labels = line.split_once('{').map_or("", |(_, l)| l.rsplit_once('}').unwrap().0);
            let names = label.captures_iter(labels).map(|c| c[1].to_string());
            out.entry(name.to_string()).or_default().1.extend(names);
        }
    }
    out
}

/// The mixin's alerts: name and expression.
fn alerts() -> Vec<(String, String)> {
    let rules: serde_json::Value = serde_saphyr::from_str(MIXIN).unwrap();
    let rules = rules["groups"][0]["rules"].as_array().unwrap();
    rules.iter().map(|r| (r["alert"].as_str().unwrap().into(), r["expr"].as_str().unwrap().into())).collect()
}

async fn get(url: &str) -> String {
    reqwest::get(url).await.expect("GET").text().await.expect("body")
}

async fn query(base: &str, q: &str) -> Vec<serde_json::Value> {
    let r = reqwest::Client::new().get(format!("{base}/api/v1/query")).query(&[("query", q)]).send().await;
    let v: serde_json::Value = r.expect("query").json().await.expect("json");
    assert_eq!(v["status"], "success", "{q}: {v}");
    v["data"]["result"].as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_prometheus_mixins_alerts_read_the_same_metrics_and_fire_alike() {
    let rules = tempfile::tempdir().unwrap();
    std::fs::write(rules.path().join("mixin.yml"), MIXIN).unwrap();
    std::fs::write(rules.path().join("failing.yml"), FAILING).unwrap();
    let target = TestTarget::start(BODY).await;
    let target = target.addr.to_string();
    let dead = free_addr();
    let Some(prometheus) = Prometheus::start(&config(OWN_ADDRESS, &target, &dead, rules.path())).await else {
        return;
    };
    let ours = Daemon::start("collector", "global: {scrape_interval: 1s}\n", &["--web.enable-lifecycle"]).await;
    let (status, body) = ours.reload(&config(&ours.addr.to_string(), &target, &dead, rules.path())).await;
    assert_eq!(status, 200, "{body}");

    // Both have scraped themselves for a while, limits hit at every scrape.
    let theirs = prometheus.url("");
    let settled = "prometheus_rule_group_iterations_total{job=\"prometheus\",rule_group=~\".*failing\"} > 8";
    for base in [ours.url(""), theirs.clone()] {
        wait_until(Duration::from_secs(60), || async { !query(&base, settled).await.is_empty() }).await;
    }

    let (our_page, their_page) = (get(&ours.url("/metrics")).await, get(&prometheus.url("/metrics")).await);
    let (our_families, their_families) = (families(&our_page), families(&their_page));
    let names = regex::Regex::new(r"prometheus_[a-z_]+").unwrap();
    let read: BTreeSet<&str> =
        names.find_iter(MIXIN).map(|m| m.as_str()).chain(DASHBOARDS_READ.iter().copied()).collect();
    let mut compared = 0;
    for name in read {
        let Some(theirs) = their_families.get(name) else { continue }; // a name of older releases
        let ours = our_families.get(name).unwrap_or_else(|| panic!("{name} is missing from our /metrics"));
        assert_eq!(ours, theirs, "{name}: type and label names, ours then Prometheus's");
        compared += 1;
    }
    println!("{compared} metrics the mixin reads compared with Prometheus's");
    assert!(compared >= 45, "{compared} metrics compared");

    let mut firing = Vec::new();
    for (alert, expr) in alerts() {
        let (on_ours, on_theirs) = (query(&ours.url(""), &expr).await, query(&theirs, &expr).await);
        println!("{alert}: ours {}, Prometheus {}", on_ours.len(), on_theirs.len());
        // Counted once, when the job's targets are synced: whether the first self-scrape
        // already saw it (no increase) is a race in both.
        if matches!(alert.as_str(), "PrometheusTargetLimitHit" | "PrometheusTargetSyncFailure") {
            continue;
        }
        // Alerts go out once a minute, so the error ratio's rates are a race too.
        if alert.starts_with("PrometheusErrorSendingAlertsTo") {
            continue;
        }
        assert_eq!(on_ours.is_empty(), on_theirs.is_empty(), "{alert} holds on ours exactly when on Prometheus");
        if !on_ours.is_empty() {
            firing.push(alert);
        }
    }
    let want = [
        "PrometheusRuleFailures",
        "PrometheusLabelLimitHit",
        "PrometheusScrapeBodySizeLimitHit",
        "PrometheusScrapeSampleLimitHit",
    ];
    assert_eq!(firing, want, "the alerts the limits and the failing rule set off");

    // The counters of syncs and of sends, read directly: on both, in time.
    for q in [
        "prometheus_target_scrape_pool_exceeded_target_limit_total{job=\"prometheus\"} > 0",
        "prometheus_target_sync_failed_total{job=\"prometheus\",scrape_job=\"sync-failing\"} == 1",
        "prometheus_notifications_errors_total{job=\"prometheus\"} > 0",
    ] {
        for base in [ours.url(""), theirs.clone()] {
            wait_until(Duration::from_secs(60), || async { !query(&base, q).await.is_empty() }).await;
        }
    }
}
