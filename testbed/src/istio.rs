//! An Istio-like mesh: what one Envoy sidecar exposes, deterministic in time so that every
//! rate is known exactly. A pod exposes `SERIES_PER_POD` series: for each of its
//! `EDGES` (destination × response code) one `istio_requests_total` counter and the three
//! standard histograms, plus a few Envoy gauges.

use std::fmt::Write;

/// Istio's default duration buckets (milliseconds).
pub const DURATION_BUCKETS: [f64; 19] = [
    0.5, 1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0, 30000.0, 60000.0, 300000.0,
    600000.0, 1800000.0, 3600000.0,
];
/// Istio's default size buckets (bytes).
pub const SIZE_BUCKETS: [f64; 8] = [1.0, 10.0, 100.0, 1000.0, 10000.0, 100000.0, 1000000.0, 10000000.0];

/// Request durations center on this many milliseconds (and sizes on their own scales).
pub const DURATION_SCALE: f64 = 30.0;

/// Label sets (edges) each pod reports.
pub const EDGES: usize = 7;
/// Envoy gauges per pod beside the Istio metrics.
pub const EXTRA_GAUGES: usize = 22;
/// Series one pod exposes: 7 × (1 + 22 + 11 + 11) + 22 = 337, the reference scenario's figure.
pub const SERIES_PER_POD: usize =
    EDGES * (1 + (DURATION_BUCKETS.len() + 3) + 2 * (SIZE_BUCKETS.len() + 3)) + EXTRA_GAUGES;

/// The mesh: `pods` pods spread over `workloads` workloads.
#[derive(Clone, Copy, Debug)]
pub struct Mesh {
    pub pods: usize,
    pub workloads: usize,
}

/// One edge of a pod: where it sends requests and what comes back.
pub struct Edge {
    pub destination: usize,
    pub code: &'static str,
    pub flags: &'static str,
    /// Requests per second on this edge, exactly.
    pub rate: f64,
}

impl Mesh {
    pub fn workload_of(&self, pod: usize) -> usize {
        pod % self.workloads.max(1)
    }

    /// The deterministic edges of a pod. Each has its own response code, so the label
    /// sets stay distinct however few workloads the mesh has.
    pub fn edges(&self, pod: usize) -> Vec<Edge> {
        const CODES: [(&str, &str); EDGES] =
            [("200", "-"), ("201", "-"), ("204", "-"), ("301", "-"), ("404", "NR"), ("500", "URX"), ("503", "UF")];
        let w = self.workload_of(pod);
        CODES
            .iter()
            .enumerate()
            .map(|(i, (code, flags))| Edge {
                destination: (w + 1 + i) % self.workloads.max(1),
                code,
                flags,
                rate: 1.0 + (i % 3) as f64 * 0.5,
            })
            .collect()
    }

    /// Requests per second the whole mesh serves: the rate every rollup of
    /// `istio_requests_total` must add up to, whatever the churn.
    pub fn total_request_rate(&self) -> f64 {
        (0..self.pods).flat_map(|p| self.edges(p)).map(|e| e.rate).sum()
    }

    /// Requests per second of every (source workload, destination workload, response
    /// code), summed over pods: what each request-rate rollup by workload pair must show.
    pub fn rate_by_edge(&self) -> std::collections::BTreeMap<(String, String, String), f64> {
        let mut out = std::collections::BTreeMap::new();
        for pod in 0..self.pods {
            for e in self.edges(pod) {
                let key = (workload_name(self.workload_of(pod)), workload_name(e.destination), e.code.to_string());
                *out.entry(key).or_insert(0.0) += e.rate;
            }
        }
        out
    }

    /// The exposition body of `pod` at `t_secs` (Prometheus text format).
    pub fn pod_body(&self, pod: usize, t_secs: f64) -> String {
        self.pod_generation_body(pod, None, t_secs)
    }

    /// The body of one generation of a pod slot that is replaced over time (`None`: the
    /// slot's only pod): its `pod_name` says which, and its counters started at zero when
    /// it did, `t_secs` ago.
    pub fn pod_generation_body(&self, pod: usize, generation: Option<u64>, t_secs: f64) -> String {
        let mut out = String::with_capacity(SERIES_PER_POD * 420);
        let src = workload_name(self.workload_of(pod));
        let pod_name = match generation {
            Some(g) => format!("{src}-{pod:05}-g{g}"),
            None => format!("{src}-{pod:05}"),
        };
        let phase = phase(pod);
        out.push_str("# TYPE istio_requests_total counter\n");
        for e in self.edges(pod) {
            let labels = edge_labels(&src, &pod_name, &e, self);
            let _ = writeln!(out, "istio_requests_total{{{labels}}} {}", (e.rate * t_secs + phase).floor());
        }
        for (name, buckets, scale) in [
            ("istio_request_duration_milliseconds", &DURATION_BUCKETS[..], DURATION_SCALE),
            ("istio_request_bytes", &SIZE_BUCKETS[..], 800.0),
            ("istio_response_bytes", &SIZE_BUCKETS[..], 5000.0),
        ] {
            let _ = writeln!(out, "# TYPE {name} histogram");
            for e in self.edges(pod) {
                let labels = edge_labels(&src, &pod_name, &e, self);
                histogram(&mut out, name, &labels, buckets, e.rate * t_secs, phase, scale);
            }
        }
        out.push_str("# TYPE envoy_cluster_upstream_cx_active gauge\n");
        for i in 0..EXTRA_GAUGES {
            let _ = writeln!(
                out,
                "envoy_cluster_upstream_cx_active{{cluster_name=\"outbound|80||svc-{i}.mesh.svc.cluster.local\",pod_name=\"{pod_name}\"}} {}",
                (pod + i) % 5
            );
        }
        out
    }
}

fn edge_labels(src: &str, pod_name: &str, e: &Edge, mesh: &Mesh) -> String {
    let dst = workload_name(e.destination % mesh.workloads.max(1));
    format!(
        "reporter=\"source\",source_workload=\"{src}\",source_workload_namespace=\"mesh\",source_principal=\"spiffe://cluster.local/ns/mesh/sa/{src}\",\
         source_app=\"{src}\",source_version=\"v1\",destination_workload=\"{dst}\",destination_workload_namespace=\"mesh\",\
         destination_service=\"{dst}.mesh.svc.cluster.local\",destination_service_name=\"{dst}\",destination_service_namespace=\"mesh\",\
         destination_app=\"{dst}\",destination_version=\"v1\",request_protocol=\"http\",response_code=\"{}\",grpc_response_status=\"\",\
         response_flags=\"{}\",connection_security_policy=\"mutual_tls\",pod_name=\"{pod_name}\"",
        e.code, e.flags
    )
}

/// The `*_workload` label value of workload `w`.
fn workload_name(w: usize) -> String {
    format!("workload-{w}")
}

/// Share of observations at or below `le`: grows towards 1 around `scale`.
fn share(le: f64, scale: f64) -> f64 {
    le / (le + scale)
}

/// What `histogram_quantile(q, …)` gives over any edge's request durations (whose buckets
/// grow in fixed shares, so every rate of them has the same shape): the value the
/// p50/p90/p99 rollups must show. Prometheus's interpolation: linear within the bucket
/// holding rank `q`, from 0 in the first.
pub fn duration_quantile(q: f64) -> f64 {
    let mut below = (0.0, 0.0);
    for le in DURATION_BUCKETS {
        let at = share(le, DURATION_SCALE);
        if at >= q {
            return below.0 + (le - below.0) * (q - below.1) / (at - below.1);
        }
        below = (le, at);
    }
    below.0
}

/// Where in its first request a pod's counters start, in [0, 1). Counters count whole
/// requests; were every pod's rounded the same way, the rounding errors would add up
/// across the mesh instead of cancelling, and a rate of a bucket summed over pods would be
/// off by a few percent at any instant.
fn phase(pod: usize) -> f64 {
    (pod as f64 * 0.618_033_988_749_895).fract()
}

/// A classic histogram of `exact` observations so far (fractional: each bucket rounds on
/// its own, with the pod's `phase`), spread over the buckets deterministically.
fn histogram(out: &mut String, name: &str, labels: &str, buckets: &[f64], exact: f64, phase: f64, scale: f64) {
    let count = (exact + phase).floor();
    let mut cumulative = 0.0;
    for le in buckets {
        cumulative = f64::max(cumulative, (exact * share(*le, scale) + phase).floor());
        let _ = write!(out, "{name}_bucket{{{labels},le=\"");
        // Bounds as Go prints them (`1e+06`), as real exporters do.
        cardinal_model::number::write_go_g(out, *le);
        let _ = writeln!(out, "\"}} {cumulative}");
    }
    let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {count}");
    let _ = writeln!(out, "{name}_sum{{{labels}}} {}", count * scale * 0.8);
    let _ = writeln!(out, "{name}_count{{{labels}}} {count}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pod_exposes_the_reference_series_count() {
        assert_eq!(SERIES_PER_POD, 337);
        let body = Mesh { pods: 10, workloads: 4 }.pod_body(3, 100.0);
        let series: Vec<&str> =
            body.lines().filter(|l| !l.starts_with('#')).map(|l| l.rsplit_once(' ').unwrap().0).collect();
        assert_eq!(series.len(), 337);
        let unique: std::collections::HashSet<_> = series.iter().collect();
        assert_eq!(unique.len(), 337, "no duplicate series");
        assert!(body.contains("le=\"1e+06\""));
        assert!(body.contains("le=\"3.6e+06\""));
    }

    #[test]
    fn edge_rates_add_up_to_the_mesh_s_rate() {
        let mesh = Mesh { pods: 10, workloads: 4 };
        let by_edge = mesh.rate_by_edge();
        // Each source workload sends each code to one destination: 4 workloads × 7 codes.
        assert_eq!(by_edge.len(), 4 * EDGES);
        assert!((by_edge.values().sum::<f64>() - mesh.total_request_rate()).abs() < 1e-9);
        // Workload 1 has pods 1, 5 and 9; its 200s go to workload 2 at 1 request/s each.
        assert_eq!(by_edge[&("workload-1".into(), "workload-2".into(), "200".into())], 3.0);
    }

    #[test]
    fn quantiles_interpolate_within_the_bucket_as_prometheus_does() {
        // p50: rank 0.5 falls in (25, 50], whose bounds hold 25/55 and 50/80 of the requests.
        let want = 25.0 + 25.0 * (0.5 - 25.0 / 55.0) / (50.0 / 80.0 - 25.0 / 55.0);
        assert!((duration_quantile(0.5) - want).abs() < 1e-9);
        assert!(duration_quantile(0.9) > 250.0 && duration_quantile(0.9) < 500.0);
        assert!(duration_quantile(0.01) < 0.5);
    }
}
