//! No gap after a partition: the collector remote-writes its `federate:` outputs to the
//! master (the lossless alternative to federation, docs/ha.md), tailing its WAL. The master
//! is cut off (stopped) for a while; once it is back the collector's sender delivers the
//! backlog, older samples the master's head takes in order. Every point the collector's
//! rollup wrote is on the master exactly once — none skipped, as federation's newest-point
//! scrapes skip one now and then — so `increase()` over the cut-off window is exact.
//!
//! The cut lasts a minute here; `CARDINAL_E2E_LONG=1` cuts for the 10.

use e2e::istio::EDGES;
use e2e::prometheus::raw_samples;
use e2e::rates::{self, near};
use e2e::small_mesh::{COUNTER, MESH, PAIRS, WAIT, now};
use e2e::{Daemon, Workload, wait_until};
use std::time::Duration;

/// The collector remote-writing its outputs (renamed as the master's federation job
/// would) to `master`.
fn collector_config(w: &Workload, master: &Daemon) -> String {
    let extra = format!(
        "\nremote_write:\n  - url: http://{}/api/v1/write\n    queue_config: {{batch_send_deadline: 1s, max_backoff: 1s}}\n    write_relabel_configs:\n      - {{source_labels: [__name__], regex: 'federate:.+', action: keep}}\n      - {{source_labels: [__name__], regex: 'federate:(.+)', target_label: __name__}}\n",
        master.addr
    );
    e2e::small_mesh::collector_config(w, "collector: c1", &extra)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_master_cut_off_for_minutes_gets_every_point_once_the_link_is_back() {
    let long = std::env::var("CARDINAL_E2E_LONG").is_ok_and(|v| v == "1");
    let cut = Duration::from_secs(if long { 600 } else { 60 });
    let workload = Workload::start(MESH, "127.0.0.1:0").await.unwrap();
    let mut master =
        Daemon::start("master", "global: {scrape_interval: 4s}\n", &["--web.enable-remote-write-receiver"]).await;
    let files = e2e::small_mesh::rule_files();
    let files: Vec<(&str, &str)> = files.iter().map(|(n, t)| (*n, t.as_str())).collect();
    let collector = Daemon::start_with_files("collector", &collector_config(&workload, &master), &files, &[]).await;
    wait_until(WAIT, || async { master.scalar(&format!("count({COUNTER})")).await == Some(PAIRS as f64) }).await;
    let from = now() + 8.0;
    wait_until(WAIT, || async { rates::newest(&master, COUNTER).await > from + 16.0 }).await;

    master.kill9();
    println!("master cut off for {cut:?}");
    tokio::time::sleep(cut).await;
    master.restart().await;
    let back = now();
    wait_until(WAIT, || async { rates::newest(&master, COUNTER).await > back + 8.0 }).await;

    // Every output point, from before the cut to after it, on both sides, bit for bit.
    let end = rates::newest(&master, COUNTER).await;
    let span = (end - from).ceil() as u64;
    let written = raw_samples(&collector.url(""), &format!("federate:{COUNTER}[{span}s]"), end, &["__name__"]).await;
    let stored = raw_samples(&master.url(""), &format!("{COUNTER}[{span}s]"), end, &["__name__", "collector"]).await;
    assert!(written.len() > PAIRS * (span as usize / 4) / 2, "{} points written", written.len());
    let missing: Vec<_> = written.keys().filter(|k| !stored.contains_key(*k)).take(3).collect();
    assert!(
        missing.is_empty(),
        "{} of {} points missing, e.g. {missing:?}",
        written.len() - stored.len(),
        written.len()
    );
    assert_eq!(written, stored, "every point once, the same values");

    // `increase()` over the cut-off window, against what the collector scraped.
    let t1 = ((from + 4.0) * 1000.0) as i64 / 4000 * 4000;
    let t2 = (end * 1000.0) as i64;
    let scraped = rates::scraped_rate(
        &[&collector],
        &format!("{COUNTER}{{reporter=\"source\"}}"),
        Some(MESH.pods * EDGES),
        t1,
        t2,
    )
    .await;
    let range = format!("{}ms", t2 - t1 + 1);
    let increase = master.scalar_at(&format!("sum(increase({COUNTER}[{range}]))"), Some(end)).await.unwrap();
    near("increase() across the cut", increase, scraped * (t2 - t1) as f64 / 1000.0, 0.01);
}
