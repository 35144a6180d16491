//! The ingest-path cost of rollups: what one sample costs a rule, and what the head's
//! append costs with and without an engine watching it.
//!
//! cargo bench -p cardinal-rollup --bench rollup

use cardinal_config::Config;
use cardinal_model::Labels;
use cardinal_rollup::Rollups;
use cardinal_rollup::rule::RuleState;
use cardinal_tsdb::{Head, SeriesRef};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::sync::Arc;

const INPUTS: usize = 100_000;

fn rules() -> Vec<cardinal_config::RollupRule> {
    let text = "global: {evaluation_interval: 15s}\nrollup_rules:\n\
        - {record: 'federate:istio_requests_total', match: 'istio_requests_total{reporter=\"source\"}', without: [pod_name, instance], output: total}\n";
    Config::parse(text, "bench.yml").unwrap().rollups
}

fn input(i: usize) -> Labels {
    let pod = format!("workload-{}-{i:06}", i % 100);
    let w = format!("workload-{}", i % 100);
    let code = ["200", "404", "500"][i % 3];
    Labels::from_pairs([
        ("__name__", "istio_requests_total"),
        ("reporter", "source"),
        ("source_workload", w.as_str()),
        ("response_code", code),
        ("pod_name", pod.as_str()),
        ("instance", "10.0.0.1:15090"),
    ])
}

/// One rule's cost per sample, with its state in cache (1k inputs) and not (100k), each
/// input's slot remembered as its series remembers it.
fn rule_observe(c: &mut Criterion) {
    let mut g = c.benchmark_group("rollup");
    for inputs in [1_000, INPUTS] {
        let labels: Vec<Labels> = (0..inputs).map(input).collect();
        let keys: Vec<u64> = labels.iter().map(Labels::stable_hash).collect();
        let mut state = RuleState::new(rules().remove(0), -30_000);
        let mut t = 1_000;
        let mut slots = vec![0u32; inputs];
        for ((k, l), slot) in keys.iter().zip(&labels).zip(&mut slots) {
            state.observe(*k, slot, t, 1.0, || l.clone(), |_| None);
        }
        g.throughput(Throughput::Elements(inputs as u64));
        g.bench_function(format!("rule_observe_{inputs}_inputs"), |b| {
            b.iter(|| {
                t += 15_000;
                for (k, slot) in keys.iter().zip(&mut slots) {
                    state.observe(*k, slot, t, t as f64, || unreachable!(), |_| None);
                }
                let mut out = Vec::new();
                state.flush(t + 60_000, &mut out);
            })
        });
        println!("input state: {} bytes per input", state.input_state_bytes() / inputs);
    }
    g.finish();
}

fn head_append(c: &mut Criterion) {
    let mut g = c.benchmark_group("rollup");
    g.throughput(Throughput::Elements(INPUTS as u64));
    for watched in [false, true] {
        let head = Arc::new(Head::new());
        if watched {
            let engine = Rollups::open(head.clone(), None);
            head.set_observer(engine.clone());
            engine.apply(&rules(), 0);
        }
        let series: Vec<SeriesRef> = (0..INPUTS).map(|i| head.get_or_create(&input(i)).0).collect();
        let mut t = 0;
        let name = if watched { "head_append_100k_with_rollup" } else { "head_append_100k_without_rollup" };
        g.bench_function(name, |b| {
            b.iter(|| {
                t += 15_000;
                let mut app = head.appender();
                for s in &series {
                    let _ = app.append(s, t, t as f64);
                }
                app.commit();
            })
        });
    }
    g.finish();
}

criterion_group!(benches, rule_observe, head_append);
criterion_main!(benches);
