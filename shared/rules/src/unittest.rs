//! promtool's `test rules`: load input series, run the rule files' groups at every
//! evaluation interval, and compare PromQL results with the expected samples exactly
//! (NaN never equals NaN, as in promtool). Output and exit status follow promtool.

use crate::alert::AlertState;
use crate::file::{self, RuleGroup};
use crate::group::{AlertContext, GroupRunner};
use crate::series_desc::{parse_metric, parse_values};
use cardinal_config::{Dur, parse_yaml};
use cardinal_model::{Labels, Timestamp};
use cardinal_promql::{Engine, Value};
use cardinal_storage::{Queryable, Storage};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Duration;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TestFile {
    #[serde(default)]
    rule_files: Vec<String>,
    evaluation_interval: Option<Dur>,
    #[serde(default)]
    group_eval_order: Vec<String>,
    #[serde(default)]
    tests: Vec<TestGroup>,
    /// Compare values within a relative 1e-6 instead of exactly, as promtool does.
    #[serde(default)]
    fuzzy_compare: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TestGroup {
    #[serde(default)]
    name: String,
    interval: Option<Dur>,
    #[serde(default)]
    input_series: Vec<InputSeries>,
    #[serde(default)]
    promql_expr_test: Vec<ExprTest>,
    #[serde(default)]
    alert_rule_test: Vec<AlertTest>,
    /// What alert templates see as `$externalLabels` and `$externalURL`.
    #[serde(default)]
    external_labels: BTreeMap<String, String>,
    external_url: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InputSeries {
    series: String,
    values: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExprTest {
    expr: String,
    eval_time: Dur,
    #[serde(default)]
    exp_samples: Vec<ExpSample>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpSample {
    #[serde(default)]
    labels: String,
    value: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertTest {
    eval_time: Dur,
    alertname: String,
    #[serde(default)]
    exp_alerts: Vec<ExpAlert>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpAlert {
    #[serde(default)]
    exp_labels: BTreeMap<String, String>,
    #[serde(default)]
    exp_annotations: BTreeMap<String, String>,
}

/// An alert as the tests compare it: labels and annotations.
type LabelsAndAnnotations = Vec<(Labels, Labels)>;

/// Runs every test file, each test group over a fresh, empty `S`; prints promtool's
/// report; true when all passed.
pub fn run_files<S: Storage + Default>(paths: &[String]) -> bool {
    let mut ok = true;
    for p in paths {
        println!("Unit Testing:  {p}");
        match run_file::<S>(Path::new(p)) {
            Ok(()) => println!("  SUCCESS\n"),
            Err(errors) => {
                ok = false;
                println!("  FAILED:");
                for e in errors {
                    println!("{}", indent(&e, 4));
                }
                println!();
            }
        }
    }
    ok
}

fn indent(s: &str, n: usize) -> String {
    s.lines().map(|l| format!("{}{l}", " ".repeat(n))).collect::<Vec<_>>().join("\n")
}

/// Runs one test file; the failures, if any.
pub fn run_file<S: Storage + Default>(path: &Path) -> Result<(), Vec<String>> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| vec![format!("{name}: {e}")])?;
    let tf: TestFile = parse_yaml(&text, &name).map_err(|e| vec![e.0])?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let groups = load_groups(&tf, dir)?;
    let interval = tf.evaluation_interval.map_or(Duration::from_secs(60), |d| d.0);
    let mut errors = Vec::new();
    for tg in &tf.tests {
        if let Err(e) = run_group(&S::default(), tg, &groups, interval, tf.fuzzy_compare) {
            errors
                .extend(e.into_iter().map(|e| if tg.name.is_empty() { e } else { format!("name: {},\n{e}", tg.name) }));
        }
    }
    if errors.is_empty() { Ok(()) } else { Err(errors) }
}

fn load_groups(tf: &TestFile, dir: &Path) -> Result<Vec<RuleGroup>, Vec<String>> {
    let patterns: Vec<String> = tf
        .rule_files
        .iter()
        .map(|f| if Path::new(f).is_relative() { dir.join(f).display().to_string() } else { f.clone() })
        .collect();
    let files = file::expand(&patterns).map_err(|e| vec![e])?;
    let mut groups = Vec::new();
    for f in files {
        groups.extend(file::load(&f)?.groups);
    }
    if !tf.group_eval_order.is_empty() {
        let pos = |g: &RuleGroup| tf.group_eval_order.iter().position(|n| *n == g.name).unwrap_or(usize::MAX);
        groups.sort_by_key(pos);
    }
    Ok(groups)
}

fn run_group(
    store: &impl Storage,
    tg: &TestGroup,
    groups: &[RuleGroup],
    eval_interval: Duration,
    fuzzy: bool,
) -> Result<(), Vec<String>> {
    let step = tg.interval.map_or(60_000, |d| d.0.as_millis() as i64);
    let mut app = store.appender();
    for s in &tg.input_series {
        let labels = parse_metric(&s.series).map_err(|e| vec![e])?;
        let values = parse_values(&s.values).map_err(|e| vec![e])?;
        for (i, v) in values.into_iter().enumerate() {
            if let Some(v) = v {
                let _ = app.append(&labels, i as i64 * step, v);
            }
        }
    }
    app.commit();
    let engine = Engine { default_subquery_step: eval_interval, ..Engine::default() };
    let max_t = tg
        .promql_expr_test
        .iter()
        .map(|t| t.eval_time.0)
        .chain(tg.alert_rule_test.iter().map(|t| t.eval_time.0))
        .max()
        .unwrap_or_default()
        .as_millis() as i64;
    let mut errors = Vec::new();
    let ctx = AlertContext {
        external_labels: Labels::from_pairs(tg.external_labels.clone()),
        external_url: tg.external_url.clone().unwrap_or_default(),
        resend_delay_ms: 60_000,
    };
    let mut runners: Vec<GroupRunner> =
        groups.iter().cloned().map(|g| GroupRunner::new(g, eval_interval, true)).collect();
    let alert_times: std::collections::HashSet<i64> =
        tg.alert_rule_test.iter().map(|a| a.eval_time.0.as_millis() as i64).collect();
    let mut firing: HashMap<(i64, String), LabelsAndAnnotations> = HashMap::new();
    let mut t = 0;
    while t <= max_t && !runners.is_empty() {
        for r in &mut runners {
            r.eval(&engine, store.into(), t, &ctx);
            for (rule, h) in r.group.rules.iter().zip(&r.health) {
                if let Some(e) = &h.last_error {
                    errors.push(format!("    rule: {}, time: {}, err: {e}", rule.name(), fmt_time(t)));
                }
            }
            if alert_times.contains(&t) {
                for name in r.group.rules.iter().filter_map(|x| x.alert.as_ref()) {
                    let got = r.active_alerts(name).into_iter().filter(|a| a.state == AlertState::Firing);
                    firing.insert((t, name.clone()), got.map(|a| (a.labels, a.annotations)).collect());
                }
            }
        }
        t += eval_interval.as_millis().max(1) as i64;
    }
    for at in &tg.alert_rule_test {
        let t = at.eval_time.0.as_millis() as i64;
        let mut got = firing.remove(&(t, at.alertname.clone())).unwrap_or_default();
        let mut exp: LabelsAndAnnotations = at
            .exp_alerts
            .iter()
            .map(|e| {
                let mut labels = e.exp_labels.clone();
                labels.insert("alertname".into(), at.alertname.clone());
                (Labels::from_pairs(labels), Labels::from_pairs(e.exp_annotations.clone()))
            })
            .collect();
        got.sort();
        exp.sort();
        if got != exp {
            errors.push(format!(
                "    alertname: {}, time: {}, \n        exp:{}, \n        got:{}",
                at.alertname,
                fmt_time(t),
                show_alerts(&exp),
                show_alerts(&got)
            ));
        }
    }
    for et in &tg.promql_expr_test {
        if let Err(e) = check_expr(&engine, store, et, fuzzy) {
            errors.push(e);
        }
    }
    if errors.is_empty() { Ok(()) } else { Err(errors) }
}

fn check_expr(engine: &Engine, read: &dyn Queryable, et: &ExprTest, fuzzy: bool) -> Result<(), String> {
    let t = et.eval_time.0.as_millis() as i64;
    let fail = |msg: String| format!("    expr: {:?}, time: {},\n{msg}", et.expr, fmt_time(t));
    let expr = cardinal_promql::engine::parse(&et.expr).map_err(|e| fail(format!("        err: {e}")))?;
    let mut got: Vec<(Labels, f64)> =
        match engine.instant(read, &expr, t).map_err(|e| fail(format!("        err: {e}")))? {
            Value::Vector(v) => v.into_iter().map(|s| (s.labels, s.v)).collect(),
            Value::Scalar(v) => vec![(Labels::empty(), v)],
            other => return Err(fail(format!("        err: expression type {} is not supported", other.type_name()))),
        };
    let mut exp = Vec::with_capacity(et.exp_samples.len());
    for s in &et.exp_samples {
        exp.push((parse_metric(&s.labels).map_err(|e| fail(format!("        err: {e}")))?, s.value));
    }
    got.sort_by(|a, b| a.0.cmp(&b.0));
    exp.sort_by(|a, b| a.0.cmp(&b.0));
    let same = |g: f64, e: f64| g == e || (fuzzy && cardinal_promql::functions::almost_equal(g, e, 1e-6));
    let equal = got.len() == exp.len() && got.iter().zip(&exp).all(|(g, e)| g.0 == e.0 && same(g.1, e.1));
    if equal {
        return Ok(());
    }
    Err(fail(format!("        exp: {}\n        got: {}", show(&exp), show(&got))))
}

/// promtool's listing of alerts in a failure message.
fn show_alerts(alerts: &LabelsAndAnnotations) -> String {
    if alerts.is_empty() {
        return "[]".into();
    }
    let items: Vec<String> = alerts
        .iter()
        .enumerate()
        .map(|(i, (l, a))| format!("        {i}:\n          Labels:{l}\n          Annotations:{a}"))
        .collect();
    format!("[\n{}\n        ]", items.join(",\n"))
}

fn show(samples: &[(Labels, f64)]) -> String {
    let items: Vec<String> = samples.iter().map(|(l, v)| format!("{l} {}", cardinal_model::number::go_g(*v))).collect();
    format!("[{}]", items.join(", "))
}

fn fmt_time(ms: Timestamp) -> String {
    cardinal_model::format_duration(Duration::from_millis(ms.max(0) as u64))
}
