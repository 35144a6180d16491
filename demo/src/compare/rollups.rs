//! Are the rollups right? Each side's master against the mesh's exact rates (the workload
//! is deterministic: every edge's rate is known), and the two masters against each other.
//! The sides run one after the other, so their samples fall at different instants; each
//! rollup is compared as its average over the measurement window, where counting whole
//! requests averages out. Percentiles are checked mesh-wide, from the window's rolled-up
//! buckets: one workload pair's p99 rests on a few requests a round in its top buckets,
//! too few to compare instant by instant.

use super::Plan;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

const RATE: &str = "istio_requests_total:rate1m";
const QUANTILES: [(&str, f64); 3] = [
    ("istio_request_duration_milliseconds:p50", 0.5),
    ("istio_request_duration_milliseconds:p90", 0.9),
    ("istio_request_duration_milliseconds:p99", 0.99),
];
/// How far the mesh-wide request rate may be from the exact one.
const MESH_TOLERANCE: f64 = 0.02;
/// How far the mesh-wide median request duration may be: whole requests counted per
/// bucket and per pod make it noisier than the rate at a test's few dozen pods.
const MEDIAN_TOLERANCE: f64 = 0.10;

const BUCKETS: &str = "istio_request_duration_milliseconds_bucket:rate1m";

/// A master's rollups: each series' average over the window, by name and labels (less
/// `instance`, the collector's address, which differs between the sides), and the mesh's
/// p50/p90/p99 from the window's buckets.
#[derive(Default)]
pub struct Snapshot {
    pub series: BTreeMap<(String, String), f64>,
    pub quantiles: Vec<(f64, f64)>,
}

/// Waits until the master has a request-rate rollup for every edge of the mesh.
pub async fn wait_complete(plan: &Plan, addr: &str) -> Result<(), String> {
    let want = plan.workload.mesh.rate_by_edge().len();
    let deadline = Instant::now() + Duration::from_secs_f64(20.0 * plan.interval_secs + 60.0);
    let mut have = 0;
    while Instant::now() < deadline {
        have = averages(addr, &format!("count({RATE})"), None).await?.values().next().copied().unwrap_or(0.0) as usize;
        if have >= want {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    Err(format!("the master at {addr} has {have} of the {want} request-rate rollups; see the logs"))
}

pub async fn snapshot(addr: &str, window: Duration) -> Result<Snapshot, String> {
    let mut s = Snapshot::default();
    for name in [RATE, BUCKETS].into_iter().chain(QUANTILES.map(|(n, _)| n)) {
        let expr = format!("avg_over_time({name}[{}s])", window.as_secs());
        for (labels, v) in averages(addr, &expr, Some("instance")).await? {
            s.series.insert((name.to_string(), labels), v);
        }
    }
    for (_, q) in QUANTILES {
        let expr = format!("histogram_quantile({q}, sum by (le) (avg_over_time({BUCKETS}[{}s])))", window.as_secs());
        let v = averages(addr, &expr, None).await?.into_values().next().unwrap_or(f64::NAN);
        s.quantiles.push((q, v));
    }
    Ok(s)
}

/// An instant query's values by their labels (JSON, `drop` left out).
async fn averages(addr: &str, expr: &str, drop: Option<&str>) -> Result<BTreeMap<String, f64>, String> {
    let mut out = BTreeMap::new();
    for mut s in crate::api::query(&reqwest::Client::new(), addr, expr).await? {
        if let (Some(d), Some(m)) = (drop, s["metric"].as_object_mut()) {
            m.remove(d);
        }
        let value = s["value"][1].as_str().and_then(|v| v.parse::<f64>().ok()).unwrap_or(f64::NAN);
        out.insert(s["metric"].to_string(), value);
    }
    Ok(out)
}

/// How one side's rollups compare with what is known exactly.
pub struct Accuracy {
    /// Relative error of the mesh-wide request rate.
    pub mesh: f64,
    /// Largest relative error of one edge's request rate.
    pub worst_rate: f64,
    /// Largest relative error of the mesh's p50/p90/p99 against its distribution.
    pub worst_quantile: f64,
}

pub fn accuracy(plan: &Plan, s: &Snapshot) -> Accuracy {
    let exact = plan.workload.mesh.rate_by_edge();
    let mut total = 0.0;
    let mut worst_rate: f64 = 0.0;
    for ((_, labels), v) in s.series.iter().filter(|((name, _), _)| name == RATE) {
        let m: serde_json::Value = serde_json::from_str(labels).unwrap_or_default();
        let label = |n: &str| m[n].as_str().unwrap_or_default().to_string();
        total += v;
        let want = exact.get(&(label("source_workload"), label("destination_workload"), label("response_code")));
        worst_rate = worst_rate.max(want.map_or(f64::INFINITY, |w| relative(*v, *w)));
    }
    let worst_quantile =
        s.quantiles.iter().map(|(q, v)| relative(*v, testbed::istio::duration_quantile(*q))).fold(0.0, nan_max);
    Accuracy { mesh: relative(total, exact.values().sum()), worst_rate, worst_quantile }
}

/// The larger, where NaN (a missing answer) counts as the largest.
fn nan_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() { f64::NAN } else { a.max(b) }
}

fn relative(got: f64, want: f64) -> f64 {
    if got == want { 0.0 } else { ((got - want) / want).abs() }
}

/// The largest relative difference between the two sides' request-rate rollups, and the
/// rollup series (of any name) only one side has.
pub fn difference(ours: &Snapshot, theirs: &Snapshot) -> (f64, usize) {
    let keys = |s: &Snapshot| s.series.keys().cloned().collect::<BTreeSet<_>>();
    let only_one = keys(ours).symmetric_difference(&keys(theirs)).count();
    let worst = ours
        .series
        .iter()
        .filter(|((name, _), _)| name == RATE)
        .filter_map(|(k, v)| Some(relative(*v, *theirs.series.get(k)?)))
        .fold(0.0, nan_max);
    (worst, only_one)
}

/// Prints how right the rollups are; an error when a side's mesh-wide rate is off by
/// more than `MESH_TOLERANCE` or the sides disagree on which series exist.
pub fn verdict(plan: &Plan, ours: &Snapshot, theirs: Option<&Snapshot>) -> Result<(), String> {
    let mut failures = Vec::new();
    for (side, s) in std::iter::once(("cardinal", ours)).chain(theirs.map(|t| ("prometheus", t))) {
        let a = accuracy(plan, s);
        println!(
            "rollups, {side}: {} series; mesh request rate off the exact by {:.3}%, worst edge {:.2}%; mesh p50/p90/p99 {:.2}%",
            s.series.len(),
            100.0 * a.mesh,
            100.0 * a.worst_rate,
            100.0 * a.worst_quantile
        );
        let shown: Vec<String> = s
            .quantiles
            .iter()
            .map(|(q, v)| format!("p{}: {v:.1} ms (exact {:.1})", q * 100.0, testbed::istio::duration_quantile(*q)))
            .collect();
        println!("   {}", shown.join(", "));
        if a.mesh.is_nan() || a.mesh > MESH_TOLERANCE {
            failures.push(format!("{side}'s mesh-wide request rate is {:.2}% off", 100.0 * a.mesh));
        }
        // Only the median is held to the tolerance: p90 and p99 rest on the few requests
        // in the upper buckets, noisy at the small scales a test runs.
        let median = s.quantiles.first().map_or(f64::NAN, |(q, v)| relative(*v, testbed::istio::duration_quantile(*q)));
        if median.is_nan() || median > MEDIAN_TOLERANCE {
            failures.push(format!("{side}'s mesh-wide median request duration is {:.2}% off", 100.0 * median));
        }
    }
    if let Some(theirs) = theirs {
        let (worst, only_one) = difference(ours, theirs);
        println!(
            "rollups, cardinal vs prometheus: {} series on only one side; largest difference of one edge's rate {:.2}%",
            only_one,
            100.0 * worst
        );
        if only_one > 0 {
            failures.push(format!("{only_one} rollup series exist on one side only"));
        }
    }
    if failures.is_empty() { Ok(()) } else { Err(failures.join("; ")) }
}
