//! Head append and select at the reference scale (~337k series from 1000 Istio-like pods),
//! and chunk compression.

use cardinal_exposition::{Entry, Format, Parser, parse_labels};
use cardinal_model::{Labels, MatchOp, Matcher};
use cardinal_tsdb::chunk::{XorAppender, XorIter};
use cardinal_tsdb::{Head, SeriesRef};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// Every series of `pods` Istio pods.
fn mesh_series(pods: usize) -> Vec<Labels> {
    let mesh = e2e::istio::Mesh { pods, workloads: 50 };
    let mut out = Vec::with_capacity(pods * e2e::istio::SERIES_PER_POD);
    let mut buf = Vec::new();
    for pod in 0..pods {
        let body = mesh.pod_body(pod, 100.0);
        let mut p = Parser::new(body.as_bytes(), Format::PromText);
        while let Some(e) = p.next().unwrap() {
            if let Entry::Sample(s) = e {
                parse_labels(s.name, s.labels, &mut buf).unwrap();
                let mut l = buf.clone();
                l.push(cardinal_model::Label::new("instance", format!("10.0.{}.{}:15090", pod / 256, pod % 256)));
                l.push(cardinal_model::Label::new("job", "envoy"));
                out.push(Labels::from_pairs(l.into_iter().map(|l| (l.name, l.value))));
            }
        }
    }
    out
}

fn bench(c: &mut Criterion) {
    let series = mesh_series(1000);
    let head = Head::new();
    let refs: Vec<SeriesRef> = series.iter().map(|l| head.get_or_create(l).0).collect();
    let mut g = c.benchmark_group("tsdb");
    g.sample_size(10);
    g.throughput(Throughput::Elements(refs.len() as u64));
    let mut t = 0;
    g.bench_function("append_337k_series_one_sample_each", |b| {
        b.iter(|| {
            t += 15_000;
            for (i, s) in refs.iter().enumerate() {
                head.append(s, t, (t / 1000 + i as i64) as f64).unwrap();
            }
        });
    });
    let rate_input = [
        Matcher::equal("__name__", "istio_requests_total"),
        Matcher::equal("reporter", "source"),
        Matcher::new(MatchOp::NotEqual, "source_workload", "").unwrap(),
    ];
    g.throughput(Throughput::Elements(1));
    g.bench_function("select_istio_requests_of_337k", |b| b.iter(|| head.select(&rate_input).len()));
    let buckets = [
        Matcher::new(MatchOp::Regex, "__name__", "istio_request_duration_milliseconds_bucket").unwrap(),
        Matcher::equal("le", "+Inf"),
    ];
    g.bench_function("select_regex_bucket_of_337k", |b| b.iter(|| head.select(&buckets).len()));
    g.finish();

    let mut g = c.benchmark_group("chunk");
    let samples: Vec<(i64, f64)> =
        (0..120).map(|i| (1_700_000_000_000 + i * 15_000 + (i * 7 % 5), (i * 13 + i * i % 7) as f64)).collect();
    g.throughput(Throughput::Elements(120));
    g.bench_function("encode_120_counter_samples", |b| {
        b.iter(|| {
            let mut a = XorAppender::new();
            samples.iter().for_each(|(t, v)| a.append(*t, *v));
            a.len_bytes()
        });
    });
    let mut a = XorAppender::new();
    samples.iter().for_each(|(t, v)| a.append(*t, *v));
    let bytes = a.bytes();
    g.bench_function("decode_120_counter_samples", |b| b.iter(|| XorIter::new(&bytes).count()));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
