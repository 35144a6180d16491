//! The side-by-side table: one row per cost, ours, Prometheus's, and the ratio (under 1
//! is ours cheaper).

use super::Plan;
use super::measure::DASHBOARD;
use super::side::Figures;
use cardinal_model::number::group_thousands;
use std::time::Duration;

/// A row: its name, how a figure prints, and the figure of a side.
struct Row {
    name: &'static str,
    value: fn(&Figures) -> f64,
    show: fn(f64) -> String,
}

const ROWS: [Row; 10] = [
    Row { name: "collector RSS (peak)", value: |f| f.collector_rss as f64, show: mib },
    Row { name: "collector CPU seconds", value: |f| f.window.collector_cpu, show: seconds },
    Row { name: "rule groups, one round", value: |f| mean(&f.window.rule_rounds), show: millis },
    Row { name: "/federate latency", value: |f| median(f.window.federate.iter().map(|x| x.0)), show: millis },
    Row { name: "/federate bytes (gzip)", value: |f| mean_bytes(&f.window.federate), show: bytes },
    Row { name: "master RSS (peak)", value: |f| f.master_rss as f64, show: mib },
    Row { name: "master CPU seconds", value: |f| f.window.master_cpu, show: seconds },
    Row {
        name: "master disk bytes/sample",
        value: |f| f.master_disk as f64 / f.master_samples.max(1) as f64,
        show: two,
    },
    Row { name: "dashboard query (median)", value: |f| median(f.queries.iter().flatten().copied()), show: millis },
    Row { name: "dashboard query (slowest)", value: slowest_panel, show: millis },
];

pub fn print(plan: &Plan, ours: &Figures, theirs: Option<&Figures>) {
    println!();
    println!(
        "side by side: {} pods, every {}, measured {:.0} s; collector {} series → master {} series",
        plan.workload.mesh.pods,
        plan.interval,
        ours.window.seconds,
        group_thousands(ours.collector_series),
        group_thousands(ours.master_series)
    );
    if let Some(t) = theirs {
        println!(
            "   ({}: collector {} series → master {} series)",
            t.name,
            group_thousands(t.collector_series),
            group_thousands(t.master_series)
        );
    }
    let other = theirs.map_or("-".to_string(), |t| t.name.clone());
    println!("| {:<28} | {:>14} | {:>18} | {:>6} |", "", ours.name, other, "ratio");
    println!("|{}|{}|{}|{}|", "-".repeat(30), "-".repeat(16), "-".repeat(20), "-".repeat(8));
    for row in &ROWS {
        let a = (row.value)(ours);
        let (b, ratio) = match theirs {
            Some(t) => ((row.show)((row.value)(t)), ratio(a, (row.value)(t))),
            None => ("-".into(), "-".into()),
        };
        println!("| {:<28} | {:>14} | {:>18} | {:>6} |", row.name, (row.show)(a), b, ratio);
    }
    println!("dashboard queries: {}", DASHBOARD.map(|(panel, _)| panel).join(", "));
}

/// Ours over theirs; `n/a` when theirs is zero (a process idle for the whole window uses
/// no CPU tick of 10 ms), never `inf`.
fn ratio(ours: f64, theirs: f64) -> String {
    if theirs > 0.0 && ours.is_finite() { format!("{:.2}", ours / theirs) } else { "n/a".into() }
}

fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len().max(1) as f64
}

fn mean_bytes(xs: &[(Duration, usize)]) -> f64 {
    mean(&xs.iter().map(|x| x.1 as f64).collect::<Vec<_>>())
}

/// The median, in seconds.
fn median(xs: impl Iterator<Item = Duration>) -> f64 {
    let mut v: Vec<f64> = xs.map(|d| d.as_secs_f64()).collect();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// The dashboard panel with the highest median latency.
fn slowest_panel(f: &Figures) -> f64 {
    f.queries.iter().map(|times| median(times.iter().copied())).fold(0.0, f64::max)
}

fn mib(b: f64) -> String {
    format!("{:.0} MiB", b / 1_048_576.0)
}

fn seconds(s: f64) -> String {
    format!("{s:.1} s")
}

fn millis(s: f64) -> String {
    format!("{:.1} ms", s * 1000.0)
}

fn bytes(b: f64) -> String {
    group_thousands(b as u64)
}

fn two(x: f64) -> String {
    format!("{x:.2}")
}
