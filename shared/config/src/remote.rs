//! `remote_write`, with Prometheus's defaults (2.42's queue sizes).

use crate::http::HttpClientConfig;
use crate::units::Dur;
use cardinal_relabel::RelabelConfig;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteWriteConfig {
    pub url: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default = "default_timeout")]
    pub remote_timeout: Dur,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub write_relabel_configs: Vec<RelabelConfig>,
    #[serde(default)]
    pub queue_config: QueueConfig,
    #[serde(default)]
    pub metadata_config: MetadataConfig,
    #[serde(default)]
    pub send_exemplars: bool,
    #[serde(flatten)]
    pub http: HttpClientConfig,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueConfig {
    pub capacity: usize,
    pub max_shards: usize,
    pub min_shards: usize,
    pub max_samples_per_send: usize,
    pub batch_send_deadline: Dur,
    pub min_backoff: Dur,
    pub max_backoff: Dur,
    pub retry_on_http_429: bool,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            capacity: 2500,
            max_shards: 200,
            min_shards: 1,
            max_samples_per_send: 500,
            batch_send_deadline: Dur(Duration::from_secs(5)),
            min_backoff: Dur(Duration::from_millis(30)),
            max_backoff: Dur(Duration::from_secs(5)),
            retry_on_http_429: false,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetadataConfig {
    pub send: bool,
    pub send_interval: Dur,
    pub max_samples_per_send: usize,
}

impl Default for MetadataConfig {
    fn default() -> Self {
        MetadataConfig { send: true, send_interval: Dur(Duration::from_secs(60)), max_samples_per_send: 500 }
    }
}

fn default_timeout() -> Dur {
    Dur(Duration::from_secs(30))
}

impl RemoteWriteConfig {
    pub(crate) fn finish(&mut self) -> Result<(), String> {
        let scheme_ok = self.url.starts_with("http://") || self.url.starts_with("https://");
        if !scheme_ok {
            return Err(format!("remote_write url {:?} must be an http or https URL", self.url));
        }
        for name in self.headers.keys() {
            let lower = name.to_ascii_lowercase();
            if ["authorization", "content-encoding", "content-type", "user-agent", "host"].contains(&lower.as_str())
                || lower.starts_with("x-prometheus-remote-write-")
            {
                return Err(format!("{name} is a reserved header. It must not be changed"));
            }
        }
        if self.queue_config.max_samples_per_send == 0 {
            return Err("queue_config.max_samples_per_send must be greater than 0".into());
        }
        self.http.validate()
    }
}
