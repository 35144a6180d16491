//! Prometheus's query API: `/api/v1/query`, `/api/v1/query_range`, `/api/v1/series`,
//! `/api/v1/labels`, `/api/v1/label/<name>/values` — shapes, value formatting and error
//! types as Prometheus answers them, so Grafana works unchanged (GET or form POST).

use crate::ApiState;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use cardinal_model::number::go_f;
use cardinal_model::{Labels, Matcher, Timestamp, now_ms, parse_selector};
use cardinal_promql::{QueryError, Value};
use cardinal_storage::{LazySeries, Queryable};
use std::fmt::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::OwnedSemaphorePermit;

/// Prometheus's cap on points per series in a range query.
const MAX_POINTS: i64 = 11_000;

/// Request parameters from the query string and, for POST, the form body.
pub struct Params(Vec<(String, String)>);

impl Params {
    pub fn new(query: Option<&str>, body: &[u8]) -> Params {
        let mut all: Vec<(String, String)> = form_urlencoded::parse(query.unwrap_or("").as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        all.extend(form_urlencoded::parse(body).map(|(k, v)| (k.into_owned(), v.into_owned())));
        Params(all)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str()).collect()
    }
}

/// An API error: `errorType` and HTTP status as Prometheus's `respondError`.
pub struct ApiError {
    kind: &'static str,
    status: StatusCode,
    msg: String,
}

impl ApiError {
    pub fn bad_data(msg: impl Into<String>) -> Self {
        ApiError { kind: "bad_data", status: StatusCode::BAD_REQUEST, msg: msg.into() }
    }

    pub fn message(&self) -> &str {
        &self.msg
    }

    pub fn param(name: &str, e: impl std::fmt::Display) -> Self {
        Self::bad_data(format!("invalid parameter {name:?}: {e}"))
    }
}

impl From<QueryError> for ApiError {
    fn from(e: QueryError) -> Self {
        let (kind, status) = match e {
            QueryError::BadData(_) => ("bad_data", StatusCode::BAD_REQUEST),
            QueryError::Timeout => ("timeout", StatusCode::SERVICE_UNAVAILABLE),
            QueryError::Execution(_) | QueryError::TooManySamples => ("execution", StatusCode::UNPROCESSABLE_ENTITY),
        };
        ApiError { kind, status, msg: e.to_string() }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"status": "error", "errorType": self.kind, "error": self.msg});
        (self.status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
    }
}

/// `{"status":"success","data":<data>}` around already-encoded JSON.
pub fn success_raw(data: &str) -> Response {
    let body = format!("{{\"status\":\"success\",\"data\":{data}}}");
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Times beyond this many ms either side of the epoch are refused, so that no range or
/// offset added to one can overflow (about 146 million years).
const MAX_TIME: i64 = cardinal_model::promql_text::MAX_TIME_MS;

/// Unix seconds or RFC 3339, as Prometheus's `parseTime` (with its spellings of the
/// earliest and latest times); NaN, infinities and times beyond [`MAX_TIME`] are refused.
pub fn parse_time(s: &str) -> Result<Timestamp, String> {
    let invalid = || format!("cannot parse {s:?} to a valid timestamp");
    match s {
        "-292273086-05-16T16:47:06Z" => return Ok(-MAX_TIME),
        "292277025-08-18T07:12:54.999999999Z" => return Ok(MAX_TIME),
        _ => {}
    }
    if let Ok(f) = s.parse::<f64>() {
        return seconds_as_ms(f).ok_or_else(invalid);
    }
    let t = humantime::parse_rfc3339_weak(s).map_err(|_| invalid())?;
    let ms = match t.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()),
        Err(e) => i64::try_from(e.duration().as_millis()).map(|m| -m),
    };
    ms.ok().filter(|m| m.abs() <= MAX_TIME).ok_or_else(invalid)
}

/// Float seconds in ms, if finite and within [`MAX_TIME`] either side of zero.
fn seconds_as_ms(f: f64) -> Option<i64> {
    let ms = (f * 1000.0).round();
    (ms.is_finite() && ms.abs() <= MAX_TIME as f64).then_some(ms as i64)
}

/// Seconds as a float, or a Prometheus duration (`5m`), in ms, refusing what is not a
/// finite duration within [`MAX_TIME`].
pub fn parse_duration_param(s: &str) -> Result<i64, String> {
    let invalid = || format!("cannot parse {s:?} to a valid duration");
    if let Ok(f) = s.parse::<f64>() {
        return seconds_as_ms(f).ok_or_else(invalid);
    }
    let d = cardinal_model::parse_duration(s).map_err(|_| invalid())?;
    i64::try_from(d.as_millis()).ok().filter(|ms| *ms <= MAX_TIME).ok_or_else(invalid)
}

fn time_param(p: &Params, name: &str, default: Timestamp) -> Result<Timestamp, ApiError> {
    p.get(name).filter(|s| !s.is_empty()).map_or(Ok(default), |s| parse_time(s).map_err(|e| ApiError::param(name, e)))
}

/// `start` and `end` over all time when absent, as Prometheus's series and label lookups.
const ALL_TIME: Option<(Timestamp, Timestamp)> = Some((i64::MIN, i64::MAX));

/// `start` and `end`: each from its parameter, else from `defaults`, else an error (as
/// a range query's, which needs both).
fn time_range(p: &Params, defaults: Option<(Timestamp, Timestamp)>) -> Result<(Timestamp, Timestamp), ApiError> {
    let one = |name: &str, default: Option<Timestamp>| match default {
        Some(d) => time_param(p, name, d),
        None => parse_time(p.get(name).unwrap_or("")).map_err(|e| ApiError::param(name, e)),
    };
    Ok((one("start", defaults.map(|d| d.0))?, one("end", defaults.map(|d| d.1))?))
}

fn engine_for(st: &ApiState, p: &Params) -> Result<cardinal_promql::Engine, ApiError> {
    let mut engine = st.engine.clone();
    if let Some(t) = p.get("timeout") {
        let ms = parse_duration_param(t).map_err(|e| ApiError::param("timeout", e))?;
        engine.timeout = engine.timeout.min(std::time::Duration::from_millis(ms.max(0) as u64));
    }
    Ok(engine)
}

/// A `--query.max-concurrency` slot, held while its work runs, waited for at most
/// `timeout`: the wait counts towards the query's timeout, as in Prometheus.
pub async fn slot(st: &ApiState, timeout: Duration) -> Result<(OwnedSemaphorePermit, Duration), ApiError> {
    let waited = Instant::now();
    match tokio::time::timeout(timeout, st.query_slots.semaphore.clone().acquire_owned()).await {
        Ok(Ok(permit)) => Ok((permit, timeout.saturating_sub(waited.elapsed()))),
        _ => Err(ApiError::from(QueryError::Timeout)),
    }
}

/// Runs `work` with the engine off the async threads once a slot is free, its timeout
/// less the wait.
async fn evaluate<T: Send + 'static>(
    st: &ApiState,
    mut engine: cardinal_promql::Engine,
    work: impl FnOnce(&cardinal_promql::Engine, &dyn Queryable) -> Result<T, QueryError> + Send + 'static,
) -> Result<T, ApiError> {
    let (permit, left) = slot(st, engine.timeout).await?;
    // The slot's wait is what it took off the timeout.
    let queued = engine.timeout.saturating_sub(left);
    engine.timeout = left;
    let db = st.db.query.clone();
    let done = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let started = Instant::now();
        (work(&engine, db.as_ref()), started.elapsed())
    });
    let (result, took) = done.await.map_err(|e| ApiError::from(QueryError::Execution(e.to_string())))?;
    st.query_timings.observe(queued, took);
    Ok(result?)
}

pub async fn query(State(st): State<Arc<ApiState>>, RawQuery(q): RawQuery, body: Bytes) -> Result<Response, ApiError> {
    let p = Params::new(q.as_deref(), &body);
    let text = p.get("query").ok_or_else(|| ApiError::param("query", "query parameter is required"))?.to_string();
    let t = time_param(&p, "time", now_ms())?;
    let engine = engine_for(&st, &p)?;
    let expr = cardinal_promql::engine::parse(&text).map_err(|e| ApiError::param("query", e))?;
    let value = evaluate(&st, engine, move |engine, db| engine.instant(db, &expr, t)).await?;
    Ok(success_raw(&encode_value(&value, t)))
}

/// `/api/v1/format_query`: the query, pretty-printed as Prometheus prints it.
pub async fn format_query(RawQuery(q): RawQuery, body: Bytes) -> Result<Response, ApiError> {
    let expr = query_param(q.as_deref(), &body)?;
    Ok(success_raw(&serde_json::to_string(&expr.prettify()).unwrap_or_default()))
}

/// `/api/v1/parse_query`: the query's syntax tree as the JSON Prometheus's UI draws its
/// tree view from (`translateAST` in Prometheus 3.x).
pub async fn parse_query(RawQuery(q): RawQuery, body: Bytes) -> Result<Response, ApiError> {
    let expr = query_param(q.as_deref(), &body)?;
    Ok(success_raw(&crate::syntax_tree::to_json(&expr).to_string()))
}

/// The `query` parameter, parsed; a 400 naming it when missing or not PromQL.
fn query_param(q: Option<&str>, body: &[u8]) -> Result<promql_parser::parser::Expr, ApiError> {
    let p = Params::new(q, body);
    let text = p.get("query").ok_or_else(|| ApiError::param("query", "query parameter is required"))?;
    cardinal_promql::engine::parse(text).map_err(|e| ApiError::param("query", e))
}

pub async fn query_range(
    State(st): State<Arc<ApiState>>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    let p = Params::new(q.as_deref(), &body);
    let text = p.get("query").ok_or_else(|| ApiError::param("query", "query parameter is required"))?.to_string();
    let (start, end) = time_range(&p, None)?;
    if end < start {
        return Err(ApiError::param("end", "end timestamp must not be before start time"));
    }
    let step = parse_duration_param(p.get("step").unwrap_or("")).map_err(|e| ApiError::param("step", e))?;
    if step <= 0 {
        return Err(ApiError::param(
            "step",
            "zero or negative query resolution step widths are not accepted. Try a positive integer",
        ));
    }
    // In i128: end - start of two valid times can exceed i64.
    if (i128::from(end) - i128::from(start)) / i128::from(step) > i128::from(MAX_POINTS) {
        return Err(ApiError::bad_data(
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
        ));
    }
    let engine = engine_for(&st, &p)?;
    let expr = cardinal_promql::engine::parse(&text).map_err(|e| ApiError::param("query", e))?;
    let series = evaluate(&st, engine, move |engine, db| engine.range(db, &expr, start, end, step)).await?;
    Ok(success_raw(&encode_value(&Value::Matrix(series), end)))
}

/// Prometheus's JSON for a query result.
pub fn encode_value(v: &Value, t: Timestamp) -> String {
    let mut out = String::new();
    match v {
        Value::Scalar(x) => {
            out.push_str("{\"resultType\":\"scalar\",\"result\":");
            point(&mut out, t, *x);
        }
        Value::String(s) => {
            let _ = write!(
                out,
                "{{\"resultType\":\"string\",\"result\":[{},{}]",
                seconds(t),
                serde_json::Value::from(s.as_str())
            );
        }
        Value::Vector(samples) => {
            out.push_str("{\"resultType\":\"vector\",\"result\":[");
            for (i, s) in samples.iter().enumerate() {
                series_json(&mut out, i, &s.labels, "value", |o| point(o, t, s.v));
            }
            out.push(']');
        }
        Value::Matrix(series) => {
            out.push_str("{\"resultType\":\"matrix\",\"result\":[");
            for (i, s) in series.iter().enumerate() {
                series_json(&mut out, i, &s.labels, "values", |o| {
                    o.push('[');
                    for (j, (ts, x)) in s.points.iter().enumerate() {
                        if j > 0 {
                            o.push(',');
                        }
                        point(o, *ts, *x);
                    }
                    o.push(']');
                });
            }
            out.push(']');
        }
    }
    out.push('}');
    out
}

/// `{"metric":{…},"<key>":<body>}`, preceded by a comma unless it is the first.
fn series_json(out: &mut String, i: usize, labels: &Labels, key: &str, body: impl FnOnce(&mut String)) {
    if i > 0 {
        out.push(',');
    }
    out.push_str("{\"metric\":");
    labels_json(out, labels);
    let _ = write!(out, ",\"{key}\":");
    body(out);
    out.push('}');
}

/// `[1795263213.126,"1"]`: seconds as a JSON number, the value as Go's 'f' string.
fn point(out: &mut String, t: Timestamp, v: f64) {
    let _ = write!(out, "[{},\"{}\"]", seconds(t), go_f(v));
}

fn seconds(t: Timestamp) -> String {
    go_f(t as f64 / 1000.0)
}

fn labels_json(out: &mut String, l: &Labels) {
    out.push_str(&crate::status::labels_json(l).to_string());
}

/// Most `match[]` selectors one request may give: each is a separate selection.
pub const MAX_MATCH_PARAMS: usize = 1000;

/// The `match[]` selectors of a request, parsed.
pub fn match_params(all: &[&str]) -> Result<Vec<Vec<cardinal_model::Matcher>>, ApiError> {
    if all.len() > MAX_MATCH_PARAMS {
        return Err(ApiError::bad_data(format!("{} match[] parameters, more than {MAX_MATCH_PARAMS}", all.len())));
    }
    all.iter().map(|m| parse_selector(m).map_err(|e| ApiError::param("match[]", e))).collect()
}

/// The union of the series matching the `match[]` selectors with data in `[start, end]`,
/// selected in a query slot off the async threads.
async fn matching_series(st: &ApiState, p: &Params) -> Result<Vec<Labels>, ApiError> {
    let (start, end) = time_range(p, ALL_TIME)?;
    let sets = match_params(&p.all("match[]"))?;
    evaluate(st, st.engine.clone(), move |_, db| Ok(series_with_data(db, &sets, start, end))).await
}

/// Labels of the series matching any of the matcher sets, with data in `[mint, maxt]`.
fn series_with_data(db: &dyn Queryable, sets: &[Vec<Matcher>], mint: Timestamp, maxt: Timestamp) -> Vec<Labels> {
    let querier = db.querier();
    let selected = sets.iter().flat_map(|ms| querier.select(ms, mint, maxt));
    let mut out: Vec<Labels> =
        LazySeries::decode_all(&selected.collect::<Vec<_>>(), mint, maxt).into_iter().map(|s| s.labels).collect();
    out.sort();
    out.dedup();
    out
}

fn limit(p: &Params) -> usize {
    p.get("limit").and_then(|l| l.parse::<usize>().ok()).filter(|l| *l > 0).unwrap_or(usize::MAX)
}

pub async fn series(State(st): State<Arc<ApiState>>, RawQuery(q): RawQuery, body: Bytes) -> Result<Response, ApiError> {
    let p = Params::new(q.as_deref(), &body);
    if p.all("match[]").is_empty() {
        return Err(ApiError::bad_data("no match[] parameter provided"));
    }
    let mut out = String::from("[");
    for (i, l) in matching_series(&st, &p).await?.iter().take(limit(&p)).enumerate() {
        if i > 0 {
            out.push(',');
        }
        labels_json(&mut out, l);
    }
    out.push(']');
    Ok(success_raw(&out))
}

pub async fn labels(State(st): State<Arc<ApiState>>, RawQuery(q): RawQuery, body: Bytes) -> Result<Response, ApiError> {
    let p = Params::new(q.as_deref(), &body);
    let names: Vec<String> = if p.all("match[]").is_empty() {
        let (start, end) = time_range(&p, ALL_TIME)?;
        st.db.query.querier().label_names(start, end)
    } else {
        let set: std::collections::BTreeSet<String> =
            matching_series(&st, &p).await?.iter().flat_map(|l| l.iter().map(|x| x.name.to_string())).collect();
        set.into_iter().collect()
    };
    Ok(string_list(names, limit(&p)))
}

pub async fn label_values(
    State(st): State<Arc<ApiState>>,
    Path(name): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let p = Params::new(q.as_deref(), b"");
    if !cardinal_model::labels::is_valid_label_name(&name) {
        return Err(ApiError::bad_data(format!("invalid label name: {name:?}")));
    }
    let values: Vec<String> = if p.all("match[]").is_empty() {
        let (start, end) = time_range(&p, ALL_TIME)?;
        st.db.query.querier().label_values(&name, start, end)
    } else {
        let set: std::collections::BTreeSet<String> =
            matching_series(&st, &p).await?.iter().filter_map(|l| l.get(&name).map(str::to_string)).collect();
        set.into_iter().collect()
    };
    Ok(string_list(values, limit(&p)))
}

fn string_list(items: Vec<String>, limit: usize) -> Response {
    let items: Vec<String> = items.into_iter().take(limit).collect();
    success_raw(&serde_json::to_string(&items).unwrap_or_else(|_| "[]".into()))
}

/// `/api/v1/query_exemplars`: the stored exemplars of the series the query's selectors
/// select, in `[start, end]` (the whole store without them).
pub async fn query_exemplars(
    State(st): State<Arc<ApiState>>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    let p = Params::new(q.as_deref(), &body);
    let (start, end) = time_range(&p, ALL_TIME)?;
    if end < start {
        return Err(ApiError::bad_data("end timestamp must not be before start timestamp"));
    }
    let text = p.get("query").unwrap_or("");
    let expr = cardinal_promql::engine::parse(text).map_err(|e| ApiError::param("query", e))?;
    let sets = cardinal_model::promql_text::selectors(&expr)
        .into_iter()
        .map(|vs| cardinal_model::matcher::matchers_of(vs).map_err(|e| ApiError::param("query", e)))
        .collect::<Result<Vec<_>, _>>()?;
    let found = st.exemplars.select(&sets, start, end);
    let data: Vec<serde_json::Value> = found
        .iter()
        .map(|(series, exemplars)| {
            let exemplars: Vec<serde_json::Value> = exemplars
                .iter()
                .map(|e| {
                    serde_json::json!({
                        "labels": crate::status::labels_json(&e.labels),
                        "value": cardinal_model::number::go_f(e.value),
                        "timestamp": e.t as f64 / 1000.0,
                    })
                })
                .collect();
            serde_json::json!({"seriesLabels": crate::status::labels_json(series), "exemplars": exemplars})
        })
        .collect();
    Ok(success_raw(&serde_json::to_string(&data).unwrap_or_else(|_| "[]".into())))
}
