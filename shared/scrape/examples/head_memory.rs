//! Memory per active series on the collector's ingest path: Istio-like pods scraped every
//! 15 s for the head's 2 h retention (480 samples a series), through the real scrape
//! loop (parse, cache, relabel, head). Prints the process's resident memory per series.
//!
//!     cargo run --release -p cardinal-scrape --example head_memory -- [pods] [scrapes]

use cardinal_exposition::Format;
use cardinal_scrape::testing::offline_loop;
use cardinal_tsdb::Head;
use std::sync::Arc;

fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let pods: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100);
    let scrapes: i64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(480);
    let mesh = e2e::istio::Mesh { pods, workloads: 20 };
    let head = Arc::new(Head::new());
    let mut loops: Vec<_> = (0..pods)
        .map(|p| offline_loop(head.clone(), "envoy", &format!("10.0.{}.{}:15090", p / 256, p % 256)))
        .collect();
    let before = rss_bytes();
    let started = std::time::Instant::now();
    let mut bytes = 0usize;
    let mut after_first = 0;
    for s in 0..scrapes {
        let t = 1_700_000_000_000 + s * 15_000;
        for (p, l) in loops.iter_mut().enumerate() {
            let body = mesh.pod_body(p, (t / 1000) as f64);
            bytes += body.len();
            l.ingest(body.as_bytes(), Format::PromText, t).expect("scrape");
        }
        if s == 0 {
            after_first = rss_bytes();
        }
    }
    let elapsed = started.elapsed();
    let after = rss_bytes();
    let series = head.num_series();
    let card = head.cardinality(1);
    println!("pods {pods}, scrapes {scrapes} (15 s apart = {} min of data)", scrapes / 4);
    println!("series {series}, samples {}", head.stats.samples_appended.load(std::sync::atomic::Ordering::Relaxed));
    println!(
        "chunk bytes {} = {:.2} bytes/sample",
        card.chunk_bytes,
        card.chunk_bytes as f64 / (series as f64 * scrapes as f64)
    );
    let per = |b: u64| b as f64 / series as f64;
    println!("RSS after the first scrape: {:.0} bytes per series (labels, index, caches)", per(after_first - before));
    println!(
        "RSS growth {} MiB = {:.0} bytes per series (head + scrape caches)",
        (after - before) >> 20,
        (after - before) as f64 / series as f64
    );
    println!(
        "ingest {:.0} MB/s, {:.1} M samples/s (one core, body generation excluded: no)",
        bytes as f64 / elapsed.as_secs_f64() / 1e6,
        (series as f64 * scrapes as f64) / elapsed.as_secs_f64() / 1e6
    );
}
