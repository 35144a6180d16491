//! `collector test rules` and `check rules`: promtool's formats and exit codes, run on the
//! repository's own rule tests — and under real promtool too, where installed.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

fn collector(args: &[&str]) -> Output {
    Command::new(e2e::bin_path("collector")).args(args).output().expect("run collector")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

const TEST_FILES: &[&str] = &[
    "config/rules/istio.test.yml",
    "config/rules/alerts.test.yml",
    "config/master-rules/shards.test.yml",
    "shared/promql/tests/rules/edge-cases.test.yml",
    "shared/rules/tests/alerts/templates.test.yml",
];

/// Tests of what Prometheus 3.x has and promtool 2.42 lacks: ours alone runs them.
const OURS_ONLY: &[&str] = &["shared/promql/tests/rules/prometheus-3.test.yml"];

#[test]
fn repository_rule_tests_pass() {
    for f in TEST_FILES.iter().chain(OURS_ONLY) {
        let path = repo(f);
        let out = collector(&["test", "rules", path.to_str().unwrap()]);
        assert!(out.status.success(), "{f}:\n{}", text(&out));
        assert!(text(&out).contains("SUCCESS"));
    }
}

#[test]
fn the_same_files_pass_under_promtool() {
    let Some(promtool) = e2e::prometheus::find_tool("promtool") else { return };
    for f in TEST_FILES {
        let out = Command::new(&promtool).args(["test", "rules"]).arg(repo(f)).output().unwrap();
        assert!(out.status.success(), "promtool on {f}:\n{}", text(&out));
    }
    for rules in
        ["config/rules/istio.rules.yml", "config/rules/alerts.rules.yml", "config/master-rules/shards.rules.yml"]
    {
        let out = Command::new(&promtool).args(["check", "rules"]).arg(repo(rules)).output().unwrap();
        assert!(out.status.success(), "{}", text(&out));
    }
}

#[test]
fn a_wrong_expectation_fails_with_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("r.yml"), "groups:\n- name: g\n  rules:\n  - record: s\n    expr: sum(x)\n")
        .unwrap();
    let test = "rule_files: [r.yml]\ntests:\n- interval: 1m\n  input_series:\n  - {series: 'x{a=\"1\"}', values: '1+1x5'}\n  - {series: 'x{a=\"2\"}', values: '2+2x5'}\n  promql_expr_test:\n  - {expr: s, eval_time: 2m, exp_samples: [{labels: 's', value: WANT}]}\n";
    let run = |want: &str| {
        let p = dir.path().join(format!("t{want}.yml"));
        std::fs::write(&p, test.replace("WANT", want)).unwrap();
        collector(&["test", "rules", p.to_str().unwrap()])
    };
    assert!(run("9").status.success(), "3 + 6 = 9 at 2m");
    let out = run("10");
    assert_eq!(out.status.code(), Some(1));
    let t = text(&out);
    assert!(
        t.contains("FAILED") && t.contains(r#"exp: [{__name__="s"} 10]"#) && t.contains(r#"got: [{__name__="s"} 9]"#),
        "{t}"
    );
}

#[test]
fn a_wrong_alert_expectation_fails_with_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("r.yml"),
        "groups:\n- name: g\n  rules:\n  - alert: Down\n    expr: up == 0\n    for: 1m\n    annotations: {s: '{{ $labels.i }} down'}\n",
    )
    .unwrap();
    let test = "rule_files: [r.yml]\nevaluation_interval: 30s\ntests:\n- interval: 1m\n  input_series:\n  - {series: 'up{i=\"a\"}', values: '0x5'}\n  alert_rule_test:\n  - {eval_time: AT, alertname: Down, exp_alerts: [{exp_labels: {i: a}, exp_annotations: {s: WANT}}]}\n";
    let run = |at: &str, want: &str| {
        let p = dir.path().join(format!("t{at}{want}.yml"));
        std::fs::write(&p, test.replace("AT", at).replace("WANT", want)).unwrap();
        collector(&["test", "rules", p.to_str().unwrap()])
    };
    assert!(run("1m", "a down").status.success(), "fires once up has been 0 for 1m");
    let pending = run("30s", "a down");
    assert_eq!(pending.status.code(), Some(1), "still pending at 30s: {}", text(&pending));
    let wrong = run("1m", "b down");
    assert_eq!(wrong.status.code(), Some(1));
    assert!(text(&wrong).contains(r#"Annotations:{s="a down"}"#), "{}", text(&wrong));
}

#[test]
fn check_rules_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, body: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, body).unwrap();
        p.to_str().unwrap().to_string()
    };
    let good = write("good.yml", "groups:\n- name: g\n  rules:\n  - record: a\n    expr: up\n");
    assert_eq!(collector(&["check", "rules", &good]).status.code(), Some(0));
    let bad = write("bad.yml", "groups:\n- name: g\n  rules:\n  - record: 'bad name'\n    expr: up\n");
    let out = collector(&["check", "rules", &bad]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("invalid recording rule name: bad name"), "{}", text(&out));
    let dup = write(
        "dup.yml",
        "groups:\n- name: g\n  rules:\n  - record: a\n    expr: up\n  - record: a\n    expr: up * 2\n",
    );
    let out = collector(&["check", "rules", &dup]);
    assert_eq!(out.status.code(), Some(3), "duplicates are a lint problem: {}", text(&out));
}
