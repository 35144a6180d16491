//! The master's dashboard query over 30 days of 1,000 counters (scraped every 60 s,
//! stored in one-day blocks) at a 60 s step: the target is the whole 30 days in
//! < 1 s. Also the last day alone, and the block read the query starts with.

use cardinal_promql::Engine;
use cardinal_tsdb::block::{BlockSpec, SeriesChunks, write_block};
use cardinal_tsdb::compact::encode_chunks;
use cardinal_tsdb::{Db, DbOptions};
use criterion::{Criterion, criterion_group, criterion_main};
use e2e::series::{rollup_labels, scrape_like_counter};

const DAY: i64 = 86_400_000;

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    for d in 0..30 {
        let series = (0..1000)
            .map(|i| SeriesChunks {
                labels: rollup_labels(i),
                chunks: encode_chunks(&scrape_like_counter(i, d * DAY, (d + 1) * DAY, 60_000)),
            })
            .collect();
        write_block(&dir.path().join("blocks"), BlockSpec::new(d * DAY, (d + 1) * DAY, 2), series).unwrap();
    }
    let db = Db::open(dir.path(), DbOptions { compaction: true, ..DbOptions::default() }).unwrap();
    let m = [cardinal_model::Matcher::equal("__name__", "istio_requests_total")];
    let mut g = c.benchmark_group("block");
    g.sample_size(10);
    g.bench_function("select_30d_of_1000_series", |b| b.iter(|| db.select(&m, 0, 30 * DAY).len()));
    g.finish();
    let engine = Engine { max_samples: usize::MAX, timeout: std::time::Duration::from_secs(3600), ..Engine::default() };
    let mut g = c.benchmark_group("query");
    g.sample_size(10);
    for q in ["sum by (w) (rate(istio_requests_total[5m]))", "sum(rate(istio_requests_total[1h]))"] {
        let expr = cardinal_promql::engine::parse(q).unwrap();
        g.bench_function(format!("last_1d_of_30d_1000_series_60s_step: {q}"), |b| {
            b.iter(|| engine.range(&db, &expr, 29 * DAY, 30 * DAY - 1, 60_000).unwrap().len())
        });
        g.bench_function(format!("30d_1000_series_60s_step: {q}"), |b| {
            b.iter(|| engine.range(&db, &expr, 0, 30 * DAY - 1, 60_000).unwrap().len())
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
