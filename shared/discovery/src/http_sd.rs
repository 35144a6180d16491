//! `http_sd_configs`: target groups served as JSON by an HTTP endpoint, fetched every
//! refresh interval (Prometheus's HTTP SD: the same request headers, the same checks of
//! the answer, `__meta_url` on every group). A failed refresh keeps the groups the last
//! good one gave, as Prometheus does.

#[cfg(test)]
use crate::Target;
use crate::{Discoverer, Groups, TargetGroup, Updates};
use cardinal_config::HttpSdConfig;
use futures_util::future::BoxFuture;
use regex::Regex;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::LazyLock;

/// The largest answer read. Prometheus reads any size; 10,000 pods' groups are a few
/// MB, and an endpoint gone wrong must not exhaust the daemon.
const MAX_BODY: usize = 64 << 20;

/// Prometheus's check of the answer's type, letter for letter.
static JSON: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"^(?i:application/json(;\s*charset=("utf-8"|utf-8))?)$"#).unwrap());

pub struct HttpSd(pub HttpSdConfig);

impl Discoverer for HttpSd {
    fn run(self: Box<Self>, out: Updates) -> BoxFuture<'static, ()> {
        Box::pin(run(self.0, out))
    }
}

async fn run(cfg: HttpSdConfig, out: Updates) {
    let client = match cardinal_client::build_client(&cfg.http) {
        Ok(c) => c,
        Err(e) => return tracing::error!(url = cfg.url, error = e, "HTTP SD: cannot build the client"),
    };
    loop {
        let sent = match tokio::time::timeout(cfg.refresh_interval.0, refresh(&client, &cfg)).await {
            Ok(Ok(groups)) => out.send(groups).await,
            Ok(Err(e)) => keep_previous(&cfg, &e, &out),
            Err(_) => keep_previous(&cfg, "no answer within the refresh interval", &out),
        };
        if !sent {
            return;
        }
        tokio::time::sleep(cfg.refresh_interval.0).await;
    }
}

/// Logs a failed refresh; `false` once nobody listens.
fn keep_previous(cfg: &HttpSdConfig, error: &str, out: &Updates) -> bool {
    tracing::error!(url = cfg.url, error, "HTTP SD: refresh failed; keeping the previous targets");
    !out.is_closed()
}

/// One group as the endpoint sends it: Go's decoder ignores other fields, and so do we.
#[derive(Deserialize)]
struct Group {
    #[serde(default)]
    targets: Vec<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

async fn refresh(client: &reqwest::Client, cfg: &HttpSdConfig) -> Result<Groups, String> {
    let req = client
        .get(&cfg.url)
        .header("User-Agent", cardinal_client::USER_AGENT)
        .header("Accept", "application/json")
        .header("X-Prometheus-Refresh-Interval-Seconds", cfg.refresh_interval.0.as_secs_f64().to_string());
    let resp =
        cardinal_client::authorize(req, &cfg.http)?.send().await.map_err(|e| cardinal_client::error_chain(&e))?;
    if resp.status() != reqwest::StatusCode::OK {
        return Err(format!("server returned HTTP status {}", resp.status()));
    }
    let content_type = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
    if !JSON.is_match(content_type.trim()) {
        return Err(format!("unsupported content type {content_type:?}"));
    }
    let body = cardinal_client::read_bounded(resp, MAX_BODY).await?;
    groups(&body, &cfg.url)
}

/// The groups of an answer, each with its source and `__meta_url`.
fn groups(body: &[u8], url: &str) -> Result<Groups, String> {
    let parsed: Vec<Option<Group>> = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let mut groups = Vec::with_capacity(parsed.len());
    for (i, g) in parsed.into_iter().enumerate() {
        let mut g = g.ok_or("nil target group item found")?;
        if let Some(bad) = g.labels.keys().find(|n| !cardinal_model::labels::is_valid_label_name(n)) {
            return Err(format!("{bad:?} is not a valid label name"));
        }
        g.labels.insert("__meta_url".into(), url.into());
        groups.push(Arc::new(TargetGroup::of_addresses(g.targets, g.labels, format!("{url}:{i}"))));
    }
    Ok(groups)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_become_groups_as_prometheus_reads_them() {
        let url = "http://127.0.0.1:1/sd";
        let body = br#"[{"targets": ["a:1", "b:2"], "labels": {"env": "x"}, "extra": 1}, {"targets": ["c:3"]}]"#;
        let g = groups(body, url).unwrap();
        assert_eq!(g.len(), 2);
        assert_eq!(g[0].targets, [Target::from("a:1".to_string()), Target::from("b:2".to_string())]);
        assert_eq!(g[0].labels["env"], "x");
        assert_eq!(g[1].labels["__meta_url"], url);
        assert_eq!(g[1].source, "http://127.0.0.1:1/sd:1");
        assert_eq!(groups(b"[null]", url).unwrap_err(), "nil target group item found");
        assert_eq!(groups(br#"[{"labels": {"a.b": "x"}}]"#, url).unwrap_err(), "\"a.b\" is not a valid label name");
        assert!(groups(b"{}", url).is_err(), "an object, not a list");
    }

    #[test]
    fn only_json_answers_are_read() {
        for ok in ["application/json", "Application/JSON; charset=utf-8", "application/json;charset=\"utf-8\""] {
            assert!(JSON.is_match(ok), "{ok}");
        }
        for bad in ["text/plain", "application/json; charset=latin1", "application/jsonx", ""] {
            assert!(!JSON.is_match(bad), "{bad}");
        }
    }
}
