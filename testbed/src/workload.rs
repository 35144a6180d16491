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

    /// Each pod also on a port of its own, on 127.0.0.1, at any path: as sidecars are
    /// reached when discovery finds them (`podIP:port/stats/prometheus`), where the
    /// shared server needs a `pod` parameter no discovered target has. The ports, by pod.
    pub async fn listen_per_pod(&self) -> std::io::Result<Vec<u16>> {
        let mut ports = Vec::with_capacity(self.mesh.pods);
        for pod in 0..self.mesh.pods {
            let shared = self.shared.clone();
            let app = axum::Router::new().fallback(move || respond(shared.clone(), pod));
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            ports.push(listener.local_addr()?.port());
            tokio::spawn(async move { axum::serve(listener, app).await.ok() });
        }
        Ok(ports)
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

    /// Every pod as a Prometheus file_sd target group, reached at `host` (the address
    /// the scraper uses for this server, e.g. `workload:9100` in docker-compose).
    pub fn file_sd(&self, host: &str) -> String {
        let groups: Vec<serde_json::Value> = (0..self.mesh.pods)
            .map(|pod| serde_json::json!({"targets": [host], "labels": {"__param_pod": pod.to_string(), "instance": pod_ip(pod)}}))
            .collect();
        serde_json::Value::Array(groups).to_string()
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
    respond(s, pod).await
}

/// Pod `pod`'s metrics now.
async fn respond(s: Arc<Shared>, pod: usize) -> Response {
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

/// Slot `pod` is first replaced `pod / pods` of a period in, spreading the churn evenly:
/// its generation `g ≥ 1` starts at `g × period − offset`, and generation 0 at zero.
fn churn_offset(mesh: &Mesh, c: Churn, pod: usize) -> f64 {
    c.period.as_secs_f64() * pod as f64 / mesh.pods as f64
}

fn generation_start(mesh: &Mesh, c: Churn, pod: usize, g: u64) -> f64 {
    if g == 0 { 0.0 } else { g as f64 * c.period.as_secs_f64() - churn_offset(mesh, c, pod) }
}

fn churned_body(mesh: &Mesh, c: Churn, pod: usize, t: f64) -> String {
    let g = ((t + churn_offset(mesh, c, pod)) / c.period.as_secs_f64()).floor() as u64;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn pod_names(body: &str) -> Vec<String> {
        let mut names: Vec<String> =
            body.lines().filter_map(|l| Some(l.split("pod_name=\"").nth(1)?.split('"').next()?.to_string())).collect();
        names.sort();
        names.dedup();
        names
    }

    #[test]
    fn a_replaced_pod_stays_exposed_frozen_for_its_grace_period() {
        let mesh = Mesh { pods: 4, workloads: 2 };
        let c = Churn { period: Duration::from_secs(20), grace: Duration::from_secs(3) };
        // Slot 2 is first replaced at 20 − 20·2/4 = 10 s, then every 20 s.
        assert_eq!(pod_names(&churned_body(&mesh, c, 2, 9.0)), ["workload-0-00002-g0"]);
        let both = churned_body(&mesh, c, 2, 11.0);
        assert_eq!(pod_names(&both), ["workload-0-00002-g0", "workload-0-00002-g1"]);
        // The old pod's counter is frozen at rate × its 10 s life; the new one is 1 s old.
        let rate = mesh.edges(2)[0].rate;
        let count = |generation: &str| {
            both.lines()
                .find(|l| {
                    l.starts_with("istio_requests_total{")
                        && l.contains(generation)
                        && l.contains("response_code=\"200\"")
                })
                .and_then(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        };
        assert_eq!(count("-g0\""), Some((rate * 10.0).floor()));
        assert_eq!(count("-g1\""), Some((rate * 1.0).floor()));
        assert_eq!(pod_names(&churned_body(&mesh, c, 2, 14.0)), ["workload-0-00002-g1"]);
        assert_eq!(pod_names(&churned_body(&mesh, c, 2, 31.0)), ["workload-0-00002-g1", "workload-0-00002-g2"]);
    }
}
