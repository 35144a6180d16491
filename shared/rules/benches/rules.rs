//! Rule evaluation at the reference scale: 1000 Istio-like pods (~337k series) scraped
//! through the real scrape loop every 15 s, then the shipped Istio rule set.

use cardinal_exposition::Format;
use cardinal_promql::Engine;
use cardinal_rules::file;
use cardinal_rules::group::GroupRunner;
use cardinal_scrape::testing::offline_loop;
use cardinal_tsdb::Head;
use criterion::{Criterion, criterion_group, criterion_main};
use std::sync::Arc;

const PODS: usize = 1000;
const T0: i64 = 1_700_000_000_000;

/// A head holding `PODS` pods' series, scraped four times, 15 s apart.
pub fn mesh_head() -> (Arc<Head>, i64) {
    let mesh = e2e::istio::Mesh { pods: PODS, workloads: 50 };
    let head = Arc::new(Head::new());
    let mut loops: Vec<_> = (0..PODS)
        .map(|p| offline_loop(head.clone(), "envoy", &format!("10.0.{}.{}:15090", p / 256, p % 256)))
        .collect();
    let mut t = T0;
    for _ in 0..4 {
        for (p, l) in loops.iter_mut().enumerate() {
            let body = mesh.pod_body(p, (t / 1000) as f64);
            l.ingest(body.as_bytes(), Format::PromText, t).expect("scrape");
        }
        t += 15_000;
    }
    (head, t)
}

fn bench(c: &mut Criterion) {
    let (head, t) = mesh_head();
    eprintln!("head: {} series", head.num_series());
    let engine = Engine::default();
    let rules = file::load(concat!(env!("CARGO_MANIFEST_DIR"), "/../../config/rules/istio.rules.yml")).expect("rules");
    let mut g = c.benchmark_group("rules");
    g.sample_size(10);
    let query = |q: &str| cardinal_promql::engine::parse(q).unwrap();
    let select = query(r#"istio_requests_total{reporter="source", source_workload!=""}"#);
    g.bench_function("select_istio_requests_337k", |b| b.iter(|| engine.instant(head.as_ref(), &select, t).unwrap()));
    let irate = query(r#"irate(istio_requests_total{reporter="source", source_workload!=""}[1m])"#);
    g.bench_function("irate_istio_requests", |b| b.iter(|| engine.instant(head.as_ref(), &irate, t).unwrap()));
    let rate_buckets = query(r#"rate(istio_request_duration_milliseconds_bucket[1m])"#);
    g.bench_function("rate_all_duration_buckets", |b| {
        b.iter(|| engine.instant(head.as_ref(), &rate_buckets, t).unwrap())
    });
    let sum_by =
        query(r#"sum by (source_workload, destination_workload, le) (istio_request_duration_milliseconds_bucket)"#);
    g.bench_function("sum_by_duration_buckets", |b| b.iter(|| engine.instant(head.as_ref(), &sum_by, t).unwrap()));
    for group in &rules.groups {
        let mut runner = GroupRunner::new(group.clone(), std::time::Duration::from_secs(10), true);
        let mut at = t;
        g.bench_function(format!("group/{}", group.name), |b| {
            b.iter(|| {
                at += 1;
                runner.eval(&engine, (&*head).into(), at, &Default::default())
            })
        });
    }
    let mut runners: Vec<GroupRunner> =
        rules.groups.iter().cloned().map(|g| GroupRunner::new(g, std::time::Duration::from_secs(10), true)).collect();
    let mut at = t + 10_000;
    g.bench_function("whole_istio_rule_set_sequential", |b| {
        b.iter(|| {
            at += 1;
            runners.iter_mut().map(|r| r.eval(&engine, (&*head).into(), at, &Default::default()).samples).sum::<usize>()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
