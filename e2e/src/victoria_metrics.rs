//! VictoriaMetrics single-node (Debian's `victoria-metrics` package) as the distributed
//! store a master writes onward to: stopped and started again on the same address and
//! data for outage tests. Tests skip, saying why, when it is not installed (CI installs it).

use crate::prometheus::{find_tool, free_addr};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct VictoriaMetrics {
    pub addr: String,
    bin: PathBuf,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl VictoriaMetrics {
    /// Starts it on a free 127.0.0.1 port; `None` when it is not installed.
    pub async fn start() -> Option<VictoriaMetrics> {
        let bin = find_tool("victoria-metrics")?;
        let mut vm =
            VictoriaMetrics { addr: free_addr(), bin, dir: tempfile::tempdir().expect("temp dir"), child: None };
        vm.run().await;
        Some(vm)
    }

    /// Where remote write sends to.
    pub fn write_url(&self) -> String {
        format!("http://{}/api/v1/write", self.addr)
    }

    async fn run(&mut self) {
        let child = Command::new(&self.bin)
            .args([
                format!("-storageDataPath={}", self.dir.path().display()),
                format!("-httpListenAddr={}", self.addr),
                "-retentionPeriod=100y".into(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start victoria-metrics");
        self.child = Some(child);
        let health = format!("http://{}/health", self.addr);
        crate::wait_until(Duration::from_secs(30), || async {
            reqwest::get(&health).await.is_ok_and(|r| r.status() == 200)
        })
        .await;
    }

    /// Stops it (an outage): remote write to it fails until [`VictoriaMetrics::restart`].
    /// Gracefully (SIGTERM), as an operator would: SIGKILL loses what it had not yet
    /// flushed from memory, which is its loss, not the sender's.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill").arg(c.id().to_string()).status();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same address with the same data.
    pub async fn restart(&mut self) {
        self.stop();
        self.run().await;
    }

    /// Every stored sample of the series `selector` matches, as (ms, value), oldest first
    /// (`/api/v1/export`: raw samples, no query lookback or latency offset).
    pub async fn export(&self, selector: &str) -> Vec<(i64, f64)> {
        let url = format!("http://{}/api/v1/export", self.addr);
        let r = reqwest::Client::new().get(url).query(&[("match[]", selector)]).send().await.expect("export");
        let text = r.text().await.expect("export body");
        let mut out = Vec::new();
        for line in text.lines().filter(|l| !l.is_empty()) {
            let v: serde_json::Value = serde_json::from_str(line).expect("export line");
            let (ts, vals) = (v["timestamps"].as_array().expect("timestamps"), v["values"].as_array().expect("values"));
            out.extend(ts.iter().zip(vals).map(|(t, v)| (t.as_i64().expect("ms"), v.as_f64().expect("value"))));
        }
        out.sort_by_key(|s| s.0);
        out
    }
}

impl Drop for VictoriaMetrics {
    fn drop(&mut self) {
        self.stop();
    }
}
