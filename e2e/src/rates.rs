//! Reading counters' rates exactly off stored samples, for the tests that check rolled-up
//! counters on a master against what a collector scraped.

use crate::Daemon;
use crate::prometheus::raw_samples;
use std::collections::BTreeMap;

/// Asserts `got` is within `tolerance` (relative) of `want`.
pub fn near(what: &str, got: f64, want: f64, tolerance: f64) {
    let off = (got - want).abs() / want;
    println!("{what}: {got}, want {want} (off by {:.2}%)", off * 100.0);
    assert!(off <= tolerance, "{what}: {got}, want {want} ± {:.1}% (off by {:.2}%)", tolerance * 100.0, off * 100.0);
}

/// The newest sample time of `metric` on `d` (seconds; 0 when none).
pub async fn newest(d: &Daemon, metric: &str) -> f64 {
    d.scalar(&format!("max(timestamp({metric}))")).await.unwrap_or(0.0)
}

/// The rate at which the `series` counters `selector` picks grew, read off the stored
/// samples: the sum of their values at the latest instant all of them share, less the
/// sum at the earliest such instant after `from`, over the time between, and those two
/// instants (ms). No extrapolation, so neither the federation's lag nor a missed
/// federation scrape at a window's edge (which make `rate()` read low near now, in
/// Prometheus as here) blurs it.
pub async fn counter_rate(d: &Daemon, selector: &str, series: usize, from: f64) -> (f64, i64, i64) {
    let at = newest(d, selector).await;
    let span = (at - from).ceil() as u64;
    let samples = raw_samples(&d.url(""), &format!("{selector}[{span}s]"), at, &[]).await;
    let mut by_time: BTreeMap<i64, (usize, f64)> = Default::default();
    for ((_, t), v) in samples {
        let e = by_time.entry(t).or_default();
        (e.0, e.1) = (e.0 + 1, e.1 + f64::from_bits(v));
    }
    let shared: Vec<(i64, f64)> =
        by_time.into_iter().filter(|(_, (n, _))| *n == series).map(|(t, (_, v))| (t, v)).collect();
    let (Some(&(t1, v1)), Some(&(t2, v2))) = (shared.first(), shared.last()) else {
        panic!("{selector}: no instant holds all {series} series");
    };
    assert!(t2 - t1 >= 20_000, "{selector}: shared instants {t1}..{t2}");
    ((v2 - v1) / ((t2 - t1) as f64 / 1000.0), t1, t2)
}

/// The rate at which the series `selector` picks on `collectors` (`inputs` of them, when
/// that is known: no churn) grew as they scraped them between the instants `t1` and `t2`
/// (ms): each input's last sample at or before `t2` less its last at or before `t1` (none:
/// a new input, counted from zero). An input scraped by several collectors in turn (a
/// target moving between shards) is one input. What a counter rolled up from them must
/// have counted over the same span.
pub async fn scraped_rate(collectors: &[&Daemon], selector: &str, inputs: Option<usize>, t1: i64, t2: i64) -> f64 {
    let span = (t2 - t1) / 1000 + 10;
    let mut samples = BTreeMap::new();
    for c in collectors {
        samples.extend(raw_samples(&c.url(""), &format!("{selector}[{span}s]"), t2 as f64 / 1000.0, &[]).await);
    }
    let mut last: BTreeMap<&str, (f64, f64)> = Default::default();
    for ((series, t), v) in &samples {
        let e = last.entry(series.as_str()).or_default();
        if *t <= t1 {
            e.0 = f64::from_bits(*v);
        }
        e.1 = f64::from_bits(*v);
    }
    if let Some(inputs) = inputs {
        assert_eq!(last.len(), inputs, "every input's samples");
    }
    last.values().map(|(before, after)| after - before).sum::<f64>() / ((t2 - t1) as f64 / 1000.0)
}
