//! The master writing onward to a real VictoriaMetrics single-node (Debian's
//! `victoria-metrics`): every sample arrives once, and an outage of it loses nothing, not
//! even with the master `kill -9`'d and restarted in the middle of it. The outage lasts
//! seconds here; `CARDINAL_E2E_LONG=1` makes it the issue's five minutes.

mod common;

use e2e::victoria_metrics::VictoriaMetrics;
use e2e::{Daemon, wait_until};
use std::time::Duration;

/// Pushes the samples `range` of `series`: from `from` (ms), one second apart, each
/// valued its index.
async fn push(d: &Daemon, series: &str, from: i64, range: std::ops::Range<i64>) {
    let samples: Vec<(i64, f64)> = range.map(|i| (from + i * 1000, i as f64)).collect();
    common::push_samples(d, series, &samples).await;
}

fn config(vm: &VictoriaMetrics) -> String {
    format!(
        "global: {{external_labels: {{replica: a}}}}\nremote_write:\n  - url: {}\n    queue_config: {{batch_send_deadline: 200ms, min_backoff: 50ms, max_backoff: 1s}}\n",
        vm.write_url()
    )
}

#[tokio::test]
async fn every_sample_reaches_victoriametrics_once_through_an_outage_and_a_restart() {
    let long = std::env::var("CARDINAL_E2E_LONG").is_ok_and(|v| v == "1");
    let half_outage = Duration::from_secs(if long { 150 } else { 2 });
    let Some(mut vm) = VictoriaMetrics::start().await else { return };
    let mut master = Daemon::start("master", &config(&vm), &["--web.enable-remote-write-receiver"]).await;
    let from = cardinal_model::now_ms() - 600_000;
    let selector = r#"{__name__="onward",replica="a"}"#;
    let want = |n: i64| (0..n).map(|i| (from + i * 1000, i as f64)).collect::<Vec<_>>();
    push(&master, "onward", from, 0..100).await;
    wait_until(Duration::from_secs(30), || async { vm.export(selector).await.len() >= 100 }).await;
    assert_eq!(vm.export(selector).await, want(100), "every sample, with the external label");

    // VictoriaMetrics goes away; the master takes more, is killed and restarted in the
    // middle, and takes more again. Then VictoriaMetrics comes back.
    vm.stop();
    push(&master, "onward", from, 100..200).await;
    tokio::time::sleep(half_outage).await;
    master.kill9();
    master.restart().await;
    push(&master, "onward", from, 200..300).await;
    tokio::time::sleep(half_outage + Duration::from_secs(1)).await;
    vm.restart().await;
    wait_until(Duration::from_secs(60), || async { vm.export(selector).await.len() >= 300 }).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(vm.export(selector).await, want(300), "nothing lost, nothing twice");
}
