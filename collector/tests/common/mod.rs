//! Helpers for the collector's integration tests.
#![allow(dead_code)] // each test file uses a different subset

use e2e::{Daemon, TestTarget, wait_until};
use serde_json::Value;
use std::time::Duration;

pub const WAIT: Duration = Duration::from_secs(15);

pub async fn collector(config: &str) -> Daemon {
    Daemon::start("collector", config, &[]).await
}

/// A one-job config scraping `targets` every second.
pub fn job(name: &str, targets: &[&TestTarget], extra: &str) -> String {
    let addrs: Vec<String> = targets.iter().map(|t| format!("'{}'", t.addr)).collect();
    format!("  - job_name: {name}\n    static_configs: [{{targets: [{}]}}]\n{extra}", addrs.join(", "))
}

pub fn config(global_extra: &str, jobs: &[String]) -> String {
    format!("global:\n  scrape_interval: 1s\n{global_extra}scrape_configs:\n{}", jobs.concat())
}

pub async fn targets(d: &Daemon) -> Vec<Value> {
    let (_, body) = d.get("/api/v1/targets").await;
    let v: Value = serde_json::from_str(&body).expect("targets JSON");
    v["data"]["activeTargets"].as_array().cloned().unwrap_or_default()
}

/// Waits until every active target of `job` has been scraped, then returns them.
pub async fn scraped(d: &Daemon, job: &str) -> Vec<Value> {
    wait_until(WAIT, || async {
        let t = targets(d).await;
        let mine: Vec<_> = t.iter().filter(|t| t["scrapePool"] == job).collect();
        !mine.is_empty() && mine.iter().all(|t| t["health"] != "unknown")
    })
    .await;
    targets(d).await.into_iter().filter(|t| t["scrapePool"] == job).collect()
}

/// Waits until the job's targets report `health` with a lastError containing `err`.
pub async fn wait_health(d: &Daemon, job: &str, health: &str, err: &str) -> Value {
    let start = std::time::Instant::now();
    loop {
        let all = targets(d).await;
        let mine: Vec<Value> = all.into_iter().filter(|t| t["scrapePool"] == job).collect();
        if let Some(t) =
            mine.iter().find(|t| t["health"] == health && t["lastError"].as_str().unwrap_or("").contains(err))
        {
            return t.clone();
        }
        let states: Vec<String> = mine.iter().map(|t| format!("{} {}", t["health"], t["lastError"])).collect();
        assert!(start.elapsed() < WAIT, "job {job}: wanted {health} with {err:?}, have {states:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Sample lines of a federate body with their timestamps cut off.
pub fn without_timestamps(text: &str) -> String {
    text.lines()
        .map(|l| if l.starts_with('#') { l.to_string() } else { l.rsplit_once(' ').map_or(l, |(a, _)| a).to_string() })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The timestamp of each sample line.
pub fn timestamps(text: &str) -> Vec<i64> {
    text.lines().filter(|l| !l.starts_with('#')).filter_map(|l| l.rsplit(' ').next()?.parse().ok()).collect()
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}
