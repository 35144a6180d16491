use super::*;
use cardinal_model::Labels;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

struct TestEnv;

impl Env for TestEnv {
    fn query(&self, q: &str) -> Result<Vec<Value>, String> {
        match q {
            "up" => Ok(vec![
                Value::sample(&labels(&[("__name__", "up"), ("instance", "b:9090")]), 0.0),
                Value::sample(&labels(&[("__name__", "up"), ("instance", "a:9090")]), 1.0),
            ]),
            "none" => Ok(Vec::new()),
            _ => Err(format!("bad query {q:?}")),
        }
    }

    fn external_url(&self) -> &str {
        "http://example.com:9090/prom/"
    }
}

fn alert(text: &str) -> String {
    let l = labels(&[("instance", "a.example.com:9100"), ("job", "node")]);
    let ext = labels(&[("region", "eu")]);
    let data = AlertData { labels: &l, external_labels: &ext, external_url: "http://x:9090", value: 1234.5678 };
    expand_alert("Test", text, &data, &TestEnv)
}

fn run(text: &str, data: Value) -> Result<String, String> {
    Template::parse(text)?.execute(&TestEnv, &data)
}

#[test]
fn alert_variables() {
    assert_eq!(
        alert("{{ $labels.job }} on {{ $labels.instance }} is {{ $value }}"),
        "node on a.example.com:9100 is 1234.5678"
    );
    assert_eq!(
        alert("{{ $externalLabels.region }} {{ $externalURL }} {{ .Labels.job }} {{ .Value }}"),
        "eu http://x:9090 node 1234.5678"
    );
    assert_eq!(alert("[{{ $labels.missing }}]"), "[]", "a label map gives \"\" for a missing key");
    assert_eq!(alert("plain text"), "plain text");
}

#[test]
fn errors_mark_the_annotation() {
    let e = alert("{{ $labels.job | nosuch }}");
    assert!(
        e.starts_with("<error expanding template: template: __alert_Test:") && e.contains("\"nosuch\" not defined"),
        "{e}"
    );
    let e = alert("{{ first (query \"none\") }}");
    assert!(e.contains("first() called on vector with no elements"), "{e}");
    assert!(alert("{{ if }}").starts_with("<error expanding template"));
}

#[test]
fn control_structures() {
    let d = Value::List(vec![Value::Int(1), Value::Int(2), Value::Int(3)]);
    assert_eq!(run("{{ range $i, $e := . }}{{ $i }}={{ $e }} {{ end }}", d.clone()).unwrap(), "0=1 1=2 2=3 ");
    assert_eq!(
        run(
            "{{ range . }}{{ if eq . 2 }}{{ continue }}{{ end }}{{ if eq . 3 }}{{ break }}{{ end }}{{ . }}{{ end }}",
            d.clone()
        )
        .unwrap(),
        "1"
    );
    assert_eq!(run("{{ range . }}x{{ else }}none{{ end }}", d).unwrap(), "xxx");
    assert_eq!(run("{{ range . }}x{{ else }}none{{ end }}", Value::List(vec![])).unwrap(), "none");
    assert_eq!(
        run("{{ range $k, $v := . }}{{ $k }}:{{ $v }};{{ end }}", Value::map([("b", "2"), ("a", "1")])).unwrap(),
        "a:1;b:2;"
    );
    assert_eq!(
        run("{{ if gt . 1.0 }}big{{ else if eq . 0 }}zero{{ else }}small{{ end }}", Value::Float(1.5)).unwrap(),
        "big"
    );
    assert_eq!(
        run("{{ if gt . 1.0 }}big{{ else if eq . 0 }}zero{{ else }}small{{ end }}", Value::Int(0)).unwrap(),
        "zero"
    );
    assert_eq!(run("{{ with .x }}[{{ . }}]{{ else }}empty{{ end }}", Value::map([("x", "v")])).unwrap(), "[v]");
    assert_eq!(run("{{ with .y }}[{{ . }}]{{ else }}empty{{ end }}", Value::map([("x", "v")])).unwrap(), "empty");
    assert_eq!(run("{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ $y := 3 }}{{ end }}{{ $x }}", Value::Nil).unwrap(), "2");
    assert!(run("{{ if true }}{{ $y := 3 }}{{ end }}{{ $y }}", Value::Nil).unwrap_err().contains("undefined variable"));
    assert_eq!(
        run(
            "{{ define \"t\" }}<{{ . }}>{{ end }}{{ template \"t\" 5 }}{{ block \"b\" 6 }}({{ . }}){{ end }}",
            Value::Nil
        )
        .unwrap(),
        "<5>(6)"
    );
    assert_eq!(run("a {{- 1 -}} b {{/* gone */}} c", Value::Nil).unwrap(), "a1b  c");
    assert_eq!(
        run("{{ (index . \"x\") }} {{ len . }} {{ index . \"zz\" }}|", Value::map([("x", "v")])).unwrap(),
        "v 1 |"
    );
    assert!(
        run("{{ define \"r\" }}{{ template \"r\" }}{{ end }}{{ template \"r\" }}", Value::Nil)
            .unwrap_err()
            .contains("depth")
    );
}

#[test]
fn builtins() {
    let cases = [
        ("{{ and 1 0 2 }} {{ or 0 \"\" 3 }} {{ not true }}", "0 3 false"),
        ("{{ print 1 2 \"a\" 3 }}|{{ println \"x\" 1 }}", "1 2a3|x 1\n"),
        ("{{ printf \"%.2f%%\" 12.345 }} {{ 3.5 | printf \"%v\" }}", "12.35% 3.5"),
        (
            "{{ eq 1 2 1 }} {{ ne \"a\" \"b\" }} {{ lt 1 2.5 }} {{ le 2 2 }} {{ ge \"b\" \"a\" }}",
            "true true true true true",
        ),
        ("{{ html \"<a href='x'>\" }} {{ urlquery \"a b&c\" }}", "&lt;a href=&#39;x&#39;&gt; a+b%26c"),
        ("{{ slice \"abcdef\" 1 3 }} {{ len \"héllo\" }}", "bc 6"),
        ("{{ 0x10 }} {{ 1e3 }} {{ -2 }} {{ 'a' }}", "16 1000 -2 97"),
    ];
    for (t, want) in cases {
        assert_eq!(run(t, Value::Nil).unwrap(), want, "{t}");
    }
    assert!(run("{{ lt true false }}", Value::Nil).unwrap_err().contains("invalid type for comparison"));
    assert!(run("{{ eq 1 \"1\" }}", Value::Nil).unwrap_err().contains("incompatible types"));
}

#[test]
fn prometheus_functions() {
    let cases = [
        (
            "{{ range query \"up\" | sortByLabel \"instance\" }}{{ .Labels.instance }}={{ .Value }} {{ end }}",
            "a:9090=1 b:9090=0 ",
        ),
        ("{{ query \"up\" | first | value }} {{ query \"up\" | first | label \"instance\" }}", "0 b:9090"),
        ("{{ with query \"none\" }}x{{ else }}no data{{ end }}", "no data"),
        ("{{ reReplaceAll \"(.*):(.*)\" \"$2 on $1\" \"host:80\" }} {{ match \"^a+$\" \"aaa\" }}", "80 on host true"),
        (
            "{{ title \"hello wide-world\" }} {{ toUpper \"a\" }} {{ toLower \"B\" }} {{ safeHtml \"<b>\" }}",
            "Hello Wide-World A b <b>",
        ),
        (
            "{{ graphLink \"up > 0\" }} {{ tableLink \"up\" }}",
            "/graph?g0.expr=up+%3E+0&g0.tab=0 /graph?g0.expr=up&g0.tab=1",
        ),
        ("{{ externalURL }} {{ pathPrefix }}", "http://example.com:9090/prom/ /prom"),
        (
            "{{ stripPort \"host:9100\" }} {{ stripPort \"[::1]:80\" }} {{ stripDomain \"a.b.c:1\" }} {{ stripDomain \"10.0.0.1:1\" }}",
            "host ::1 a:1 10.0.0.1:1",
        ),
        ("{{ parseDuration \"1h30m\" }} {{ (args 1 \"x\").arg1 }} {{ strvalue (first (query \"up\")) }}|", "5400 x |"),
    ];
    for (t, want) in cases {
        assert_eq!(run(t, Value::Nil).unwrap(), want, "{t}");
    }
}

#[test]
fn humanizing_as_prometheus() {
    let cases: &[(f64, &str, &str, &str)] = &[
        (0.0, "0", "0", "0s"),
        (1234.5678, "1.235k", "1.206ki", "20m 34s"),
        (1e6, "1M", "976.6ki", "11d 13h 46m 40s"),
        (0.00123, "1.23m", "0.00123", "1.23ms"),
        (-2048.0, "-2.048k", "-2ki", "-34m 8s"),
        (12.3456, "12.35", "12.35", "12.35s"),
        (3600.0, "3.6k", "3.516ki", "1h 0m 0s"),
        (f64::INFINITY, "+Inf", "+Inf", "+Inf"),
    ];
    for (v, h, h1024, d) in cases {
        assert_eq!(humanize(*v), *h, "humanize {v}");
        assert_eq!(humanize1024(*v), *h1024, "humanize1024 {v}");
        assert_eq!(humanize_duration(*v), *d, "humanizeDuration {v}");
    }
    assert_eq!(run("{{ humanizePercentage 0.1234567 }}", Value::Nil).unwrap(), "12.35%");
    assert_eq!(run("{{ humanizeTimestamp 1435065584.128 }}", Value::Nil).unwrap(), "2015-06-23 13:19:44.128 +0000 UTC");
    assert_eq!(
        run("{{ humanizeTimestamp 0 }} {{ \"2.5\" | humanize }}", Value::Nil).unwrap(),
        "1970-01-01 00:00:00 +0000 UTC 2.5"
    );
    assert_eq!(run("{{ toTime 1.5 }}", Value::Nil).unwrap(), "1970-01-01 00:00:01.5 +0000 UTC");
    assert!(run("{{ humanize \"x\" }}", Value::Nil).unwrap_err().contains("invalid syntax"));
}

proptest::proptest! {
    #[test]
    fn any_text_expands_or_fails_without_panicking(text in "(\\{\\{|\\}\\}|[ -~]){0,60}") {
        let _ = alert(&text);
    }

    /// What each format makes is checked against Go by `printf_matches_go_under_promtool`;
    /// this checks that no format or operand panics.
    #[test]
    fn any_printf_format_and_operand_formats_without_panicking(format in "(%[-+ 0#]{0,2}[0-9]{0,2}(\\.[0-9])?[vsdfegqxXtco%]|[ -~]){0,12}", f in proptest::num::f64::ANY, i in proptest::num::i64::ANY) {
        let _ = super::printf::sprintf(&format, &[Value::Float(f), Value::Int(i), Value::Str("s".into())]);
    }
}

/// `printf` against Go's own `fmt.Sprintf`, as Prometheus runs it: a rule file with
/// alerts whose annotations call `printf` with every case below, a promtool unit test
/// expecting what our templates make of each, and promtool failing it, naming each
/// annotation Go rendered differently, if any of ours differs. (This test found 130
/// differences in the first `printf`, among them `%x` of a negative int, `%e` of an int
/// and the flags of `%!verb(…)`.)
#[test]
fn printf_matches_go_under_promtool() {
    let Some(promtool) = e2e::prometheus::find_tool("promtool") else { return };
    let cases = printf_cases();
    let dir = tempfile::tempdir().unwrap();
    let no_labels = Labels::default();
    // `$value` of each alert; PromQL's `-0` is a negative zero.
    let values = [("-1234.5678", -1234.5678), ("NaN", f64::NAN), ("-Inf", f64::NEG_INFINITY), ("-0", -0.0)];
    let (mut rules, mut expected) = (String::new(), String::new());
    for (n, (expr, value)) in values.iter().enumerate() {
        let data = AlertData { labels: &no_labels, external_labels: &no_labels, external_url: "", value: *value };
        rules += &format!("      - alert: Printf{n}\n        expr: vector({expr})\n        annotations:\n");
        expected += &format!(
            "      - eval_time: 0m\n        alertname: Printf{n}\n        exp_alerts:\n          - exp_labels: {{}}\n            exp_annotations:\n"
        );
        for (i, text) in cases.iter().enumerate() {
            let ours = expand_alert("Printf", text, &data, &TestEnv);
            rules += &format!("          a{i}: {}\n", serde_json::to_string(text).unwrap());
            expected += &format!("              a{i}: {}\n", serde_json::to_string(&ours).unwrap());
        }
    }
    let rules = format!("groups:\n  - name: printf\n    rules:\n{rules}");
    std::fs::write(dir.path().join("rules.yml"), rules).unwrap();
    let test = format!(
        "rule_files: [rules.yml]\nevaluation_interval: 1m\ntests:\n  - interval: 1m\n    input_series: []\n    alert_rule_test:\n{expected}"
    );
    std::fs::write(dir.path().join("test.yml"), test).unwrap();
    let out = std::process::Command::new(promtool).args(["test", "rules", "test.yml"]).current_dir(dir.path()).output();
    let out = out.expect("promtool runs");
    let said = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{} printf cases on {} values; promtool says:\n{said}", cases.len(), values.len());
}

/// Templates calling `printf` with formats drawn from every verb, flag, width and
/// precision Go's `fmt` gives the operands a template holds (int, float, `$value`,
/// string, bool), four random specs and the bare verb for each pair, drawn by a fixed
/// LCG so the same cases run every time; then corners picked by hand (`format|operands`).
fn printf_cases() -> Vec<String> {
    const VERBS: &[char] = &['v', 's', 'd', 'f', 'F', 'e', 'E', 'g', 'G', 'q', 'x', 'X', 't', 'o', 'O', 'b', 'c'];
    const FLAGS: &[char] = &['-', '+', ' ', '0', '#'];
    const OPERANDS: &[&str] =
        &["42", "-7", "0", "1.5", "-0.001", "1e21", "$value", "\"héllo\"", "\"a\\tb`c\"", "\"\"", "true", "65"];
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = |n: usize| {
        state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        ((state >> 33) as usize) % n
    };
    let mut cases = Vec::new();
    for verb in VERBS {
        for operand in OPERANDS {
            cases.push(format!("{{{{ printf \"%{verb}\" {operand} }}}}"));
            for _ in 0..4 {
                let mut spec = String::from("%");
                for _ in 0..next(3) {
                    spec.push(FLAGS[next(FLAGS.len())]);
                }
                if next(2) == 0 {
                    spec += &next(12).to_string();
                }
                if next(2) == 0 {
                    spec += &format!(".{}", next(8));
                }
                cases.push(format!("{{{{ printf \"<{spec}{verb}>\" {operand} }}}}"));
            }
        }
    }
    for corner in [
        "%+v|5",
        "%+v|1.5",
        "%#v|1.0",
        "%#v|42",
        "%#v|\"s\"",
        "% x|\"hi\"",
        "%# X|\"hi\"",
        "%#q|\"back`tick\"",
        "%+q|\"héllo\"",
        "%+q|233",
        "%08.3f|$value",
        "%-08.3f|$value",
        "%+08d|-7",
        "%#o|8",
        "%#x|0",
        "%.0d|0",
        "%5.0d|0",
        "%#g|1.0",
        "%#.3x|1.0",
        "%#e|1.0",
        "%#.0f|2.0",
        "%d %d|1",
        "%d|1 2",
        "%!|",
        "%|",
        "%z|1",
        "100%% %s|\"done\"",
    ] {
        let (format, args) = corner.split_once('|').expect("format|operands");
        cases.push(format!("{{{{ printf \"{format}\" {args} }}}}"));
    }
    cases
}
