//! The engine over any storage: a database held in plain vectors, implementing nothing but
//! the storage contract, answers every query as our TSDB's head holding the same samples.
//! If the engine came to rely on anything of the TSDB's beyond the contract, this would
//! stop compiling or answer differently.

use cardinal_model::{Labels, Matcher, Timestamp};
use cardinal_promql::storage::{LazySeries, Querier, Queryable, SampleSource, Stored};
use cardinal_promql::{Engine, Value, engine::parse};
use cardinal_tsdb::Head;
use std::sync::Arc;

/// A series' labels and all its samples, oldest first.
type Data = Vec<(Labels, Vec<(Timestamp, f64)>)>;

/// Every series in plain vectors.
struct Vectors(Arc<Data>);

impl SampleSource for Vectors {
    fn read(&self, i: usize, mint: Timestamp, maxt: Timestamp, out: &mut Vec<(Timestamp, f64)>) {
        out.extend(self.0[i].1.iter().filter(|(t, _)| (mint..=maxt).contains(t)));
    }
}

impl Querier for Vectors {
    fn select(&self, matchers: &[Matcher], _: Timestamp, _: Timestamp) -> Vec<LazySeries> {
        let source: Arc<dyn SampleSource> = Arc::new(Vectors(self.0.clone()));
        let matches = |l: &Labels| matchers.iter().all(|m| m.matches(l.get(&m.name).unwrap_or("")));
        let selected = self.0.iter().enumerate().filter(|(_, (l, _))| matches(l));
        selected
            .map(|(i, (labels, _))| LazySeries { labels: labels.clone(), stored: Stored::new(source.clone(), i) })
            .collect()
    }
}

impl Queryable for Vectors {
    fn querier(&self) -> Box<dyn Querier + '_> {
        Box::new(Vectors(self.0.clone()))
    }
}

/// Two jobs' request counters and a gauge over ten minutes at 15 s, one counter reset.
fn data() -> Data {
    let series = |pairs: [(&str, &str); 3], f: &dyn Fn(i64) -> f64| {
        let samples = (0..40).map(|k| (k * 15_000, f(k))).collect();
        (Labels::from_pairs(pairs), samples)
    };
    vec![
        series([("__name__", "requests_total"), ("job", "a"), ("pod", "1")], &|k| (k * 3) as f64),
        series([("__name__", "requests_total"), ("job", "a"), ("pod", "2")], &|k| ((k % 25) * 5) as f64),
        series([("__name__", "requests_total"), ("job", "b"), ("pod", "3")], &|k| (k * k) as f64),
        series([("__name__", "queue_depth"), ("job", "b"), ("pod", "3")], &|k| ((k * 7) % 11) as f64),
    ]
}

fn head(data: &Data) -> Head {
    let h = Head::new();
    for (labels, samples) in data {
        let (s, _) = h.get_or_create(labels);
        for &(t, v) in samples {
            h.append(&s, t, v).unwrap();
        }
    }
    h
}

const QUERIES: &[&str] = &[
    "requests_total",
    "rate(requests_total[1m])",
    "sum by (job) (increase(requests_total[5m]))",
    "max_over_time(queue_depth[3m])",
    "topk(2, requests_total) + on (pod) group_left queue_depth",
    "avg_over_time(sum(rate(requests_total[1m]))[4m:30s])",
    "count({job=~\"a|b\"}) by (__name__)",
    "resets(requests_total[10m])",
];

#[test]
fn the_engine_answers_alike_over_any_queryable() {
    let data = data();
    let (vectors, head) = (Vectors(Arc::new(data.clone())), head(&data));
    let engine = Engine::default();
    for q in QUERIES {
        let expr = parse(q).unwrap();
        let over_vectors = engine.instant(&vectors, &expr, 540_000).unwrap();
        assert!(!matches!(&over_vectors, Value::Vector(v) if v.is_empty()), "{q} selects nothing");
        assert_eq!(over_vectors, engine.instant(&head, &expr, 540_000).unwrap(), "instant {q}");
        let range = engine.range(&vectors, &expr, 60_000, 585_000, 15_000).unwrap();
        assert!(!range.is_empty(), "{q} over a range selects nothing");
        assert_eq!(range, engine.range(&head, &expr, 60_000, 585_000, 15_000).unwrap(), "range {q}");
    }
}

/// The contract's label names and values, by default read off a selection of every
/// series, answer as the head's own index does.
#[test]
fn label_names_and_values_answer_alike_over_any_queryable() {
    let data = data();
    let (vectors, head) = (Vectors(Arc::new(data.clone())), head(&data));
    let (ours, theirs) = (vectors.querier(), head.querier());
    assert_eq!(ours.label_names(i64::MIN, i64::MAX), ["__name__", "job", "pod"]);
    assert_eq!(ours.label_names(i64::MIN, i64::MAX), theirs.label_names(i64::MIN, i64::MAX));
    assert_eq!(ours.label_values("job", i64::MIN, i64::MAX), ["a", "b"]);
    assert_eq!(ours.label_values("pod", i64::MIN, i64::MAX), theirs.label_values("pod", i64::MIN, i64::MAX));
    assert!(ours.label_values("absent", i64::MIN, i64::MAX).is_empty());
}
