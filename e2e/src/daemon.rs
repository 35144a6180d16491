//! Running a daemon binary for a test.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where cargo put a workspace binary: beside the test executable's `deps/` directory,
/// unless `CARDINAL_BIN_DIR` says otherwise (a relative one from the workspace root, where
/// the commands in the docs are run; tests themselves run in their crate's directory).
pub fn bin_path(name: &str) -> PathBuf {
    if let Ok(dir) = std::env::var("CARDINAL_BIN_DIR") {
        return Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(dir).join(name);
    }
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe.parent().and_then(Path::parent).expect("target directory");
    dir.join(name)
}

/// A running daemon; killed when dropped.
pub struct Daemon {
    child: Child,
    pub addr: SocketAddr,
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    log: Log,
    bin: String,
    extra: Vec<String>,
    access: Access,
}

/// How the test reaches a daemon: its scheme, and a client with whatever TLS roots,
/// client certificate and credentials its web config asks for.
#[derive(Clone)]
pub struct Access {
    pub scheme: &'static str,
    pub client: reqwest::Client,
}

impl Default for Access {
    fn default() -> Self {
        Access { scheme: "http", client: reqwest::Client::new() }
    }
}

type Log = std::sync::Arc<parking_lot::Mutex<Vec<String>>>;

/// Starts `bin` on `listen` (port 0: an ephemeral one) with its data under `dir`; waits
/// until it is ready.
async fn spawn(
    bin: &str,
    listen: &str,
    dir: &Path,
    cfg_path: &Path,
    extra: &[String],
    access: &Access,
) -> (Child, SocketAddr, Log) {
    let mut child = Command::new(bin_path(bin))
        .arg(format!("--config.file={}", cfg_path.display()))
        .arg(format!("--web.listen-address={listen}"))
        .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
        .arg("--log.format=json")
        .args(extra)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {bin}: {e} (is it built?)"));
    let stderr = child.stderr.take().expect("piped stderr");
    let log: Log = std::sync::Arc::new(parking_lot::Mutex::new(Vec::new()));
    let (tx, rx) = std::sync::mpsc::channel();
    let log2 = log.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(addr) = listening_addr(&line) {
                let _ = tx.send(addr);
            }
            log2.lock().push(line);
        }
    });
    let addr = tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(60)))
        .await
        .expect("join")
        .unwrap_or_else(|_| panic!("{bin} did not start: {:?}", log.lock()));
    let ready = format!("{}://{addr}/-/ready", access.scheme);
    wait_until(Duration::from_secs(10), || async {
        access.client.get(&ready).send().await.is_ok_and(|r| r.status() == 200)
    })
    .await;
    (child, addr, log)
}

impl Daemon {
    /// Starts `bin` with `config` (written to a temp dir) on an ephemeral port and waits
    /// until it is ready.
    pub async fn start(bin: &str, config: &str, extra: &[&str]) -> Daemon {
        Self::start_with_files(bin, config, &[], extra).await
    }

    /// Like `start`, with more files (rule files, SD files) written beside the config.
    pub async fn start_with_files(bin: &str, config: &str, files: &[(&str, &str)], extra: &[&str]) -> Daemon {
        Self::start_with_access(bin, config, files, extra, Access::default()).await
    }

    /// Like `start_with_files`, reached through `access` (a daemon serving TLS or asking
    /// for credentials under its `--web.config.file`).
    pub async fn start_with_access(
        bin: &str,
        config: &str,
        files: &[(&str, &str)],
        extra: &[&str],
        access: Access,
    ) -> Daemon {
        let dir = tempfile::tempdir().expect("temp dir");
        let cfg_path = dir.path().join("config.yml");
        std::fs::write(&cfg_path, config).expect("write config");
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).expect("write file");
        }
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        let (child, addr, log) = spawn(bin, "127.0.0.1:0", dir.path(), &cfg_path, &extra, &access).await;
        Daemon { child, addr, dir, config: cfg_path, log, bin: bin.to_string(), extra, access }
    }

    /// Kills the process with SIGKILL: no shutdown code runs, as in a crash.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the same binary again on the same address, data directory and config (after
    /// `kill9`, or to restart a running one), as a supervisor would: what scrapes it finds
    /// it again.
    pub async fn restart(&mut self) {
        self.kill9();
        let listen = self.addr.to_string();
        let (child, addr, log) =
            spawn(&self.bin, &listen, self.dir.path(), &self.config, &self.extra, &self.access).await;
        (self.child, self.addr, self.log) = (child, addr, log);
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}://{}{}", self.access.scheme, self.addr, path)
    }

    /// The client that reaches this daemon.
    pub fn client(&self) -> &reqwest::Client {
        &self.access.client
    }

    /// Everything the daemon has logged so far.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().clone()
    }

    /// GET a path, returning status and body.
    pub async fn get(&self, path: &str) -> (u16, String) {
        let r = self.access.client.get(self.url(path)).send().await.expect("request");
        (r.status().as_u16(), r.text().await.expect("body"))
    }

    /// An instant query's `data.result`, panicking on an error response.
    pub async fn query(&self, expr: &str) -> Vec<serde_json::Value> {
        self.query_at(expr, None).await
    }

    /// An instant query at `time` (seconds; `None`: now).
    pub async fn query_at(&self, expr: &str, time: Option<f64>) -> Vec<serde_json::Value> {
        let mut params = vec![("query", expr.to_string())];
        params.extend(time.map(|t| ("time", format!("{t:.3}"))));
        self.api_result("/api/v1/query", &params).await
    }

    /// A range query's `data.result` over `[from, to]` (seconds) every `step` seconds.
    pub async fn query_range(&self, expr: &str, from: f64, to: f64, step: f64) -> Vec<serde_json::Value> {
        let params = [
            ("query", expr.to_string()),
            ("start", from.to_string()),
            ("end", to.to_string()),
            ("step", step.to_string()),
        ];
        self.api_result("/api/v1/query_range", &params).await
    }

    /// A query endpoint's `data.result`, panicking on an error response.
    async fn api_result(&self, path: &str, params: &[(&str, String)]) -> Vec<serde_json::Value> {
        let r = self.access.client.get(self.url(path)).query(params).send().await;
        let v: serde_json::Value = r.expect(path).json().await.expect("JSON");
        assert_eq!(v["status"], "success", "{path} {params:?}: {v}");
        v["data"]["result"].as_array().cloned().unwrap_or_default()
    }

    /// The value of an instant query that gives one series, if it gives one.
    pub async fn scalar(&self, expr: &str) -> Option<f64> {
        self.scalar_at(expr, None).await
    }

    /// The same at `time` (seconds).
    pub async fn scalar_at(&self, expr: &str, time: Option<f64>) -> Option<f64> {
        let r = self.query_at(expr, time).await;
        r.first().map(|s| s["value"][1].as_str().expect("value").parse().expect("number"))
    }

    /// GET `/federate` with the given selectors.
    pub async fn federate(&self, selectors: &[&str]) -> String {
        let q: Vec<(&str, &str)> = selectors.iter().map(|s| ("match[]", *s)).collect();
        let r = self.access.client.get(self.url("/federate")).query(&q).send().await.expect("federate");
        assert_eq!(r.status(), 200);
        r.text().await.expect("body")
    }

    /// Rewrites the config file and asks for a reload; returns the HTTP status.
    pub async fn reload(&self, config: &str) -> (u16, String) {
        std::fs::write(&self.config, config).expect("write config");
        let r = self.access.client.post(self.url("/-/reload")).send().await.expect("reload");
        (r.status().as_u16(), r.text().await.unwrap_or_default())
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The process's resident memory now.
    pub fn rss_bytes(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).expect("the daemon runs");
        let kb = status.lines().find_map(|l| l.strip_prefix("VmRSS:")).expect("VmRSS").trim().trim_end_matches(" kB");
        kb.parse::<u64>().expect("kB") << 10
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn listening_addr(line: &str) -> Option<SocketAddr> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    let fields = v.get("fields")?;
    if !fields.get("message")?.as_str()?.contains("listening") {
        return None;
    }
    fields.get("addr")?.as_str()?.parse().ok()
}

/// Polls `cond` until it holds, panicking after `timeout`.
pub async fn wait_until<F, Fut>(timeout: Duration, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !cond().await {
        assert!(start.elapsed() < timeout, "condition not met within {timeout:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
