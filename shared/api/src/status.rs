//! `/api/v1/targets`, `/api/v1/status/tsdb` (the cardinality explorer) and
//! `/api/v1/status/buildinfo`, in Prometheus's JSON shapes.

use crate::query::ApiError;
use crate::{ApiState, query_values};
use axum::Json;
use axum::extract::{RawQuery, State};
use cardinal_model::{Labels, format_duration};
use cardinal_storage::BlockInfo;
use serde_json::{Map, Value, json};
use std::sync::Arc;

/// A label set as a JSON object, as every Prometheus API response writes one.
pub fn labels_json(l: &Labels) -> Value {
    Value::Object(l.iter().map(|l| (l.name.to_string(), Value::from(&*l.value))).collect::<Map<_, _>>())
}

fn success(data: Value) -> Json<Value> {
    Json(json!({"status": "success", "data": data}))
}

pub async fn targets(State(st): State<Arc<ApiState>>, RawQuery(q): RawQuery) -> Json<Value> {
    let state = query_values(q.as_deref(), "state").pop().unwrap_or_else(|| "any".into());
    let mut data = Map::new();
    if state == "any" || state == "active" {
        let active: Vec<Value> = st
            .scrape
            .active_targets()
            .into_iter()
            .map(|t| {
                let h = &t.health;
                json!({
                    "discoveredLabels": labels_json(&t.target.discovered),
                    "labels": labels_json(&t.target.labels),
                    "scrapePool": t.job,
                    "scrapeUrl": t.target.url,
                    "globalUrl": t.target.url,
                    "lastError": h.last_error,
                    "lastScrape": h.last_scrape.map_or("0001-01-01T00:00:00Z".to_string(), |s| humantime::format_rfc3339_nanos(s).to_string()),
                    "lastScrapeDuration": h.last_duration,
                    "health": h.state(),
                    "scrapeInterval": format_duration(t.interval),
                    "scrapeTimeout": format_duration(t.timeout),
                })
            })
            .collect();
        data.insert("activeTargets".into(), Value::Array(active));
    }
    if state == "any" || state == "dropped" {
        let dropped: Vec<Value> =
            st.scrape.dropped_targets().iter().map(|l| json!({"discoveredLabels": labels_json(l)})).collect();
        data.insert("droppedTargets".into(), Value::Array(dropped));
    }
    success(Value::Object(data))
}

pub async fn tsdb(State(st): State<Arc<ApiState>>, RawQuery(q): RawQuery) -> Json<Value> {
    let limit = query_values(q.as_deref(), "limit").pop().and_then(|l| l.parse().ok()).unwrap_or(10);
    let c = st.db.status.cardinality(limit);
    let pairs =
        |v: &[(String, usize)]| -> Vec<Value> { v.iter().map(|(n, c)| json!({"name": n, "value": c})).collect() };
    let (min_t, max_t) = if c.num_series == 0 || c.min_time > c.max_time { (0, 0) } else { (c.min_time, c.max_time) };
    success(json!({
        "headStats": {
            "numSeries": c.num_series,
            "numLabelPairs": c.num_label_pairs,
            "chunkCount": c.chunk_count,
            "minTime": min_t,
            "maxTime": max_t,
        },
        "seriesCountByMetricName": pairs(&c.series_by_metric),
        "labelValueCountByLabelName": pairs(&c.values_by_label),
        "storage": storage(&st),
    }))
}

/// Beyond Prometheus's fields: the blocks on disk and what a sample costs there.
fn storage(st: &ApiState) -> Value {
    let blocks = st.db.status.blocks();
    let (samples, bytes) = BlockInfo::totals(&blocks);
    let list: Vec<Value> = blocks
        .iter()
        .map(|b| {
            json!({
                "minTime": b.min_time, "maxTime": b.max_time, "level": b.level,
                "numSeries": b.num_series, "numSamples": b.num_samples, "bytes": b.bytes,
            })
        })
        .collect();
    json!({
        "blocks": list,
        "blockBytes": bytes,
        "walBytes": st.db.status.wal_bytes(),
        "bytesPerSample": if samples > 0 { bytes as f64 / samples as f64 } else { 0.0 },
        "retentionSeconds": st.retention.as_secs(),
        "damage": st.db.status.damage(),
    })
}

/// `/api/v1/metadata`: what the scrape targets say of their metric families.
pub async fn metadata(State(st): State<Arc<ApiState>>, RawQuery(q): RawQuery) -> Json<Value> {
    let param = |name: &str| query_values(q.as_deref(), name).pop();
    let number = |name: &str| param(name).and_then(|v| v.parse::<usize>().ok()).filter(|n| *n > 0);
    let metric = param("metric").filter(|m| !m.is_empty());
    let per_metric = number("limit_per_metric").unwrap_or(usize::MAX);
    let data: Map<String, Value> = st
        .scrape
        .metadata()
        .into_iter()
        .filter(|(name, _)| metric.as_ref().is_none_or(|m| m == name))
        .take(number("limit").unwrap_or(usize::MAX))
        .map(|(name, metas)| {
            let list: Vec<Value> = metas
                .iter()
                .take(per_metric)
                .map(|m| json!({"type": m.kind, "help": m.help, "unit": m.unit}))
                .collect();
            (name, Value::Array(list))
        })
        .collect();
    success(Value::Object(data))
}

/// `GET /api/v1/targets/metadata`: each target's metric metadata, narrowed by
/// `match_target` (a label selector over the target's labels), `metric` and `limit`.
pub async fn targets_metadata(State(st): State<Arc<ApiState>>, RawQuery(q): RawQuery) -> Result<Json<Value>, ApiError> {
    let param = |name: &str| query_values(q.as_deref(), name).pop().filter(|v| !v.is_empty());
    let matchers = match param("match_target") {
        Some(sel) => cardinal_model::parse_selector(&sel).map_err(|e| ApiError::param("match_target", e))?,
        None => Vec::new(),
    };
    let metric = param("metric");
    let limit = match param("limit") {
        Some(l) => l.parse::<i64>().map_err(|_| ApiError::param("limit", "limit must be a number"))?,
        None => -1,
    };
    let mut out = Vec::new();
    for (labels, metas) in st.scrape.targets_metadata() {
        if !matchers.iter().all(|m| m.matches(labels.get(&m.name).unwrap_or(""))) {
            continue;
        }
        for (name, meta) in metas.iter().filter(|(n, _)| metric.as_ref().is_none_or(|m| m == n)) {
            if limit >= 0 && out.len() as i64 >= limit {
                return Ok(success(Value::Array(out)));
            }
            let target = labels_json(&labels);
            out.push(
                json!({"target": target, "metric": name, "type": meta.kind, "help": meta.help, "unit": meta.unit}),
            );
        }
    }
    Ok(success(Value::Array(out)))
}

/// The Prometheus API level we serve, as Grafana reads it to choose what to call (its one
/// gate, labels with `match[]`, needs 2.24 or later); our own version beside it. Without
/// a `features` key: Grafana would otherwise take us for Mimir.
pub const PROMETHEUS_API_VERSION: &str = "3.0.0";

pub async fn buildinfo() -> Json<Value> {
    success(json!({
        "version": PROMETHEUS_API_VERSION,
        "cardinalVersion": env!("CARGO_PKG_VERSION"),
        "revision": "",
        "branch": "",
        "buildUser": "",
        "buildDate": "",
        "goVersion": "",
    }))
}
