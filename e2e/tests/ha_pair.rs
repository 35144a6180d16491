//! An HA pair of collectors behind one master: both scrape the same mesh with the same
//! rules and differ by their `replica` external label; the master federates both through
//! its HA tracker. Pods are replaced all the time, and replica b starts a churn period
//! after a, so its rolled-up totals lack the pods retired before it started: well below
//! a's, as two real replicas' drift apart. The elected replica (a) is `kill -9`'d for two
//! minutes, then restarted.
//! The master keeps one copy of each series, without the replica label; its rolled-up
//! request counter never resets, and its `increase()` over the whole run counts exactly
//! (within 1%) what the mesh served; alerts from both replicas reach Alertmanager as one.

use e2e::alertmanager::Alertmanager;
use e2e::rates::{self, near};
use e2e::small_mesh::{COUNTER, INTERVAL, MESH, PAIRS, WAIT, now};
use e2e::workload::Churn;
use e2e::{Daemon, Workload, shipped, wait_until};
use std::time::Duration;

/// One replica: the shipped rules and rollup (every 4 s, as in the reference test), the
/// pair's labels, and alerts sent without the replica label, as Prometheus HA pairs do.
async fn collector(w: &Workload, replica: &str, am: Option<&Alertmanager>) -> Daemon {
    let mut extra = String::new();
    if let Some(am) = am {
        extra += &format!(
            "\nalerting:\n  alert_relabel_configs: [{{action: labeldrop, regex: replica}}]\n  alertmanagers:\n    - static_configs: [{{targets: ['{}']}}]\n",
            am.addr
        );
    }
    let mut files = e2e::small_mesh::rule_files();
    files.push(("alerts.rules.yml", shipped::alert_rules(INTERVAL, "10s", "4s")));
    let files: Vec<(&str, &str)> = files.iter().map(|(n, t)| (*n, t.as_str())).collect();
    let cfg = e2e::small_mesh::collector_config(w, &format!("cluster: mesh, replica: {replica}"), &extra);
    Daemon::start_with_files("collector", &cfg, &files, &["--rules.alert.resend-delay=1s"]).await
}

/// The shipped master config over both replicas, with the HA tracker on and `instance`
/// (each collector's address, which the aggregates would otherwise differ by) dropped.
fn master_config(a: &Daemon, b: &Daemon) -> String {
    let both = format!("{}', '{}", a.addr, b.addr);
    let cfg = shipped::master_config(both, "4s");
    let drop_instance = "    metric_relabel_configs:\n      - {action: labeldrop, regex: instance}\n";
    let cfg = cfg.replacen("    metric_relabel_configs:\n", drop_instance, 1);
    cfg + "\nha_tracker: {replica_label: replica, failover_timeout: 10s}\n"
}

/// The replica the master has elected, from its metrics.
async fn elected(master: &Daemon) -> Option<String> {
    let (_, metrics) = master.get("/metrics").await;
    let line = metrics.lines().find(|l| l.starts_with("cardinal_ha_tracker_elected_replica{cluster=\"mesh\""))?;
    Some(line.split("replica=\"").nth(1)?.split('"').next()?.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ha_pair_loses_a_replica_for_two_minutes_without_a_gap_a_reset_or_a_copy() {
    let am = Alertmanager::start().await;
    let churn = Churn { period: Duration::from_secs(20), grace: Duration::from_secs(15) };
    let workload = Workload::start_churning(MESH, Some(churn), "127.0.0.1:0").await.unwrap();
    let a = collector(&workload, "a", am.as_ref()).await;
    // b's address is reserved now, so the master's config can name it; b starts later.
    let mut b = collector(&workload, "b", am.as_ref()).await;
    b.kill9();
    let master = Daemon::start("master", &master_config(&a, &b), &[]).await;
    let complete = || async { master.scalar(&format!("count({COUNTER})")).await == Some(PAIRS as f64) };
    wait_until(WAIT, complete).await;
    tokio::time::sleep(Duration::from_secs(25)).await;
    b.restart().await;
    // From the first window written after b's rollup had seen every pod once.
    let from = now() + 12.0;
    wait_until(WAIT, || async { rates::newest(&master, COUNTER).await > from + 16.0 }).await;
    assert_eq!(elected(&master).await.as_deref(), Some("a"), "the first replica seen");
    let stored = master.scalar("sum(istio_requests_total)").await.unwrap();
    let standby = b.scalar("sum(federate:istio_requests_total)").await.unwrap();
    println!("a's rolled-up total {stored}, b's {standby}");
    assert!(standby < stored * 0.9, "b's totals lack the pods retired before it started");

    let mut a = a;
    a.kill9();
    tokio::time::sleep(Duration::from_secs(120)).await;
    a.restart().await;
    let restarted = now();
    wait_until(WAIT, || async { rates::newest(&master, COUNTER).await > restarted + 20.0 }).await;

    assert_eq!(elected(&master).await.as_deref(), Some("b"), "the survivor took over");
    assert_eq!(master.scalar(&format!("count({COUNTER})")).await, Some(PAIRS as f64), "one copy per series");
    let with_replica = master.scalar("count({__name__=~\"istio.+\", replica!=\"\"})").await;
    assert_eq!(with_replica, None, "no series keeps the replica label");

    // The rolled-up counter from `from` to its newest shared instant, against what the
    // survivor scraped of the inputs over the same span.
    let (rolled_up, t1, t2) = rates::counter_rate(&master, COUNTER, PAIRS, from).await;
    let survivor = &b;
    let selector = format!("{COUNTER}{{reporter=\"source\"}}");
    let scraped = rates::scraped_rate(&[survivor], &selector, None, t1, t2).await;
    near("the rolled-up rate across the fail-over, against the survivor's inputs", rolled_up, scraped, 0.01);
    // `increase()` over the same span (starting a millisecond before its first sample, so
    // that it extrapolates by nothing), against the mesh's count.
    let range = format!("{}ms", t2 - t1 + 1);
    let at = Some(t2 as f64 / 1000.0);
    let increase = master.scalar_at(&format!("sum(increase({COUNTER}[{range}]))"), at).await.unwrap();
    near("increase() over the run", increase, scraped * (t2 - t1) as f64 / 1000.0, 0.01);
    let timing = 2.5 / ((t2 - t1) as f64 / 1000.0);
    near("against the mesh's request rate", rolled_up, MESH.total_request_rate(), timing.max(0.01));
    let resets = master.scalar_at(&format!("sum(resets({COUNTER}[{range}]))"), at).await;
    assert_eq!(resets, Some(0.0), "no rolled-up series reset");

    let (_, metrics) = master.get("/metrics").await;
    assert!(metrics.contains("cardinal_ha_tracker_elected_replica_changes_total{cluster=\"mesh\"} 2"), "{metrics}");
    if let Some(am) = &am {
        alerts_arrive_once(am, survivor).await;
    }
}

/// Every alert the survivor fires is in Alertmanager once, without the replica label.
async fn alerts_arrive_once(am: &Alertmanager, survivor: &Daemon) {
    let firing = survivor.scalar("count(ALERTS{alertstate=\"firing\"})").await.unwrap_or(0.0) as usize;
    assert!(firing > 0, "the mesh's failing workloads fire");
    wait_until(WAIT, || async { am.alerts().await.len() >= firing }).await;
    let alerts = am.alerts().await;
    assert!(alerts.iter().all(|a| a["labels"].get("replica").is_none()), "{alerts:?}");
    let names: Vec<&str> = alerts.iter().filter_map(|a| a["labels"]["alertname"].as_str()).collect();
    let errors = names.iter().filter(|n| **n == "WorkloadErrorRateHigh").count();
    let fired = survivor.scalar("count(ALERTS{alertname=\"WorkloadErrorRateHigh\",alertstate=\"firing\"})").await;
    assert_eq!(Some(errors as f64), fired, "one alert per workload from two replicas: {names:?}");
}
