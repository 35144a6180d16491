//! No gap after a partition: the collector remote-writes its `federate:` outputs to the
//! master (the lossless alternative to federation, docs/ha.md), tailing its WAL. The link
//! between them is cut for a while; the master, cutting its head into one-minute blocks,
//! moves its head past the cut's start meanwhile, so once the link is back the backlog is
//! older than its newest block: the master keeps it beside the blocks (late samples).
//! Every point the collector's rollup wrote is on the master exactly once — none skipped,
//! as federation's newest-point scrapes skip one now and then — before and after the
//! master is killed and restarted, so `increase()` over the cut-off window is exact. The
//! master remote-writes onward to a real VictoriaMetrics, which gets the backfill too.
//!
//! The cut lasts two and a half minutes here; `CARDINAL_E2E_LONG=1` cuts for the 10.

use e2e::istio::EDGES;
use e2e::link::Link;
use e2e::prometheus::raw_samples;
use e2e::rates::{self, near};
use e2e::small_mesh::{COUNTER, MESH, PAIRS, WAIT, now};
use e2e::victoria_metrics::VictoriaMetrics;
use e2e::{Daemon, Workload, wait_until};
use std::time::Duration;

/// The collector remote-writing its outputs (renamed as the master's federation job
/// would) to the master through `link`.
fn collector_config(w: &Workload, link: &Link) -> String {
    let extra = format!(
        "\nremote_write:\n  - url: http://{}/api/v1/write\n    queue_config: {{batch_send_deadline: 1s, max_backoff: 1s}}\n    write_relabel_configs:\n      - {{source_labels: [__name__], regex: 'federate:.+', action: keep}}\n      - {{source_labels: [__name__], regex: 'federate:(.+)', target_label: __name__}}\n",
        link.addr
    );
    e2e::small_mesh::collector_config(w, "collector: c1", &extra)
}

/// A rule the master evaluates every 4 s, so its head moves on while the link is cut.
const HEARTBEAT: &str = "groups:\n  - name: heartbeat\n    rules:\n      - {record: heartbeat, expr: vector(1)}\n";

/// Samples the master kept beside its blocks, from its metrics.
async fn late_samples(master: &Daemon) -> f64 {
    let (_, metrics) = master.get("/metrics").await;
    let line = metrics.lines().find_map(|l| l.strip_prefix("cardinal_late_samples_appended_total "));
    line.and_then(|v| v.parse().ok()).unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_master_cut_off_for_minutes_gets_every_point_once_the_link_is_back() {
    let long = std::env::var("CARDINAL_E2E_LONG").is_ok_and(|v| v == "1");
    let cut = Duration::from_secs(if long { 600 } else { 150 });
    let workload = Workload::start(MESH, "127.0.0.1:0").await.unwrap();
    let Some(vm) = VictoriaMetrics::start().await else { return };
    let config = format!(
        "global: {{scrape_interval: 4s, evaluation_interval: 4s}}\nrule_files: [heartbeat.rules.yml]\n\
         remote_write:\n  - url: {}\n    queue_config: {{batch_send_deadline: 1s, max_backoff: 1s}}\n",
        vm.write_url()
    );
    let flags = ["--web.enable-remote-write-receiver", "--storage.tsdb.min-block-duration=1m"];
    let mut master = Daemon::start_with_files("master", &config, &[("heartbeat.rules.yml", HEARTBEAT)], &flags).await;
    let link = Link::to(master.addr).await;
    let files = e2e::small_mesh::rule_files();
    let files: Vec<(&str, &str)> = files.iter().map(|(n, t)| (*n, t.as_str())).collect();
    let collector = Daemon::start_with_files("collector", &collector_config(&workload, &link), &files, &[]).await;
    wait_until(WAIT, || async { master.scalar(&format!("count({COUNTER})")).await == Some(PAIRS as f64) }).await;
    let from = now() + 8.0;
    wait_until(WAIT, || async { rates::newest(&master, COUNTER).await > from + 16.0 }).await;

    link.cut();
    println!("master cut off for {cut:?}");
    tokio::time::sleep(cut).await;
    link.mend();
    let back = now();
    wait_until(WAIT, || async { rates::newest(&master, COUNTER).await > back + 8.0 }).await;
    let late = late_samples(&master).await;
    println!("{late} samples of the backlog were older than the master's newest block");
    assert!(
        late >= PAIRS as f64,
        "the backlog reached back past the master's newest block (its head moved on during the cut)"
    );

    check_every_point(&master, &collector, from).await;
    check_onward(&master, &vm, from).await;
    // Kept for good: the late samples' WAL replayed (and written out as blocks) at a restart.
    master.kill9();
    master.restart().await;
    check_every_point(&master, &collector, from).await;
}

/// Every point the master holds from `from` on, backfill included, reached the store
/// behind it once: its remote_write sends late samples too. (Values compared to 1e-12:
/// VictoriaMetrics keeps floats as decimals.)
async fn check_onward(master: &Daemon, vm: &VictoriaMetrics, from: f64) {
    let end = rates::newest(master, COUNTER).await;
    let span = (end - from).ceil() as u64;
    let stored = raw_samples(&master.url(""), &format!("{COUNTER}[{span}s]"), end, &["__name__", "collector"]).await;
    let mut want: Vec<(i64, f64)> = stored.iter().map(|((_, t), bits)| (*t, f64::from_bits(*bits))).collect();
    want.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
    let (lo, hi) = (((end - span as f64) * 1000.0) as i64, (end * 1000.0) as i64);
    let window = |mut points: Vec<(i64, f64)>| {
        points.retain(|(t, _)| *t > lo && *t <= hi);
        points.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
        points
    };
    let selector = format!("{{__name__=\"{COUNTER}\"}}");
    wait_until(WAIT, || async { window(vm.export(&selector).await).len() >= want.len() }).await;
    let got = window(vm.export(&selector).await);
    assert_eq!(got.len(), want.len(), "VictoriaMetrics holds each of the master's points once");
    for (g, w) in got.iter().zip(&want) {
        assert!(g.0 == w.0 && (g.1 - w.1).abs() <= 1e-12 * w.1.abs().max(1.0), "{g:?} against the master's {w:?}");
    }
}

/// Every output point from `from` to the master's newest, on both sides, bit for bit, and
/// `increase()` over the window exact.
async fn check_every_point(master: &Daemon, collector: &Daemon, from: f64) {
    // Every output point, from before the cut to after it, on both sides, bit for bit.
    let end = rates::newest(master, COUNTER).await;
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
        &[collector],
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
