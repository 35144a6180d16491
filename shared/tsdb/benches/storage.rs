//! The durable path: WAL append, restart (WAL replay of 1M series) and block compression
//! (bytes per sample, printed). The 30-day read from blocks is in `cardinal-promql`'s
//! `query` bench, beside the query.

use cardinal_model::Labels;
use cardinal_tsdb::block::{BlockSpec, SeriesChunks, write_block};
use cardinal_tsdb::compact::encode_chunks;
use cardinal_tsdb::wal::{DEFAULT_SEGMENT_SIZE, RefSample, Wal};
use cardinal_tsdb::{Db, DbOptions};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use e2e::series::{rollup_labels as labels, scrape_like_counter as counter_samples, unaligned_counter};

/// A series' samples from its index and time range (`e2e::series`).
type Generator = fn(usize, i64, i64, i64) -> Vec<(i64, f64)>;

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = Wal::open(&dir.path().join("wal"), DEFAULT_SEGMENT_SIZE, |_| {}).unwrap();
    let scrape: Vec<RefSample> =
        (0..337).map(|i| RefSample { id: i, t: 1_700_000_000_000, v: i as f64 * 1.5 }).collect();
    let mut g = c.benchmark_group("wal");
    g.throughput(Throughput::Elements(scrape.len() as u64));
    g.bench_function("log_one_337_sample_scrape", |b| b.iter(|| wal.log_samples(&scrape)));
    g.finish();
    restart(c);

    // Bytes per sample in a block: scrape-like counters stamped as our scraper stamps them,
    // the same with the timestamp adjustment off, and rollup-like floats, which rule
    // evaluation stamps exactly on its grid.
    let blocks = tempfile::tempdir().unwrap();
    let two_hours =
        |f: Generator| -> Vec<Vec<(i64, f64)>> { (0..1000).map(|i| f(i, 0, 2 * 3_600_000, 15_000)).collect() };
    let rollups = two_hours(counter_samples)
        .into_iter()
        .map(|s| s.iter().enumerate().map(|(n, (_, v))| (n as i64 * 15_000, v.sqrt() / 7.3)).collect())
        .collect();
    if let Ok(path) = std::env::var("CARDINAL_OPENMETRICS_OUT") {
        write_openmetrics(&path, &two_hours(counter_samples));
    }
    for (kind, data) in [
        ("counters every 15s", two_hours(counter_samples)),
        ("counters every 15s, timestamps not adjusted", two_hours(unaligned_counter)),
        ("irate rollups every 15s", rollups),
    ] {
        let samples: usize = data.iter().map(Vec::len).sum();
        let series = data
            .iter()
            .enumerate()
            .map(|(i, s)| SeriesChunks { labels: labels(i), chunks: encode_chunks(s) })
            .collect();
        let path = write_block(blocks.path(), BlockSpec::new(0, 2 * 3_600_000, 1), series).unwrap().unwrap();
        let size = |f: &str| std::fs::metadata(path.join(f)).map_or(0, |m| m.len());
        let bytes: u64 = std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().metadata().unwrap().len()).sum();
        println!(
            "block of {kind}: {:.3} bytes/sample ({samples} samples, {bytes} bytes: chunks {}, index {})",
            bytes as f64 / samples as f64,
            size("chunks"),
            size("index"),
        );
        std::fs::remove_dir_all(path).unwrap();
    }
}

/// The counters as an OpenMetrics file, for `promtool tsdb create-blocks-from openmetrics`
/// to build Prometheus's block of the same samples. Shifted to a recent 2 h boundary
/// (Prometheus cuts blocks on them), which keeps them on their 15 s slots.
fn write_openmetrics(path: &str, series: &[Vec<(i64, f64)>]) {
    use std::io::Write;
    const BASE: i64 = 1_700_006_400_000;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(out, "# TYPE istio_requests counter").unwrap();
    for (i, samples) in series.iter().enumerate() {
        let l = labels(i);
        for (t, v) in samples {
            let (w, i) = (l.get("w").unwrap_or(""), l.get("i").unwrap_or(""));
            writeln!(out, "istio_requests_total{{w=\"{w}\",i=\"{i}\"}} {v} {}.{:03}", (BASE + t) / 1000, t % 1000)
                .unwrap();
        }
    }
    writeln!(out, "# EOF").unwrap();
}

/// 1M series (2,968 Envoy-like targets of 337 series, 8 labels each) scraped 10 times,
/// 15 s apart: how long `Db::open` takes to replay them (the target: < 10 s).
fn restart(c: &mut Criterion) {
    const SERIES: usize = 1_000_000;
    let dir = tempfile::tempdir().unwrap();
    {
        let db = Db::open(dir.path(), DbOptions::default()).unwrap();
        let head = &db.head;
        let series: Vec<_> = (0..SERIES).map(|i| head.get_or_create(&pod_series(i)).0).collect();
        for scrape in 0..10i64 {
            for target in series.chunks(337) {
                let mut app = head.appender();
                for (k, s) in target.iter().enumerate() {
                    let _ = app.append(s, 1_700_000_000_000 + scrape * 15_000, (scrape * k as i64) as f64);
                }
                app.commit();
            }
        }
        db.wal().sync().unwrap();
    }
    let mut g = c.benchmark_group("restart");
    g.sample_size(10);
    // A restart never frees the old head, so neither does the measurement.
    g.bench_function("replay_wal_1m_series_10m_samples", |b| {
        b.iter_with_large_drop(|| Db::open(dir.path(), DbOptions::default()).unwrap())
    });
    g.finish();
}

fn pod_series(i: usize) -> Labels {
    let pod = i / 337;
    Labels::from_pairs([
        ("__name__", format!("envoy_metric_{}", i % 337)),
        ("instance", format!("10.{}.{}.{}:15090", pod >> 16, (pod >> 8) & 255, pod & 255)),
        ("job", "envoy".to_string()),
        ("namespace", "mesh".to_string()),
        ("pod", format!("workload-{}-{pod:06x}", pod % 30)),
        ("workload", format!("workload-{}", pod % 30)),
        ("response_code", ["200", "404", "503"][i % 3].to_string()),
        ("reporter", "source".to_string()),
    ])
}

criterion_group!(benches, bench);
criterion_main!(benches);
