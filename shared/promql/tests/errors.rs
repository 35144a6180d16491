//! Query errors, worded and typed as Prometheus's (promtool can't expect an error, so
//! these are tested here rather than in rule unit-test files).

use cardinal_model::Labels;
use cardinal_promql::{Engine, QueryError, Value, engine::parse};
use cardinal_tsdb::Head;

fn head() -> Head {
    let h = Head::new();
    for (labels, v) in [
        (vec![("__name__", "x"), ("a", "1")], 1.0),
        (vec![("__name__", "x"), ("a", "2")], 2.0),
        (vec![("__name__", "y"), ("a", "1")], 3.0),
        (vec![("__name__", "z"), ("a", "1"), ("b", "1")], 4.0),
        (vec![("__name__", "z"), ("a", "1"), ("b", "2")], 5.0),
    ] {
        let (s, _) = h.get_or_create(&Labels::from_pairs(labels));
        h.append(&s, 0, v).unwrap();
        h.append(&s, 10_000, v).unwrap();
    }
    h
}

fn run(q: &str) -> Result<Value, QueryError> {
    let expr = parse(q)?;
    Engine::default().instant(&head(), &expr, 10_000)
}

fn err(q: &str) -> QueryError {
    run(q).expect_err(q)
}

#[test]
fn parse_errors_are_bad_data() {
    assert!(matches!(err("sum("), QueryError::BadData(m) if m.starts_with("parse error")));
    assert!(matches!(err("x{a=~\"(\"}"), QueryError::BadData(_)));
}

#[test]
fn many_to_many_matching_is_refused_with_both_series_named() {
    let QueryError::Execution(m) = err("y + on () z") else { panic!() };
    assert!(
        m.starts_with("found duplicate series for the match group {} on the right hand-side of the operation:"),
        "{m}"
    );
    assert!(m.contains("many-to-many matching not allowed: matching labels must be unique on one side"));
    assert!(m.contains(r#"{__name__="z", a="1", b="1"}"#) || m.contains(r#"{__name__="z", a="1", b="2"}"#), "{m}");
}

#[test]
fn ambiguous_one_to_one_matching_is_refused() {
    let QueryError::Execution(m) = err("z + ignoring (b) y") else { panic!() };
    assert_eq!(m, "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)");
    assert!(run("z + ignoring (b) group_left y").is_ok());
}

#[test]
fn dropping_the_name_must_not_collide() {
    // x{a="1"} and y{a="1"} become the same series once rate() drops the name.
    let QueryError::Execution(m) = err(r#"abs({__name__=~"x|y"})"#) else { panic!() };
    assert_eq!(m, "vector cannot contain metrics with the same labelset");
    let QueryError::Execution(m) = err(r#"label_replace(x, "a", "same", "a", ".*")"#) else { panic!() };
    assert_eq!(m, "vector cannot contain metrics with the same labelset");
    for q in [
        r#"rate({__name__=~"x|y"}[1m])"#,
        r#"predict_linear({__name__=~"x|y"}[1m], 60)"#,
        r#"quantile_over_time(0.5, {__name__=~"x|y"}[1m])"#,
    ] {
        let QueryError::Execution(m) = err(q) else { panic!("{q}") };
        assert_eq!(m, "vector cannot contain metrics with the same labelset", "{q}");
    }
    assert!(run(r#"rate({__name__=~"z"}[1m])"#).is_ok(), "one name: nothing can collide");
}

#[test]
fn invalid_function_arguments() {
    let QueryError::Execution(m) = err(r#"label_replace(x, "1bad", "v", "a", ".*")"#) else { panic!() };
    assert_eq!(m, "invalid destination label name in label_replace(): 1bad");
    let QueryError::Execution(m) = err(r#"count_values("1bad", x)"#) else { panic!() };
    assert_eq!(m, "invalid label name \"1bad\"");
}

#[test]
fn sample_limit_and_timeout() {
    let expr = parse("x").unwrap();
    let tight = Engine { max_samples: 1, ..Engine::default() };
    assert_eq!(tight.instant(&head(), &expr, 10_000), Err(QueryError::TooManySamples));
    let hurried = Engine { timeout: std::time::Duration::ZERO, ..Engine::default() };
    assert_eq!(hurried.instant(&head(), &expr, 10_000), Err(QueryError::Timeout));
}

#[test]
fn range_queries_refuse_range_vectors() {
    let expr = parse("x[1m]").unwrap();
    assert!(matches!(Engine::default().range(&head(), &expr, 0, 10_000, 1000), Err(QueryError::BadData(_))));
}
