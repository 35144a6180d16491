use super::*;
use cardinal_template::Value;

struct NoQueries;

impl Env for NoQueries {
    fn query(&self, _: &str) -> Result<Vec<Value>, String> {
        Err("no queries here".into())
    }
    fn external_url(&self) -> &str {
        "http://cardinal:9090"
    }
}

const S: i64 = 1000;
const MIN: i64 = 60 * S;

fn rule(yaml: &str) -> AlertingRule {
    let r: Rule = serde_saphyr::from_str(yaml).unwrap();
    AlertingRule::new(&r, &Default::default(), true)
}

fn l(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

fn eval(r: &mut AlertingRule, t: i64, results: &[(&str, f64)]) -> Vec<(Labels, f64)> {
    let ext = l(&[("region", "eu")]);
    let x = Expansion { external_labels: &ext, external_url: "http://cardinal:9090", env: &NoQueries };
    let results = results.iter().map(|(inst, v)| (l(&[("__name__", "up"), ("instance", inst)]), *v)).collect();
    r.eval(results, t, 0, &x).unwrap()
}

fn states(r: &AlertingRule) -> Vec<(String, AlertState)> {
    let mut v: Vec<_> =
        r.active.values().map(|a| (a.labels.get("instance").unwrap_or("").to_string(), a.state)).collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

#[test]
fn pending_then_firing_after_for() {
    let mut r = rule(
        "alert: Down\nexpr: up == 0\nfor: 1m\nlabels: {severity: 'page-{{ $labels.instance }}'}\nannotations: {summary: '{{ $labels.instance }} is {{ $value }} in {{ $externalLabels.region }}'}\n",
    );
    let out = eval(&mut r, 0, &[("a", 0.0)]);
    assert_eq!(states(&r), [("a".into(), AlertState::Pending)]);
    let a = &r.active_alerts()[0];
    assert_eq!(a.labels, l(&[("alertname", "Down"), ("instance", "a"), ("severity", "page-a")]));
    assert_eq!(a.annotations, l(&[("summary", "a is 0 in eu")]));
    assert_eq!(out[0].0.get("alertstate"), Some("pending"));
    assert_eq!(
        out[1],
        (l(&[("__name__", "ALERTS_FOR_STATE"), ("alertname", "Down"), ("instance", "a"), ("severity", "page-a")]), 0.0)
    );
    eval(&mut r, 59 * S, &[("a", 0.0)]);
    assert_eq!(r.state(), AlertState::Pending, "not yet for 1m");
    let out = eval(&mut r, MIN, &[("a", 0.0)]);
    assert_eq!(r.state(), AlertState::Firing);
    assert_eq!(r.active_alerts()[0].fired_at, Some(MIN));
    assert_eq!(out[0].0.get("alertstate"), Some("firing"));
    assert_eq!(r.active_alerts()[0].active_at, 0, "activeAt stays at the first evaluation");
}

#[test]
fn for_zero_fires_at_once_and_values_update() {
    let mut r = rule("alert: Down\nexpr: up == 0\nannotations: {v: '{{ $value }}'}\n");
    eval(&mut r, 0, &[("a", 1.0)]);
    assert_eq!(r.state(), AlertState::Firing);
    eval(&mut r, S, &[("a", 2.0)]);
    let a = &r.active_alerts()[0];
    assert_eq!((a.value, a.annotations.get("v")), (2.0, Some("2")), "value and annotations follow the latest result");
}

#[test]
fn vanished_pending_alert_is_forgotten() {
    let mut r = rule("alert: Down\nexpr: up == 0\nfor: 1m\n");
    eval(&mut r, 0, &[("a", 0.0)]);
    let out = eval(&mut r, S, &[]);
    assert!(states(&r).is_empty() && out.is_empty());
    assert!(r.to_send(2 * S, MIN, S).is_empty(), "a pending alert is never sent, nor its end");
}

#[test]
fn resolved_alerts_are_kept_and_resent_for_15m() {
    let mut r = rule("alert: Down\nexpr: up == 0\n");
    eval(&mut r, 0, &[("a", 0.0)]);
    assert_eq!(r.to_send(0, MIN, S).len(), 1);
    let out = eval(&mut r, 10 * S, &[]);
    assert!(out.is_empty(), "no ALERTS sample for a resolved alert");
    assert_eq!(states(&r), [("a".into(), AlertState::Inactive)]);
    let sent = r.to_send(10 * S, MIN, S);
    assert_eq!(sent[0].resolved_at, Some(10 * S), "resolution is sent at once");
    assert!(r.to_send(11 * S, MIN, S).is_empty());
    assert_eq!(r.to_send(10 * S + MIN + 1, MIN, S).len(), 1, "re-sent after the resend delay");
    eval(&mut r, 10 * S + RESOLVED_RETENTION_MS, &[]);
    assert_eq!(states(&r).len(), 1, "kept for exactly 15m");
    eval(&mut r, 10 * S + RESOLVED_RETENTION_MS + 1, &[]);
    assert!(states(&r).is_empty(), "then dropped");
}

#[test]
fn resolved_alert_that_returns_starts_pending_again() {
    let mut r = rule("alert: Down\nexpr: up == 0\nfor: 10s\n");
    eval(&mut r, 0, &[("a", 0.0)]);
    eval(&mut r, 10 * S, &[("a", 0.0)]);
    eval(&mut r, 20 * S, &[]);
    eval(&mut r, 30 * S, &[("a", 0.0)]);
    let a = &r.active_alerts()[0];
    assert_eq!((a.state, a.active_at, a.resolved_at), (AlertState::Pending, 30 * S, None));
}

#[test]
fn keep_firing_for_holds_a_vanished_alert() {
    let mut r = rule("alert: Down\nexpr: up == 0\nkeep_firing_for: 20s\n");
    eval(&mut r, 0, &[("a", 0.0)]);
    let out = eval(&mut r, 10 * S, &[]);
    assert_eq!(r.state(), AlertState::Firing);
    assert_eq!(out[0].0.get("alertstate"), Some("firing"), "still recorded as firing");
    eval(&mut r, 20 * S, &[("a", 0.0)]);
    eval(&mut r, 30 * S, &[]);
    eval(&mut r, 49 * S, &[]);
    assert_eq!(r.state(), AlertState::Firing, "the hold restarted when the alert came back");
    eval(&mut r, 50 * S, &[]);
    assert_eq!(states(&r), [("a".into(), AlertState::Inactive)]);
    assert_eq!(r.active.values().next().unwrap().resolved_at, Some(50 * S));
}

#[test]
fn resend_timing_follows_prometheus() {
    let mut r = rule("alert: Down\nexpr: up == 0\nfor: 5s\n");
    eval(&mut r, 0, &[("a", 0.0)]);
    assert!(r.to_send(0, MIN, 5 * S).is_empty(), "pending");
    eval(&mut r, 5 * S, &[("a", 0.0)]);
    let sent = r.to_send(5 * S, MIN, 5 * S);
    assert_eq!(sent[0].valid_until, 5 * S + 4 * MIN, "4 × max(resend delay, interval)");
    assert!(r.to_send(5 * S + MIN, MIN, 5 * S).is_empty(), "strictly after the delay");
    assert_eq!(r.to_send(5 * S + MIN + 1, MIN, 5 * S).len(), 1);
}

#[test]
fn duplicates_and_limit_are_errors() {
    let mut r = rule("alert: Down\nexpr: up == 0\n");
    let ext = Labels::empty();
    let x = Expansion { external_labels: &ext, external_url: "", env: &NoQueries };
    let dup = vec![(l(&[("__name__", "a"), ("i", "1")]), 1.0), (l(&[("__name__", "b"), ("i", "1")]), 1.0)];
    assert!(r.eval(dup, 0, 0, &x).unwrap_err().contains("same labelset after applying alert labels"));
    let two = vec![(l(&[("i", "1")]), 1.0), (l(&[("i", "2")]), 1.0)];
    assert_eq!(r.eval(two, 0, 1, &x).unwrap_err(), "exceeded limit of 1 with 2 alerts");
    assert!(r.active.is_empty(), "a limit error clears the rule's alerts");
}

#[test]
fn nothing_is_recorded_until_restored() {
    let r: Rule = serde_saphyr::from_str("alert: Down\nexpr: up == 0\n").unwrap();
    let mut r = AlertingRule::new(&r, &Default::default(), false);
    assert!(eval(&mut r, 0, &[("a", 0.0)]).is_empty());
    r.restore(S, 10 * MIN, |_| None);
    assert_eq!(eval(&mut r, S, &[("a", 0.0)]).len(), 2);
}

#[test]
fn restore_keeps_for_progress() {
    let restore = |down_at: i64, active_s: f64, now: i64| {
        let mut r = rule("alert: Down\nexpr: up == 0\nfor: 30m\n");
        eval(&mut r, now, &[("a", 0.0)]);
        r.restore(now, 10 * MIN, |labels| {
            assert_eq!(labels.get("__name__"), Some("ALERTS_FOR_STATE"));
            Some((down_at, active_s))
        });
        r.active_alerts()[0].active_at
    };
    // Pending 5 of 30 minutes, down 2: the downtime is not counted.
    assert_eq!(restore(5 * MIN, 0.0, 7 * MIN), 2 * MIN);
    // 25 of 30 minutes: less than the grace period remains, so 10 more minutes.
    assert_eq!(restore(25 * MIN, 0.0, 26 * MIN), 26 * MIN + 10 * MIN - 30 * MIN);
    // Already firing: the original activeAt.
    assert_eq!(restore(40 * MIN, 0.0, 41 * MIN), 0);
    // A stale marker means the alert was not active.
    assert_eq!(restore(5 * MIN, cardinal_model::stale_nan(), 7 * MIN), 7 * MIN);
    // Rules with `for` below the grace period are not restored.
    let mut r = rule("alert: Down\nexpr: up == 0\nfor: 1m\n");
    eval(&mut r, 7 * MIN, &[("a", 0.0)]);
    r.restore(7 * MIN, 10 * MIN, |_| Some((5 * MIN, 0.0)));
    assert_eq!(r.active_alerts()[0].active_at, 7 * MIN);
}
