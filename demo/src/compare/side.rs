//! One side of the comparison: a collector scraping the mesh with the shipped Istio rules
//! and a master federating it with the shipped master config, started, measured in a
//! steady state, and stopped.

use super::Plan;
use super::measure::{self, Window};
use super::rollups::{self, Snapshot};
use crate::api;
use crate::process::{Daemon, Program, dir_bytes};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use testbed::shipped;

/// What one side cost and what it stored.
pub struct Figures {
    pub name: String,
    pub collector_series: u64,
    pub collector_rss: u64,
    pub master_series: u64,
    pub master_rss: u64,
    pub master_disk: u64,
    pub master_samples: u64,
    pub window: Window,
    /// Latencies of each dashboard query, in the order of `measure::DASHBOARD`.
    pub queries: Vec<Vec<Duration>>,
    pub rollups: Snapshot,
}

/// What a side is called in the table: ours, or Prometheus with its version.
fn name(program: &Program) -> String {
    match program {
        Program::Cardinal => "cardinal".into(),
        Program::Prometheus(bin) => prometheus_version(bin),
    }
}

/// `prometheus 2.42.0`, from `prometheus --version`'s first line.
fn prometheus_version(bin: &Path) -> String {
    let out = std::process::Command::new(bin).arg("--version").output().ok();
    let text = out.map(|o| String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr));
    let version = text.as_deref().and_then(|t| t.split_whitespace().nth(2)).map(|v| v.split('+').next().unwrap_or(v));
    format!("prometheus {}", version.unwrap_or("?"))
}

pub async fn run(plan: &Plan, program: Program) -> Result<Figures, String> {
    let name = name(&program);
    let dir = plan.dir.join(if matches!(program, Program::Cardinal) { "cardinal" } else { "prometheus" });
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let (c_addr, m_addr) = (testbed::tools::free_addr(), testbed::tools::free_addr());
    write(&dir, "collector.yml", &shipped::collector_config(&plan.workload, &plan.interval, ""))?;
    write(&dir, "istio.rules.yml", &shipped::istio_rules(&plan.interval, &plan.window()))?;
    write(&dir, "master.yml", &master_config(&c_addr, &plan.interval))?;
    let mut collector = Daemon::spawn(&program, "collector", &dir, &c_addr, &[])?;
    collector.ready(&c_addr, Duration::from_secs(60)).await?;
    let mut master = Daemon::spawn(&program, "master", &dir, &m_addr, &[])?;
    master.ready(&m_addr, Duration::from_secs(60)).await?;
    let started = unix_now();
    println!("{name}: collector on {c_addr}, master on {m_addr}; waiting until the master has every rollup…");
    rollups::wait_complete(plan, &m_addr).await?;
    // Two more rounds so every rollup's range holds steady samples.
    tokio::time::sleep(Duration::from_secs_f64(2.0 * plan.interval_secs)).await;
    println!("{name}: measuring for {:?}…", plan.measure);
    let window = measure::window(plan, &collector, &master, &c_addr).await?;
    let queries = measure::dashboard(&m_addr, started, unix_now(), plan.interval_secs).await?;
    let rollups = rollups::snapshot(&m_addr, plan.measure).await?;
    let client = reqwest::Client::new();
    let collector_series = api::head_series(&client, &c_addr).await?;
    let collector_rss = collector.peak_rss().unwrap_or(0);
    // The collector goes first: nothing more reaches the master while its samples are counted.
    drop(collector);
    let master_samples = measure::stored_samples(&m_addr, unix_now() - started).await?;
    let master_series = api::head_series(&client, &m_addr).await?;
    let master_rss = master.peak_rss().unwrap_or(0);
    drop(master);
    let master_disk = dir_bytes(&dir.join("master-data"));
    Ok(Figures {
        name,
        collector_series,
        collector_rss,
        master_series,
        master_rss,
        master_disk,
        master_samples,
        window,
        queries,
        rollups,
    })
}

/// The shipped master config federating `collector` every `interval`. Its one line
/// Prometheus 2.42 does not know (`track_timestamps_staleness`, 2.48's opt-in for what
/// our master always does) is left out for both.
fn master_config(collector: &str, interval: &str) -> String {
    let shipped = shipped::master_config(collector, interval);
    shipped.lines().filter(|l| !l.contains("track_timestamps_staleness")).collect::<Vec<_>>().join("\n")
}

fn write(dir: &Path, name: &str, text: &str) -> Result<(), String> {
    std::fs::write(dir.join(name), text).map_err(|e| format!("{}: {e}", dir.join(name).display()))
}

pub fn unix_now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}
