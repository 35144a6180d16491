//! `/api/v1/status/config`, `/status/flags` and `/status/runtimeinfo`: what the daemon
//! runs with, in Prometheus's JSON shapes.

use crate::ApiState;
use axum::Json;
use axum::extract::State;
use serde_json::{Map, Value, json};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

/// What Prometheus shows of a secret.
const SECRET: &str = "<secret>";

/// Keys whose values Prometheus's config types hold as secrets; `key` only inside a
/// `tls_config` (elsewhere it is, say, a relabel's label name).
const SECRET_KEYS: [&str; 5] = ["password", "bearer_token", "credentials", "client_secret", "secret_key"];

/// The running configuration file as YAML, secrets masked.
pub async fn config(State(st): State<Arc<ApiState>>) -> Json<Value> {
    let text = st.config_text.read().clone();
    let yaml = match serde_saphyr::from_str::<Value>(&text) {
        Ok(mut doc) => {
            mask_secrets(&mut doc, false);
            serde_saphyr::to_string(&doc).unwrap_or_default()
        }
        // The running config parsed when it was loaded; an empty file is an empty YAML.
        Err(_) => String::new(),
    };
    Json(json!({"status": "success", "data": {"yaml": yaml}}))
}

fn mask_secrets(v: &mut Value, in_tls: bool) {
    match v {
        Value::Object(map) => {
            for (k, child) in map.iter_mut() {
                let secret = SECRET_KEYS.contains(&k.as_str()) || (in_tls && k == "key");
                if secret && child.is_string() {
                    *child = Value::from(SECRET);
                } else {
                    mask_secrets(child, k == "tls_config");
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| mask_secrets(i, false)),
        _ => {}
    }
}

/// Every flag with its value, defaults included.
pub async fn flags(State(st): State<Arc<ApiState>>) -> Json<Value> {
    let data: Map<String, Value> = st.flags.iter().map(|(k, v)| (k.clone(), Value::from(v.as_str()))).collect();
    Json(json!({"status": "success", "data": data}))
}

/// Prometheus's runtime information, with this process's equivalents of Go's: tasks
/// for goroutines, the runtime's worker threads for `GOMAXPROCS`.
pub async fn runtimeinfo(State(st): State<Arc<ApiState>>) -> Json<Value> {
    let rt = tokio::runtime::Handle::current().metrics();
    let cwd = std::env::current_dir().map(|d| d.display().to_string()).unwrap_or_default();
    let last_config = *st.reloads.last_success.lock();
    Json(json!({"status": "success", "data": {
        "startTime": humantime::format_rfc3339_nanos(st.started).to_string(),
        "CWD": cwd,
        "reloadConfigSuccess": st.reloads.successful.load(Relaxed),
        "lastConfigTime": humantime::format_rfc3339_seconds(last_config).to_string(),
        "corruptionCount": st.db.status.damage().len(),
        "goroutineCount": rt.num_alive_tasks(),
        "GOMAXPROCS": rt.num_workers(),
        "GOGC": "",
        "GODEBUG": "",
        "storageRetention": cardinal_model::format_duration(st.retention),
    }}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_masked_wherever_prometheus_holds_one() {
        let yaml = "scrape_configs:\n  - job_name: a\n    basic_auth: {username: u, password: p}\n    \
                    authorization: {credentials: c}\n    tls_config: {key: k, cert_file: f}\n    \
                    relabel_configs: [{target_label: key}]\n    oauth2: {client_id: i, client_secret: s}\n";
        let mut doc: Value = serde_saphyr::from_str(yaml).unwrap();
        mask_secrets(&mut doc, false);
        let job = &doc["scrape_configs"][0];
        assert_eq!(job["basic_auth"], json!({"username": "u", "password": SECRET}));
        assert_eq!(job["authorization"]["credentials"], SECRET);
        assert_eq!(job["tls_config"], json!({"key": SECRET, "cert_file": "f"}));
        assert_eq!(job["oauth2"]["client_secret"], SECRET);
        assert_eq!(job["relabel_configs"][0]["target_label"], "key", "a label named key is no secret");
    }
}
