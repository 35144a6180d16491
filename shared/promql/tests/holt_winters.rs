//! `double_exponential_smoothing` is Prometheus 2.x's `holt_winters` renamed (3.0): the
//! same numbers from the same samples. Our engine evaluates it over irregular series at
//! several smoothing and trend factors and windows; promtool 2.42 must find exactly those
//! values for `holt_winters` on the same input (its `test rules` compares floats exactly)
//! at times off the samples' grid, where 2.x's windows and 3.x's hold the same samples.

use cardinal_model::Labels;
use cardinal_promql::{Engine, Value, engine::parse};
use cardinal_rules::series_desc::parse_values;
use cardinal_tsdb::Head;
use std::fmt::Write;

const SERIES: [(&str, &str); 3] = [
    ("a", "1 5 2 8 3 9 4 12 7 3 15 2 6 6 6 1 0.5 19 4 8"),
    ("b", "100 90 95 70 72 40 41 43 20 10 11 9 8 30 31 29 5 4 3 1"),
    ("c", "0.1 0.2 0.4 0.8 1.6 3.2 6.4 12.8 25.6 51.2 _ 204.8 409.6 _ _ 3276.8 6553.6 1e4 2e4 4e4"),
];
const INTERVAL_MS: i64 = 10_000;
const CASES: [(&str, f64, f64); 4] = [("1m", 0.5, 0.5), ("90s", 0.1, 0.9), ("3m", 0.9, 0.1), ("2m", 0.3, 0.7)];
/// Between samples: Prometheus 2.x's windows include a sample on their start, 3.x's do
/// not, so an evaluation on the sample grid would compare the window rule, not the function.
const AT_SECS: [i64; 3] = [65, 125, 195];

fn head() -> Head {
    let head = Head::new();
    for (name, values) in SERIES {
        let (s, _) = head.get_or_create(&Labels::from_pairs([("__name__", "x"), ("s", name)]));
        for (i, v) in parse_values(values).unwrap().into_iter().enumerate() {
            if let Some(v) = v {
                head.append(&s, i as i64 * INTERVAL_MS, v).unwrap();
            }
        }
    }
    head
}

/// A promtool test file expecting, for `holt_winters`, what our engine computes for
/// `double_exponential_smoothing`.
fn promtool_test(head: &Head) -> String {
    let mut out =
        String::from("rule_files: []\nevaluation_interval: 10s\ntests:\n  - interval: 10s\n    input_series:\n");
    for (name, values) in SERIES {
        let _ = writeln!(out, "      - {{series: 'x{{s=\"{name}\"}}', values: '{values}'}}");
    }
    out.push_str("    promql_expr_test:\n");
    for (window, sf, tf) in CASES {
        for at in AT_SECS {
            let ours = format!("double_exponential_smoothing(x[{window}], {sf}, {tf})");
            let Value::Vector(v) = Engine::default().instant(head, &parse(&ours).unwrap(), at * 1000).unwrap() else {
                panic!("{ours}: a vector")
            };
            assert!(!v.is_empty(), "{ours} at {at}s: some output to compare");
            let _ = writeln!(
                out,
                "      - expr: 'holt_winters(x[{window}], {sf}, {tf})'\n        eval_time: {at}s\n        exp_samples:"
            );
            for s in v {
                let _ = writeln!(out, "          - {{labels: '{}', value: {:?}}}", s.labels, s.v);
            }
        }
    }
    out
}

#[test]
fn double_exponential_smoothing_is_prometheus_2_42s_holt_winters() {
    let test = promtool_test(&head());
    let Some(promtool) = e2e::prometheus::find_tool("promtool") else { return };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("holt_winters.test.yml");
    std::fs::write(&path, &test).unwrap();
    let out = std::process::Command::new(promtool).args(["test", "rules"]).arg(&path).output().unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "promtool disagrees:\n{said}\n{test}");
}
