//! The durable path: WAL append and block compression (bytes per sample, printed). The
//! 30-day read from blocks is in `cardinal-promql`'s `query` bench, beside the query.

use cardinal_tsdb::block::{SeriesChunks, write_block};
use cardinal_tsdb::compact::encode_chunks;
use cardinal_tsdb::wal::{DEFAULT_SEGMENT_SIZE, RefSample, Wal};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use e2e::series::{rollup_labels as labels, scrape_like_counter as counter_samples};

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = Wal::open(&dir.path().join("wal"), DEFAULT_SEGMENT_SIZE, |_| {}).unwrap();
    let scrape: Vec<RefSample> =
        (0..337).map(|i| RefSample { id: i, t: 1_700_000_000_000, v: i as f64 * 1.5 }).collect();
    let mut g = c.benchmark_group("wal");
    g.throughput(Throughput::Elements(scrape.len() as u64));
    g.bench_function("log_one_337_sample_scrape", |b| b.iter(|| wal.log_samples(&scrape)));
    g.finish();

    // Bytes per sample in a block, for scrape-like counters and for rollup-like floats.
    let blocks = tempfile::tempdir().unwrap();
    for (kind, data) in [
        ("counters every 15s", (0..1000).map(|i| counter_samples(i, 0, 2 * 3_600_000, 15_000)).collect::<Vec<_>>()),
        (
            "irate rollups every 15s",
            (0..1000)
                .map(|i| {
                    counter_samples(i, 0, 2 * 3_600_000, 15_000).iter().map(|(t, v)| (*t, v.sqrt() / 7.3)).collect()
                })
                .collect(),
        ),
    ] {
        let samples: usize = data.iter().map(Vec::len).sum();
        let series = data
            .iter()
            .enumerate()
            .map(|(i, s)| SeriesChunks { labels: labels(i), chunks: encode_chunks(s) })
            .collect();
        let path = write_block(blocks.path(), 0, 2 * 3_600_000, 1, series).unwrap().unwrap();
        let bytes: u64 = std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().metadata().unwrap().len()).sum();
        println!(
            "block of {kind}: {:.3} bytes/sample ({samples} samples, {bytes} bytes)",
            bytes as f64 / samples as f64
        );
        std::fs::remove_dir_all(path).unwrap();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
