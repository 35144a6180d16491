//! The configuration file, in Prometheus's YAML schema. Unknown fields are errors that
//! name `file:line:column`; cross-field checks follow Prometheus's messages.

mod ha;
mod http;
mod kubernetes;
mod names;
pub mod profile;
mod remote;
pub mod rollup;
mod scrape;
mod units;

pub use ha::HaTrackerConfig;
pub use http::{Authorization, BasicAuth, Credentials, HttpClientConfig, TlsConfig};
pub use kubernetes::KubernetesSdConfig;
pub use profile::{ProfileRule, ProfileRuleConfig};
pub use remote::{MetadataConfig, QueueConfig, RemoteWriteConfig};
pub use rollup::{Grouping, RollupOutput, RollupRule, RollupRuleConfig};
pub use scrape::{
    AlertingConfig, AlertmanagerConfig, DnsSdConfig, FileSdConfig, HttpSdConfig, ScrapeConfig, SdConfigs, StaticConfig,
};
pub use units::{ByteSize, Dur};

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// The whole configuration file.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub global: GlobalConfig,
    #[serde(default)]
    pub scrape_configs: Vec<ScrapeConfig>,
    #[serde(default)]
    pub rule_files: Vec<String>,
    #[serde(default)]
    pub alerting: AlertingConfig,
    #[serde(default)]
    pub remote_write: Vec<RemoteWriteConfig>,
    /// Streaming rollups, as written; [`Config::rollups`] has them with defaults filled.
    #[serde(default)]
    pub rollup_rules: Vec<RollupRuleConfig>,
    #[serde(skip)]
    pub rollups: Vec<RollupRule>,
    /// Series recorded from ingested profiles, as written; checked in [`Config::profiles`].
    #[serde(default)]
    pub profile_rules: Vec<ProfileRuleConfig>,
    #[serde(skip)]
    pub profiles: Vec<ProfileRule>,
    /// The master's deduplication of HA pairs (`ha.rs`); read at start only.
    #[serde(default)]
    pub ha_tracker: Option<HaTrackerConfig>,
    /// Prometheus's `storage` section: exemplar storage, and the out-of-order window.
    #[serde(default)]
    pub storage: StorageConfig,
}

/// Prometheus's `storage:` block.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    #[serde(default)]
    pub tsdb: TsdbConfig,
    /// `None`: not set (exemplars kept only with `--enable-feature=exemplar-storage`).
    pub exemplars: Option<ExemplarsConfig>,
}

/// `storage.tsdb`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TsdbConfig {
    /// Accepted for Prometheus's schema; the master takes older samples whatever it says
    /// (late samples go beside the blocks), the collector keeps its head's order.
    #[serde(default)]
    pub out_of_order_time_window: Option<Dur>,
}

/// `storage.exemplars`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExemplarsConfig {
    /// Exemplars kept, in a circular store; 0 (or negative, as Prometheus) turns it off.
    #[serde(default = "default_max_exemplars")]
    pub max_exemplars: i64,
}

/// Prometheus's default once exemplar storage is on.
pub const DEFAULT_MAX_EXEMPLARS: i64 = 100_000;

fn default_max_exemplars() -> i64 {
    DEFAULT_MAX_EXEMPLARS
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GlobalConfig {
    pub scrape_interval: Dur,
    /// When unset, 10s or the scrape interval if that is shorter (filled by `finish`).
    pub scrape_timeout: Option<Dur>,
    pub evaluation_interval: Dur,
    pub external_labels: BTreeMap<String, String>,
}

impl GlobalConfig {
    pub fn scrape_timeout(&self) -> Duration {
        self.scrape_timeout.map(|d| d.0).unwrap_or(Duration::from_secs(10))
    }
}

impl Default for GlobalConfig {
    fn default() -> Self {
        GlobalConfig {
            scrape_interval: Dur(Duration::from_secs(60)),
            scrape_timeout: None,
            evaluation_interval: Dur(Duration::from_secs(60)),
            external_labels: BTreeMap::new(),
        }
    }
}

/// A config error, already formatted `file:line:col: message` where the position is known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Reads and validates a file; relative paths inside it (rule files, SD files,
    /// credentials) are resolved against its directory, as Prometheus does.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|e| ConfigError(format!("{}: cannot read: {e}", path.display())))?;
        Config::load_text(&text, path)
    }

    /// Like [`Config::load`], with the file's text already read.
    pub fn load_text(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let mut cfg = Config::parse(text, &path.display().to_string())?;
        cfg.resolve_paths(path.parent().unwrap_or(Path::new(".")));
        Ok(cfg)
    }

    /// Parses and validates config text; `name` is used in error messages.
    pub fn parse(text: &str, name: &str) -> Result<Config, ConfigError> {
        let mut cfg: Config = parse_yaml(text, name)?;
        cfg.finish().map_err(|e| ConfigError(format!("{name}: {e}")))?;
        Ok(cfg)
    }

    /// Fills defaults from `global` and checks what spans several fields.
    fn finish(&mut self) -> Result<(), String> {
        let g = &mut self.global;
        let default_timeout = Dur(Duration::from_secs(10)).min(g.scrape_interval);
        if g.scrape_timeout.get_or_insert(default_timeout).0 > g.scrape_interval.0 {
            return Err("global scrape timeout greater than scrape interval".into());
        }
        for name in g.external_labels.keys() {
            if !cardinal_model::labels::is_valid_label_name(name) {
                return Err(format!("{name:?} is not a valid label name"));
            }
        }
        let mut seen = std::collections::HashSet::new();
        for sc in &mut self.scrape_configs {
            if !seen.insert(sc.job_name.clone()) {
                return Err(format!("found multiple scrape configs with job name {:?}", sc.job_name));
            }
            sc.finish(&self.global)?;
        }
        self.alerting.alertmanagers.iter().try_for_each(AlertmanagerConfig::validate)?;
        let mut names = std::collections::HashSet::new();
        for rw in &mut self.remote_write {
            rw.finish()?;
            if let Some(n) = &rw.name
                && !names.insert(n.clone())
            {
                return Err(format!("found multiple remote write configs with job name {n:?}"));
            }
        }
        self.rollups = rollup::finish_all(&self.rollup_rules, &self.global)?;
        self.profiles = profile::finish_all(&self.profile_rules)?;
        self.ha_tracker.as_ref().map_or(Ok(()), HaTrackerConfig::validate)
    }

    fn resolve_paths(&mut self, dir: &Path) {
        let join = |p: &mut String| {
            if !p.is_empty() && Path::new(p.as_str()).is_relative() {
                *p = dir.join(&*p).display().to_string();
            }
        };
        self.rule_files.iter_mut().for_each(join);
        for sc in &mut self.scrape_configs {
            sc.file_sd_configs.iter_mut().flat_map(|f| f.files.iter_mut()).for_each(join);
            sc.http_sd_configs.iter_mut().for_each(|h| h.http.resolve_paths(&join));
            sc.kubernetes_sd_configs.iter_mut().for_each(|k| k.resolve_paths(&join));
            sc.http.resolve_paths(&join);
        }
        for rw in &mut self.remote_write {
            rw.http.resolve_paths(&join);
        }
        for am in &mut self.alerting.alertmanagers {
            am.file_sd_configs.iter_mut().flat_map(|f| f.files.iter_mut()).for_each(join);
            am.http_sd_configs.iter_mut().for_each(|h| h.http.resolve_paths(&join));
            am.kubernetes_sd_configs.iter_mut().for_each(|k| k.resolve_paths(&join));
            am.http.resolve_paths(&join);
        }
    }
}

/// Deserializes YAML, turning serde-saphyr's errors into `name:line:col: message`.
pub fn parse_yaml<T: serde::de::DeserializeOwned>(text: &str, name: &str) -> Result<T, ConfigError> {
    serde_saphyr::from_str(text).map_err(|e| {
        let plain = e.without_snippet().to_string();
        match e.location() {
            Some(loc) => {
                let suffix = format!(" at line {}, column {}", loc.line(), loc.column());
                let msg = plain.strip_suffix(&suffix).unwrap_or(&plain);
                let (line, col) = unknown_field_position(text, msg, loc.line() as usize)
                    .unwrap_or((loc.line() as usize, loc.column() as usize));
                ConfigError(format!("{name}:{line}:{col}: {msg}"))
            }
            None => ConfigError(format!("{name}: {plain}")),
        }
    })
}

/// serde places an unknown field of a struct with flattened parts (the inline HTTP
/// client settings) at the start of its mapping; the key's own line is more useful, so
/// look for it from there on.
fn unknown_field_position(text: &str, msg: &str, from_line: usize) -> Option<(usize, usize)> {
    let field = msg.strip_prefix("unknown field `")?.split('`').next()?;
    text.lines().enumerate().skip(from_line.saturating_sub(1)).find_map(|(i, line)| {
        let key_start = line.len() - line.trim_start_matches([' ', '-']).len();
        let rest = &line[key_start..];
        let is_key = rest.strip_prefix(field).is_some_and(|r| r.trim_start().starts_with(':'));
        is_key.then_some((i + 1, key_start + 1))
    })
}

#[cfg(test)]
mod tests;
