//! A query sees each append batch (a scrape) whole or not at all: a rule evaluated while a
//! scrape commits must not mix old and new samples, nor see only some of a first scrape's
//! series.

use cardinal_model::Labels;
use cardinal_promql::{Engine, Value, engine::parse};
use cardinal_tsdb::Head;

fn eval(head: &Head, q: &str) -> f64 {
    match Engine::default().instant(head, &parse(q).unwrap(), 20_000).unwrap() {
        Value::Vector(v) if v.is_empty() => 0.0,
        Value::Vector(v) => v[0].v,
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_query_during_a_scrape_sees_the_scrape_before_it_whole() {
    let head = Head::new();
    let pods: Vec<_> = (0..10)
        .map(|i| head.get_or_create(&Labels::from_pairs([("__name__", "up"), ("pod", &i.to_string())])).0)
        .collect();
    let mut open = head.appender();
    for pod in &pods[..4] {
        open.append(pod, 10_000, 1.0).unwrap();
    }
    assert_eq!(eval(&head, "count(up)"), 0.0, "a first scrape half appended is not seen");
    open.commit();
    assert_eq!(eval(&head, "count(up)"), 4.0);

    let mut next = head.appender();
    for pod in &pods[..4] {
        next.append(pod, 15_000, 0.0).unwrap();
    }
    assert_eq!(eval(&head, "sum(up)"), 4.0, "the old values, not a mix");
    next.commit();
    assert_eq!(eval(&head, "sum(up)"), 0.0);
}
