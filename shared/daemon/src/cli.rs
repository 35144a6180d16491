//! Flags, named as Prometheus names them, and the promtool-like subcommands.

use cardinal_config::Config;
use cardinal_rules::manager::RuleManager;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// What differs between the two daemons.
#[derive(Clone, Copy)]
pub struct Role {
    pub name: &'static str,
    pub about: &'static str,
    pub default_config: &'static str,
    pub default_retention: &'static str,
    /// Compact the head into blocks (master) rather than just dropping old data.
    pub compaction: bool,
    pub status_page: cardinal_api::ui::StatusPage,
}

impl Role {
    pub const COLLECTOR: Role = Role {
        name: "collector",
        about: "Scrapes high-cardinality targets into a short-retention head and serves /federate",
        default_config: "collector.yml",
        default_retention: "2h",
        compaction: false,
        status_page: cardinal_api::ui::StatusPage::Collector,
    };
    pub const MASTER: Role = Role {
        name: "master",
        about: "Federates aggregates from collectors into durable, compressed long-term storage",
        default_config: "master.yml",
        default_retention: "15d",
        compaction: true,
        status_page: cardinal_api::ui::StatusPage::Master,
    };
}

#[derive(Parser)]
#[command(version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Every flag and its value, defaults included (`/api/v1/status/flags`).
    #[arg(skip)]
    pub flag_values: Vec<(String, String)>,
    /// Configuration file, in Prometheus's schema.
    #[arg(long = "config.file")]
    pub config_file: Option<PathBuf>,
    /// Address the HTTP API listens on.
    #[arg(long = "web.listen-address", default_value = "0.0.0.0:9090")]
    pub listen: String,
    /// Prometheus's web configuration file (TLS, basic auth, response headers); re-read
    /// when it changes.
    #[arg(long = "web.config.file")]
    pub web_config_file: Option<PathBuf>,
    /// Enable shutdown and reload via HTTP (`POST /-/quit`, `POST /-/reload`).
    #[arg(long = "web.enable-lifecycle")]
    pub enable_lifecycle: bool,
    /// Accept remote-write pushes on `POST /api/v1/write`.
    #[arg(long = "web.enable-remote-write-receiver")]
    pub enable_remote_write_receiver: bool,
    /// Prometheus's feature flags, comma-separated and repeatable, so that a Prometheus
    /// command line starts unchanged: `remote-write-receiver` turns the receiver on (as
    /// in Prometheus 2.x), the PromQL ones are always on here, the others are ignored
    /// with a warning at start.
    #[arg(long = "enable-feature", value_delimiter = ',')]
    pub enable_feature: Vec<String>,
    /// Prometheus's TSDB admin API (snapshots, deleting series): not served here; the
    /// flag is accepted, with a warning, so that a Prometheus command line starts.
    #[arg(long = "web.enable-admin-api")]
    pub enable_admin_api: bool,
    /// Prometheus's console templates: none here (accepted, said at start).
    #[arg(long = "web.console.templates")]
    pub console_templates: Option<String>,
    /// Prometheus's console libraries: none here (accepted, said at start).
    #[arg(long = "web.console.libraries")]
    pub console_libraries: Option<String>,
    /// Prometheus's WAL compression switch: our WAL snappy-compresses its large records
    /// either way (accepted, said at start).
    #[arg(long = "storage.tsdb.wal-compression", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub wal_compression: Option<bool>,
    /// Prometheus's spelling of `--storage.tsdb.wal-compression=false`.
    #[arg(long = "no-storage.tsdb.wal-compression", hide = true)]
    pub no_wal_compression: bool,
    /// Accept profile uploads (`/ingest`, the Push API) even without `profile_rules`.
    #[arg(long = "web.enable-profile-ingestion")]
    pub enable_profile_ingestion: bool,
    /// Largest profile upload accepted, compressed or decompressed (413 above it).
    #[arg(long = "web.max-request-bytes", default_value = "32MiB", value_parser = parse_bytes)]
    pub max_request_bytes: u64,
    /// Data directory: the WAL (and on the master the blocks) live here.
    #[arg(long = "storage.tsdb.path", default_value = "data/")]
    pub data: PathBuf,
    /// How long samples are kept (collector default 2h, master 15d).
    #[arg(long = "storage.tsdb.retention.time", value_parser = parse_duration)]
    pub retention: Option<Duration>,
    /// Maximum bytes of storage (blocks and WAL); the oldest blocks go first. 0 = no limit.
    #[arg(long = "storage.tsdb.retention.size", default_value = "0", value_parser = parse_bytes)]
    pub retention_size: u64,
    /// The time range the head is cut into blocks by (Prometheus's hidden flag of the same
    /// name and default); shorter only for tests that need blocks within minutes.
    #[arg(long = "storage.tsdb.min-block-duration", default_value = "2h", value_parser = parse_block_duration, hide = true)]
    pub min_block_duration: Duration,
    /// Samples further ahead of the wall clock than this are refused at every entry
    /// point (Prometheus refuses scraped samples 10m ahead): one far-future sample would
    /// otherwise become the newest time that compaction and retention count from.
    #[arg(long = "storage.tsdb.max-time-ahead", default_value = "10m", value_parser = parse_duration)]
    pub max_time_ahead: Duration,
    /// Most series the head holds before new ones from scrapes, pushes and profiles are
    /// refused (existing series keep flowing; rule and rollup outputs are always
    /// created). 0 = no limit.
    #[arg(long = "storage.tsdb.head-series-limit", default_value_t = 0)]
    pub head_series_limit: usize,
    /// Most bytes of WAL segments kept for a remote-write sender that has fallen behind
    /// (its remote down) beyond what the head needs; older segments go, and their
    /// samples are lost to that remote, counted in `cardinal_wal_held_segments_dropped_total`,
    /// rather than the disk filling. 0 = no limit.
    #[arg(long = "storage.remote.max-held-wal-size", default_value = "1GB", value_parser = parse_bytes)]
    pub remote_max_held_wal: u64,
    /// How often the WAL is fsynced: the most scraped data a power loss can take.
    #[arg(long = "storage.tsdb.wal-fsync-interval", default_value = "1s", value_parser = parse_duration)]
    pub wal_fsync_interval: Duration,
    /// Stamp a scrape that started a little late with its scheduled time, so that the
    /// timestamps stay evenly spaced and compress well (`=false` to turn off).
    #[arg(long = "scrape.adjust-timestamps", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub adjust_timestamps: bool,
    /// Prometheus's spelling of `--scrape.adjust-timestamps=false`.
    #[arg(long = "no-scrape.adjust-timestamps", hide = true)]
    pub no_adjust_timestamps: bool,
    /// How late a scrape may start and still be stamped with its scheduled time (at most
    /// 1% of the scrape interval).
    #[arg(long = "scrape.timestamp-tolerance", default_value = "2ms", value_parser = parse_duration)]
    pub timestamp_tolerance: Duration,
    /// How far back an instant vector selector looks for a sample.
    #[arg(long = "query.lookback-delta", default_value = "5m", value_parser = parse_duration)]
    pub lookback: Duration,
    /// Maximum time a query may take.
    #[arg(long = "query.timeout", default_value = "2m", value_parser = parse_duration)]
    pub query_timeout: Duration,
    /// Maximum samples a query may hold in memory at once.
    #[arg(long = "query.max-samples", default_value_t = 50_000_000)]
    pub max_samples: usize,
    /// Maximum queries evaluated at once; more wait for a slot (the wait counts towards
    /// `--query.timeout`).
    #[arg(long = "query.max-concurrency", default_value_t = 20)]
    pub max_concurrency: usize,
    /// The URL the daemon is reachable under: the base of alerts' generatorURL and of
    /// `$externalURL` in templates. Default: http://<hostname>:<listen port>.
    #[arg(long = "web.external-url")]
    pub external_url: Option<String>,
    /// Minimum time before a firing alert is sent to Alertmanager again.
    #[arg(long = "rules.alert.resend-delay", default_value = "1m", value_parser = parse_duration)]
    pub resend_delay: Duration,
    /// Longest outage after which an alert's `for` progress is still restored.
    #[arg(long = "rules.alert.for-outage-tolerance", default_value = "1h", value_parser = parse_duration)]
    pub for_outage_tolerance: Duration,
    /// Least time a restored alert waits before firing; rules with a shorter `for` are not restored.
    #[arg(long = "rules.alert.for-grace-period", default_value = "10m", value_parser = parse_duration)]
    pub for_grace_period: Duration,
    /// Alerts queued for Alertmanager; the oldest are dropped beyond this.
    #[arg(long = "alertmanager.notification-queue-capacity", default_value_t = 10_000)]
    pub notification_queue_capacity: usize,
    /// Log level: debug, info, warn or error.
    #[arg(long = "log.level", default_value = "info")]
    pub log_level: String,
    /// Log format: logfmt (human-readable) or json.
    #[arg(long = "log.format", default_value = "logfmt")]
    pub log_format: String,
}

#[derive(Subcommand)]
pub enum Command {
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
pub enum Check {
    /// Check configuration files; exits non-zero with the first error of each.
    Config { files: Vec<PathBuf> },
    /// Check rule files: exit 1 on errors, 3 on lint problems (duplicate rules).
    Rules { files: Vec<String> },
    /// Check web configuration files, as `promtool check web-config` does.
    WebConfig { files: Vec<PathBuf> },
}

#[derive(Subcommand)]
pub enum Test {
    /// Run rule unit tests in promtool's format: exit 0 when all pass, 1 otherwise.
    Rules { files: Vec<String> },
}

impl Cli {
    /// How late a scrape may start and still get its slot's timestamp: zero when
    /// adjusting is off.
    pub fn scrape_timestamp_tolerance(&self) -> Duration {
        if self.adjust_timestamps && !self.no_adjust_timestamps { self.timestamp_tolerance } else { Duration::ZERO }
    }
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    cardinal_model::parse_duration(s)
}

/// A block range: whole seconds, at least a minute (blocks are cut at most once a minute).
fn parse_block_duration(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d < Duration::from_secs(60) {
        return Err(format!("{s} is shorter than a minute"));
    }
    Ok(d)
}

fn parse_bytes(s: &str) -> Result<u64, String> {
    cardinal_config::ByteSize::parse(s).map(|b| b.0)
}

pub fn parse(role: &Role, args: impl IntoIterator<Item = std::ffi::OsString>) -> Result<Cli, ExitCode> {
    let matches = Cli::command().name(role.name).about(role.about).get_matches_from(args);
    let mut cli = Cli::from_arg_matches(&matches).map_err(|e| {
        let _ = e.print();
        ExitCode::from(2)
    })?;
    cli.config_file.get_or_insert_with(|| PathBuf::from(role.default_config));
    if cli.enable_feature.iter().any(|f| f == "remote-write-receiver") {
        cli.enable_remote_write_receiver = true;
    }
    if cli.retention.is_none() {
        cli.retention = Some(parse_duration(role.default_retention).expect("valid default"));
    }
    cli.flag_values = flag_values(&matches);
    Ok(cli)
}

/// Each long flag as given or defaulted, as Prometheus lists them: values joined by
/// commas, an unset one empty.
fn flag_values(matches: &clap::ArgMatches) -> Vec<(String, String)> {
    let command = Cli::command();
    let mut out: Vec<(String, String)> = command
        .get_arguments()
        .filter_map(|arg| {
            let long = arg.get_long()?;
            let values = matches.get_raw(arg.get_id().as_str()).into_iter().flatten();
            let values: Vec<String> = values.map(|v| v.to_string_lossy().into_owned()).collect();
            Some((long.to_string(), values.join(",")))
        })
        .collect();
    out.sort();
    out
}

/// Says at start what the Prometheus flags given that have nothing to act on here do.
pub fn log_prometheus_only_flags(cli: &Cli) {
    if cli.enable_admin_api {
        tracing::warn!("--web.enable-admin-api: the TSDB admin API (snapshots, deleting series) is not served here");
    }
    if cli.console_templates.is_some() || cli.console_libraries.is_some() {
        tracing::info!("--web.console.templates/--web.console.libraries: no console templates here; ignored");
    }
    if cli.wal_compression.is_some() || cli.no_wal_compression {
        tracing::info!("--storage.tsdb.wal-compression: the WAL snappy-compresses its large records either way");
    }
}

/// Says at start what each `--enable-feature` option does here.
pub fn log_features(features: &[String]) {
    for option in features.iter().filter(|f| !f.is_empty()) {
        match option.as_str() {
            "remote-write-receiver" => tracing::warn!(
                option,
                "the remote-write receiver is on; --web.enable-remote-write-receiver is the flag for it"
            ),
            "exemplar-storage" => {
                tracing::info!(option, "exemplars kept (storage.exemplars.max_exemplars, 100000 by default)")
            }
            "promql-at-modifier" | "promql-negative-offset" | "promql-experimental-functions" => {
                tracing::info!(option, "always on here")
            }
            _ => tracing::warn!(option, "--enable-feature option not implemented here; ignored"),
        }
    }
}

/// Runs a subcommand if one was given, returning its exit code.
pub fn run_subcommand(cli: &Cli) -> Option<ExitCode> {
    Some(match cli.command.as_ref()? {
        Command::Check { what: Check::Config { files } } => check_config(files),
        Command::Check { what: Check::Rules { files } } => ExitCode::from(cardinal_rules::check::run(files)),
        Command::Check { what: Check::WebConfig { files } } => check_web_config(files),
        Command::Test { what: Test::Rules { files } } => {
            if cardinal_rules::unittest::run_files::<cardinal_tsdb::Head>(files) {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
    })
}

fn check_config(files: &[PathBuf]) -> ExitCode {
    let mut ok = true;
    for f in files {
        // As promtool does, the rule files a config names are checked with it.
        let checked = Config::load(f).map_err(|e| e.to_string()).and_then(|c| {
            let groups = RuleManager::load(&c.rule_files)?;
            Ok((c.scrape_configs.len(), groups.len(), c.rollups.len(), c.profiles.len()))
        });
        match checked {
            Ok((jobs, groups, rollups, profiles)) => println!(
                "  SUCCESS: {} is valid ({jobs} scrape configs, {groups} rule groups, {rollups} rollup rules, \
                 {profiles} profile rules)",
                f.display()
            ),
            Err(e) => {
                eprintln!("  FAILED: {e}");
                ok = false;
            }
        }
    }
    if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

/// promtool's output: `F SUCCESS` or `F FAILED: <error>` on stderr, exit 1 if any failed.
fn check_web_config(files: &[PathBuf]) -> ExitCode {
    let mut ok = true;
    for f in files {
        match cardinal_web::WebConfig::load(f) {
            Ok(_) => eprintln!("{} SUCCESS", f.display()),
            Err(e) => {
                eprintln!("{} FAILED: {e}", f.display());
                ok = false;
            }
        }
    }
    if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tolerance(args: &[&str]) -> Duration {
        let args = std::iter::once("collector").chain(args.iter().copied()).map(std::ffi::OsString::from);
        parse(&Role::COLLECTOR, args).unwrap_or_else(|_| panic!("flags parse")).scrape_timestamp_tolerance()
    }

    #[test]
    fn scrape_timestamps_are_adjusted_within_2ms_unless_turned_off_as_prometheus_spells_it() {
        assert_eq!(tolerance(&[]), Duration::from_millis(2));
        assert_eq!(tolerance(&["--scrape.timestamp-tolerance=10ms"]), Duration::from_millis(10));
        assert_eq!(tolerance(&["--scrape.adjust-timestamps=false"]), Duration::ZERO);
        assert_eq!(tolerance(&["--no-scrape.adjust-timestamps"]), Duration::ZERO);
        assert_eq!(tolerance(&["--scrape.adjust-timestamps"]), Duration::from_millis(2));
    }
}
