//! Requests by handler, as Prometheus's web handler counts them:
//! `prometheus_http_requests_total{handler, code}` and
//! `prometheus_http_request_duration_seconds{handler}`, the handler named by its route
//! (`/api/v1/label/:name/values`). Requests to no route are not counted, as in Prometheus.

use crate::ApiState;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use cardinal_exposition::histogram::Histogram;
use cardinal_exposition::text;
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

/// Prometheus's buckets for request durations.
const BUCKETS: &[f64] = &[0.1, 0.2, 0.4, 1.0, 3.0, 8.0, 20.0, 60.0, 120.0];

#[derive(Default)]
pub struct HttpMetrics {
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    durations: Mutex<BTreeMap<String, Histogram>>,
}

impl HttpMetrics {
    fn observe(&self, handler: String, code: u16, secs: f64) {
        *self.requests.lock().entry((handler.clone(), code)).or_default() += 1;
        self.durations.lock().entry(handler).or_insert_with(|| Histogram::new(BUCKETS)).observe(secs);
    }

    pub fn write(&self, out: &mut String) {
        let name = "prometheus_http_requests_total";
        text::write_header(out, name, "counter", "Counter of HTTP requests.");
        for ((handler, code), n) in self.requests.lock().iter() {
            let code = code.to_string();
            text::write_sample(out, name, [("code", code.as_str()), ("handler", handler.as_str())], *n as f64, None);
        }
        let name = "prometheus_http_request_duration_seconds";
        text::write_header(out, name, "histogram", "Histogram of latencies for HTTP requests.");
        for (handler, h) in self.durations.lock().iter() {
            h.write(out, name, &[("handler", handler.as_str())]);
        }
    }
}

/// The middleware: times each routed request until its response starts.
pub async fn track(State(st): State<Arc<ApiState>>, path: Option<MatchedPath>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let response = next.run(req).await;
    if let Some(path) = path {
        st.http_metrics.observe(
            handler_name(path.as_str()),
            response.status().as_u16(),
            started.elapsed().as_secs_f64(),
        );
    }
    response
}

/// A route as Prometheus names its handlers: `{param}` written `:param`.
fn handler_name(route: &str) -> String {
    route.replace('{', ":").replace('}', "")
}

#[cfg(test)]
mod tests {
    #[test]
    fn routes_are_named_as_prometheus_names_its_handlers() {
        assert_eq!(super::handler_name("/api/v1/label/{name}/values"), "/api/v1/label/:name/values");
        assert_eq!(super::handler_name("/metrics"), "/metrics");
    }
}
