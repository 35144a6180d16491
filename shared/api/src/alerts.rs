//! `/api/v1/alerts` and `/api/v1/alertmanagers`, and the alert JSON `/api/v1/rules`
//! shares, in Prometheus's shapes.

use crate::ApiState;
use crate::query::success_raw;
use axum::extract::State;
use axum::response::Response;
use cardinal_model::Labels;
use cardinal_model::number::go_e;
use cardinal_rules::alert::Alert;
use cardinal_rules::notifier::rfc3339;
use serde_json::{Value, json};
use std::sync::Arc;

fn labels_json(l: &Labels) -> Value {
    Value::Object(l.iter().map(|l| (l.name.to_string(), Value::String(l.value.to_string()))).collect())
}

/// One alert as Prometheus's API shows it; the value in Go's `%e` form.
pub fn alert_json(a: &Alert) -> Value {
    json!({
        "labels": labels_json(&a.labels),
        "annotations": labels_json(&a.annotations),
        "state": a.state.as_str(),
        "activeAt": rfc3339(a.active_at),
        "value": go_e(a.value),
    })
}

pub async fn alerts(State(st): State<Arc<ApiState>>) -> Response {
    let groups = st.rules.status();
    let alerts: Vec<Value> =
        groups.iter().flat_map(|g| &g.rules).flat_map(|(_, h)| &h.alerts).map(alert_json).collect();
    success_raw(&json!({"alerts": alerts}).to_string())
}

pub async fn alertmanagers(State(st): State<Arc<ApiState>>) -> Response {
    let list = |urls: Vec<String>| -> Vec<Value> { urls.into_iter().map(|u| json!({"url": u})).collect() };
    let active = list(st.notifier.alertmanagers());
    let dropped = list(st.notifier.dropped_alertmanagers());
    success_raw(&json!({"activeAlertmanagers": active, "droppedAlertmanagers": dropped}).to_string())
}
