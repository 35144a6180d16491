//! `scrape_configs` and `alerting`, with Prometheus's defaults.

use crate::GlobalConfig;
use crate::http::HttpClientConfig;
use crate::kubernetes::KubernetesSdConfig;
use crate::units::{ByteSize, Dur};
use cardinal_relabel::RelabelConfig;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScrapeConfig {
    pub job_name: String,
    #[serde(default)]
    pub honor_labels: bool,
    #[serde(default = "yes")]
    pub honor_timestamps: bool,
    /// Stale markers for series that carried explicit timestamps. Prometheus defaults this
    /// to false, which is why federated series linger for 5 minutes after they vanish
    /// (prometheus#4082); we default to true.
    #[serde(default = "yes")]
    pub track_timestamps_staleness: bool,
    /// Filled from `global` when absent (see `finish`).
    pub scrape_interval: Option<Dur>,
    pub scrape_timeout: Option<Dur>,
    #[serde(default = "default_metrics_path")]
    pub metrics_path: String,
    #[serde(default = "default_scheme")]
    pub scheme: String,
    #[serde(default)]
    pub params: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub static_configs: Vec<StaticConfig>,
    #[serde(default)]
    pub file_sd_configs: Vec<FileSdConfig>,
    #[serde(default)]
    pub dns_sd_configs: Vec<DnsSdConfig>,
    #[serde(default)]
    pub http_sd_configs: Vec<HttpSdConfig>,
    #[serde(default)]
    pub kubernetes_sd_configs: Vec<KubernetesSdConfig>,
    #[serde(default)]
    pub relabel_configs: Vec<RelabelConfig>,
    #[serde(default)]
    pub metric_relabel_configs: Vec<RelabelConfig>,
    #[serde(default)]
    pub sample_limit: u64,
    #[serde(default)]
    pub label_limit: u64,
    #[serde(default)]
    pub label_name_length_limit: u64,
    #[serde(default)]
    pub label_value_length_limit: u64,
    #[serde(default)]
    pub body_size_limit: ByteSize,
    #[serde(default)]
    pub target_limit: u64,
    #[serde(flatten)]
    pub http: HttpClientConfig,
}

fn yes() -> bool {
    true
}

fn default_metrics_path() -> String {
    "/metrics".into()
}

fn default_scheme() -> String {
    "http".into()
}

impl ScrapeConfig {
    pub fn interval(&self) -> Duration {
        self.scrape_interval.map(|d| d.0).unwrap_or_default()
    }

    pub fn timeout(&self) -> Duration {
        self.scrape_timeout.map(|d| d.0).unwrap_or_default()
    }

    pub(crate) fn finish(&mut self, global: &GlobalConfig) -> Result<(), String> {
        let job = &self.job_name;
        if job.is_empty() {
            return Err("job_name is empty".into());
        }
        let interval = *self.scrape_interval.get_or_insert(global.scrape_interval);
        if self.scrape_timeout.is_none() {
            // Prometheus: the global timeout, unless that exceeds this job's interval.
            self.scrape_timeout = Some(Dur(global.scrape_timeout()).min(interval));
        }
        if self.timeout() > self.interval() {
            return Err(format!("scrape timeout greater than scrape interval for scrape config with job name {job:?}"));
        }
        if self.interval().is_zero() {
            return Err(format!("scrape interval must be positive for scrape config with job name {job:?}"));
        }
        if self.scheme != "http" && self.scheme != "https" {
            return Err(format!("invalid scheme {:?} for scrape config with job name {job:?}", self.scheme));
        }
        if !self.metrics_path.starts_with('/') {
            return Err(format!("metrics_path must start with '/' for scrape config with job name {job:?}"));
        }
        self.http.validate().map_err(|e| format!("job {job:?}: {e}"))?;
        self.sd().validate().map_err(|e| format!("job {job:?}: {e}"))
    }
}

/// The discovery mechanisms a scrape job or an Alertmanager set names, besides its
/// static targets.
pub struct SdConfigs<'a> {
    pub files: &'a [FileSdConfig],
    pub dns: &'a [DnsSdConfig],
    pub http: &'a [HttpSdConfig],
    pub kubernetes: &'a [KubernetesSdConfig],
}

impl<'a> SdConfigs<'a> {
    fn of(
        files: &'a [FileSdConfig],
        dns: &'a [DnsSdConfig],
        http: &'a [HttpSdConfig],
        kubernetes: &'a [KubernetesSdConfig],
    ) -> SdConfigs<'a> {
        SdConfigs { files, dns, http, kubernetes }
    }

    fn validate(&self) -> Result<(), String> {
        self.dns.iter().try_for_each(DnsSdConfig::validate)?;
        self.http.iter().try_for_each(HttpSdConfig::validate)?;
        self.kubernetes.iter().try_for_each(KubernetesSdConfig::validate)
    }
}

impl ScrapeConfig {
    pub fn sd(&self) -> SdConfigs<'_> {
        SdConfigs::of(&self.file_sd_configs, &self.dns_sd_configs, &self.http_sd_configs, &self.kubernetes_sd_configs)
    }
}

impl AlertmanagerConfig {
    pub fn sd(&self) -> SdConfigs<'_> {
        SdConfigs::of(&self.file_sd_configs, &self.dns_sd_configs, &self.http_sd_configs, &self.kubernetes_sd_configs)
    }

    pub(crate) fn validate(&self) -> Result<(), String> {
        self.http.validate()?;
        self.sd().validate().map_err(|e| format!("alertmanager config: {e}"))
    }
}

/// Targets with common labels; also the schema of each entry of a file-SD file.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticConfig {
    #[serde(default)]
    pub targets: Vec<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSdConfig {
    pub files: Vec<String>,
    #[serde(default = "five_minutes")]
    pub refresh_interval: Dur,
}

fn five_minutes() -> Dur {
    Dur(Duration::from_secs(300))
}

fn thirty_seconds() -> Dur {
    Dur(Duration::from_secs(30))
}

/// DNS service discovery. Prometheus's default record type is SRV; we resolve A and
/// AAAA records (what docker-compose's scaled services publish) and say so when another
/// type is asked for rather than silently doing something else.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsSdConfig {
    pub names: Vec<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub port: Option<u16>,
    #[serde(default = "thirty_seconds")]
    pub refresh_interval: Dur,
}

impl DnsSdConfig {
    fn validate(&self) -> Result<(), String> {
        match self.kind.as_deref().map(str::to_ascii_uppercase).as_deref() {
            Some("A") | Some("AAAA") if self.port.is_some() => Ok(()),
            Some("A") | Some("AAAA") => {
                Err("a port is required in DNS-SD configs for all record types except SRV".into())
            }
            other => Err(format!(
                "dns_sd_configs type {:?} is not supported: use type A or AAAA with a port",
                other.unwrap_or("SRV")
            )),
        }
    }

    /// True for AAAA (IPv6) lookups.
    pub fn wants_ipv6(&self) -> bool {
        self.kind.as_deref().is_some_and(|k| k.eq_ignore_ascii_case("AAAA"))
    }
}

/// `http_sd_configs`: target groups served as JSON (the file-SD schema) by an HTTP
/// endpoint, fetched every `refresh_interval` with the HTTP client settings beside it.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSdConfig {
    pub url: String,
    #[serde(default = "one_minute")]
    pub refresh_interval: Dur,
    #[serde(flatten)]
    pub http: HttpClientConfig,
}

fn one_minute() -> Dur {
    Dur(Duration::from_secs(60))
}

impl HttpSdConfig {
    /// Prometheus's checks, in its words.
    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.url.is_empty() {
            return Err("URL is missing".into());
        }
        let url = url::Url::parse(&self.url).map_err(|e| match e {
            url::ParseError::EmptyHost => "host is missing in URL".to_string(),
            e => format!("http_sd_configs url {:?}: {e}", self.url),
        })?;
        if url.scheme() != "http" && url.scheme() != "https" {
            return Err("URL scheme must be 'http' or 'https'".into());
        }
        if self.refresh_interval.0.is_zero() {
            return Err("http_sd_configs refresh_interval must be positive".into());
        }
        self.http.validate()
    }
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertingConfig {
    #[serde(default)]
    pub alert_relabel_configs: Vec<RelabelConfig>,
    #[serde(default)]
    pub alertmanagers: Vec<AlertmanagerConfig>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertmanagerConfig {
    #[serde(default = "default_scheme")]
    pub scheme: String,
    #[serde(default)]
    pub path_prefix: String,
    #[serde(default = "ten_seconds")]
    pub timeout: Dur,
    #[serde(default = "default_api_version")]
    pub api_version: String,
    #[serde(default)]
    pub static_configs: Vec<StaticConfig>,
    #[serde(default)]
    pub file_sd_configs: Vec<FileSdConfig>,
    #[serde(default)]
    pub dns_sd_configs: Vec<DnsSdConfig>,
    #[serde(default)]
    pub http_sd_configs: Vec<HttpSdConfig>,
    #[serde(default)]
    pub kubernetes_sd_configs: Vec<KubernetesSdConfig>,
    #[serde(default)]
    pub relabel_configs: Vec<RelabelConfig>,
    #[serde(flatten)]
    pub http: HttpClientConfig,
}

fn ten_seconds() -> Dur {
    Dur(Duration::from_secs(10))
}

fn default_api_version() -> String {
    "v2".into()
}
