//! The scrape hot path on an Istio-like body: parse + cache lookup (`stage`), and the
//! whole ingest including head appends.

use cardinal_exposition::Format;
use cardinal_scrape::testing::offline_loop;
use cardinal_tsdb::Head;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::sync::Arc;

fn bench(c: &mut Criterion) {
    let mesh = e2e::istio::Mesh { pods: 100, workloads: 20 };
    let body = mesh.pod_body(7, 1000.0);
    let mut g = c.benchmark_group("scrape");
    g.throughput(Throughput::Bytes(body.len() as u64));

    let head = Arc::new(Head::new());
    let mut l = offline_loop(head, "envoy", "10.0.0.7:15090");
    l.ingest(body.as_bytes(), Format::PromText, 1).unwrap();
    g.bench_function("stage_known_series_istio_pod", |b| {
        b.iter(|| l.stage(body.as_bytes(), Format::PromText, 2).unwrap());
    });

    let head = Arc::new(Head::new());
    let mut l = offline_loop(head, "envoy", "10.0.0.7:15090");
    let mut t = 0i64;
    g.bench_function("ingest_istio_pod", |b| {
        b.iter(|| {
            t += 15_000;
            l.ingest(body.as_bytes(), Format::PromText, t).unwrap()
        });
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
