//! A range query gives, at every step, exactly what the instant query at that step gives:
//! the subtrees `range.rs` evaluates over all steps at once (range functions over a
//! selector, parameterless aggregations of them) must agree to the bit with the
//! step-by-step evaluator, errors included.

mod common;

use cardinal_model::Labels;
use cardinal_promql::{Engine, Value, engine::parse};
use cardinal_tsdb::Head;
use common::{Input, head};
use proptest::prelude::*;
use std::collections::BTreeMap;

const QUERIES: &[&str] = &[
    "rate(x[1m])",
    "increase(x[90s])",
    "delta(x[1m])",
    "irate(x[1m])",
    "idelta(x[1m])",
    "deriv(x[2m])",
    "resets(x[2m])",
    "changes(x[2m])",
    "sum_over_time(x[1m])",
    "avg_over_time(x[1m])",
    "count_over_time(x[1m])",
    "min_over_time(x[1m])",
    "max_over_time(x[1m])",
    "last_over_time(x[1m])",
    "first_over_time(x[1m])",
    "present_over_time(x[1m])",
    "stddev_over_time(x[1m])",
    "stdvar_over_time(x[1m])",
    "rate((x[1m]))",
    "rate(x[1m] offset 30s)",
    "rate(x[1m] @ 200)",
    "sum by (a) (rate(x[1m]))",
    "avg without (b) (increase(x[1m]))",
    "count(irate(x[1m]))",
    "min by (b) (max_over_time(x[1m]))",
    "max(rate(x[1m]))",
    "stddev(rate(x[1m]))",
    "stdvar by (a) (rate(x[1m]))",
    "group by (a) (last_over_time(x[1m]))",
    "sum(sum by (a, b) (rate(x[1m])))",
    "sum(rate(x[1m])) / sum(rate(y[1m]))",
    "-sum by (a) (rate(x[1m]))",
    "rate(x[1m]) > 0.5",
    "topk(2, rate(x[1m]))",
    "quantile(0.5, rate(x[1m]))",
    "max_over_time(rate(x[1m])[2m:20s])",
    "rate({__name__=~\"x|y\"}[1m])",
    "sum(rate({__name__=~\"x|y\"}[1m]))",
    "last_over_time({__name__=~\"x|y\"}[1m])",
    "x + 1",
];

/// Series with gaps, resets and stale markers.
fn data() -> impl Strategy<Value = Vec<Input>> {
    // Whole seconds, so windows often start or end exactly on a sample.
    let sample =
        ((1i64..40).prop_map(|s| s * 1000), prop_oneof![8 => 0.0..50.0f64, 1 => Just(-1.0), 1 => Just(f64::NAN)]);
    let series = (prop_oneof![Just("x"), Just("y")], 0u8..3, 0u8..2, prop::collection::vec(sample, 0..40));
    prop::collection::vec(series, 1..8)
}

type Points = BTreeMap<Labels, Vec<(i64, u64)>>;

/// The range query's answer, evaluated at each step as an instant query.
fn step_by_step(engine: &Engine, h: &Head, q: &str, start: i64, end: i64, step: i64) -> Result<Points, String> {
    let expr = parse(q).unwrap();
    let mut out = Points::new();
    let mut t = start;
    while t <= end {
        match engine.instant(h, &expr, t).map_err(|e| e.to_string())? {
            Value::Vector(v) => v.into_iter().for_each(|s| out.entry(s.labels).or_default().push((t, s.v.to_bits()))),
            Value::Scalar(v) => out.entry(Labels::empty()).or_default().push((t, v.to_bits())),
            other => panic!("{q}: {other:?}"),
        }
        t += step;
    }
    Ok(out)
}

fn range(engine: &Engine, h: &Head, q: &str, start: i64, end: i64, step: i64) -> Result<Points, String> {
    let series = engine.range(h, &parse(q).unwrap(), start, end, step).map_err(|e| e.to_string())?;
    Ok(series.into_iter().map(|s| (s.labels, s.points.into_iter().map(|(t, v)| (t, v.to_bits())).collect())).collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn range_queries_agree_with_instant_queries_at_every_step(
        data in data(),
        start in (0i64..300).prop_map(|s| s * 1000),
        steps in 1i64..60,
        step in prop_oneof![Just(15_000i64), Just(10_000), 1_000i64..90_000, (1i64..90).prop_map(|s| s * 1000)],
    ) {
        let h = head(&data);
        let engine = Engine::default();
        let end = start + step * (steps - 1);
        for q in QUERIES {
            let want = step_by_step(&engine, &h, q, start, end, step);
            let got = range(&engine, &h, q, start, end, step);
            prop_assert_eq!(got, want, "{}", q);
        }
    }
}

/// The same sliding windows over a realistic span: 6 h of 15 s scrapes, a 1 m step, and
/// enough series that each core takes a share.
#[test]
fn a_dashboard_query_over_hours_agrees_with_instant_queries() {
    let h = Head::new();
    for i in 0..200u32 {
        let labels =
            Labels::from_pairs([("__name__", "x".to_string()), ("a", (i % 4).to_string()), ("b", i.to_string())]);
        let (s, _) = h.get_or_create(&labels);
        let mut v = 0.0;
        for k in 0..1440i64 {
            v = if k % (97 + i64::from(i)) == 0 { 0.0 } else { v + f64::from(i % 7) + 0.25 };
            h.append(&s, k * 15_000 + i64::from(i) * 37, v).unwrap();
        }
    }
    let engine = Engine::default();
    for q in ["sum by (a) (rate(x[5m]))", "sum(increase(x[1h]))", "max by (a) (irate(x[1m]))"] {
        let want = step_by_step(&engine, &h, q, 600_000, 21_600_000, 60_000).unwrap();
        assert!(want.values().map(Vec::len).sum::<usize>() > 100, "{q}: the query has data");
        assert_eq!(range(&engine, &h, q, 600_000, 21_600_000, 60_000).unwrap(), want, "{q}");
    }
}

/// An end before the start is no step at all, whatever the step.
#[test]
fn a_range_ending_before_it_starts_is_empty() {
    let h = head(&[("x", 0, 0, vec![(1000, 1.0), (1000, 2.0)])]);
    let engine = Engine::default();
    for q in ["rate(x[1m])", "sum(rate(x[1m]))", "x"] {
        assert_eq!(range(&engine, &h, q, 10_000, 5_000, 60_000).unwrap(), Points::new(), "{q}");
        assert_eq!(step_by_step(&engine, &h, q, 10_000, 5_000, 60_000).unwrap(), Points::new(), "{q}");
    }
}
