//! Synthetic stored series for storage and query benchmarks.

use cardinal_model::Labels;
use cardinal_model::schedule::scrape_time;

/// How late a scrape starts after its slot on a loaded collector: upper bound in ms and
/// the share of scrapes up to it, in thousandths. Measured on `demo`'s collector (1000 pods,
/// every 15 s, on 2 cores beside the mesh and the master) from its `up` timestamps with
/// the adjustment turned off.
const LATENESS: [(i64, u64); 8] =
    [(2, 893), (3, 936), (4, 950), (5, 961), (10, 981), (20, 991), (50, 998), (100, 1000)];

/// A counter scraped every `step` ms over `[from, to)`, stamped as our scraper stamps it
/// (`--scrape.timestamp-tolerance` 2 ms: a scrape up to 2 ms late gets its slot's time),
/// growing by a varying small integer: what a real exporter's counter looks like on disk.
pub fn scrape_like_counter(series: usize, from: i64, to: i64, step: i64) -> Vec<(i64, f64)> {
    counter(series, from, to, step, 2)
}

/// The same counter with every scrape stamped with its start (adjustment turned off).
pub fn unaligned_counter(series: usize, from: i64, to: i64, step: i64) -> Vec<(i64, f64)> {
    counter(series, from, to, step, 0)
}

fn counter(series: usize, from: i64, to: i64, step: i64, tolerance: i64) -> Vec<(i64, f64)> {
    let mut v = (series * 1000) as f64;
    let mut out = Vec::with_capacity(((to - from) / step).max(0) as usize);
    let mut t = from;
    let mut k = series as u64;
    while t < to {
        k = k.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        v += ((k >> 59) % 7) as f64;
        let started = t + lateness(k >> 20);
        out.push((scrape_time(started, t, step, tolerance), v));
        t += step;
    }
    out
}

/// A lateness drawn from [`LATENESS`] with the random bits `r`: the bucket, then a
/// uniform value within it.
fn lateness(r: u64) -> i64 {
    let share = r % 1000;
    let i = LATENESS.iter().position(|&(_, cum)| share < cum).unwrap_or(LATENESS.len() - 1);
    let low = if i == 0 { 0 } else { LATENESS[i - 1].0 + 1 };
    low + ((r >> 10) % (LATENESS[i].0 - low + 1) as u64) as i64
}

/// Series `i` of a rollup spread over 50 workloads.
pub fn rollup_labels(i: usize) -> Labels {
    Labels::from_pairs([
        ("__name__", "istio_requests_total".to_string()),
        ("w", (i % 50).to_string()),
        ("i", i.to_string()),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lateness_follows_the_measured_shares() {
        let n = 100_000u64;
        let draws: Vec<i64> = (0..n).map(|i| lateness(i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 7)).collect();
        let within = |ms| draws.iter().filter(|&&l| l <= ms).count() as f64 / n as f64;
        assert!((within(2) - 0.893).abs() < 0.01, "{}", within(2));
        assert!((within(10) - 0.981).abs() < 0.01, "{}", within(10));
        assert!(draws.iter().all(|&l| (0..=100).contains(&l)));
    }

    #[test]
    fn aligned_counters_mostly_sit_on_their_slots() {
        let on_slot = |s: &[(i64, f64)]| s.iter().filter(|(t, _)| t % 15_000 == 0).count() as f64 / s.len() as f64;
        let aligned = scrape_like_counter(3, 0, 86_400_000, 15_000);
        let unaligned = unaligned_counter(3, 0, 86_400_000, 15_000);
        assert!(on_slot(&aligned) > 0.85, "{}", on_slot(&aligned));
        assert!(on_slot(&unaligned) < 0.5, "{}", on_slot(&unaligned));
        assert_eq!(aligned.iter().map(|p| p.1).collect::<Vec<_>>(), unaligned.iter().map(|p| p.1).collect::<Vec<_>>());
    }
}
