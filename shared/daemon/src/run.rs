//! Starting, reloading and stopping a daemon.

use crate::cli::{Cli, Role};
use crate::sharding::ShardedJobs;
use cardinal_api::{ApiState, ReloadRequest};
use cardinal_config::{Config, RemoteWriteConfig};
use cardinal_model::{Labels, now_ms};
use cardinal_promql::Engine;
use cardinal_rules::manager::{AlertOptions, RuleManager};
use cardinal_rules::notifier::Notifier;
use cardinal_scrape::ScrapeManager;
use cardinal_storage::exemplars::ExemplarStore;
use cardinal_tsdb::wal::Wal;
use cardinal_tsdb::{Db, DbOptions};
use parking_lot::Mutex;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

pub fn main(role: Role, cli: Cli) -> ExitCode {
    init_logging(&cli.log_level, &cli.log_format);
    crate::cli::log_features(&cli.enable_feature);
    crate::cli::log_prometheus_only_flags(&cli);
    let path = cli.config_file.clone().expect("filled by cli::parse");
    let cfg = match Config::load(&path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error loading config: {e}");
            return ExitCode::FAILURE;
        }
    };
    let web = match cli.web_config_file.as_deref().map(cardinal_web::WebConfig::load).transpose() {
        Ok(w) => w,
        Err(e) => {
            eprintln!("error loading web config: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Queries and rules recurse over expressions up to the parser's depth bound; the
    // main thread's 8 MiB rather than the 2 MiB default leaves them a wide margin.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(8 << 20)
        .build()
        .expect("tokio runtime");
    match runtime.block_on(run(role, cli, path, cfg, web)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "{} failed", role.name);
            ExitCode::FAILURE
        }
    }
}

fn init_logging(level: &str, format: &str) {
    let filter =
        tracing_subscriber::EnvFilter::try_new(level).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if format == "json" { builder.json().init() } else { builder.init() }
}

fn open_db(role: &Role, cli: &Cli) -> Result<Arc<Db>, String> {
    let opts = DbOptions {
        retention: cli.retention.expect("filled by cli::parse"),
        retention_bytes: (cli.retention_size > 0).then_some(cli.retention_size),
        compaction: role.compaction,
        max_ahead: Some(cli.max_time_ahead),
        max_age: cli.retention,
        block_range: cli.min_block_duration.as_millis() as i64,
        ..DbOptions::default()
    };
    let db = Db::open(&cli.data, opts).map_err(|e| format!("opening storage in {}: {e}", cli.data.display()))?;
    db.head.set_series_limit(cli.head_series_limit);
    db.wal().set_hold_limit(cli.remote_max_held_wal);
    Ok(Arc::new(db))
}

async fn run(
    role: Role,
    cli: Cli,
    path: PathBuf,
    cfg: Config,
    web: Option<cardinal_web::WebConfig>,
) -> Result<(), String> {
    let db = tokio::task::block_in_place(|| open_db(&role, &cli))?;
    let head = db.head.clone();
    // Attached after the WAL replay inside `open_db`: replayed samples were rolled up
    // before the restart, and the state file holds what they contributed.
    let rollups = cardinal_rollup::Rollups::open(head.clone(), Some(cli.data.clone()));
    head.set_observer(rollups.clone());
    // Federation scrapes and pushes write through the HA tracker when there is one, and
    // on to the database (the head, and late samples beside the blocks).
    let ha = cfg.ha_tracker.clone().map(|h| Arc::new(cardinal_ha::HaStore::new(db.clone(), h)));
    let ingest: Arc<dyn cardinal_storage::SeriesStore> = match &ha {
        Some(ha) => ha.clone(),
        None => db.clone(),
    };
    let exemplars: Arc<ExemplarStore> = Arc::default();
    let scrape = Arc::new(ScrapeManager::new(ingest.clone(), cli.scrape_timestamp_tolerance(), exemplars.clone()));
    let engine = Engine {
        lookback: cli.lookback,
        timeout: cli.query_timeout,
        max_samples: cli.max_samples,
        default_subquery_step: cfg.global.evaluation_interval.0,
    };
    let notifier = Notifier::start(cli.notification_queue_capacity);
    let rules = Arc::new(RuleManager::new(db.clone(), engine.clone(), alert_options(&cli), Some(notifier.clone())));
    let (reload_tx, reload_rx) = tokio::sync::mpsc::channel::<ReloadRequest>(4);
    let database =
        cardinal_api::Database { query: db.clone(), latest: head.clone(), store: ingest, status: db.clone() };
    let parts = cardinal_api::Parts {
        db: database,
        scrape: scrape.clone(),
        rules: rules.clone(),
        notifier,
        rollups: rollups.clone(),
        profiles: cardinal_profiles::Recorder::new(head.clone()),
    };
    let mut state = ApiState::new(parts, reload_tx.clone());
    state.status_page = role.status_page;
    state.retention = cli.retention.expect("filled by cli::parse");
    state.engine = engine;
    state.max_request_bytes = usize::try_from(cli.max_request_bytes).unwrap_or(usize::MAX);
    state.endpoints = cardinal_api::Endpoints {
        lifecycle: cli.enable_lifecycle,
        remote_write_receiver: cli.enable_remote_write_receiver,
        profile_ingestion_flag: cli.enable_profile_ingestion,
    };
    state.query_slots = cardinal_api::QuerySlots::new(cli.max_concurrency);
    state.exemplars = exemplars;
    state.flags = cli.flag_values.clone();
    *state.config_text.write() = std::fs::read_to_string(&path).unwrap_or_default();
    state.ha = ha;
    let state = Arc::new(state);
    let runtime = Arc::new(Runtime {
        state: state.clone(),
        wal: db.wal().clone(),
        remote_write: Mutex::default(),
        ha_tracker: cfg.ha_tracker.clone(),
        sharded: Mutex::default(),
        exemplar_feature: cli.enable_feature.iter().any(|f| f == "exemplar-storage"),
    });
    runtime.apply(&cfg)?;
    // Exemplars logged before the restart, once the config has sized the store.
    for (series, e) in db.take_replayed_exemplars() {
        state.exemplars.add(&series, e);
    }
    let listener =
        tokio::net::TcpListener::bind(&cli.listen).await.map_err(|e| format!("listening on {}: {e}", cli.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    tracing::info!(%addr, config = %path.display(), "{} listening", role.name);
    tokio::spawn(reload_loop(path, runtime, reload_rx));
    tokio::spawn(sighup_reloads(reload_tx));
    tokio::spawn(maintenance_loop(db.clone()));
    tokio::spawn(wal_sync_loop(db.clone(), cli.wal_fsync_interval));
    tokio::spawn(rollup_flush_loop(rollups.clone()));
    state.ready.store(true, Relaxed);
    let web = cli.web_config_file.as_deref().zip(web);
    cardinal_web::serve(listener, cardinal_api::router(state.clone()), web, shutdown_signal(state.clone())).await?;
    scrape.stop();
    rules.stop();
    // Open windows are saved and written after the restart.
    rollups.save();
    match db.fsync_wals() {
        Ok(()) => db.close_cleanly(),
        Err(e) => tracing::error!(error = %e, "final WAL sync failed"),
    }
    tracing::info!("{} stopped", role.name);
    Ok(())
}

fn alert_options(cli: &Cli) -> AlertOptions {
    let port = cli.listen.rsplit(':').next().unwrap_or("9090");
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string());
    let default_url = format!("http://{}:{port}", host.unwrap_or_else(|_| "localhost".into()));
    AlertOptions {
        external_url: cli.external_url.clone().unwrap_or(default_url).trim_end_matches('/').to_string(),
        resend_delay: cli.resend_delay,
        outage_tolerance: cli.for_outage_tolerance,
        for_grace_period: cli.for_grace_period,
    }
}

/// What a reload changes beside the API's state: the remote-write senders tail the WAL,
/// and run until their config changes.
struct Runtime {
    state: Arc<ApiState>,
    wal: Arc<Wal>,
    /// The config the running senders were started from.
    remote_write: Mutex<(Vec<RemoteWriteConfig>, Labels)>,
    /// `ha_tracker` as started: scrape loops and pushes hold handles made under it.
    ha_tracker: Option<cardinal_config::HaTrackerConfig>,
    /// The sharded scrape jobs as last applied.
    sharded: Mutex<ShardedJobs>,
    /// `--enable-feature=exemplar-storage`: exemplars kept even without `storage.exemplars`.
    exemplar_feature: bool,
}

impl Runtime {
    /// Applies a config to the running daemon. Everything that can fail (rule files, HTTP
    /// clients) is checked before anything changes, so a bad config changes nothing.
    fn apply(&self, cfg: &Config) -> Result<(), String> {
        let state = &self.state;
        if cfg.ha_tracker != self.ha_tracker {
            return Err("ha_tracker changed: it takes effect at a restart only".into());
        }
        let rule_groups = RuleManager::load(&cfg.rule_files)?;
        Notifier::check(&cfg.alerting)?;
        for rw in &cfg.remote_write {
            cardinal_client::build_client(&rw.http).map_err(|e| format!("remote_write {}: {e}", rw.url))?;
        }
        state.scrape.apply(cfg)?;
        state.exemplars.resize(exemplar_capacity(cfg, self.exemplar_feature));
        state.rollups.apply(&cfg.rollups, now_ms());
        let sharded = ShardedJobs::of(cfg);
        if let Some((from, until)) = sharded.hand_over(&self.sharded.lock(), cfg, now_ms()) {
            tracing::info!(until, "a sharded job's share of targets changed: inputs arriving now set baselines");
            state.rollups.hand_over(from, until);
        }
        *self.sharded.lock() = sharded;
        let external = Labels::from_pairs(cfg.global.external_labels.clone());
        state.profile_rules.store(!cfg.profiles.is_empty(), Relaxed);
        if !cfg.profiles.is_empty() && external.is_empty() {
            tracing::warn!(
                "profile_rules without global.external_labels: two collectors recording the same rule \
                 would write the same series on the master; give each collector a distinct external label"
            );
        }
        state.profiles.apply(&cfg.profiles);
        state.rules.set_external_labels(external.clone());
        state.rules.install(rule_groups, cfg.global.evaluation_interval.0);
        state.notifier.apply(&cfg.alerting, external.clone())?;
        *state.external_labels.write() = external.clone();
        self.apply_remote_write(&cfg.remote_write, external)
    }

    /// Restarts the senders only when their config changed: a sender resumes from its
    /// saved WAL position either way, so a restart costs nothing but the reconnect.
    fn apply_remote_write(&self, configs: &[RemoteWriteConfig], external: Labels) -> Result<(), String> {
        let mut running = self.remote_write.lock();
        if running.0 == configs && running.1 == external {
            return Ok(());
        }
        let mut senders = self.state.remote_writers.lock();
        senders.clear();
        for rw in configs {
            let sender = cardinal_remote::send::start(self.wal.clone(), rw.clone(), external.clone(), self.metadata());
            senders.push(sender?);
        }
        *running = (configs.to_vec(), external);
        Ok(())
    }

    /// What the scrape targets say of their families, for the senders' `metadata_config`.
    fn metadata(&self) -> cardinal_remote::send::MetadataSource {
        let scrape = self.state.scrape.clone();
        Arc::new(move || {
            let families = scrape.metadata().into_iter();
            let entries = families.flat_map(|(name, metas)| {
                metas.into_iter().map(move |m| cardinal_remote::proto::MetricMetadata {
                    r#type: cardinal_remote::proto::metric_type(m.kind),
                    metric_family_name: name.clone(),
                    help: m.help,
                    unit: m.unit,
                })
            });
            entries.collect()
        })
    }
}

/// Exemplars kept: `storage.exemplars.max_exemplars` when set (0 or less: none), else
/// Prometheus's default with `--enable-feature=exemplar-storage`, else none.
fn exemplar_capacity(cfg: &Config, feature: bool) -> usize {
    match &cfg.storage.exemplars {
        Some(e) => usize::try_from(e.max_exemplars).unwrap_or(0),
        None if feature => cardinal_config::DEFAULT_MAX_EXEMPLARS as usize,
        None => 0,
    }
}

async fn reload_loop(path: PathBuf, runtime: Arc<Runtime>, mut rx: tokio::sync::mpsc::Receiver<ReloadRequest>) {
    while let Some(reply) = rx.recv().await {
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: cannot read: {e}", path.display()));
        let result = text.and_then(|text| {
            let cfg = Config::load_text(&text, &path).map_err(|e| e.to_string())?;
            runtime.apply(&cfg)?;
            *runtime.state.config_text.write() = text;
            Ok(())
        });
        runtime.state.reloads.record(result.is_ok());
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

/// Retention, compaction and WAL truncation, once a minute, off the async threads.
async fn maintenance_loop(db: Arc<Db>) {
    let period = Duration::from_secs(60);
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    loop {
        tick.tick().await;
        let db = db.clone();
        let result = tokio::task::spawn_blocking(move || db.maintain(now_ms())).await;
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "storage maintenance failed; retrying next minute"),
            Err(e) => tracing::error!(error = %e, "storage maintenance panicked"),
        }
    }
}

/// Writes out rollup windows as their flush delay passes, and saves the rollup state.
async fn rollup_flush_loop(rollups: Arc<cardinal_rollup::Rollups>) {
    loop {
        tokio::time::sleep(rollups.tick()).await;
        let r = rollups.clone();
        if let Err(e) = tokio::task::spawn_blocking(move || r.flush(now_ms())).await {
            tracing::error!(error = %e, "rollup flush panicked");
        }
    }
}

/// Bounds what a power loss can take of scraped data to one interval.
async fn wal_sync_loop(db: Arc<Db>, every: Duration) {
    let mut tick = tokio::time::interval(every.max(Duration::from_millis(10)));
    loop {
        tick.tick().await;
        let db = db.clone();
        // Errors are recorded by the WAL itself (and refuse pushes until it recovers).
        let _ = tokio::task::spawn_blocking(move || db.fsync_wals()).await;
    }
}

/// SIGINT, SIGTERM, or `POST /-/quit` when the lifecycle API is on.
async fn shutdown_signal(state: Arc<ApiState>) {
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
        _ = state.quit.notified() => {},
    }
    tracing::info!("shutting down");
}
