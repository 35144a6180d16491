//! The collector daemon: thin wiring of the shared crates.
//!
//! A sample's path: `cardinal_scrape` (discovery → target → scrape loop) appends into
//! `cardinal_tsdb::Head`; `cardinal_api::federate` serves it on `/federate`.

use cardinal_api::{ApiState, ReloadRequest};
use cardinal_config::Config;
use cardinal_model::{Labels, now_ms};
use cardinal_promql::Engine;
use cardinal_rules::manager::RuleManager;
use cardinal_scrape::ScrapeManager;
use cardinal_tsdb::Head;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "collector",
    version,
    about = "Scrapes high-cardinality targets into a short-retention head and serves /federate"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Configuration file, in Prometheus's schema.
    #[arg(long = "config.file", default_value = "collector.yml")]
    config_file: PathBuf,
    /// Address the HTTP API listens on.
    #[arg(long = "web.listen-address", default_value = "0.0.0.0:9090")]
    listen: String,
    /// Data directory. Created at start; the write-ahead log will live here.
    #[arg(long = "storage.tsdb.path", default_value = "data/")]
    data: PathBuf,
    /// How long samples are kept in the head.
    #[arg(long = "storage.tsdb.retention.time", default_value = "2h", value_parser = parse_duration)]
    retention: Duration,
    /// How far back an instant vector selector looks for a sample.
    #[arg(long = "query.lookback-delta", default_value = "5m", value_parser = parse_duration)]
    lookback: Duration,
    /// Maximum time a query may take.
    #[arg(long = "query.timeout", default_value = "2m", value_parser = parse_duration)]
    query_timeout: Duration,
    /// Maximum samples a query may hold in memory at once.
    #[arg(long = "query.max-samples", default_value_t = 50_000_000)]
    max_samples: usize,
    /// Log level: debug, info, warn or error.
    #[arg(long = "log.level", default_value = "info")]
    log_level: String,
    /// Log format: logfmt (human-readable) or json.
    #[arg(long = "log.format", default_value = "logfmt")]
    log_format: String,
}

#[derive(Subcommand)]
enum Command {
    /// Validate configuration or rule files, as promtool does.
    Check {
        #[command(subcommand)]
        what: Check,
    },
    /// Run unit tests, as `promtool test` does.
    Test {
        #[command(subcommand)]
        what: Test,
    },
}

#[derive(Subcommand)]
enum Check {
    /// Check configuration files; exits non-zero with the first error of each.
    Config { files: Vec<PathBuf> },
    /// Check rule files: exit 1 on errors, 3 on lint problems (duplicate rules).
    Rules { files: Vec<String> },
}

#[derive(Subcommand)]
enum Test {
    /// Run rule unit tests in promtool's format: exit 0 when all pass, 1 otherwise.
    Rules { files: Vec<String> },
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    cardinal_model::parse_duration(s)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match &cli.command {
        Some(Command::Check { what: Check::Config { files } }) => return check_config(files),
        Some(Command::Check { what: Check::Rules { files } }) => {
            return ExitCode::from(cardinal_rules::check::run(files));
        }
        Some(Command::Test { what: Test::Rules { files } }) => {
            return if cardinal_rules::unittest::run_files(files) { ExitCode::SUCCESS } else { ExitCode::FAILURE };
        }
        None => {}
    }
    init_logging(&cli.log_level, &cli.log_format);
    let cfg = match Config::load(&cli.config_file) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error loading config: {e}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    match runtime.block_on(run(cli, cfg)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "collector failed");
            ExitCode::FAILURE
        }
    }
}

fn check_config(files: &[PathBuf]) -> ExitCode {
    let mut ok = true;
    for f in files {
        // As promtool does, the rule files a config names are checked with it.
        let checked = Config::load(f).map_err(|e| e.to_string()).and_then(|c| {
            let groups = RuleManager::load(&c.rule_files)?;
            Ok((c.scrape_configs.len(), groups.len()))
        });
        match checked {
            Ok((jobs, groups)) => {
                println!("  SUCCESS: {} is valid ({jobs} scrape configs, {groups} rule groups)", f.display())
            }
            Err(e) => {
                eprintln!("  FAILED: {e}");
                ok = false;
            }
        }
    }
    if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

fn init_logging(level: &str, format: &str) {
    let filter =
        tracing_subscriber::EnvFilter::try_new(level).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if format == "json" { builder.json().init() } else { builder.init() }
}

async fn run(cli: Cli, cfg: Config) -> Result<(), String> {
    std::fs::create_dir_all(&cli.data).map_err(|e| format!("creating {}: {e}", cli.data.display()))?;
    let head = Arc::new(Head::new());
    let scrape = Arc::new(ScrapeManager::new(head.clone()));
    let engine = Engine {
        lookback: cli.lookback,
        timeout: cli.query_timeout,
        max_samples: cli.max_samples,
        default_subquery_step: cfg.global.evaluation_interval.0,
    };
    let rules = Arc::new(RuleManager::new(head.clone(), engine.clone()));
    let (reload_tx, reload_rx) = tokio::sync::mpsc::channel::<ReloadRequest>(4);
    let mut state = ApiState::new(head.clone(), scrape.clone(), reload_tx.clone());
    state.retention = cli.retention;
    state.engine = engine;
    state.rules = Some(rules.clone());
    let state = Arc::new(state);
    apply(&state, &cfg)?;
    let listener =
        tokio::net::TcpListener::bind(&cli.listen).await.map_err(|e| format!("listening on {}: {e}", cli.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    tracing::info!(%addr, config = %cli.config_file.display(), "collector listening");
    tokio::spawn(reload_loop(cli.config_file.clone(), state.clone(), reload_rx));
    tokio::spawn(sighup_reloads(reload_tx));
    tokio::spawn(retention_loop(head, cli.retention));
    state.ready.store(true, Relaxed);
    axum::serve(listener, cardinal_api::router(state.clone()))
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(|e| e.to_string())?;
    scrape.stop();
    rules.stop();
    tracing::info!("collector stopped");
    Ok(())
}

/// Applies a config to the running daemon. Everything that can fail (rule files, HTTP
/// clients) is checked before anything changes, so a bad config changes nothing.
fn apply(state: &ApiState, cfg: &Config) -> Result<(), String> {
    let rule_groups = RuleManager::load(&cfg.rule_files)?;
    state.scrape.apply(cfg)?;
    if let Some(rules) = &state.rules {
        rules.install(rule_groups, cfg.global.evaluation_interval.0);
    }
    *state.external_labels.write() = Labels::from_pairs(cfg.global.external_labels.clone());
    Ok(())
}

async fn reload_loop(path: PathBuf, state: Arc<ApiState>, mut rx: tokio::sync::mpsc::Receiver<ReloadRequest>) {
    while let Some(reply) = rx.recv().await {
        let result = Config::load(&path).map_err(|e| e.to_string()).and_then(|cfg| apply(&state, &cfg));
        match &result {
            Ok(()) => tracing::info!(config = %path.display(), "configuration reloaded"),
            Err(e) => tracing::error!(error = %e, "reload failed; keeping the running configuration"),
        }
        let _ = reply.send(result);
    }
}

async fn sighup_reloads(tx: tokio::sync::mpsc::Sender<ReloadRequest>) {
    let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else { return };
    while hup.recv().await.is_some() {
        let (reply, _) = tokio::sync::oneshot::channel();
        if tx.send(reply).await.is_err() {
            return;
        }
    }
}

/// Drops what falls out of the retention window, once a minute.
async fn retention_loop(head: Arc<Head>, retention: Duration) {
    let period = Duration::from_secs(60);
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    loop {
        tick.tick().await;
        let removed = head.truncate(now_ms() - retention.as_millis() as i64);
        if removed > 0 {
            tracing::debug!(removed, "head truncated");
        }
    }
}

async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}
