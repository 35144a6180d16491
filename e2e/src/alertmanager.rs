//! A real Alertmanager (Debian's `prometheus-alertmanager`, 0.25) on 127.0.0.1; tests
//! skip, saying why, without it.

use crate::prometheus::Tool;
use std::time::Duration;

pub struct Alertmanager {
    pub addr: String,
    _process: Tool,
}

impl Alertmanager {
    /// Starts one that groups within a second and notifies nobody; `None` when not installed.
    pub async fn start() -> Option<Alertmanager> {
        let config = "route: {receiver: 'null', group_wait: 1s}\nreceivers: [{name: 'null'}]\n";
        let (process, addr) =
            Tool::start("prometheus-alertmanager", config, "storage.path", &["--cluster.listen-address="])?;
        let am = Alertmanager { addr, _process: process };
        crate::wait_until(Duration::from_secs(30), || async { am.try_alerts().await.is_some() }).await;
        Some(am)
    }

    async fn try_alerts(&self) -> Option<Vec<serde_json::Value>> {
        let r = reqwest::get(format!("http://{}/api/v2/alerts", self.addr)).await.ok()?;
        if r.status() != 200 {
            return None;
        }
        r.json::<serde_json::Value>().await.ok()?.as_array().cloned()
    }

    /// The alerts it holds (active ones, as its API lists them by default).
    pub async fn alerts(&self) -> Vec<serde_json::Value> {
        self.try_alerts().await.expect("Alertmanager answers /api/v2/alerts")
    }
}
