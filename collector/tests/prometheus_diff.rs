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
