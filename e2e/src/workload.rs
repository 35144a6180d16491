//! The synthetic Istio mesh served over HTTP: one server on 127.0.0.1 answers for every
//! pod (`GET /metrics?pod=N`), so a thousand pods cost one listener. Each pod is its own
//! scrape target (its own `instance`), as Envoy sidecars are. Counters start at zero when
//! the workload starts and grow at the mesh's exact rates.
//!
//! With churn, each pod slot is replaced every `period` (slots staggered evenly): the new
//! pod gets a new `pod_name` and counters from zero, and the old one, its counters frozen
//! as a drained pod's are, stays exposed for `grace` so that a scrape sees its final
//! count. The mesh's total request rate is then exactly constant across the churn.

use crate::istio::Mesh;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use parking_lot::Mutex;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How pods are replaced.
#[derive(Clone, Copy, Debug)]
pub struct Churn {
    pub period: Duration,
    pub grace: Duration,
}

struct Shared {
    mesh: Mesh,
    churn: Option<Churn>,
    started: Instant,
    /// Workloads whose pods are gone (their scrapes fail, as a deleted pod's would).
    retired: Mutex<HashSet<usize>>,
}

#[derive(Clone)]
pub struct Workload {
    pub addr: SocketAddr,
    pub mesh: Mesh,
    shared: Arc<Shared>,
}

impl Workload {
    /// Serves `mesh` on `bind` (use `127.0.0.1:0` for an ephemeral port).
    pub async fn start(mesh: Mesh, bind: &str) -> std::io::Result<Workload> {
        Self::start_churning(mesh, None, bind).await
    }

    /// Like `start`, replacing every pod each `churn.period`.
    pub async fn start_churning(mesh: Mesh, churn: Option<Churn>, bind: &str) -> std::io::Result<Workload> {
        let shared = Arc::new(Shared { mesh, churn, started: Instant::now(), retired: Mutex::new(HashSet::new()) });
        let app = axum::Router::new().route("/metrics", axum::routing::get(serve)).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind(bind).await?;
        let addr = listener.local_addr()?;
        tokio::spawn(async move { axum::serve(listener, app).await.ok() });
        Ok(Workload { addr, mesh, shared })
    }

    /// Seconds since the workload started: the `t` of every counter's `rate × t`.
    pub fn elapsed(&self) -> f64 {
        self.shared.started.elapsed().as_secs_f64()
    }

    /// Makes every pod of workload `w` disappear.
    pub fn retire_workload(&self, w: usize) {
        self.shared.retired.lock().insert(w);
    }

    /// A scrape job for every pod, in Prometheus's YAML (indented for `scrape_configs:`).
    pub fn scrape_job(&self, job: &str, interval: &str) -> String {
        let mut out = format!(
            "  - job_name: {job}\n    scrape_interval: {interval}\n    scrape_timeout: {interval}\n    static_configs:\n"
        );
        for pod in 0..self.mesh.pods {
            out += &format!(
                "      - {{targets: ['{}'], labels: {{__param_pod: '{pod}', instance: '{}'}}}}\n",
                self.addr,
                pod_ip(pod)
            );
        }
        out
    }
}

/// A pod's made-up address, as Kubernetes would give it.
pub fn pod_ip(pod: usize) -> String {
    format!("10.{}.{}.{}:15090", pod / 65_536, (pod / 256) % 256, pod % 256)
}

async fn serve(State(s): State<Arc<Shared>>, Query(q): Query<HashMap<String, String>>) -> Response {
    let Some(pod) = q.get("pod").and_then(|p| p.parse::<usize>().ok()).filter(|p| *p < s.mesh.pods) else {
        return (StatusCode::BAD_REQUEST, "pod=N required\n").into_response();
    };
    if s.retired.lock().contains(&s.mesh.workload_of(pod)) {
        return (StatusCode::NOT_FOUND, "pod deleted\n").into_response();
    }
    let t = s.started.elapsed().as_secs_f64();
    let body = tokio::task::spawn_blocking(move || match s.churn {
        None => s.mesh.pod_body(pod, t),
        Some(c) => churned_body(&s.mesh, c, pod, t),
    })
    .await
    .unwrap_or_default();
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}

/// Generation `g` of a slot runs from `start(g)` to `start(g + 1)`; slot `pod`'s first
/// replacement comes `pod / pods` of a period in, spreading the churn evenly.
fn generation_start(mesh: &Mesh, c: Churn, pod: usize, g: u64) -> f64 {
    let period = c.period.as_secs_f64();
    if g == 0 { 0.0 } else { g as f64 * period - period * pod as f64 / mesh.pods as f64 }
}

fn churned_body(mesh: &Mesh, c: Churn, pod: usize, t: f64) -> String {
    let mut g = 0;
    while generation_start(mesh, c, pod, g + 1) <= t {
        g += 1;
    }
    let start = generation_start(mesh, c, pod, g);
    let mut body = mesh.pod_generation_body(pod, Some(g), t - start);
    if g > 0 && t - start < c.grace.as_secs_f64() {
        // The drained predecessor, frozen at its final count (its comment lines dropped:
        // they would repeat the current pod's).
        let old = mesh.pod_generation_body(pod, Some(g - 1), start - generation_start(mesh, c, pod, g - 1));
        for line in old.lines().filter(|l| !l.starts_with('#')) {
            body.push_str(line);
            body.push('\n');
        }
    }
    body
}
