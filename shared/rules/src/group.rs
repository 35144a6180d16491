//! One rule group's evaluation: its rules in order at one timestamp, each seeing the
//! outputs of those before it, with stale markers for series a rule stopped producing.
//! Used by the live scheduler ([`crate::manager`]) and by the unit-test runner alike.

use crate::file::{Rule, RuleGroup};
use cardinal_model::{Labels, LabelsBuilder, Timestamp, labels::METRIC_NAME, stale_nan};
use cardinal_promql::{Engine, Value};
use cardinal_tsdb::{Head, SeriesRef};
use std::collections::HashMap;
use std::time::Instant;

/// What `/api/v1/rules` reports for one rule.
#[derive(Clone, Debug, Default)]
pub struct RuleHealth {
    pub last_error: Option<String>,
    pub last_evaluation: Option<std::time::SystemTime>,
    pub evaluation_seconds: f64,
    /// Evaluated at least once.
    pub evaluated: bool,
}

/// A group's rules with the state that spans evaluations.
pub struct GroupRunner {
    pub group: RuleGroup,
    parsed: Vec<Option<promql_parser::parser::Expr>>,
    /// Per rule: the series it wrote at the previous evaluation.
    previous: Vec<HashMap<u64, SeriesRef>>,
    pub health: Vec<RuleHealth>,
}

impl GroupRunner {
    pub fn new(group: RuleGroup) -> Self {
        let parsed = group.rules.iter().map(|r| promql_parser::parser::parse(&r.expr).ok()).collect();
        let n = group.rules.len();
        GroupRunner { group, parsed, previous: vec![HashMap::new(); n], health: vec![RuleHealth::default(); n] }
    }

    /// Evaluates every recording rule at `t`. Returns the number of samples written and
    /// the number of rules that failed.
    pub fn eval(&mut self, engine: &Engine, head: &Head, t: Timestamp) -> (usize, usize) {
        let (mut samples, mut failures) = (0, 0);
        for i in 0..self.group.rules.len() {
            let rule = &self.group.rules[i];
            let Some(record) = rule.record.clone() else { continue };
            let started = Instant::now();
            let result = self.outputs(i, engine, head, t, &record);
            let health = &mut self.health[i];
            health.evaluated = true;
            health.last_evaluation = Some(std::time::SystemTime::now());
            match result {
                Ok(outputs) => {
                    health.last_error = None;
                    samples += outputs.len();
                    self.write(i, head, t, outputs);
                }
                // A failed evaluation writes nothing and keeps the previous series, so
                // nothing goes stale because of a transient error (as Prometheus).
                Err(e) => {
                    health.last_error = Some(e);
                    failures += 1;
                }
            }
            self.health[i].evaluation_seconds = started.elapsed().as_secs_f64();
        }
        (samples, failures)
    }

    /// The labelled values rule `i` produces at `t`, or its error.
    fn outputs(
        &self,
        i: usize,
        engine: &Engine,
        head: &Head,
        t: Timestamp,
        record: &str,
    ) -> Result<Vec<(Labels, f64)>, String> {
        let rule = &self.group.rules[i];
        let expr = self.parsed[i].as_ref().ok_or("expression does not parse")?;
        let values = match engine.instant(head, expr, t).map_err(|e| e.to_string())? {
            Value::Vector(v) => v.into_iter().map(|s| (s.labels, s.v)).collect(),
            Value::Scalar(v) => vec![(Labels::empty(), v)],
            other => return Err(format!("rule result is not a vector or scalar: {}", other.type_name())),
        };
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

    fn write(&mut self, i: usize, head: &Head, t: Timestamp, outputs: Vec<(Labels, f64)>) {
        let mut current = HashMap::with_capacity(outputs.len());
        let mut app = head.appender();
        for (labels, v) in outputs {
            let (series, _) = head.get_or_create(&labels);
            let _ = app.append(&series, t, v);
            current.insert(series.id, series);
        }
        for (id, s) in &self.previous[i] {
            if !current.contains_key(id) {
                let _ = app.append(s, t, stale_nan());
            }
        }
        app.commit();
        self.previous[i] = current;
    }

    /// Marks everything the group wrote stale: the group was removed by a reload.
    pub fn stale_all(&mut self, head: &Head, t: Timestamp) {
        let mut app = head.appender();
        for prev in &mut self.previous {
            for s in prev.values() {
                let _ = app.append(s, t, stale_nan());
            }
            prev.clear();
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
