//! `demo workload`: the synthetic mesh and the profile uploads alone, for a collector
//! running elsewhere (the docker-compose stack's `workload` service). The pods are
//! published as a file_sd target file the collector watches.

use clap::Parser;
use std::path::PathBuf;
use std::time::Duration;
use testbed::Workload;
use testbed::istio::Mesh;

#[derive(Parser)]
#[command(about = "Serves the synthetic mesh and uploads profiles to a collector")]
pub struct Cli {
    /// Pods in the synthetic mesh (about 337 series each).
    #[arg(long, default_value_t = 1000)]
    pods: usize,
    /// Workloads the pods are spread over.
    #[arg(long, default_value_t = 30)]
    workloads: usize,
    /// Where to serve the mesh.
    #[arg(long, default_value = "0.0.0.0:9100")]
    listen: String,
    /// The address the collector reaches this server at, written into the target file.
    #[arg(long, default_value = "workload:9100")]
    advertise: String,
    /// The file_sd target file to write (one target group per pod).
    #[arg(long)]
    sd_file: PathBuf,
    /// A collector to upload CPU profiles to every `--interval`: `host:port`, or a URL
    /// (`https://collector:9090` for one serving TLS).
    #[arg(long)]
    profiles_to: Option<String>,
    /// The CA that signed the collector's certificate, for an `https://` collector.
    #[arg(long)]
    profiles_ca: Option<PathBuf>,
    /// A user name for the collector's basic auth, with `--profiles-password-file`.
    #[arg(long)]
    profiles_user: Option<String>,
    #[arg(long)]
    profiles_password_file: Option<PathBuf>,
    #[arg(long, default_value = "15s", value_parser = cardinal_model::parse_duration)]
    interval: Duration,
}

pub async fn run(cli: Cli) -> Result<(), String> {
    let mesh = Mesh { pods: cli.pods, workloads: cli.workloads };
    let w = Workload::start(mesh, &cli.listen).await.map_err(|e| format!("serving the mesh on {}: {e}", cli.listen))?;
    // Written whole, then renamed: the collector never reads half a file.
    let tmp = cli.sd_file.with_extension("tmp");
    std::fs::write(&tmp, w.file_sd(&cli.advertise)).map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, &cli.sd_file).map_err(|e| format!("{}: {e}", cli.sd_file.display()))?;
    println!("mesh: {} pods on {} (as {}), targets in {}", cli.pods, w.addr, cli.advertise, cli.sd_file.display());
    let uploads = async {
        match cli.profiles_to {
            Some(to) => {
                let collector = crate::profiles::Collector::new(
                    &to,
                    cli.profiles_ca.as_deref(),
                    cli.profiles_user.zip(cli.profiles_password_file.as_deref()),
                )?;
                crate::profiles::upload_forever(collector, cli.interval).await
            }
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        r = uploads => r,
        _ = shutdown() => Ok(()),
    }
}

/// Ctrl-C or SIGTERM (what `docker stop` sends).
async fn shutdown() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term.recv() => {},
    }
}
