//! `cargo run --release --bin demo`: the reference scenario on this machine. A synthetic
//! Istio mesh (1000 pods by default), a collector scraping it with the shipped Istio
//! rules, and a master federating the collector with the shipped master config, all on
//! 127.0.0.1. Every 15 s it prints the series count on each tier and the reduction.
//! Synthetic workers upload CPU profiles to the collector too, and the master's
//! per-region CPU, recorded from them by the shipped profile rule, is printed beside it.
//!
//! The daemons run as child processes of this same binary (`demo collector …`,
//! `demo master …`), so one `cargo run` builds everything. `demo workload …` serves the
//! mesh alone, for the docker-compose stack, and `demo certs` the stack's demo TLS
//! certificates. `demo compare` runs the scenario with our daemons and then with
//! Prometheus's, and prints the costs side by side; `demo remote-write` does the same for
//! remote_write onward.

mod api;
mod compare;
mod process;
mod profiles;
mod remote_write;
mod stack;
mod workload;

use clap::Parser;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(about = "Runs synthetic mesh → collector → master on 127.0.0.1 and shows the cardinality drop")]
struct Cli {
    /// Pods in the synthetic mesh (about 337 series each).
    #[arg(long, default_value_t = 1000)]
    pods: usize,
    /// Workloads the pods are spread over.
    #[arg(long, default_value_t = 30)]
    workloads: usize,
    /// Where the collector listens.
    #[arg(long, default_value = "127.0.0.1:9090")]
    collector: String,
    /// Where the master listens.
    #[arg(long, default_value = "127.0.0.1:9091")]
    master: String,
    /// Where the synthetic mesh is served.
    #[arg(long, default_value = "127.0.0.1:9100")]
    workload: String,
    /// Scrape, rule and federation interval.
    #[arg(long, default_value = "15s")]
    interval: String,
    /// Stop by itself after this long (default: run until Ctrl-C).
    #[arg(long, value_parser = cardinal_model::parse_duration)]
    exit_after: Option<Duration>,
    /// Stop by itself once a report shows the cut and every region's profile counter on
    /// the master (with `--exit-after` as the limit), as the demo's test does.
    #[arg(long)]
    until_complete: bool,
    /// Keep data here instead of a temporary directory.
    #[arg(long)]
    data_dir: Option<std::path::PathBuf>,
}

fn main() -> ExitCode {
    let mut args = std::env::args_os();
    let program = args.next().unwrap_or_default();
    match std::env::args().nth(1).as_deref() {
        Some("collector") => {
            let rest = std::iter::once(program).chain(args.skip(1));
            return cardinal_daemon::main_with_args(cardinal_daemon::Role::COLLECTOR, rest);
        }
        Some("master") => {
            let rest = std::iter::once(program).chain(args.skip(1));
            return cardinal_daemon::main_with_args(cardinal_daemon::Role::MASTER, rest);
        }
        Some("workload") => {
            let cli = workload::Cli::parse_from(std::iter::once(program).chain(args.skip(1)));
            let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
            return exit(runtime.block_on(workload::run(cli)));
        }
        Some("certs") => {
            let cli = CertsCli::parse_from(std::iter::once(program).chain(args.skip(1)));
            return exit(certs(&cli));
        }
        Some("compare") => {
            let cli = compare::Cli::parse_from(std::iter::once(program).chain(args.skip(1)));
            let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
            return exit(runtime.block_on(compare::run(cli)));
        }
        Some("remote-write") => {
            let cli = remote_write::Cli::parse_from(std::iter::once(program).chain(args.skip(1)));
            let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
            return exit(runtime.block_on(remote_write::run(cli)));
        }
        _ => {}
    }
    let cli = Cli::parse();
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    exit(runtime.block_on(stack::run(stack::Options {
        pods: cli.pods,
        workloads: cli.workloads,
        collector: cli.collector,
        master: cli.master,
        workload: cli.workload,
        interval: cli.interval,
        exit_after: cli.exit_after,
        until_complete: cli.until_complete,
        data_dir: cli.data_dir,
    })))
}

/// `demo certs`: a CA and certificates for the docker-compose stack's TLS.
#[derive(Parser)]
struct CertsCli {
    /// Where to write `ca.crt`, `server.crt`/`.key` and `client.crt`/`.key`.
    #[arg(long)]
    out: std::path::PathBuf,
    /// Names the server certificate holds, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "localhost,127.0.0.1")]
    hosts: Vec<String>,
}

/// Writes the certificates once: a restarted stack keeps the CA its clients trust.
fn certs(cli: &CertsCli) -> Result<(), String> {
    if cli.out.join("ca.crt").exists() {
        println!("certificates already in {}", cli.out.display());
        return Ok(());
    }
    let hosts: Vec<&str> = cli.hosts.iter().map(String::as_str).collect();
    testbed::tls::Pki::write(&cli.out, &hosts)?;
    println!("certificates for {} written to {}", cli.hosts.join(", "), cli.out.display());
    Ok(())
}

fn exit(r: Result<(), String>) -> ExitCode {
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("demo: {e}");
            ExitCode::FAILURE
        }
    }
}
