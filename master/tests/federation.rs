//! The two tiers end to end: a synthetic mesh scraped by a collector running the shipped
//! Istio rules, and a master federating the collector with the shipped master config.

use e2e::istio::Mesh;
use e2e::prometheus::raw_samples;
use e2e::{Daemon, Workload, shipped, wait_until};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(30);

async fn two_tiers(mesh: Mesh) -> (Workload, Daemon, Daemon) {
    let w = Workload::start(mesh, "127.0.0.1:0").await.unwrap();
    let cfg = shipped::collector_config(&w, "1s", "");
    let rules = shipped::istio_rules("1s", "5s");
    let collector = Daemon::start_with_files("collector", &cfg, &[("istio.rules.yml", &rules)], &[]).await;
    let master = Daemon::start("master", &shipped::master_config(collector.addr, "1s"), &[]).await;
    (w, collector, master)
}

#[tokio::test]
async fn the_master_holds_exactly_the_collectors_rollups_and_vanished_ones_go_stale_at_once() {
    let (w, collector, master) = two_tiers(Mesh { pods: 12, workloads: 4 }).await;
    let series = "istio_requests_total:rate1m";
    wait_until(WAIT, || async { master.query(&format!("count({series}) >= 28")).await.len() == 1 }).await;
    tokio::time::sleep(Duration::from_secs(3)).await;

    // Every sample the master stored is one the collector recorded: same labels (prefix
    // stripped, collector's external label added), same timestamp, same value, bit for bit.
    // (The master adds its job label, as honor_labels does for labels the source lacks.)
    let at = cardinal_model::now_ms() as f64 / 1000.0;
    let theirs = raw_samples(&collector.url(""), &format!("federate:{series}[20s]"), at, &["__name__"]).await;
    let selector = format!("{series}{{collector=\"c1\",job=\"federate\"}}[20s]");
    let mine = raw_samples(&master.url(""), &selector, at, &["__name__", "collector", "job"]).await;
    assert!(mine.len() >= 28 * 2, "the master holds {} samples", mine.len());
    for ((labels, t), v) in &mine {
        let want = theirs.get(&(labels.clone(), *t));
        assert_eq!(want, Some(v), "{labels} at {t}: master {}, collector {want:?}", f64::from_bits(*v));
    }
    let names = master.query("count by (__name__) ({__name__=~\"istio.*\"})").await;
    let names: Vec<&str> = names.iter().map(|s| s["metric"]["__name__"].as_str().unwrap()).collect();
    assert!(names.contains(&"istio_request_duration_milliseconds:p90"), "{names:?}");
    assert!(master.query("{__name__=~\"federate:.+\"}").await.is_empty(), "the prefix is stripped");

    // A workload disappears: once its rollups leave the collector's /federate, the master
    // marks them stale at its next scrape instead of serving them for 5 more minutes.
    let gone = r#"istio_requests_total:rate1m{source_workload="workload-1"}"#;
    assert!(!master.query(gone).await.is_empty());
    w.retire_workload(1);
    wait_until(WAIT, || async {
        let text = collector.federate(&["{__name__=~\"federate:.+\"}"]).await;
        !text.contains("source_workload=\"workload-1\"")
    })
    .await;
    let vanished_upstream = Instant::now();
    wait_until(WAIT, || async { master.query(gone).await.is_empty() }).await;
    let lag = vanished_upstream.elapsed();
    assert!(lag < Duration::from_secs(5), "stale on the master {lag:?} after leaving /federate (scrape interval 1s)");
    assert!(!master.query(r#"istio_requests_total:rate1m{source_workload="workload-2"}"#).await.is_empty());
}

#[tokio::test]
async fn a_collector_that_is_down_is_up_0_on_the_master_not_a_crash() {
    let (_w, mut collector, master) = two_tiers(Mesh { pods: 4, workloads: 2 }).await;
    wait_until(WAIT, || async { master.query("up{job=\"federate\"} == 1").await.len() == 1 }).await;
    collector.kill9();
    wait_until(WAIT, || async { master.query("up{job=\"federate\"} == 0").await.len() == 1 }).await;
    let (_, targets) = master.get("/api/v1/targets").await;
    assert!(targets.contains("\"health\":\"down\""), "{targets}");
    assert!(targets.contains("connect") || targets.contains("refused"), "the reason is shown: {targets}");
}
