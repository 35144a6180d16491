//! Synthetic stored series for storage and query benchmarks.

use cardinal_model::Labels;

/// A counter scraped every `step` ms over `[from, to)` with a few ms of jitter, growing
/// by a varying small integer: what a real exporter's counter looks like on disk.
pub fn scrape_like_counter(series: usize, from: i64, to: i64, step: i64) -> Vec<(i64, f64)> {
    let mut v = (series * 1000) as f64;
    let mut out = Vec::with_capacity(((to - from) / step).max(0) as usize);
    let mut t = from;
    let mut k = series as u64;
    while t < to {
        k = k.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        v += ((k >> 59) % 7) as f64;
        out.push((t + ((k >> 40) % 5) as i64, v));
        t += step;
    }
    out
}

/// Series `i` of a rollup spread over 50 workloads.
pub fn rollup_labels(i: usize) -> Labels {
    Labels::from_pairs([
        ("__name__", "istio_requests_total".to_string()),
        ("w", (i % 50).to_string()),
        ("i", i.to_string()),
    ])
}
