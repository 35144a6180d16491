//! One rule group's evaluation: its rules in order at one timestamp, each seeing the
//! outputs of those before it, with stale markers for series a rule stopped producing.
//! Alerting rules record `ALERTS`/`ALERTS_FOR_STATE` the same way and hand the alerts
//! due for sending back to the caller.
//! Used by the live scheduler ([`crate::manager`]) and by the unit-test runner alike.

use crate::alert::{Alert, AlertState, AlertingRule, Expansion};
use crate::file::{Rule, RuleGroup};
use cardinal_model::{Labels, LabelsBuilder, Matcher, Timestamp, labels::METRIC_NAME, stale_nan};
use cardinal_promql::{Engine, Queryable, Value};
use cardinal_storage::{Appendable, Storage};
use cardinal_template::{self as template, Env};
use std::collections::HashSet;
use std::time::Instant;

/// Where rules read and write. They read what a query at the same time reads: on a
/// daemon, the whole database (head and blocks), so a rule over `[1d]` on the master
/// sees the day its head no longer holds.
#[derive(Clone, Copy)]
pub struct RuleStorage<'a> {
    pub read: &'a dyn Queryable,
    pub write: &'a dyn Appendable,
}

/// One database, read and written.
impl<'a, S: Storage> From<&'a S> for RuleStorage<'a> {
    fn from(storage: &'a S) -> Self {
        RuleStorage { read: storage, write: storage }
    }
}

/// What alerting rules need besides the data: template inputs and the resend delay.
#[derive(Clone, Debug, Default)]
pub struct AlertContext {
    pub external_labels: Labels,
    pub external_url: String,
    pub resend_delay_ms: i64,
}

/// Alerts an alerting rule wants sent, with the expression for their generator URL.
#[derive(Clone, Debug)]
pub struct Notification {
    pub expr: String,
    pub alerts: Vec<Alert>,
}

/// One evaluation's outcome.
#[derive(Debug, Default)]
pub struct Evaluated {
    pub samples: usize,
    pub failures: usize,
    pub notifications: Vec<Notification>,
}

/// What `/api/v1/rules` reports for one rule.
#[derive(Clone, Debug, Default)]
pub struct RuleHealth {
    pub last_error: Option<String>,
    pub last_evaluation: Option<std::time::SystemTime>,
    pub evaluation_seconds: f64,
    /// Evaluated at least once.
    pub evaluated: bool,
    /// For an alerting rule: its state and its pending and firing alerts.
    pub alert_state: Option<AlertState>,
    pub alerts: Vec<Alert>,
}

/// A group's rules with the state that spans evaluations.
pub struct GroupRunner {
    pub group: RuleGroup,
    parsed: Vec<Option<promql_parser::parser::Expr>>,
    alerting: Vec<Option<AlertingRule>>,
    interval_ms: i64,
    /// Per rule: the series it wrote at the previous evaluation.
    previous: Vec<HashSet<Labels>>,
    pub health: Vec<RuleHealth>,
}

impl GroupRunner {
    /// `restored` is false when the group starts with the daemon: its alerting rules
    /// then record nothing until [`GroupRunner::restore`] has read their state back.
    pub fn new(group: RuleGroup, interval: std::time::Duration, restored: bool) -> Self {
        let parsed = group.rules.iter().map(|r| cardinal_model::promql_text::parse_expr(&r.expr).ok()).collect();
        let alerting = group
            .rules
            .iter()
            .map(|r| r.alert.as_ref().map(|_| AlertingRule::new(r, &group.labels, restored)))
            .collect();
        let n = group.rules.len();
        GroupRunner {
            group,
            parsed,
            alerting,
            interval_ms: interval.as_millis() as i64,
            previous: vec![HashSet::new(); n],
            health: vec![RuleHealth::default(); n],
        }
    }

    /// Evaluates every rule at `t`, in order.
    pub fn eval(&mut self, engine: &Engine, storage: RuleStorage, t: Timestamp, ctx: &AlertContext) -> Evaluated {
        let read = storage.read;
        let mut done = Evaluated::default();
        for i in 0..self.group.rules.len() {
            let started = Instant::now();
            let result = match self.group.rules[i].record.clone() {
                Some(record) => self.outputs(i, engine, read, t, &record),
                None => self.alert_outputs(i, engine, read, t, ctx),
            };
            let ok = result.is_ok();
            let health = &mut self.health[i];
            health.evaluated = true;
            health.last_evaluation = Some(std::time::SystemTime::now());
            match result {
                Ok(outputs) => {
                    health.last_error = None;
                    done.samples += outputs.len();
                    self.write(i, storage.write, t, outputs);
                }
                // A failed evaluation writes nothing and keeps the previous series, so
                // nothing goes stale because of a transient error (as Prometheus).
                Err(e) => {
                    health.last_error = Some(e);
                    done.failures += 1;
                }
            }
            if let Some(ar) = &mut self.alerting[i] {
                // As Prometheus, a failed evaluation sends nothing: Alertmanager lets the
                // alerts lapse at their endsAt unless evaluations recover first.
                let alerts = if ok { ar.to_send(t, ctx.resend_delay_ms, self.interval_ms) } else { Vec::new() };
                if !alerts.is_empty() {
                    done.notifications.push(Notification { expr: self.group.rules[i].expr.clone(), alerts });
                }
                self.health[i].alert_state = Some(ar.state());
                self.health[i].alerts = ar.active_alerts();
            }
            self.health[i].evaluation_seconds = started.elapsed().as_secs_f64();
        }
        done
    }

    /// Restores the `for` state of the alerting rules after a start, from the newest
    /// `ALERTS_FOR_STATE` sample of each alert no older than `outage_tolerance_ms`.
    pub fn restore(&mut self, read: &dyn Queryable, now: Timestamp, outage_tolerance_ms: i64, grace_ms: i64) {
        let querier = read.querier();
        let since = now - outage_tolerance_ms;
        let last = |labels: &Labels| {
            let exactly: Vec<Matcher> = labels.iter().map(|l| Matcher::equal(&*l.name, &*l.value)).collect();
            let found = querier.select(&exactly, since, now);
            let series = found.iter().find(|s| s.labels == *labels)?;
            let mut samples = Vec::new();
            series.samples(since, now, &mut samples);
            samples.last().copied()
        };
        for (i, ar) in self.alerting.iter_mut().enumerate() {
            if let Some(ar) = ar {
                ar.restore(now, grace_ms, last);
                self.health[i].alerts = ar.active_alerts();
            }
        }
    }

    /// Whether some alerting rule still waits for [`GroupRunner::restore`].
    pub fn needs_restore(&self) -> bool {
        self.alerting.iter().flatten().any(|a| !a.restored)
    }

    /// The pending and firing alerts of the rule named `alertname`.
    pub fn active_alerts(&self, alertname: &str) -> Vec<Alert> {
        self.alerting.iter().flatten().filter(|a| a.name == alertname).flat_map(|a| a.active_alerts()).collect()
    }

    /// The `ALERTS` samples alerting rule `i` records at `t`, advancing its state.
    fn alert_outputs(
        &mut self,
        i: usize,
        engine: &Engine,
        read: &dyn Queryable,
        t: Timestamp,
        ctx: &AlertContext,
    ) -> Result<Vec<(Labels, f64)>, String> {
        let values = self.query(i, engine, read, t)?;
        let env = QueryEnv { engine, read, t, external_url: &ctx.external_url };
        let x = Expansion { external_labels: &ctx.external_labels, external_url: &ctx.external_url, env: &env };
        let limit = self.group.limit;
        let ar = self.alerting[i].as_mut().ok_or("not an alerting rule")?;
        ar.eval(values, t, limit, &x)
    }

    fn query(
        &self,
        i: usize,
        engine: &Engine,
        read: &dyn Queryable,
        t: Timestamp,
    ) -> Result<Vec<(Labels, f64)>, String> {
        let expr = self.parsed[i].as_ref().ok_or("expression does not parse")?;
        instant_samples(engine, read, expr, t, "rule result")
    }

    /// The labelled values rule `i` produces at `t`, or its error.
    fn outputs(
        &self,
        i: usize,
        engine: &Engine,
        read: &dyn Queryable,
        t: Timestamp,
        record: &str,
    ) -> Result<Vec<(Labels, f64)>, String> {
        let rule = &self.group.rules[i];
        let values = self.query(i, engine, read, t)?;
        let outputs: Vec<(Labels, f64)> =
            values.into_iter().map(|(l, v)| (output_labels(l, record, &self.group, rule), v)).collect();
        let mut seen = std::collections::HashSet::with_capacity(outputs.len());
        if outputs.iter().any(|(l, _)| !seen.insert(l)) {
            return Err("vector contains metrics with the same labelset after applying rule labels".into());
        }
        if self.group.limit > 0 && outputs.len() as u64 > self.group.limit {
            return Err(format!("exceeded limit of {} with {} series", self.group.limit, outputs.len()));
        }
        Ok(outputs)
    }

    /// Appends rule `i`'s outputs at `t` in one batch, with stale markers for the series
    /// it wrote last time and not now. (A refused sample, older than one already stored,
    /// is dropped, as Prometheus drops it.)
    fn write(&mut self, i: usize, write: &dyn Appendable, t: Timestamp, outputs: Vec<(Labels, f64)>) {
        let mut current = HashSet::with_capacity(outputs.len());
        let mut app = write.appender();
        for (labels, v) in outputs {
            let _ = app.append(&labels, t, v);
            current.insert(labels);
        }
        for gone in self.previous[i].difference(&current) {
            let _ = app.append(gone, t, stale_nan());
        }
        app.commit();
        self.previous[i] = current;
    }

    /// Marks everything the group wrote stale: the group was removed by a reload.
    pub fn stale_all(&mut self, write: &dyn Appendable, t: Timestamp) {
        let mut app = write.appender();
        for prev in &mut self.previous {
            for labels in prev.drain() {
                let _ = app.append(&labels, t, stale_nan());
            }
        }
        app.commit();
    }
}

/// A result's labels with `__name__` set to the record name and the group's then the
/// rule's labels applied (the rule's win).
fn output_labels(labels: Labels, record: &str, group: &RuleGroup, rule: &Rule) -> Labels {
    let mut b = LabelsBuilder::new(labels);
    b.set(METRIC_NAME, record);
    for (k, v) in group.labels.iter().chain(rule.labels.iter()) {
        b.set(k.clone(), v.clone());
    }
    b.build()
}

/// An instant query's result as labelled values (a scalar has no labels); `what` names
/// the result in the error for any other type.
fn instant_samples(
    engine: &Engine,
    read: &dyn Queryable,
    expr: &promql_parser::parser::Expr,
    t: Timestamp,
    what: &str,
) -> Result<Vec<(Labels, f64)>, String> {
    Ok(match engine.instant(read, expr, t).map_err(|e| e.to_string())? {
        Value::Vector(v) => v.into_iter().map(|s| (s.labels, s.v)).collect(),
        Value::Scalar(v) => vec![(Labels::empty(), v)],
        other => return Err(format!("{what} is not a vector or scalar: {}", other.type_name())),
    })
}

/// Template queries run against the same data at the evaluation time.
struct QueryEnv<'a> {
    engine: &'a Engine,
    read: &'a dyn Queryable,
    t: Timestamp,
    external_url: &'a str,
}

impl Env for QueryEnv<'_> {
    fn query(&self, q: &str) -> Result<Vec<template::Value>, String> {
        let expr = cardinal_promql::engine::parse(q).map_err(|e| e.to_string())?;
        let samples = instant_samples(self.engine, self.read, &expr, self.t, "query result")?;
        Ok(samples.iter().map(|(l, v)| template::Value::sample(l, *v)).collect())
    }

    fn external_url(&self) -> &str {
        self.external_url
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cardinal_tsdb::Head;

    #[test]
    fn a_failed_alert_evaluation_sends_nothing() {
        let group: RuleGroup = serde_saphyr::from_str("name: g\nrules:\n- alert: A\n  expr: '{x=\"1\"}'\n").unwrap();
        let mut runner = GroupRunner::new(group, std::time::Duration::from_secs(10), true);
        let (head, engine) = (Head::new(), Engine::default());
        let ctx = AlertContext { resend_delay_ms: 60_000, ..AlertContext::default() };
        let add = |name: &str, t: i64| {
            let (s, _) = head.get_or_create(&Labels::from_pairs([("__name__", name), ("x", "1")]));
            head.append(&s, t, 1.0).unwrap();
        };
        add("a", 0);
        assert_eq!(runner.eval(&engine, (&head).into(), 0, &ctx).notifications.len(), 1, "fires and is sent");
        // A second series with the same labels but its name: a duplicate alert, an error.
        add("b", 100_000);
        add("a", 100_000);
        let done = runner.eval(&engine, (&head).into(), 120_000, &ctx);
        assert_eq!(done.failures, 1);
        assert!(done.notifications.is_empty(), "the resend is due, but the evaluation failed");
    }

    /// The daemons give rules the query engine with `--query.max-samples` and
    /// `--query.timeout`: a rule over them fails on its own, keeps its previous
    /// series, and the rules after it still run.
    #[test]
    fn query_limits_fail_the_rule_over_them_and_no_other() {
        let yaml =
            "name: g\nrules:\n- record: big\n  expr: sum(max_over_time(x[10m:1s]))\n- record: small\n  expr: sum(x)\n";
        let group: RuleGroup = serde_saphyr::from_str(yaml).unwrap();
        let mut runner = GroupRunner::new(group, std::time::Duration::from_secs(10), true);
        let head = Head::new();
        for i in 0..5 {
            let (s, _) = head.get_or_create(&Labels::from_pairs([("__name__", "x"), ("i", &i.to_string())]));
            for t in (0..=600_000).step_by(15_000) {
                head.append(&s, t, 1.0).unwrap();
            }
        }
        let ctx = AlertContext::default();
        // 600 inner steps × 5 series: 3,000 points held by the subquery.
        let generous = Engine { max_samples: 10_000, ..Engine::default() };
        assert_eq!(runner.eval(&generous, (&head).into(), 600_000, &ctx).failures, 0);
        let tight = Engine { max_samples: 1_000, ..Engine::default() };
        let done = runner.eval(&tight, (&head).into(), 600_000, &ctx);
        assert_eq!((done.failures, done.samples), (1, 1), "only `big` fails; `small` writes its sample");
        let error = runner.health[0].last_error.as_deref().unwrap_or_default();
        assert!(error.contains("too many samples"), "{error}");
        assert!(runner.health[1].last_error.is_none());
        let hurried = Engine { timeout: std::time::Duration::ZERO, ..Engine::default() };
        runner.eval(&hurried, (&head).into(), 600_000, &ctx);
        assert!(runner.health.iter().all(|h| h.last_error.as_deref().is_some_and(|e| e.contains("timed out"))));
        // The failed evaluations wrote nothing and marked nothing stale.
        let big = head.get(&Labels::from_pairs([("__name__", "big")])).expect("written by the first evaluation");
        assert_eq!(big.last_at_or_before(600_000), Some((600_000, 5.0)));
    }
}
