//! VictoriaMetrics' vmagent (Debian's `victoria-metrics` package) beside ours: the peer
//! for what Debian's Prometheus is built without, Kubernetes discovery. Tests skip,
//! saying why, when it is not installed (CI installs it).

use crate::prometheus::Tool;
use std::time::Duration;

pub struct Vmagent {
    pub addr: String,
    _process: Tool,
}

impl Vmagent {
    /// Starts vmagent scraping as `config` says, writing to nowhere (its queue on disk).
    pub async fn start(config: &str) -> Option<Vmagent> {
        let (process, addr) = Tool::launch("vmagent", config, |cfg, data, addr| {
            vec![
                format!("-promscrape.config={cfg}"),
                format!("-remoteWrite.tmpDataPath={data}"),
                "-remoteWrite.url=http://127.0.0.1:9/api/v1/write".into(),
                format!("-httpListenAddr={addr}"),
                // Changes seen within a second, as ours are (its default is 30 s).
                "-promscrape.kubernetesSDCheckInterval=1s".into(),
            ]
        })?;
        let v = Vmagent { addr, _process: process };
        let health = format!("http://{}/health", v.addr);
        crate::wait_until(Duration::from_secs(30), || async {
            reqwest::get(&health).await.is_ok_and(|r| r.status() == 200)
        })
        .await;
        Some(v)
    }

    /// Active targets, in Prometheus's `/api/v1/targets` shape.
    pub async fn targets(&self) -> Vec<serde_json::Value> {
        let url = format!("http://{}/api/v1/targets", self.addr);
        let v: serde_json::Value = reqwest::get(url).await.expect("targets").json().await.expect("json");
        v["data"]["activeTargets"].as_array().cloned().unwrap_or_default()
    }
}
