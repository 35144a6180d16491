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

fn limited(max_samples: usize) -> Engine {
    Engine { max_samples, ..Engine::default() }
}

/// `--query.max-samples` counts what the whole query holds, as Prometheus's peak: a
/// range query's result grows with its steps, though each step holds two samples.
#[test]
fn the_sample_limit_holds_over_a_range_query_and_its_result() {
    let h = head();
    // Step by step (the binary operation is not evaluated over all steps at once): two
    // samples a step, 11 steps, and the two decoded selections (4 samples).
    let expr = parse("x + 0").unwrap();
    let steps = |e: &Engine| e.range(&h, &expr, 0, 10_000, 1000);
    // At the last step: 4 decoded, 20 points of the result so far, and the step's 2
    // samples of `x` and 2 of the sum.
    assert_eq!(steps(&limited(28)).map(|s| s.len()), Ok(2));
    assert_eq!(steps(&limited(27)), Err(QueryError::TooManySamples));
    // Evaluated over all steps at once, series by series: its result (2 series with a
    // point at each of the 50 steps from 10 s to 59 s) is held whole.
    let rate = parse("rate(x[1m])").unwrap();
    assert!(limited(110).range(&h, &rate, 0, 60_000, 1000).is_ok());
    assert_eq!(limited(99).range(&h, &rate, 0, 60_000, 1000), Err(QueryError::TooManySamples));
}

#[test]
fn the_sample_limit_holds_over_a_subquerys_points() {
    let h = head();
    // 10 inner steps of one point each.
    let expr = parse("max_over_time(vector(1)[10s:1s])").unwrap();
    assert!(limited(20).instant(&h, &expr, 10_000).is_ok());
    assert_eq!(limited(5).instant(&h, &expr, 10_000), Err(QueryError::TooManySamples));
}

/// A subquery over a year at a 1 ms step is 3e10 inner steps: the deadline must end it.
#[test]
fn the_timeout_ends_a_subquerys_steps_and_a_range_querys() {
    let h = head();
    let hurried = Engine { timeout: std::time::Duration::from_millis(200), ..Engine::default() };
    let start = std::time::Instant::now();
    let sub = parse("max_over_time(vector(1)[1y:1ms])").unwrap();
    assert_eq!(hurried.instant(&h, &sub, 10_000), Err(QueryError::Timeout));
    let nested = parse("max_over_time(max_over_time(vector(1)[1d:1s])[1d:1s])").unwrap();
    assert_eq!(hurried.range(&h, &nested, 0, 10_000_000, 1000), Err(QueryError::Timeout));
    // Each gave up within its 200 ms and a little more (no timing beyond "ends at all").
    assert!(start.elapsed() < std::time::Duration::from_secs(60));
}

#[test]
fn deep_and_huge_expressions_are_bad_data_before_evaluation() {
    for q in [format!("{}x{}", "(".repeat(5000), ")".repeat(5000)), format!("x{}", " + x".repeat(20_000))] {
        assert!(
            matches!(parse(&q), Err(QueryError::BadData(m)) if m.starts_with("parse error: query")),
            "{}",
            &q[..20]
        );
    }
    assert!(matches!(parse("x[1000y]"), Err(QueryError::BadData(m)) if m.contains("out of range")));
}

#[test]
fn range_queries_refuse_range_vectors() {
    let expr = parse("x[1m]").unwrap();
    assert!(matches!(Engine::default().range(&head(), &expr, 0, 10_000, 1000), Err(QueryError::BadData(_))));
}

#[test]
fn experimental_functions_refuse_what_prometheus_refuses() {
    let smoothing = err("double_exponential_smoothing(x[1m], 1, 0.5)");
    assert!(
        smoothing.to_string().contains("invalid smoothing factor. Expected: 0 < sf < 1, got: 1.000000"),
        "{smoothing}"
    );
    let trend = err("double_exponential_smoothing(x[1m], 0.5, 0)");
    assert!(trend.to_string().contains("invalid trend factor. Expected: 0 < tf < 1, got: 0.000000"), "{trend}");
    assert!(err("limitk(NaN, x)").to_string().contains("Parameter value is NaN"));
    assert!(err("limit_ratio(NaN, x)").to_string().contains("Ratio value is NaN"));
}
