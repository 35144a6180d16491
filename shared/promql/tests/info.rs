//! `info()`: Prometheus 3.9's promql/promqltest/testdata/info.test, case for case, as
//! range queries (the native-histogram case left out: no native histograms here). Each
//! case loads series in promtool's notation and compares every output series' values,
//! step by step (`_` where it has none).

use cardinal_model::Labels;
use cardinal_promql::{Engine, engine::parse};
use cardinal_rules::series_desc::{parse_metric, parse_values};
use cardinal_tsdb::Head;
use std::collections::BTreeMap;

const MIN: i64 = 60_000;

/// A head with `lines` (`series values…`) loaded every `step` ms from 0.
fn load(step: i64, lines: &[&str]) -> Head {
    let head = Head::new();
    for line in lines {
        let (series, values) = line.split_at(line.find('}').map_or_else(|| line.find(' ').unwrap(), |i| i + 1));
        let (s, _) = head.get_or_create(&parse_metric(series).unwrap());
        for (i, v) in parse_values(values).unwrap().into_iter().enumerate() {
            if let Some(v) = v {
                head.append(&s, i as i64 * step, v).unwrap();
            }
        }
    }
    head
}

/// Each output series of a range query (its labels as Prometheus prints them) with its
/// value at every step, `None` where it has none.
type Result = BTreeMap<String, Vec<Option<f64>>>;

fn eval(head: &Head, q: &str, (start, end, step): (i64, i64, i64)) -> Result {
    let series = Engine::default().range(head, &parse(q).unwrap(), start, end, step).unwrap();
    let steps = ((end - start) / step + 1) as usize;
    let mut out = Result::new();
    for s in series {
        let mut values = vec![None; steps];
        for (t, v) in s.points {
            values[((t - start) / step) as usize] = Some(v);
        }
        out.insert(s.labels.to_string(), values);
    }
    out
}

/// The expected output: `series values…` lines, in promtool's notation.
fn want(lines: &[&str]) -> Result {
    lines
        .iter()
        .map(|line| {
            let i = line.find('}').unwrap() + 1;
            (parse_metric(&line[..i]).unwrap().to_string(), parse_values(&line[i..]).unwrap())
        })
        .collect()
}

fn check(head: &Head, q: &str, range: (i64, i64, i64), expected: &[&str]) {
    assert_eq!(eval(head, q, range), want(expected), "{q}");
}

const FIRST: (i64, i64, i64) = (0, 10 * MIN, 5 * MIN);

#[test]
fn data_labels_from_target_info_and_other_info_metrics() {
    let head = load(
        5 * MIN,
        &[
            r#"metric{instance="a", job="1", label="value"} 0 1 2"#,
            r#"metric_not_matching_target_info{instance="a", job="2", label="value"} 0 1 2"#,
            r#"metric_with_overlapping_label{instance="a", job="1", label="value", data="base"} 0 1 2"#,
            r#"target_info{instance="a", job="1", data="info", another_data="another info"} 1 1 1"#,
            r#"build_info{instance="a", job="1", build_data="build"} 1 1 1"#,
        ],
    );
    let all = r#"metric{data="info", instance="a", job="1", label="value", another_data="another info"} 0 1 2"#;
    check(
        &head,
        r#"info(metric, {data=~".+"})"#,
        FIRST,
        &[r#"metric{data="info", instance="a", job="1", label="value"} 0 1 2"#],
    );
    check(&head, "info(metric)", FIRST, &[all]);
    check(
        &head,
        "info(metric_not_matching_target_info)",
        FIRST,
        &[r#"metric_not_matching_target_info{instance="a", job="2", label="value"} 0 1 2"#],
    );
    check(&head, r#"info(metric, {non_existent=~".+"})"#, FIRST, &[]);
    check(
        &head,
        r#"info(metric, {data=~".+", non_existent=~".*"})"#,
        FIRST,
        &[r#"metric{data="info", instance="a", job="1", label="value"} 0 1 2"#],
    );
    check(
        &head,
        "info(metric_with_overlapping_label)",
        FIRST,
        &[
            r#"metric_with_overlapping_label{data="base", instance="a", job="1", label="value", another_data="another info"} 0 1 2"#,
        ],
    );
    check(&head, r#"info(metric, {__name__="target_info"})"#, FIRST, &[all]);
    check(
        &head,
        r#"info(metric, {__name__="non_existent"})"#,
        FIRST,
        &[r#"metric{instance="a", job="1", label="value"} 0 1 2"#],
    );
    check(&head, r#"info(metric, {__name__="non_existent", data=~".+"})"#, FIRST, &[]);
    check(
        &head,
        r#"info(metric, {__name__="build_info"})"#,
        FIRST,
        &[r#"metric{instance="a", job="1", label="value", build_data="build"} 0 1 2"#],
    );
    check(
        &head,
        r#"info(metric, {__name__=~".+_info"})"#,
        FIRST,
        &[
            r#"metric{instance="a", job="1", label="value", build_data="build", data="info", another_data="another info"} 0 1 2"#,
        ],
    );
    check(
        &head,
        r#"info(build_info, {__name__=~".+_info", build_data=~".+"})"#,
        FIRST,
        &[r#"build_info{instance="a", job="1", build_data="build"} 1 1 1"#],
    );
}

#[test]
fn the_newest_info_series_wins() {
    let overlapping = load(
        5 * MIN,
        &[
            r#"metric{instance="a", job="1", label="value"} 0 1 2"#,
            r#"target_info{instance="a", job="1", data="info", another_data="another info"} 1 1 _"#,
            r#"target_info{instance="a", job="1", data="updated info", another_data="another info"} _ _ 1"#,
        ],
    );
    check(
        &overlapping,
        "info(metric)",
        FIRST,
        &[
            r#"metric{data="info", instance="a", job="1", label="value", another_data="another info"} 0 1 _"#,
            r#"metric{data="updated info", instance="a", job="1", label="value", another_data="another info"} _ _ 2"#,
        ],
    );
    let head = load(
        5 * MIN,
        &[
            r#"metric{instance="a", job="1", label="value"} 0 1 2"#,
            r#"target_info{instance="a", job="1", data="info"} 1 1 stale"#,
            r#"target_info{instance="a", job="1", data="updated info"} _ _ 1"#,
        ],
    );
    check(
        &head,
        "info(metric)",
        FIRST,
        &[
            r#"metric{data="info", instance="a", job="1", label="value"} 0 1 _"#,
            r#"metric{data="updated info", instance="a", job="1", label="value"} _ _ 2"#,
        ],
    );
}

#[test]
fn lookback_at_and_offset() {
    let head = load(
        MIN,
        &[
            r#"metric{instance="a", job="1", label="value"} 0 _ 2 3 4"#,
            r#"target_info{instance="a", job="1", data="info"} 1 _ 1 1 1"#,
        ],
    );
    let range = (MIN, 4 * MIN, MIN);
    check(&head, "info(metric)", range, &[r#"metric{data="info", instance="a", job="1", label="value"} 0 2 3 4"#]);
    check(&head, "info(metric @ 60)", range, &[r#"metric{data="info", instance="a", job="1", label="value"} 0 0 0 0"#]);
    check(
        &head,
        "info(metric offset 1m)",
        range,
        &[r#"metric{data="info", instance="a", job="1", label="value"} 0 0 2 3"#],
    );
}

#[test]
fn churn_of_info_and_data_series() {
    let range = (0, 2 * MIN, MIN);
    let info_churn = load(
        MIN,
        &[
            r#"data_metric{instance="a", job="work"} 10 20 30"#,
            r#"data_metric{instance="b", job="work"} 11 21 31"#,
            r#"info_metric{instance="b", job="work", state="stopped"} 1 1 _"#,
            r#"info_metric{instance="b", job="work", state="running"} _ _ 1"#,
            r#"info_metric{instance="a", job="work", state="running"} 1 1 1"#,
        ],
    );
    check(
        &info_churn,
        r#"info(data_metric, {__name__="info_metric"})"#,
        range,
        &[
            r#"data_metric{instance="a", job="work", state="running"} 10 20 30"#,
            r#"data_metric{instance="b", job="work", state="stopped"} 11 21 _"#,
            r#"data_metric{instance="b", job="work", state="running"} _ _ 31"#,
        ],
    );
    let data_churn = load(
        MIN,
        &[
            r#"data_metric{instance="a", job="work"} 10 20 stale"#,
            r#"data_metric{instance="b", job="work"} 11 21 31"#,
            r#"data_metric{instance="a", job="work", label="new"} _ _ 30"#,
            r#"info_metric{instance="b", job="work", state="stopped"} 1 1 1"#,
            r#"info_metric{instance="a", job="work", state="running"} 1 1 1"#,
        ],
    );
    let enriched = [
        r#"data_metric{instance="a", job="work", state="running"} 10 20 _"#,
        r#"data_metric{instance="b", job="work", state="stopped"} 11 21 31"#,
        r#"data_metric{instance="a", job="work", state="running", label="new"} _ _ 30"#,
    ];
    check(&data_churn, r#"info(data_metric, {__name__="info_metric"})"#, range, &enriched);
    let mut with_info = enriched.to_vec();
    with_info.push(r#"info_metric{instance="b", job="work", state="stopped"} 1 1 1"#);
    with_info.push(r#"info_metric{instance="a", job="work", state="running"} 1 1 1"#);
    check(&data_churn, r#"info({job="work"}, {__name__="info_metric"})"#, range, &with_info);
}

#[test]
fn the_second_argument_must_be_a_selector() {
    let head = load(MIN, &[r#"metric{instance="a", job="1"} 1"#]);
    let err = Engine::default().instant(&head, &parse("info(metric, metric + 1)").unwrap(), 0).unwrap_err();
    assert!(err.to_string().contains("expected label selectors"), "{err}");
    let same = Labels::from_pairs([("__name__", "metric"), ("instance", "a"), ("job", "1")]);
    assert_eq!(eval(&head, "info(metric)", (0, 0, MIN)), Result::from([(same.to_string(), vec![Some(1.0)])]));
}
