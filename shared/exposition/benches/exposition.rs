//! Parser and writer throughput on Istio-like bodies.

use cardinal_exposition::{Entry, Format, Parser, text};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn istio_body(pods: usize) -> String {
    let mesh = e2e::istio::Mesh { pods, workloads: 20 };
    (0..pods).map(|p| mesh.pod_body(p, 1000.0)).collect()
}

fn bench(c: &mut Criterion) {
    let body = istio_body(10);
    let mut g = c.benchmark_group("exposition");
    g.throughput(Throughput::Bytes(body.len() as u64));
    g.bench_function("parse_istio_10_pods", |b| {
        b.iter(|| {
            let mut p = Parser::new(body.as_bytes(), Format::PromText);
            let mut n = 0usize;
            while let Some(e) = p.next().unwrap() {
                if let Entry::Sample(s) = e {
                    n += s.series.len();
                }
            }
            n
        });
    });
    // (source, destination, value) of 3370 aggregate samples.
    let lines: Vec<(String, String, f64)> =
        (0..3370).map(|i| (format!("w{}", i % 50), format!("w{}", i / 50), i as f64 * 0.125)).collect();
    g.throughput(Throughput::Elements(lines.len() as u64));
    g.bench_function("write_3370_samples", |b| {
        b.iter(|| {
            let mut out = String::new();
            for (src, dst, v) in &lines {
                let labels = [("destination_workload", dst.as_str()), ("source_workload", src.as_str())];
                text::write_sample(&mut out, "federate:istio_requests_total:rate1m", labels, *v, Some(1795263584878));
            }
            out.len()
        });
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
