//! `demo compare`: the reference scenario run twice on this machine against one synthetic
//! mesh, first with our collector and master, then with Prometheus as both (when
//! installed), with the same configs and rule files, and the costs side by side.
//!
//! The configs are what a user brings: Prometheus's schema, the shipped Istio recording
//! rules, the shipped master config. Nothing of ours that Prometheus lacks is switched on
//! (no rollup or profile rules), so both do the same work.

mod measure;
mod report;
mod rollups;
mod side;

use crate::process::Program;
use clap::Parser;
use std::time::Duration;
use testbed::Workload;
use testbed::istio::Mesh;

#[derive(Parser)]
#[command(about = "Runs the reference scenario with our collector + master, then Prometheus's, and compares them")]
pub struct Cli {
    /// Pods in the synthetic mesh (about 337 series each).
    #[arg(long, default_value_t = 1000)]
    pods: usize,
    /// Workloads the pods are spread over.
    #[arg(long, default_value_t = 30)]
    workloads: usize,
    /// Scrape, rule and federation interval (the rules' range is four of them).
    #[arg(long, default_value = "15s")]
    interval: String,
    /// How long each side is measured once it serves every rollup.
    #[arg(long, default_value = "2m", value_parser = cardinal_model::parse_duration)]
    measure: Duration,
    /// The Prometheus binary (default: `prometheus` on the PATH; without one, only our
    /// side runs).
    #[arg(long)]
    prometheus: Option<std::path::PathBuf>,
    /// Keep configs, logs and data here instead of a temporary directory.
    #[arg(long)]
    data_dir: Option<std::path::PathBuf>,
}

/// What both sides run: the mesh and the pace.
pub struct Plan {
    pub workload: Workload,
    pub interval: String,
    pub interval_secs: f64,
    pub measure: Duration,
    pub dir: std::path::PathBuf,
}

impl Plan {
    /// The rules' range: four intervals, as the shipped 1m is to 15 s.
    pub fn window(&self) -> String {
        format!("{}s", (4.0 * self.interval_secs).round())
    }
}

pub async fn run(cli: Cli) -> Result<(), String> {
    let tmp = tempfile::Builder::new().prefix("cardinal-compare-").tempdir().map_err(|e| e.to_string())?;
    let dir = cli.data_dir.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    let mesh = Mesh { pods: cli.pods, workloads: cli.workloads };
    let workload = Workload::start(mesh, "127.0.0.1:0").await.map_err(|e| format!("serving the mesh: {e}"))?;
    let interval_secs = cardinal_model::parse_duration(&cli.interval)?.as_secs_f64();
    let plan = Plan { workload, interval: cli.interval.clone(), interval_secs, measure: cli.measure, dir };
    println!(
        "mesh: {} pods × {} series over {} workloads; every {}; each side measured for {:?}; files in {}",
        cli.pods,
        testbed::istio::SERIES_PER_POD,
        cli.workloads,
        cli.interval,
        cli.measure,
        plan.dir.display()
    );
    let ours = side::run(&plan, Program::Cardinal).await?;
    let prometheus = cli.prometheus.clone().or_else(|| testbed::tools::which("prometheus"));
    let theirs = match prometheus {
        Some(bin) => Some(side::run(&plan, Program::Prometheus(bin)).await?),
        None => {
            println!("prometheus is not installed (apt-get install prometheus): only our side ran");
            None
        }
    };
    report::print(&plan, &ours, theirs.as_ref());
    rollups::verdict(&plan, &ours.rollups, theirs.as_ref().map(|t| &t.rollups))
}
