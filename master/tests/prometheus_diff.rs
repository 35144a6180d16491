//! The master beside a real Prometheus 2.42 (skipped, saying why, when not installed):
//! it federates Prometheus's `/federate`, and Prometheus remote-writes into it. Every
//! sample must land, checked through our query API.

use e2e::prometheus::{Prometheus, raw_samples};
use e2e::{Daemon, TestTarget, wait_until};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);
const BODY: &str = "# TYPE demo_total counter\ndemo_total{path=\"/a\"} 1027\ndemo_total{path=\"/b\"} 3\n\
lat_bucket{le=\"0.1\"} 2\nlat_bucket{le=\"+Inf\"} 7\ngauge_value -1.5e-7\n";

fn now_secs() -> f64 {
    cardinal_model::now_ms() as f64 / 1000.0
}

/// Serves a body whose values change at every scrape.
async fn changing_target() -> TestTarget {
    let t = TestTarget::start(BODY).await;
    let n = std::sync::atomic::AtomicU64::new(0);
    t.set_generator(std::sync::Arc::new(move || {
        let i = n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        BODY.replace("1027", &(1027 + i * 3).to_string()).replace("-1.5e-7", &format!("{}", i as f64 * 0.1))
    }));
    t
}

#[tokio::test]
async fn the_master_federates_a_real_prometheus() {
    let t = changing_target().await;
    let prom_cfg = format!(
        "global: {{scrape_interval: 1s}}\nscrape_configs:\n- job_name: app\n  static_configs: [{{targets: ['{}']}}]\n",
        t.addr
    );
    let Some(prom) = Prometheus::start(&prom_cfg).await else { return };
    let master_cfg = format!(
        "global: {{scrape_interval: 1s}}\nscrape_configs:\n  - job_name: federate\n    honor_labels: true\n    metrics_path: /federate\n    params: {{'match[]': ['{{job=\"app\"}}']}}\n    static_configs: [{{targets: ['{}']}}]\n",
        prom.addr
    );
    let master = Daemon::start("master", &master_cfg, &[]).await;
    wait_until(WAIT, || async { master.query("count_over_time(demo_total[1m]) > 4").await.len() == 2 }).await;
    let at = now_secs();
    let theirs = raw_samples(&prom.url(""), "{job=\"app\"}[1m]", at, &[]).await;
    let mine = raw_samples(&master.url(""), "{job=\"app\"}[1m]", at, &[]).await;
    assert!(mine.len() >= 5 * 5, "{} samples on the master", mine.len());
    for (key, v) in &mine {
        assert_eq!(theirs.get(key), Some(v), "{key:?} is Prometheus's sample exactly");
    }
}

#[tokio::test]
async fn a_real_prometheus_remote_writes_into_the_master() {
    let master =
        Daemon::start("master", "global: {scrape_interval: 15s}\n", &["--web.enable-remote-write-receiver"]).await;
    let t = changing_target().await;
    let prom_cfg = format!(
        "global: {{scrape_interval: 1s}}\nscrape_configs:\n- job_name: app\n  static_configs: [{{targets: ['{}']}}]\n\
         remote_write:\n- url: {}\n  queue_config: {{batch_send_deadline: 500ms}}\n",
        t.addr,
        master.url("/api/v1/write")
    );
    let Some(prom) = Prometheus::start(&prom_cfg).await else { return };
    wait_until(WAIT, || async { master.query("count_over_time(demo_total[1m]) > 4").await.len() == 2 }).await;
    // Everything Prometheus stored up to a few seconds ago must have arrived.
    let at = now_secs() - 3.0;
    wait_until(WAIT, || async { !master.query(&format!("up @ {:.3}", at + 2.0)).await.is_empty() }).await;
    let theirs = raw_samples(&prom.url(""), "{job=\"app\"}[1m]", at, &[]).await;
    let mine = raw_samples(&master.url(""), "{job=\"app\"}[1m]", at, &[]).await;
    assert!(theirs.len() >= 3 * 5, "{} samples in Prometheus", theirs.len());
    let missing: Vec<_> = theirs.iter().filter(|(k, v)| mine.get(*k) != Some(*v)).collect();
    assert!(
        missing.is_empty(),
        "{} of {} samples did not land: {:?}",
        missing.len(),
        theirs.len(),
        &missing[..missing.len().min(3)]
    );
}
