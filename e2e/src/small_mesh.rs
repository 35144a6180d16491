//! The small mesh the multi-collector tests share (HA pairs, shards, a partition): 20
//! pods over 4 workloads scraped every 2 s by collectors running the shipped rules and
//! rollup at a quick pace (rolled up every 4 s, flushed 6 s late).

use crate::istio::{EDGES, Mesh};
use crate::{Workload, shipped};
use std::time::Duration;

pub const MESH: Mesh = Mesh { pods: 20, workloads: 4 };
/// Rolled-up request counters: one per workload pair.
pub const PAIRS: usize = MESH.workloads * EDGES;
pub const INTERVAL: &str = "2s";
pub const WAIT: Duration = Duration::from_secs(90);
/// The rolled-up request counter, as the master stores it.
pub const COUNTER: &str = "istio_requests_total";

/// The wall clock, in seconds.
pub fn now() -> f64 {
    cardinal_model::now_ms() as f64 / 1000.0
}

/// The shipped collector config over `w` at this pace, with `labels` as its external
/// labels (YAML flow-map entries) and `extra` top-level blocks.
pub fn collector_config(w: &Workload, labels: &str, extra: &str) -> String {
    let rollup = "interval: 4s\n    flush_delay: 6s";
    let extra = shipped::collector_block("rollup_rules").replace("interval: 15s", rollup) + extra;
    shipped::collector_config(w, INTERVAL, &extra).replace("collector: c1", labels)
}

/// The shipped Istio recording rules at this pace, as files beside the config.
pub fn rule_files() -> Vec<(&'static str, String)> {
    vec![("istio.rules.yml", shipped::istio_rules(INTERVAL, "10s"))]
}
