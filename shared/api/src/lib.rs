//! The HTTP surface. [`router`] wires the handlers over an [`ApiState`]; each module is
//! one group of endpoints.

pub mod alerts;
pub mod federate;
pub mod http_metrics;
pub mod ops;
mod process_metrics;
pub mod profiles;
pub mod query;
pub mod rules;
pub mod runtime_status;
pub mod self_metrics;
pub mod status;
mod syntax_tree;
pub mod ui;
pub mod write;

use axum::Router;
use axum::routing::{get, post};
use cardinal_model::Labels;
use cardinal_scrape::ScrapeManager;
use cardinal_storage::{DbStatus, LatestSamples, Queryable, SeriesStore};
use parking_lot::RwLock;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use tokio::sync::{mpsc, oneshot};

/// A reload request: the daemon re-reads its config and answers with the outcome.
pub type ReloadRequest = oneshot::Sender<Result<(), String>>;

/// The endpoints that change state or take writes, each off unless asked for, as in
/// Prometheus.
#[derive(Clone, Copy, Debug, Default)]
pub struct Endpoints {
    /// `--web.enable-lifecycle`: `POST /-/reload` and `POST /-/quit`.
    pub lifecycle: bool,
    /// `--web.enable-remote-write-receiver`: `POST /api/v1/write`.
    pub remote_write_receiver: bool,
    /// `--web.enable-profile-ingestion`: `/ingest` and the Push API even without
    /// `profile_rules` (which turn them on by themselves).
    pub profile_ingestion_flag: bool,
}

/// The database, as each endpoint needs it (the storage contract's views of it).
#[derive(Clone)]
pub struct Database {
    /// What queries read: blocks and head.
    pub query: Arc<dyn Queryable + Send>,
    /// What `/federate` serves: the head (only recent data is ever federated).
    pub latest: Arc<dyn LatestSamples>,
    /// What pushes (remote write, profiles) write to: the head.
    pub store: Arc<dyn SeriesStore>,
    /// What the status pages and `/metrics` report.
    pub status: Arc<dyn DbStatus>,
}

/// The daemon's running parts the endpoints read.
pub struct Parts {
    pub db: Database,
    pub scrape: Arc<ScrapeManager>,
    pub rules: Arc<cardinal_rules::manager::RuleManager>,
    pub notifier: Arc<cardinal_rules::notifier::Notifier>,
    pub rollups: Arc<cardinal_rollup::Rollups>,
    pub profiles: Arc<cardinal_profiles::Recorder>,
}

pub struct ApiState {
    /// What `/` shows: this daemon's role.
    pub status_page: ui::StatusPage,
    pub db: Database,
    pub scrape: Arc<ScrapeManager>,
    pub engine: cardinal_promql::Engine,
    pub rules: Arc<cardinal_rules::manager::RuleManager>,
    pub notifier: Arc<cardinal_rules::notifier::Notifier>,
    pub rollups: Arc<cardinal_rollup::Rollups>,
    pub profiles: Arc<cardinal_profiles::Recorder>,
    /// Bodies (and decompressed profiles) above this are refused with 413.
    pub max_request_bytes: usize,
    pub external_labels: RwLock<Labels>,
    pub ready: AtomicBool,
    pub reload: mpsc::Sender<ReloadRequest>,
    pub federate_stats: federate::FederateStats,
    pub started: std::time::SystemTime,
    pub retention: std::time::Duration,
    pub write_stats: write::WriteStats,
    /// The running remote-write senders (the daemon starts and replaces them).
    pub remote_writers: parking_lot::Mutex<Vec<cardinal_remote::send::RemoteWriter>>,
    pub endpoints: Endpoints,
    /// Whether the running config has `profile_rules`.
    pub profile_rules: AtomicBool,
    /// Signalled by `POST /-/quit`.
    pub quit: tokio::sync::Notify,
    /// The HA tracker pushes and federation scrapes go through, when `ha_tracker` is set.
    pub ha: Option<Arc<cardinal_ha::HaStore>>,
    /// `--query.max-concurrency` slots, shared by every endpoint that evaluates or
    /// selects (queries, series and label lookups, `/federate`).
    pub query_slots: QuerySlots,
    /// The last configuration reload's outcome, for `prometheus_config_last_reload_*`.
    pub reloads: ReloadStats,
    /// The running configuration file's text (`/api/v1/status/config`, secrets masked).
    pub config_text: RwLock<String>,
    /// The command line's flags and values (`/api/v1/status/flags`).
    pub flags: Vec<(String, String)>,
    /// How long queries waited for a slot and took, for
    /// `prometheus_engine_query_duration_seconds`.
    pub query_timings: QueryTimings,
    /// Scraped exemplars (`/api/v1/query_exemplars`).
    pub exemplars: Arc<cardinal_storage::exemplars::ExemplarStore>,
    /// Requests by handler (`prometheus_http_requests_total`).
    pub http_metrics: http_metrics::HttpMetrics,
}

/// Query durations by Prometheus's slices: `queue_time` (waiting for a
/// `--query.max-concurrency` slot) and `inner_eval` (the evaluation, parsing and sorting
/// within it, so `prepare_time` and `result_sort` stay empty).
#[derive(Default)]
pub struct QueryTimings(parking_lot::Mutex<[cardinal_exposition::summary::Summary; 4]>);

impl QueryTimings {
    pub const SLICES: [&str; 4] = ["inner_eval", "prepare_time", "queue_time", "result_sort"];

    pub fn observe(&self, queue: std::time::Duration, eval: std::time::Duration) {
        let mut s = self.0.lock();
        s[0].observe(eval.as_secs_f64());
        s[2].observe(queue.as_secs_f64());
    }

    pub fn snapshot(&self) -> [cardinal_exposition::summary::Summary; 4] {
        self.0.lock().clone()
    }
}

/// `--query.max-concurrency` slots: a semaphore and its size.
pub struct QuerySlots {
    pub semaphore: Arc<tokio::sync::Semaphore>,
    pub max: usize,
}

impl QuerySlots {
    pub fn new(max: usize) -> QuerySlots {
        let max = max.max(1);
        QuerySlots { semaphore: Arc::new(tokio::sync::Semaphore::new(max)), max }
    }

    /// Slots taken now (`prometheus_engine_queries`).
    pub fn in_use(&self) -> usize {
        self.max.saturating_sub(self.semaphore.available_permits())
    }
}

/// Whether the last configuration (re)load succeeded, and when one last did.
pub struct ReloadStats {
    pub successful: AtomicBool,
    pub last_success: parking_lot::Mutex<std::time::SystemTime>,
}

impl ReloadStats {
    /// Records a reload's outcome.
    pub fn record(&self, ok: bool) {
        self.successful.store(ok, std::sync::atomic::Ordering::Relaxed);
        if ok {
            *self.last_success.lock() = std::time::SystemTime::now();
        }
    }
}

impl Default for ReloadStats {
    /// The configuration the daemon started with loaded, now.
    fn default() -> Self {
        ReloadStats {
            successful: AtomicBool::new(true),
            last_success: parking_lot::Mutex::new(std::time::SystemTime::now()),
        }
    }
}

impl ApiState {
    /// Whether profile uploads are taken: the flag, or `profile_rules` in the config.
    pub fn profile_ingestion(&self) -> bool {
        self.endpoints.profile_ingestion_flag || self.profile_rules.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn new(parts: Parts, reload: mpsc::Sender<ReloadRequest>) -> Self {
        let Parts { db, scrape, rules, notifier, rollups, profiles } = parts;
        ApiState {
            status_page: ui::StatusPage::Collector,
            db,
            scrape,
            engine: cardinal_promql::Engine::default(),
            rules,
            notifier,
            rollups,
            profiles,
            max_request_bytes: 32 << 20,
            external_labels: RwLock::new(Labels::empty()),
            ready: AtomicBool::new(false),
            reload,
            federate_stats: federate::FederateStats::default(),
            started: std::time::SystemTime::now(),
            retention: std::time::Duration::from_secs(2 * 3600),
            write_stats: write::WriteStats::default(),
            remote_writers: parking_lot::Mutex::new(Vec::new()),
            endpoints: Endpoints::default(),
            profile_rules: AtomicBool::new(false),
            quit: tokio::sync::Notify::new(),
            query_slots: QuerySlots::new(20),
            reloads: ReloadStats::default(),
            config_text: RwLock::new(String::new()),
            flags: Vec::new(),
            query_timings: QueryTimings::default(),
            exemplars: Arc::default(),
            http_metrics: http_metrics::HttpMetrics::default(),
            ha: None,
        }
    }
}

/// Every route, with gzip where the client asks for it.
pub fn router(state: Arc<ApiState>) -> Router {
    let profile_limit = axum::extract::DefaultBodyLimit::max(state.max_request_bytes);
    Router::new()
        .route("/", get(ui::handler))
        .route("/federate", get(federate::handler))
        .route("/metrics", get(self_metrics::handler))
        .route("/-/healthy", get(ops::healthy))
        .route("/-/ready", get(ops::ready))
        .route("/-/reload", get(ops::lifecycle_get).post(ops::reload).put(ops::reload))
        .route("/-/quit", get(ops::lifecycle_get).post(ops::quit).put(ops::quit))
        .route("/api/v1/query", get(query::query).post(query::query))
        .route("/api/v1/query_range", get(query::query_range).post(query::query_range))
        .route("/api/v1/series", get(query::series).post(query::series))
        .route("/api/v1/labels", get(query::labels).post(query::labels))
        .route("/api/v1/label/{name}/values", get(query::label_values))
        .route("/api/v1/query_exemplars", get(query::query_exemplars).post(query::query_exemplars))
        .route("/api/v1/write", post(write::handler).layer(axum::extract::DefaultBodyLimit::max(write::MAX_BODY_BYTES)))
        .route("/ingest", post(profiles::ingest).layer(profile_limit))
        .route("/push.v1.PusherService/Push", post(profiles::push).layer(profile_limit))
        .route("/api/v1/rules", get(rules::handler))
        .route("/api/v1/alerts", get(alerts::alerts))
        .route("/api/v1/alertmanagers", get(alerts::alertmanagers))
        .route("/api/v1/targets", get(status::targets))
        .route("/api/v1/status/tsdb", get(status::tsdb))
        .route("/api/v1/status/buildinfo", get(status::buildinfo))
        .route("/api/v1/status/config", get(runtime_status::config))
        .route("/api/v1/status/flags", get(runtime_status::flags))
        .route("/api/v1/status/runtimeinfo", get(runtime_status::runtimeinfo))
        .route("/api/v1/targets/metadata", get(status::targets_metadata))
        .route("/api/v1/format_query", get(query::format_query).post(query::format_query))
        .route("/api/v1/parse_query", get(query::parse_query).post(query::parse_query))
        .route("/api/v1/metadata", get(status::metadata))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), http_metrics::track))
        .layer(tower_http::compression::CompressionLayer::new())
        .with_state(state)
}

/// Values of a repeated query parameter (`match[]=a&match[]=b`).
pub fn query_values(query: Option<&str>, name: &str) -> Vec<String> {
    form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .collect()
}
