//! `demo remote-write`: remote_write onward, our master's sender against Prometheus's, on
//! the same data and the same receiver, one after the other on this machine.
//!
//! Each side is started with its remote-write receiver on and a `remote_write` to a sink
//! in this process that answers 503. The same samples are pushed into it (series ×
//! samples, in time order); the sender, unable to deliver, falls behind on its WAL. Then
//! the sink starts taking requests (204), and the drain is measured from the first
//! delivered request to the last sample: samples per second, samples per CPU second of the
//! daemon (everything it did in that window), and its peak RSS in the window. Both run
//! `queue_config`'s defaults, which are Prometheus 2.42's for both.

use crate::process::{Daemon, Program};
use cardinal_remote::proto::{self, Label, Sample, TimeSeries, WriteRequest};
use clap::Parser;
use prost::Message;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(about = "Compares remote_write onward: our master's sender against Prometheus's")]
pub struct Cli {
    #[arg(long, default_value_t = 10_000)]
    series: usize,
    /// Samples per series.
    #[arg(long, default_value_t = 200)]
    samples: usize,
    /// The Prometheus binary (default: `prometheus` on the PATH; without one, only our side runs).
    #[arg(long)]
    prometheus: Option<std::path::PathBuf>,
    /// Keep configs, logs and data here instead of a temporary directory.
    #[arg(long)]
    data_dir: Option<std::path::PathBuf>,
}

/// What one side's drain took.
struct Drain {
    samples: u64,
    seconds: f64,
    cpu_seconds: f64,
    peak_rss: u64,
}

pub async fn run(cli: Cli) -> Result<(), String> {
    let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
    let root = cli.data_dir.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    let mut sides = vec![(Program::Cardinal, side(&cli, &root, Program::Cardinal).await?)];
    match cli.prometheus.clone().or_else(|| testbed::tools::which("prometheus")) {
        Some(bin) => sides.push((Program::Prometheus(bin.clone()), side(&cli, &root, Program::Prometheus(bin)).await?)),
        None => println!("no prometheus on the PATH: only our side ran"),
    }
    println!("\n{} series × {} samples, drained after an outage:", cli.series, cli.samples);
    println!("| | samples/s | samples per CPU second | peak RSS in the drain |");
    println!("|---|---|---|---|");
    for (program, d) in &sides {
        let name = if matches!(program, Program::Cardinal) { "cardinal" } else { "prometheus" };
        println!(
            "| {name} | {:.0} | {:.0} | {:.0} MiB |",
            d.samples as f64 / d.seconds,
            d.samples as f64 / d.cpu_seconds.max(0.01),
            d.peak_rss as f64 / (1 << 20) as f64
        );
    }
    Ok(())
}

async fn side(cli: &Cli, root: &Path, program: Program) -> Result<Drain, String> {
    let name = if matches!(program, Program::Cardinal) { "cardinal" } else { "prometheus" };
    let dir = root.join(format!("remote-write-{name}"));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let sink = Sink::start().await;
    let config = format!("remote_write:\n  - url: http://{}/receive\n", sink.addr);
    std::fs::write(dir.join("master.yml"), config).map_err(|e| e.to_string())?;
    let addr = testbed::tools::free_addr();
    let mut daemon = Daemon::spawn(&program, "master", &dir, &addr, &["--web.enable-remote-write-receiver"])?;
    daemon.ready(&addr, Duration::from_secs(30)).await?;
    println!("{name}: pushing {} samples with the remote down", cli.series * cli.samples);
    push(&addr, cli.series, cli.samples).await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let total = (cli.series * cli.samples) as u64;
    sink.status.store(204, Relaxed);
    wait(|| sink.samples.load(Relaxed) > 0, Duration::from_secs(60)).await?;
    let (start, cpu0, first) = (Instant::now(), daemon.cpu_seconds().unwrap_or(0.0), sink.samples.load(Relaxed));
    let mut peak_rss = 0;
    while sink.samples.load(Relaxed) < total {
        if start.elapsed() > Duration::from_secs(600) {
            return Err(format!("{name}: {} of {total} samples after 10 minutes", sink.samples.load(Relaxed)));
        }
        peak_rss = peak_rss.max(daemon.rss().unwrap_or(0));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let drain = Drain {
        samples: total - first,
        seconds: start.elapsed().as_secs_f64(),
        cpu_seconds: daemon.cpu_seconds().unwrap_or(0.0) - cpu0,
        peak_rss,
    };
    println!("{name}: drained {} samples in {:.1} s, {:.1} CPU s", drain.samples, drain.seconds, drain.cpu_seconds);
    // Anything past the total would be a sample sent twice.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let delivered = sink.samples.load(Relaxed);
    if delivered != total {
        return Err(format!("{name}: the sink received {delivered} samples of {total} pushed"));
    }
    Ok(drain)
}

/// Pushes `series` × `samples` in time order, 1,000 series × 20 samples a request, with
/// timestamps from now on (Prometheus's WAL watcher skips samples older than its start).
async fn push(addr: &str, series: usize, samples: usize) -> Result<(), String> {
    let client = reqwest::Client::new();
    let t0 = cardinal_model::now_ms();
    for first in (0..samples).step_by(20) {
        for chunk in (0..series).collect::<Vec<_>>().chunks(1000) {
            let timeseries = chunk.iter().map(|s| TimeSeries {
                labels: vec![
                    Label { name: "__name__".into(), value: "bench_requests_total".into() },
                    Label { name: "pod".into(), value: format!("pod-{s}") },
                ],
                samples: (first..(first + 20).min(samples))
                    .map(|j| Sample { value: j as f64, timestamp: t0 + j as i64 })
                    .collect(),
                ..Default::default()
            });
            let body = proto::encode(&WriteRequest { timeseries: timeseries.collect(), metadata: Vec::new() });
            let r = client
                .post(format!("http://{addr}/api/v1/write"))
                .header("Content-Encoding", "snappy")
                .header("Content-Type", proto::CONTENT_TYPE)
                .body(body)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            if !r.status().is_success() {
                return Err(format!("push: HTTP {}: {}", r.status(), r.text().await.unwrap_or_default()));
            }
        }
    }
    Ok(())
}

async fn wait(done: impl Fn() -> bool, timeout: Duration) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    while !done() {
        if Instant::now() > deadline {
            return Err("the sink received nothing".into());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(())
}

/// The receiver both sides send to: answers with `status`, and when that is success counts
/// the samples in each request.
struct Sink {
    addr: std::net::SocketAddr,
    status: Arc<AtomicU16>,
    samples: Arc<AtomicU64>,
}

impl Sink {
    async fn start() -> Sink {
        let (status, samples) = (Arc::new(AtomicU16::new(503)), Arc::new(AtomicU64::new(0)));
        let (st, count) = (status.clone(), samples.clone());
        let app = axum::Router::new().route(
            "/receive",
            axum::routing::post(move |body: axum::body::Bytes| {
                let (st, count) = (st.clone(), count.clone());
                async move {
                    let status = st.load(Relaxed);
                    if status == 204 {
                        let raw = snap::raw::Decoder::new().decompress_vec(&body).unwrap_or_default();
                        let req = WriteRequest::decode(raw.as_slice()).unwrap_or_default();
                        count.fetch_add(req.timeseries.iter().map(|t| t.samples.len() as u64).sum(), Relaxed);
                    }
                    axum::http::StatusCode::from_u16(status).unwrap_or(axum::http::StatusCode::NO_CONTENT)
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the sink");
        let addr = listener.local_addr().expect("the sink's address");
        tokio::spawn(async move { axum::serve(listener, app).await.ok() });
        Sink { addr, status, samples }
    }
}
