//! A real Prometheus beside ours, for differential tests. Tests skip, saying why, when
//! the `prometheus` binary is not installed (CI installs it).

use std::process::{Child, Command, Stdio};
use std::time::Duration;
pub use testbed::tools::{free_addr, which};

/// Written in a tool's config, replaced by the address the tool listens on (for a job
/// that scrapes the tool itself).
pub const OWN_ADDRESS: &str = "${OWN_ADDRESS}";

pub struct Prometheus {
    pub addr: String,
    _process: Tool,
}

/// A real tool's process, its config and data in a temporary directory, killed when
/// dropped.
pub struct Tool {
    child: Child,
    _dir: tempfile::TempDir,
}

impl Tool {
    /// Starts the installed tool `name` on a free 127.0.0.1 port with `config` as its
    /// `--config.file`, `data_flag` naming its data directory, and `extra` flags; `None`
    /// (with the reason printed) when it is not installed.
    pub fn start(name: &str, config: &str, data_flag: &str, extra: &[&str]) -> Option<(Tool, String)> {
        Tool::launch(name, config, |cfg, data, addr| {
            let ours = [
                format!("--config.file={cfg}"),
                format!("--{data_flag}={data}"),
                format!("--web.listen-address={addr}"),
            ];
            ours.into_iter().chain(extra.iter().map(|e| e.to_string())).collect()
        })
    }

    /// Starts the installed tool `name` with the flags `args` makes of its config file's
    /// path, its data directory and a free 127.0.0.1 address (also put for [`OWN_ADDRESS`]
    /// in `config`); `None` (with the reason printed) when it is not installed.
    pub fn launch(
        name: &str,
        config: &str,
        args: impl FnOnce(&str, &str, &str) -> Vec<String>,
    ) -> Option<(Tool, String)> {
        let bin = find_tool(name)?;
        let dir = tempfile::tempdir().expect("temp dir");
        let cfg = dir.path().join("config.yml");
        let addr = free_addr();
        std::fs::write(&cfg, config.replace(OWN_ADDRESS, &addr)).expect("write config");
        let data = dir.path().join("data").display().to_string();
        let child = Command::new(bin)
            .args(args(&cfg.display().to_string(), &data, &addr))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        Some((Tool { child, _dir: dir }, addr))
    }
}

impl Drop for Tool {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The path of a tool, or `None` with a recorded reason to skip ([`crate::skip`]).
pub fn find_tool(name: &str) -> Option<std::path::PathBuf> {
    let found = which(name);
    if found.is_none() {
        crate::skip(&format!("`{name}` is not installed (.ci/run installs it with apt-get)"));
    }
    found
}

impl Prometheus {
    /// Starts Prometheus with `config` on a free 127.0.0.1 port; `None` when not installed.
    pub async fn start(config: &str) -> Option<Prometheus> {
        let (process, addr) = Tool::start("prometheus", config, "storage.tsdb.path", &["--web.enable-lifecycle"])?;
        let p = Prometheus { addr, _process: process };
        let ready = p.url("/-/ready");
        crate::wait_until(Duration::from_secs(30), || async {
            reqwest::get(&ready).await.is_ok_and(|r| r.status() == 200)
        })
        .await;
        Some(p)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// An instant query's result vector.
    pub async fn query(&self, q: &str) -> Vec<serde_json::Value> {
        let r =
            reqwest::Client::new().get(self.url("/api/v1/query")).query(&[("query", q)]).send().await.expect("query");
        let v: serde_json::Value = r.json().await.expect("json");
        v["data"]["result"].as_array().cloned().unwrap_or_default()
    }

    pub async fn federate(&self, selectors: &[&str]) -> String {
        let q: Vec<(&str, &str)> = selectors.iter().map(|s| ("match[]", *s)).collect();
        let r = reqwest::Client::new().get(self.url("/federate")).query(&q).send().await.expect("federate");
        r.text().await.expect("body")
    }

    /// Active targets as Prometheus reports them.
    pub async fn targets(&self) -> Vec<serde_json::Value> {
        let v: serde_json::Value =
            reqwest::get(self.url("/api/v1/targets")).await.expect("targets").json().await.expect("json");
        v["data"]["activeTargets"].as_array().cloned().unwrap_or_default()
    }
}

/// Every raw sample a Prometheus-compatible server at `base` holds for a range selector,
/// evaluated at `time` (seconds): `(labels, ms) -> value bits`, comparable bit for bit.
/// The labels named in `drop` are left out of the key.
pub async fn raw_samples(
    base: &str,
    selector: &str,
    time: f64,
    drop: &[&str],
) -> std::collections::BTreeMap<(String, i64), u64> {
    let r = reqwest::Client::new()
        .get(format!("{base}/api/v1/query"))
        .query(&[("query", selector.to_string()), ("time", format!("{time:.3}"))])
        .send()
        .await
        .expect("query");
    let v: serde_json::Value = r.json().await.expect("json");
    let mut out = std::collections::BTreeMap::new();
    for mut s in v["data"]["result"].as_array().cloned().unwrap_or_default() {
        let metric = s["metric"].as_object_mut().expect("metric");
        drop.iter().for_each(|name| _ = metric.remove(*name));
        let key = s["metric"].to_string();
        for p in s["values"].as_array().cloned().unwrap_or_default() {
            let t = (p[0].as_f64().expect("time") * 1000.0).round() as i64;
            let value: f64 = p[1].as_str().expect("value").parse().expect("number");
            out.insert((key.clone(), t), value.to_bits());
        }
    }
    out
}

/// The newest sample time of `metric` before `crash` and the first one after (seconds),
/// from the samples of the `secs` before `at`: the gap a crash left in the data.
pub async fn gap_around(base: &str, metric: &str, crash: f64, at: f64, secs: u64) -> (f64, f64) {
    let samples = raw_samples(base, &format!("{metric}[{secs}s]"), at, &[]).await;
    let times: std::collections::BTreeSet<i64> = samples.keys().map(|(_, t)| *t).collect();
    let crash_ms = (crash * 1000.0) as i64;
    let before = times.range(..crash_ms).next_back().copied().expect("samples before the crash");
    let after = times.range(crash_ms..).next().copied().expect("samples after the crash");
    (before as f64 / 1000.0, after as f64 / 1000.0)
}
