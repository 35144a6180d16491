//! Differential tests against a real Prometheus (2.42 from Debian's package, which CI
//! installs; skipped with a printed reason when absent).

mod common;
use common::*;
use e2e::prometheus::Prometheus;
use e2e::{TestTarget, wait_until};
use std::collections::BTreeMap;

/// Federate lines as `series -> value`, timestamps dropped, external-label order kept.
fn samples(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty() && !l.starts_with("scrape_"))
        .filter_map(|l| {
            let (series_value, _ts) = l.rsplit_once(' ')?;
            let (series, value) = series_value.rsplit_once(' ')?;
            Some((series.to_string(), value.to_string()))
        })
        .collect()
}

const BODY: &str = "# HELP demo_requests_total Requests.\n# TYPE demo_requests_total counter\n\
demo_requests_total{path=\"/a\",job=\"exported-job\",instance=\"exported-inst\",code=\"200\"} 1027\n\
demo_requests_total{path=\"/b\",code=\"500\"} 3\n\
# TYPE lat histogram\nlat_bucket{le=\"0.1\"} 2\nlat_bucket{le=\"1\"} 5\nlat_bucket{le=\"+Inf\"} 7\nlat_sum 3.25\nlat_count 7\n\
# TYPE q summary\nq{quantile=\"0.5\"} 0.0001\nq{quantile=\"0.99\"} 1e+06\nq_sum 1.795263151e+09\nq_count 12\n\
federate:x:rate1m{a=\"esc\\\\aped\\\"q\\\"\\nnl\"} -Inf\nnan_value NaN\nbig 123456789012\n";

fn scrape_cfg(targets: &[String], extra: &str) -> String {
    format!(
        "global:\n  scrape_interval: 1s\n  external_labels: {{collector: c1, region: eu}}\nscrape_configs:\n\
         - job_name: diff\n  static_configs: [{{targets: [{}], labels: {{team: core}}}}]\n{extra}",
        targets.join(", ")
    )
}

#[tokio::test]
async fn federate_output_matches_real_prometheus() {
    let t = TestTarget::start(BODY).await;
    let cfg = scrape_cfg(&[format!("'{}'", t.addr)], "");
    let Some(prom) = Prometheus::start(&cfg).await else { return };
    let ours =
        collector(&cfg.replace("\n- job_name", "\n  - job_name").replace("\n  static_configs", "\n    static_configs"))
            .await;
    scraped(&ours, "diff").await;
    wait_until(WAIT, || async { prom.targets().await.iter().any(|t| t["health"] == "up") }).await;
    let sel = [r#"{job="diff"}"#];
    let theirs = samples(&prom.federate(&sel).await);
    let mine = samples(&ours.federate(&sel).await);
    assert!(theirs.len() >= 15, "Prometheus federated {theirs:?}");
    assert_eq!(mine, theirs, "same series and values as Prometheus 2.42");
}

#[tokio::test]
async fn prometheus_ingests_our_federate_with_honor_labels() {
    let t = TestTarget::start(BODY).await;
    let cfg = scrape_cfg(&[format!("'{}'", t.addr)], "")
        .replace("\n- job_name", "\n  - job_name")
        .replace("\n  static_configs", "\n    static_configs");
    let ours = collector(&cfg).await;
    scraped(&ours, "diff").await;
    let ours_text = ours.federate(&[r#"{job="diff"}"#]).await;
    let served = ours_text.lines().filter(|l| !l.starts_with('#')).count();
    let master = format!(
        "global: {{scrape_interval: 1s}}\nscrape_configs:\n- job_name: federate\n  honor_labels: true\n  metrics_path: /federate\n  params:\n    'match[]': ['{{job=\"diff\"}}']\n  static_configs: [{{targets: ['{}']}}]\n",
        ours.addr
    );
    let Some(prom) = Prometheus::start(&master).await else { return };
    wait_until(WAIT, || async { !prom.query(r#"up{job="federate"}"#).await.is_empty() }).await;
    let up = prom.query(r#"up{job="federate"}"#).await;
    assert_eq!(up[0]["value"][1], "1", "Prometheus scraped our /federate without errors: {:?}", prom.targets().await);
    let scraped = prom.query(r#"scrape_samples_scraped{job="federate"}"#).await;
    assert_eq!(scraped[0]["value"][1].as_str().unwrap().parse::<usize>().unwrap(), served);
    let stored = prom.query(r#"count({job="diff",collector="c1"})"#).await;
    assert_eq!(
        stored[0]["value"][1].as_str().unwrap().parse::<usize>().unwrap(),
        served,
        "every series kept its labels"
    );
}

/// Istio-like pods whose counters and buckets grow exactly linearly with time, exposed
/// with explicit timestamps on a whole-second grid: both servers store the same samples.
fn linear_mesh_body() -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let t_ms = now / 1000 * 1000;
    // Seconds since the first request: small values, so that the differences irate takes
    // are exact to ~1e-15 rather than losing digits to cancellation.
    static ORIGIN: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    let t = (t_ms - *ORIGIN.get_or_init(|| t_ms - 1000)) as f64 / 1000.0;
    let mut out = String::new();
    for pod in 0..6 {
        let src = format!("w{}", pod % 3);
        for (edge, code) in ["200", "503"].iter().enumerate() {
            let dst = format!("w{}", (pod + edge + 1) % 3);
            let rate = 1.0 + pod as f64 * 0.25 + edge as f64 * 0.5;
            let l = format!(
                "reporter=\"source\",source_workload=\"{src}\",source_workload_namespace=\"ns\",destination_service=\"{dst}.ns.svc\",destination_workload=\"{dst}\",destination_workload_namespace=\"ns\",response_code=\"{code}\",response_flags=\"-\",pod_name=\"{src}-{pod}\""
            );
            out += &format!("istio_requests_total{{{l}}} {} {t_ms}\n", rate * t);
            // Shares are kept off 0.5/0.9/0.99: a quantile that lands exactly on a bucket
            // bound is a discontinuity where last-ulp summation differences flip it.
            for (le, share) in [("10", 0.25), ("100", 0.6), ("1000", 0.85), ("+Inf", 1.0)] {
                out += &format!(
                    "istio_request_duration_milliseconds_bucket{{{l},le=\"{le}\"}} {} {t_ms}\n",
                    rate * share * t
                );
            }
        }
    }
    out
}

#[tokio::test]
async fn recording_rules_agree_with_real_prometheus() {
    let t = TestTarget::start("").await;
    t.set_generator(std::sync::Arc::new(linear_mesh_body));
    // The shipped Istio rules, evaluated every second instead of every ten.
    let rules = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../config/rules/istio.rules.yml"))
        .unwrap()
        .replace("interval: 10s", "interval: 1s");
    let cfg = format!(
        "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\nrule_files: [rules.yml]\nscrape_configs:\n  - job_name: mesh\n    static_configs: [{{targets: ['{}']}}]\n",
        t.addr
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rules.yml"), &rules).unwrap();
    let prom_cfg =
        cfg.replace("rule_files: [rules.yml]", &format!("rule_files: ['{}']", dir.path().join("rules.yml").display()));
    let Some(prom) = Prometheus::start(&prom_cfg).await else { return };
    let ours = e2e::Daemon::start_with_files("collector", &cfg, &[("rules.yml", &rules)], &[]).await;
    let selector = r#"{__name__=~"federate:.+"}"#;
    // Wait until both have two scrapes behind every rule (irate needs two samples).
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    let read = |v: Vec<serde_json::Value>| -> BTreeMap<String, f64> {
        v.into_iter()
            .map(|s| (s["metric"].to_string(), s["value"][1].as_str().unwrap().parse::<f64>().unwrap()))
            .collect()
    };
    let ours_query = || async {
        let r =
            reqwest::Client::new().get(ours.url("/api/v1/query")).query(&[("query", selector)]).send().await.unwrap();
        let v: serde_json::Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
        read(v["data"]["result"].as_array().cloned().unwrap_or_default())
    };
    let started = std::time::Instant::now();
    let (theirs, mine) = loop {
        let (theirs, mine) = (read(prom.query(selector).await), ours_query().await);
        if theirs.len() >= 40 && theirs.keys().eq(mine.keys()) {
            break (theirs, mine);
        }
        assert!(started.elapsed() < WAIT, "series differ:\nPrometheus {theirs:?}\nours {mine:?}");
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    };
    for (series, want) in &theirs {
        let got = mine[series];
        let close = (got - want).abs() <= want.abs() * 1e-9 || (got.is_nan() && want.is_nan());
        assert!(close, "{series}: ours {got}, Prometheus {want}");
    }
}

/// Each active target's discovered and final labels, in a comparable order.
fn label_sets(targets: &[serde_json::Value]) -> Vec<(String, String)> {
    let mut sets: Vec<_> =
        targets.iter().map(|t| (t["discoveredLabels"].to_string(), t["labels"].to_string())).collect();
    sets.sort();
    sets
}

#[tokio::test]
async fn http_sd_targets_match_real_prometheus() {
    let (a, b) = (TestTarget::start("m 1\n").await, TestTarget::start("m 2\n").await);
    let sd = TestTarget::start(&format!(
        r#"[{{"targets": ["{}"], "labels": {{"env": "prod", "__metrics_path__": "/metrics"}}}},
            {{"targets": ["{}"], "labels": {{"__meta_team": "core"}}}}, {{"targets": []}}]"#,
        a.addr, b.addr
    ))
    .await;
    sd.set_content_type("application/json; charset=utf-8");
    let cfg = format!(
        "global: {{scrape_interval: 1s}}\nscrape_configs:\n  - job_name: http\n    http_sd_configs: [{{url: 'http://{}/sd', refresh_interval: 1s}}]\n    relabel_configs:\n      - {{source_labels: [__meta_url], regex: 'http://([^/]+)/.*', target_label: sd_host}}\n      - {{source_labels: [__meta_team], target_label: team}}\n",
        sd.addr
    );
    let Some(prom) = Prometheus::start(&cfg).await else { return };
    let ours = collector(&cfg).await;
    wait_until(WAIT, || async { prom.targets().await.len() == 2 }).await;
    let mine = scraped(&ours, "http").await;
    let theirs = prom.targets().await;
    assert_eq!(label_sets(&mine), label_sets(&theirs), "the same targets, discovered and relabelled alike");
    assert!(label_sets(&mine)[0].1.contains("sd_host"), "{mine:?}");
}
