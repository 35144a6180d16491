//! An instant aggregation of a selector, or of a range function over one, is evaluated
//! straight from storage with series grouped by label symbols (`rule_aggregation.rs`). It must give
//! what the step-by-step evaluator gives, to the bit and in the same order. A selector
//! naming its metric by regex (`{__name__=~"x"}`, same series) takes the step-by-step
//! path, so each pair below must agree; so must a plain selector's aggregation and the
//! last step of a range query (whose steps are evaluated one by one, not fused).

mod common;

use cardinal_model::Labels;
use cardinal_promql::{Engine, Value, engine::parse};
use cardinal_tsdb::Head;
use common::{Input, head};
use proptest::prelude::*;

const OPS: &[&str] = &["sum", "avg", "count", "group", "min", "max", "stddev", "stdvar"];
const GROUPINGS: &[&str] = &["", "by (a)", "without (b)", "by (__name__, b)", "without (a, __name__)"];
/// The fused form and the same query through the step-by-step evaluator.
const INPUTS: &[(&str, &str)] = &[
    ("rate(x[1m])", r#"rate({__name__=~"x"}[1m])"#),
    ("irate(x[1m])", r#"irate({__name__=~"x"}[1m])"#),
    ("increase(x[90s])", r#"increase({__name__=~"x"}[90s])"#),
    ("delta(x[1m])", r#"delta({__name__=~"x"}[1m])"#),
    ("deriv(x[2m])", r#"deriv({__name__=~"x"}[2m])"#),
    ("changes(x[2m])", r#"changes({__name__=~"x"}[2m])"#),
    ("last_over_time(x[1m])", r#"last_over_time({__name__=~"x"}[1m])"#),
    ("rate(x[1m] offset 30s)", r#"rate({__name__=~"x"}[1m] offset 30s)"#),
    ("(rate(x[1m] @ 100))", r#"rate({__name__=~"x"}[1m] @ 100)"#),
];
const SELECTORS: &[&str] = &["x", "x offset 20s", "x @ 100"];

/// Series with gaps, resets and stale markers.
fn data() -> impl Strategy<Value = Vec<Input>> {
    let sample =
        ((1i64..40).prop_map(|s| s * 1000), prop_oneof![8 => 0.0..50.0f64, 1 => Just(-1.0), 1 => Just(f64::NAN)]);
    let series = (prop_oneof![4 => Just("x"), 1 => Just("y")], 0u8..3, 0u8..4, prop::collection::vec(sample, 0..40));
    prop::collection::vec(series, 1..12)
}

/// The answer's samples in order, values as bits.
fn eval(h: &Head, q: &str, t: i64) -> Vec<(Labels, i64, u64)> {
    match Engine::default().instant(h, &parse(q).unwrap(), t).unwrap() {
        Value::Vector(v) => v.into_iter().map(|s| (s.labels, s.t, s.v.to_bits())).collect(),
        other => panic!("{q}: {other:?}"),
    }
}

/// The query's samples at `t` as a range query's last step gives them, in the instant
/// query's order.
fn last_step(h: &Head, q: &str, t: i64, order: &[(Labels, i64, u64)]) -> Vec<(Labels, i64, u64)> {
    let series = Engine::default().range(h, &parse(q).unwrap(), t - 1000, t, 1000).unwrap();
    let mut at_t: Vec<_> = series
        .into_iter()
        .filter_map(|s| s.points.iter().find(|p| p.0 == t).map(|p| (s.labels.clone(), t, p.1.to_bits())))
        .collect();
    at_t.sort_by_key(|s| order.iter().position(|o| o.0 == s.0));
    at_t
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn fused_aggregations_agree_with_the_step_by_step_evaluator(data in data(), t in (0i64..400).prop_map(|s| s * 1000)) {
        let h = head(&data);
        for op in OPS {
            for grouping in GROUPINGS {
                for (fused, plain) in INPUTS {
                    let (fused, plain) = (format!("{op} {grouping} ({fused})"), format!("{op} {grouping} ({plain})"));
                    prop_assert_eq!(eval(&h, &fused, t), eval(&h, &plain, t), "{}", fused);
                }
                for sel in SELECTORS {
                    let q = format!("{op} {grouping} ({sel})");
                    let fused = eval(&h, &q, t);
                    prop_assert_eq!(last_step(&h, &q, t, &fused), fused, "{}", q);
                }
            }
        }
    }
}

/// The fused path is taken where it applies and answers from the grouped labels alone.
#[test]
fn a_rule_over_many_series_sums_by_group() {
    let h = head(&[]);
    for i in 0..300u32 {
        let labels = Labels::from_pairs([
            ("__name__", "x".to_string()),
            ("a", (i % 3).to_string()),
            ("b", i.to_string()),
            ("pod", format!("p{i}")),
        ]);
        let (s, _) = h.get_or_create(&labels);
        h.append(&s, 10_000, 0.0).unwrap();
        h.append(&s, 20_000, f64::from(i % 3) * 10.0).unwrap();
    }
    let got = eval(&h, "sum by (a) (irate(x[1m]))", 20_000);
    let want: Vec<(Labels, i64, u64)> = (0..3)
        .map(|a| (Labels::from_pairs([("a", a.to_string())]), 20_000, (f64::from(a) * 100.0).to_bits()))
        .collect();
    assert_eq!(got, want);
}
