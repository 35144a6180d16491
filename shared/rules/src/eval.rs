//! Evaluating a group's recording rules at one timestamp: each rule sees the outputs of
//! the rules before it, as in Prometheus.

use crate::file::RuleGroup;
use cardinal_model::{Labels, LabelsBuilder, Timestamp, labels::METRIC_NAME};
use cardinal_promql::{Engine, Value};
use cardinal_tsdb::Head;

/// Runs the group's recording rules at `t`, appending their outputs to `head`.
/// Returns the first error, with the rule named; later rules still run.
pub fn eval_recording(engine: &Engine, head: &Head, group: &RuleGroup, t: Timestamp) -> Result<(), String> {
    let mut first_err = None;
    for rule in &group.rules {
        let Some(record) = &rule.record else { continue };
        let result = cardinal_promql::engine::parse(&rule.expr)
            .map_err(|e| e.to_string())
            .and_then(|expr| engine.instant(head, &expr, t).map_err(|e| e.to_string()));
        let samples = match result {
            Ok(Value::Vector(v)) => v.into_iter().map(|s| (s.labels, s.v)).collect(),
            Ok(Value::Scalar(v)) => vec![(Labels::empty(), v)],
            Ok(other) => {
                first_err.get_or_insert(format!("rule {record:?}: unexpected {} result", other.type_name()));
                continue;
            }
            Err(e) => {
                first_err.get_or_insert(format!("rule {record:?}: {e}"));
                continue;
            }
        };
        for (labels, v) in samples {
            let mut b = LabelsBuilder::new(labels);
            b.set(METRIC_NAME, record.clone());
            for (k, val) in group.labels.iter().chain(rule.labels.iter()) {
                b.set(k.clone(), val.clone());
            }
            let (series, _) = head.get_or_create(&b.build());
            let _ = head.append(&series, t, v);
        }
    }
    first_err.map_or(Ok(()), Err)
}
