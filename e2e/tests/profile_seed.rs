//! The seed example of metrics from profiles, end to end: six profiles posted to the
//! collector's `/ingest` (one `memory:alloc_space`, five cpu; labels service_name, job,
//! region; totals 10, 20, 1, 30, 40, 100), the shipped rule (T = cpu, F =
//! {service_name="worker", job="batch_compress"}, E = region) records exactly eu = 120,
//! ap = 30, us = 40, and the master sees the same through `/federate` with the shipped
//! master config.

use cardinal_profiles::synthetic::single_sample;
use e2e::{Daemon, shipped, wait_until};
use prost::Message;
use std::collections::BTreeMap;
use std::time::Duration;

/// The newest value per `region` of what `expr` selects, with each series' labels.
async fn by_region(d: &Daemon, expr: &str) -> BTreeMap<String, (serde_json::Value, f64)> {
    let mut out = BTreeMap::new();
    for s in d.query(expr).await {
        let region = s["metric"]["region"].as_str().unwrap().to_string();
        let v = s["value"][1].as_str().unwrap().parse().unwrap();
        out.insert(region, (s["metric"].clone(), v));
    }
    out
}

#[tokio::test]
async fn six_profiles_become_eu_120_ap_30_us_40_on_the_master() {
    let cfg =
        format!("global: {{external_labels: {{collector: c1}}}}\n{}\n", shipped::collector_block("profile_rules"));
    let collector = Daemon::start("collector", &cfg, &[]).await;
    let master = Daemon::start("master", &shipped::master_config(collector.addr, "1s"), &[]).await;

    let now = cardinal_model::now_ms() / 1000;
    let profiles = [
        ("worker.alloc_space{job=batch_compress,region=eu}", "alloc_space", 10),
        ("worker.cpu{job=batch_compress,region=eu}", "cpu", 20),
        ("API.cpu{region=eu}", "cpu", 1),
        ("worker.cpu{job=batch_compress,region=ap}", "cpu", 30),
        ("worker.cpu{job=batch_compress,region=us}", "cpu", 40),
        ("worker.cpu{job=batch_compress,region=eu}", "cpu", 100),
    ];
    let client = reqwest::Client::new();
    for (i, (name, kind, total)) in profiles.into_iter().enumerate() {
        let until = (now - 10 + i as i64).to_string();
        let from = (now - 20 + i as i64).to_string();
        let r = client
            .post(collector.url("/ingest"))
            .query(&[("name", name), ("from", &from), ("until", &until), ("format", "pprof")])
            .body(single_sample(kind, total).encode_to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "profile {}: {}", i + 1, r.text().await.unwrap());
    }

    let want = [("ap", 30.0), ("eu", 120.0), ("us", 40.0)];
    let on_collector = by_region(&collector, "{__name__=~\"federate:.+\"}").await;
    assert_eq!(on_collector.keys().collect::<Vec<_>>(), ["ap", "eu", "us"]);
    for (region, v) in want {
        let (labels, got) = &on_collector[region];
        assert_eq!(*got, v, "{region}");
        let expected = serde_json::json!({"__name__": "federate:cpu_usage_compress_workers",
            "service_name": "worker", "job": "batch_compress", "region": region});
        assert_eq!(labels, &expected);
    }

    wait_until(Duration::from_secs(20), || async { master.query("cpu_usage_compress_workers").await.len() == 3 }).await;
    let on_master = by_region(&master, "cpu_usage_compress_workers").await;
    for (region, v) in want {
        let (labels, got) = &on_master[region];
        assert_eq!(*got, v, "{region}");
        let expected = serde_json::json!({"__name__": "cpu_usage_compress_workers", "collector": "c1",
            "service_name": "worker", "job": "batch_compress", "region": region});
        assert_eq!(labels, &expected);
    }
}
