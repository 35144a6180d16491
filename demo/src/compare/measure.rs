//! The figures taken of a side in its steady state, all through interfaces both
//! implementations share: /proc for the processes, and Prometheus's HTTP API.

use super::Plan;
use crate::api::{get_json, query};
use crate::process::Daemon;
use std::time::{Duration, Instant};

/// The dashboard's panels as a Prometheus master can answer them: the shipped Grafana
/// dashboard's quantile panels verbatim (`$workload` = all), and its request-rate and
/// error-ratio panels over the recorded `:rate1m` series, since the rolled-up counter they
/// read is one of our rollup rules, which Prometheus lacks.
pub const DASHBOARD: [(&str, &str); 5] = [
    ("request rate", "sum by (destination_workload) (istio_requests_total:rate1m)"),
    (
        "5xx ratio",
        "sum by (destination_workload) (istio_requests_total:rate1m{response_code=~\"5..\"}) \
         / sum by (destination_workload) (istio_requests_total:rate1m)",
    ),
    (
        "p50",
        "histogram_quantile(0.5, sum by (le, destination_workload) (istio_request_duration_milliseconds_bucket:rate1m{destination_workload=~\".+\"}))",
    ),
    (
        "p90",
        "histogram_quantile(0.9, sum by (le, destination_workload) (istio_request_duration_milliseconds_bucket:rate1m{destination_workload=~\".+\"}))",
    ),
    (
        "p99",
        "histogram_quantile(0.99, sum by (le, destination_workload) (istio_request_duration_milliseconds_bucket:rate1m{destination_workload=~\".+\"}))",
    ),
];

/// Times each dashboard query is repeated.
const QUERY_REPEATS: usize = 5;

/// What the measurement window saw.
pub struct Window {
    pub seconds: f64,
    pub collector_cpu: f64,
    pub master_cpu: f64,
    /// Each observed round of the collector's rule groups: the sum of their last durations.
    pub rule_rounds: Vec<f64>,
    /// Each `/federate` fetch: how long to the last byte, and bytes (gzip, as a master asks).
    pub federate: Vec<(Duration, usize)>,
}

pub async fn window(plan: &Plan, collector: &Daemon, master: &Daemon, c_addr: &str) -> Result<Window, String> {
    let client = reqwest::Client::new();
    let (c0, m0) = (cpu(collector)?, cpu(master)?);
    let start = Instant::now();
    let mut rule_rounds = Vec::new();
    let mut federate = Vec::new();
    while start.elapsed() < plan.measure {
        rule_rounds.push(rule_round(&client, c_addr).await?);
        federate.push(federate_once(&client, c_addr).await?);
        tokio::time::sleep(Duration::from_secs_f64(plan.interval_secs)).await;
    }
    Ok(Window {
        seconds: start.elapsed().as_secs_f64(),
        collector_cpu: cpu(collector)? - c0,
        master_cpu: cpu(master)? - m0,
        rule_rounds,
        federate,
    })
}

fn cpu(d: &Daemon) -> Result<f64, String> {
    d.cpu_seconds().ok_or_else(|| format!("the {} has exited; see its log", d.name))
}

/// The summed `evaluationTime` of every rule group, from `/api/v1/rules`.
async fn rule_round(client: &reqwest::Client, addr: &str) -> Result<f64, String> {
    let v = get_json(client.get(format!("http://{addr}/api/v1/rules"))).await?;
    let groups = v["data"]["groups"].as_array().ok_or("/api/v1/rules: no groups")?;
    Ok(groups.iter().filter_map(|g| g["evaluationTime"].as_f64()).sum())
}

async fn federate_once(client: &reqwest::Client, addr: &str) -> Result<(Duration, usize), String> {
    let start = Instant::now();
    let r = client
        .get(format!("http://{addr}/federate"))
        .query(&[("match[]", "{__name__=~\"federate:.+\"}")])
        .header("Accept-Encoding", "gzip")
        .send()
        .await
        .map_err(|e| format!("/federate: {e}"))?;
    let body = r.bytes().await.map_err(|e| format!("/federate: {e}"))?;
    Ok((start.elapsed(), body.len()))
}

/// Each dashboard query over the whole run, `QUERY_REPEATS` times, as Grafana asks
/// (query_range, a step of one interval). A failed or empty answer is an error.
pub async fn dashboard(addr: &str, from: f64, to: f64, step: f64) -> Result<Vec<Vec<Duration>>, String> {
    let client = reqwest::Client::new();
    let mut out = Vec::new();
    for (panel, expr) in DASHBOARD {
        let mut times = Vec::new();
        for _ in 0..QUERY_REPEATS {
            let params = [
                ("query", expr.to_string()),
                ("start", from.to_string()),
                ("end", to.to_string()),
                ("step", step.to_string()),
            ];
            let start = Instant::now();
            let v = get_json(client.get(format!("http://{addr}/api/v1/query_range")).query(&params)).await?;
            times.push(start.elapsed());
            if v["data"]["result"].as_array().is_none_or(|r| r.is_empty()) {
                return Err(format!("dashboard panel {panel}: no data from {addr}: {v}"));
            }
        }
        out.push(times);
    }
    Ok(out)
}

/// Every sample stored in the last `secs`, counted by queries, one per metric name (a
/// single `count_over_time` over all names would merge series that differ only in name).
pub async fn stored_samples(addr: &str, secs: f64) -> Result<u64, String> {
    let client = reqwest::Client::new();
    let names = get_json(client.get(format!("http://{addr}/api/v1/label/__name__/values"))).await?;
    let mut total = 0;
    for name in names["data"].as_array().into_iter().flatten().filter_map(|n| n.as_str()) {
        let expr = format!("sum(count_over_time({{__name__=\"{name}\"}}[{}s]))", secs.ceil() + 60.0);
        let r = query(&client, addr, &expr).await?;
        let value = r.first().and_then(|s| s["value"][1].as_str()?.parse::<f64>().ok());
        total += value.ok_or_else(|| format!("{addr}: no sample count of {name}"))? as u64;
    }
    Ok(total)
}
