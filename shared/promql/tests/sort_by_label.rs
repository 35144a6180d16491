//! `sort_by_label` and `sort_by_label_desc` order their output, which promtool's test
//! format cannot check: Prometheus 3.9's functions.test cases, order and all.

use cardinal_model::Labels;
use cardinal_promql::{Engine, Value, engine::parse};
use cardinal_tsdb::Head;

const AT: i64 = 50 * 60_000;

fn head() -> Head {
    let h = Head::new();
    let http = [
        ("api-server", "0", "production"),
        ("api-server", "1", "production"),
        ("api-server", "0", "canary"),
        ("api-server", "1", "canary"),
        ("api-server", "2", "canary"),
        ("app-server", "0", "production"),
        ("app-server", "1", "production"),
        ("app-server", "0", "canary"),
        ("app-server", "1", "canary"),
        ("api-server", "2", "production"),
    ];
    let mut series: Vec<Labels> = http
        .iter()
        .map(|(job, instance, group)| {
            Labels::from_pairs([("__name__", "http_requests"), ("job", job), ("instance", instance), ("group", group)])
        })
        .collect();
    for cpu in ["0", "1", "2", "3", "10", "11", "12", "20", "21", "100"] {
        series.push(Labels::from_pairs([("__name__", "cpu_time_total"), ("job", "cpu"), ("cpu", cpu)]));
    }
    for (instance, release) in [("4m600", "1.2.3"), ("4m5", "1.11.3"), ("4m1000", "1.111.3")] {
        series.push(Labels::from_pairs([
            ("__name__", "node_uname_info"),
            ("job", "node_exporter"),
            ("instance", instance),
            ("release", release),
        ]));
    }
    for l in series {
        let (s, _) = h.get_or_create(&l);
        h.append(&s, AT, 1.0).unwrap();
    }
    h
}

/// The output's values of `label`, in order.
fn order(q: &str, label: &str) -> Vec<String> {
    let expr = parse(q).unwrap();
    let Value::Vector(v) = Engine::default().instant(&head(), &expr, AT).unwrap() else { panic!("{q}: a vector") };
    v.iter().map(|s| s.labels.get(label).unwrap_or("").to_string()).collect()
}

/// `group/instance/job` of each output series, in order.
fn http(q: &str) -> Vec<String> {
    let (g, i, j) = (order(q, "group"), order(q, "instance"), order(q, "job"));
    g.iter().zip(&i).zip(&j).map(|((g, i), j)| format!("{}/{i}/{}", &g[..1], &j[..3])).collect()
}

#[test]
fn by_instance_then_the_whole_label_set() {
    let want =
        ["c/0/api", "c/0/app", "p/0/api", "p/0/app", "c/1/api", "c/1/app", "p/1/api", "p/1/app", "c/2/api", "p/2/api"];
    assert_eq!(http(r#"sort_by_label(http_requests, "instance")"#), want);
    assert_eq!(http(r#"sort_by_label(http_requests, "instance", "group")"#), want);
}

#[test]
fn by_several_labels_in_the_order_given() {
    let want =
        ["c/0/api", "c/0/app", "c/1/api", "c/1/app", "c/2/api", "p/0/api", "p/0/app", "p/1/api", "p/1/app", "p/2/api"];
    assert_eq!(http(r#"sort_by_label(http_requests, "group", "instance", "job")"#), want);
    let want =
        ["c/0/api", "p/0/api", "c/1/api", "p/1/api", "c/2/api", "p/2/api", "c/0/app", "p/0/app", "c/1/app", "p/1/app"];
    assert_eq!(http(r#"sort_by_label(http_requests, "job", "instance", "group")"#), want);
}

#[test]
fn descending_reverses_the_whole_order() {
    let want =
        ["p/2/api", "c/2/api", "p/1/app", "p/1/api", "c/1/app", "c/1/api", "p/0/app", "p/0/api", "c/0/app", "c/0/api"];
    assert_eq!(http(r#"sort_by_label_desc(http_requests, "instance")"#), want);
    assert_eq!(http(r#"sort_by_label_desc(http_requests, "instance", "group", "job")"#), want);
}

#[test]
fn numbers_inside_values_sort_naturally() {
    let cpus = ["0", "1", "2", "3", "10", "11", "12", "20", "21", "100"];
    assert_eq!(order(r#"sort_by_label(cpu_time_total, "cpu")"#, "cpu"), cpus);
    assert_eq!(order(r#"sort_by_label(node_uname_info, "instance")"#, "instance"), ["4m5", "4m600", "4m1000"]);
    assert_eq!(order(r#"sort_by_label(node_uname_info, "release")"#, "release"), ["1.2.3", "1.11.3", "1.111.3"]);
}
