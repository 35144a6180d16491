//! Encoding `/federate` responses: 10,143 aggregate series (the reference master's
//! count) in text, protobuf and OpenMetrics (no exemplar among them: what the format costs).

use cardinal_api::federate::{Batch, Encoding, encode_batch};
use cardinal_model::{Labels, Matcher};
use cardinal_storage::LatestSamples;
use cardinal_storage::exemplars::ExemplarStore;
use cardinal_tsdb::Head;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::sync::Arc;

fn bench(c: &mut Criterion) {
    let head = Arc::new(Head::new());
    for i in 0..10_143 {
        let labels = Labels::from_pairs([
            ("__name__", format!("federate:istio_requests_total:rate1m{}", i % 4)),
            ("source_workload", format!("workload-{}", i % 97)),
            ("destination_workload", format!("workload-{}", i / 97)),
            ("response_code", ["200", "404", "503"][i % 3].to_string()),
            ("job", "envoy".to_string()),
        ]);
        let (s, _) = head.get_or_create(&labels);
        head.append(&s, 1_000_000, i as f64 * 0.25).unwrap();
    }
    let sets = [vec![Matcher::new(cardinal_model::MatchOp::Regex, "__name__", "federate:.+").unwrap()]];
    let all = head.clone().select_latest(&sets);
    let externals = vec![("collector".to_string(), "c1".to_string()), ("instance".to_string(), String::new())];
    let how = |encoding| Batch { externals: externals.clone(), now: 1_000_001, lookback: 300_000, encoding };
    let mut g = c.benchmark_group("federate");
    g.throughput(Throughput::Elements(all.len() as u64));
    let exemplars = Arc::new(ExemplarStore::default());
    exemplars.resize(100_000);
    let encodings = [
        ("encode_10143_series_text", Encoding::Text),
        ("encode_10143_series_protobuf", Encoding::Protobuf),
        ("encode_10143_series_openmetrics", Encoding::OpenMetrics(exemplars)),
    ];
    for (name, encoding) in encodings {
        let how = how(encoding);
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut last = String::new();
                let batches = (0..all.len()).step_by(1000).map(|p| p..(p + 1000).min(all.len()));
                batches.map(|r| encode_batch(all.as_ref(), r, &how, &mut last).0.len()).sum::<usize>()
            });
        });
    }
    g.bench_function("select_and_sort_10143_series", |b| {
        b.iter(|| head.clone().select_latest(&sets).len());
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
