//! `/api/v1/rules`: rule groups with each rule's health, as Prometheus shows them.

use crate::query::success_raw;
use crate::{ApiState, query_values};
use axum::extract::{RawQuery, State};
use axum::response::Response;
use cardinal_rules::manager::GroupStatus;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::SystemTime;

fn rfc3339(t: Option<SystemTime>) -> String {
    t.map_or("0001-01-01T00:00:00Z".to_string(), |t| humantime::format_rfc3339_nanos(t).to_string())
}

pub async fn handler(State(st): State<Arc<ApiState>>, RawQuery(q): RawQuery) -> Response {
    let kind = query_values(q.as_deref(), "type").pop();
    let groups: Vec<Value> = st.rules.status().iter().map(|g| group_json(g, kind.as_deref())).collect();
    success_raw(&json!({"groups": groups}).to_string())
}

fn group_json(g: &GroupStatus, kind: Option<&str>) -> Value {
    let rules: Vec<Value> = g
        .rules
        .iter()
        .filter(|(r, _)| match kind {
            Some("record") => r.record.is_some(),
            Some("alert") => r.alert.is_some(),
            _ => true,
        })
        .map(|(r, h)| {
            let mut v = json!({
                "name": r.name(),
                "query": r.expr,
                "evaluationTime": h.evaluation_seconds,
                "lastEvaluation": rfc3339(h.last_evaluation),
            });
            if !r.labels.is_empty() {
                v["labels"] = json!(r.labels);
            }
            v["health"] = json!(match (&h.last_error, h.evaluated) {
                (Some(_), _) => "err",
                (None, true) => "ok",
                (None, false) => "unknown",
            });
            if let Some(e) = &h.last_error {
                v["lastError"] = json!(e);
            }
            if r.alert.is_some() {
                v["type"] = json!("alerting");
                v["state"] = json!(h.alert_state.map_or("inactive", |s| s.as_str()));
                v["annotations"] = json!(r.annotations);
                if v.get("labels").is_none() {
                    v["labels"] = json!({});
                }
                v["alerts"] = Value::Array(h.alerts.iter().map(crate::alerts::alert_json).collect());
                v["duration"] = json!(r.for_.map_or(0.0, |d| d.0.as_secs_f64()));
                v["keepFiringFor"] = json!(r.keep_firing_for.map_or(0.0, |d| d.0.as_secs_f64()));
            } else {
                v["type"] = json!("recording");
            }
            v
        })
        .collect();
    json!({
        "name": g.name,
        "file": g.file,
        "rules": rules,
        "interval": g.interval.as_secs_f64(),
        "limit": g.limit,
        "evaluationTime": g.last_duration,
        "lastEvaluation": rfc3339(g.last_evaluation),
    })
}
