//! Rules read what queries read. On the master the head is cut into blocks once it spans
//! about three hours; a recording or alerting rule over a longer window must see the
//! blocks, as `/api/v1/query` of the same expression at the same time does. (Rules once
//! read the head alone: this rule recorded a quarter of the samples and the alert never
//! fired.)

use cardinal_model::{Labels, now_ms};
use cardinal_tsdb::{Db, DbOptions};
use e2e::Daemon;
use std::time::Duration;

const RULES: &str = "groups:
  - name: long-windows
    interval: 1s
    rules:
      - record: x_samples_10h
        expr: sum(count_over_time(x[10h]))
      - alert: XHasHistory
        expr: sum(count_over_time(x[10h])) > 2000
";

/// Five series, a sample a minute for the last 10 hours, stored as the master keeps them:
/// compacted into blocks but for the newest few hours.
fn write_history(data: &std::path::Path, now: i64) {
    let db = Db::open(data, DbOptions { compaction: true, ..DbOptions::default() }).expect("open the master's storage");
    let series: Vec<_> = (0..5)
        .map(|i| db.head.get_or_create(&Labels::from_pairs([("__name__", "x"), ("i", &i.to_string())])).0)
        .collect();
    for m in (0..600).rev() {
        let mut app = db.head.appender();
        for s in &series {
            app.append(s, now - m * 60_000, 1.0).expect("append");
        }
        app.commit();
    }
    db.maintain(now).expect("compaction");
    assert!(!db.blocks().is_empty(), "the head was cut into blocks");
    db.wal().flush().expect("wal");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_over_a_window_reaching_into_the_blocks_agree_with_the_query_api() {
    let config = "global: {evaluation_interval: 1s}\nrule_files: [rules.yml]\n";
    let mut master = Daemon::start_with_files("master", config, &[("rules.yml", RULES)], &[]).await;
    master.kill9();
    write_history(&master.dir.path().join("data"), now_ms());
    master.restart().await;

    // A rule evaluation after the restart (the first few seconds' evaluations, before
    // the data was there, recorded nothing: a sum over no series is empty).
    let recorded = || async { master.query("x_samples_10h[1m]").await };
    e2e::wait_until(Duration::from_secs(30), || async { !recorded().await.is_empty() }).await;
    let samples = recorded().await;
    let last = samples[0]["values"].as_array().and_then(|v| v.last()).cloned().expect("a recorded sample");
    let (t, v) = (last[0].as_f64().unwrap(), last[1].as_str().unwrap().parse::<f64>().unwrap());
    let queried = master.scalar_at("sum(count_over_time(x[10h]))", Some(t)).await.expect("the query's value");
    assert!(queried > 2_900.0, "the query sees all 10 hours: {queried}");
    assert_eq!(v, queried, "the rule recorded at {t} what the query API answers at {t}");

    // Written by the same evaluation, after the recording rule's sample.
    let firing = || async { master.query("ALERTS{alertname=\"XHasHistory\", alertstate=\"firing\"}").await.len() };
    e2e::wait_until(Duration::from_secs(10), || async { firing().await == 1 }).await;
}
