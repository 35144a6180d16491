//! A real Alertmanager (Debian's `prometheus-alertmanager`, 0.25) on 127.0.0.1; tests
//! skip, saying why, without it.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Alertmanager {
    child: Child,
    pub addr: String,
    _dir: tempfile::TempDir,
}

impl Alertmanager {
    /// Starts one that groups within a second and notifies nobody; `None` when not installed.
    pub async fn start() -> Option<Alertmanager> {
        let bin = crate::prometheus::find_tool("prometheus-alertmanager")?;
        let dir = tempfile::tempdir().expect("temp dir");
        let cfg = dir.path().join("am.yml");
        std::fs::write(&cfg, "route: {receiver: 'null', group_wait: 1s}\nreceivers: [{name: 'null'}]\n")
            .expect("config");
        let addr = crate::prometheus::free_addr();
        let child = Command::new(bin)
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!("--storage.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address={addr}"))
            .arg("--cluster.listen-address=")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start alertmanager");
        let am = Alertmanager { child, addr, _dir: dir };
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

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
