//! Starting the three parts, reporting, and stopping them cleanly.

use crate::api;
use crate::process::{Daemon, Program};
use cardinal_model::number::group_thousands;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use testbed::Workload;
use testbed::istio::Mesh;

const RULES: &str = include_str!("../../config/rules/istio.rules.yml");
const MASTER_CONFIG: &str = include_str!("../../config/master.yml");

pub struct Options {
    pub pods: usize,
    pub workloads: usize,
    pub collector: String,
    pub master: String,
    pub workload: String,
    pub interval: String,
    pub exit_after: Option<Duration>,
    /// Stop after the first report showing every region's profile counter.
    pub until_complete: bool,
    pub data_dir: Option<PathBuf>,
}

pub async fn run(o: Options) -> Result<(), String> {
    let tmp;
    let dir: &Path = match &o.data_dir {
        Some(d) => d,
        None => {
            tmp = tempfile::Builder::new().prefix("cardinal-demo-").tempdir().map_err(|e| e.to_string())?;
            tmp.path()
        }
    };
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mesh = Mesh { pods: o.pods, workloads: o.workloads };
    let w = Workload::start(mesh, &o.workload).await.map_err(|e| format!("serving the mesh on {}: {e}", o.workload))?;
    println!(
        "mesh       {} pods × {} series on http://{}/metrics?pod=N",
        o.pods,
        testbed::istio::SERIES_PER_POD,
        w.addr
    );

    let collector_cfg = format!(
        "global:\n  scrape_interval: {i}\n  evaluation_interval: {i}\n  external_labels: {{collector: demo}}\nrule_files: [istio.rules.yml]\n\
         rollup_rules:\n  - {{record: 'federate:istio_requests_total', match: 'istio_requests_total{{reporter=\"source\"}}', without: [pod_name, instance], output: total}}\n\
         profile_rules:\n  - {{record: 'federate:cpu_usage_compress_workers', matchers: ['{{__profile_type__=\"process_cpu:cpu:nanoseconds:cpu:nanoseconds\", service_name=\"worker\", job=\"batch_compress\"}}'], group_by: [region]}}\n\
         scrape_configs:\n{}",
        w.scrape_job("envoy", &o.interval),
        i = o.interval
    );
    write(dir, "istio.rules.yml", &RULES.replace("interval: 10s", &format!("interval: {}", o.interval)))?;
    write(dir, "collector.yml", &collector_cfg)?;
    let master_cfg = MASTER_CONFIG.replace("127.0.0.1:9090", &o.collector).replace("15s", &o.interval);
    write(dir, "master.yml", &master_cfg)?;

    let collector = Daemon::spawn(&Program::Cardinal, "collector", dir, &o.collector, &[])?;
    let master = Daemon::spawn(&Program::Cardinal, "master", dir, &o.master, &[])?;
    println!("collector  http://{}/  (federate: http://{}/federate)", o.collector, o.collector);
    println!("master     http://{}/  (Prometheus data source for Grafana)", o.master);
    println!("logs and data in {}; Ctrl-C stops everything", dir.display());

    let every = cardinal_model::parse_duration(&o.interval)?;
    let to = crate::profiles::Collector::new(&o.collector, None, None)?;
    let uploads = tokio::spawn(crate::profiles::upload_forever(to, every));
    println!(
        "profiles   {} batch-compress workers upload a CPU profile every {} to http://{}/ingest",
        crate::profiles::REGIONS.len() * 4,
        o.interval,
        o.collector
    );
    let started = Instant::now();
    let stop = async {
        match o.exit_after {
            Some(d) => tokio::time::sleep(d).await,
            None => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    };
    tokio::select! {
        _ = stop => {},
        r = report(&o, started) => r?,
        r = uploads => r.map_err(|e| e.to_string())??,
    }
    println!("stopping…");
    drop(master);
    drop(collector);
    Ok(())
}

fn write(dir: &Path, name: &str, text: &str) -> Result<(), String> {
    std::fs::write(dir.join(name), text).map_err(|e| format!("{}: {e}", dir.join(name).display()))
}

async fn targets_up(client: &reqwest::Client, addr: &str) -> Option<(usize, usize)> {
    let v = api::get_json(client.get(format!("http://{addr}/api/v1/targets"))).await.ok()?;
    let t = v["data"]["activeTargets"].as_array()?;
    Some((t.iter().filter(|t| t["health"] == "up").count(), t.len()))
}

/// Prints progress every 5 s until the master has data, then the reduction every 15 s.
async fn report(o: &Options, started: Instant) -> Result<(), String> {
    let client = reqwest::Client::new();
    let mut steady = false;
    loop {
        tokio::time::sleep(Duration::from_secs(if steady { 15 } else { 5 })).await;
        let (c, m) =
            (api::head_series(&client, &o.collector).await.ok(), api::head_series(&client, &o.master).await.ok());
        let up = targets_up(&client, &o.collector).await;
        let federated = federated_series(&client, &o.master).await.unwrap_or(0);
        match (c, m) {
            (Some(c), Some(m)) if federated > 0 => {
                steady = true;
                let drop = 100.0 * (1.0 - m as f64 / c.max(1) as f64);
                println!(
                    "collector {} series → master {} series (−{drop:.1}%)",
                    group_thousands(c),
                    group_thousands(m)
                );
                if let Some((cores, regions)) = crate::profiles::cores_by_region(&client, &o.master).await {
                    println!("          profiles → cpu_usage_compress_workers on the master, cores by region: {cores}");
                    if o.until_complete && regions == crate::profiles::REGIONS.len() {
                        return Ok(());
                    }
                }
            }
            _ => {
                let (up, total) = up.unwrap_or((0, 0));
                println!(
                    "[{:>3}s] starting: {up}/{total} pods scraped, collector {} series, master {} series",
                    started.elapsed().as_secs(),
                    c.map_or("-".into(), group_thousands),
                    m.map_or("-".into(), group_thousands)
                );
            }
        }
    }
}

/// Series the master has received from the collector (anything federated).
async fn federated_series(client: &reqwest::Client, addr: &str) -> Option<u64> {
    let r = api::query(client, addr, "scrape_samples_post_metric_relabeling{job=\"federate\"}").await.ok()?;
    r.first()?["value"][1].as_str()?.parse::<f64>().ok().map(|f| f as u64)
}
