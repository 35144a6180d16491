//! Profile ingestion, Pyroscope-compatible: `POST /ingest` (body raw or multipart) and
//! `POST /push.v1.PusherService/Push` (Connect, protobuf or JSON). A request is decoded
//! whole before anything is recorded, and answered once its samples are in the WAL.

use crate::ApiState;
use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use cardinal_model::now_ms;
use cardinal_profiles::ingest::Body as IngestBody;
use cardinal_profiles::{Rejection, Upload};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

/// What an upload gets while ingestion is off: profiles write data, so they are taken
/// only when the config records them or a flag asks.
fn disabled() -> Response {
    let msg = "profile ingestion needs profile_rules in the configuration or --web.enable-profile-ingestion\n";
    (StatusCode::NOT_FOUND, msg).into_response()
}

/// `POST /ingest`.
pub async fn ingest(State(st): State<Arc<ApiState>>, req: Request) -> Response {
    if !st.profile_ingestion() {
        return disabled();
    }
    let query = req.uri().query().unwrap_or("").to_string();
    let body = match read_ingest_body(&st, req).await {
        Ok(b) => b,
        Err(r) => return refuse(&st, r, false),
    };
    let max = st.max_request_bytes;
    receive(st, move || Ok(vec![cardinal_profiles::ingest::decode(&query, body, max)?]), false).await
}

/// `POST /push.v1.PusherService/Push`.
pub async fn push(State(st): State<Arc<ApiState>>, req: Request) -> Response {
    if !st.profile_ingestion() {
        return disabled();
    }
    let headers = req.headers();
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let gzip = headers.get(header::CONTENT_ENCODING).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
    let body = match read_body(&st, req).await {
        Ok(b) => b,
        Err(r) => return refuse(&st, r, true),
    };
    let max = st.max_request_bytes;
    receive(
        st,
        move || {
            let body = if gzip { cardinal_profiles::gunzip_if_gzip(body, max)? } else { body };
            cardinal_profiles::push::decode(&ct, body, max, now_ms())
        },
        true,
    )
    .await
}

async fn read_body(st: &ApiState, req: Request) -> Result<Bytes, Rejection> {
    let bytes = Bytes::from_request(req, &()).await.map_err(|e| body_rejection(e.status(), e.body_text()))?;
    count_bytes(st, bytes.len());
    Ok(bytes)
}

/// The body, or the fields of a multipart form: `profile` and `sample_type_config` as
/// Pyroscope's SDKs send them, `jfr` and `labels` as pyroscope-java does.
async fn read_ingest_body(st: &ApiState, req: Request) -> Result<IngestBody, Rejection> {
    let ct = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !ct.starts_with("multipart/form-data") {
        return Ok(IngestBody { profile: Some(read_body(st, req).await?), ..IngestBody::default() });
    }
    let mut form = Multipart::from_request(req, &()).await.map_err(|e| body_rejection(e.status(), e.body_text()))?;
    let mut body = IngestBody::default();
    loop {
        let field = form.next_field().await.map_err(|e| body_rejection(e.status(), e.body_text()))?;
        let Some(field) = field else { break };
        let name = field.name().unwrap_or("").to_string();
        let data = field.bytes().await.map_err(|e| body_rejection(e.status(), e.body_text()))?;
        count_bytes(st, data.len());
        match name.as_str() {
            "profile" => body.profile = Some(data),
            "sample_type_config" => body.sample_type_config = Some(data),
            "jfr" => body.jfr = Some(data),
            "labels" => body.labels = Some(data),
            "prev_profile" => {
                return Err(Rejection::BadRequest(
                    "invalid_parameter",
                    "prev_profile is not supported; update the Pyroscope client".into(),
                ));
            }
            _ => {}
        }
    }
    Ok(body)
}

fn count_bytes(st: &ApiState, n: usize) {
    st.profiles.stats.bytes.fetch_add(n as u64, Relaxed);
}

fn body_rejection(status: StatusCode, text: String) -> Rejection {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        Rejection::TooLarge(format!("request body too large: {text}"))
    } else {
        Rejection::BadRequest("invalid_body", text)
    }
}

/// Decodes off the async threads, records, and syncs the WAL before answering.
async fn receive(
    st: Arc<ApiState>,
    decode: impl FnOnce() -> Result<Vec<Upload>, Rejection> + Send + 'static,
    connect: bool,
) -> Response {
    let recorder = st.profiles.clone();
    let store = st.db.store.clone();
    let result = tokio::task::spawn_blocking(move || {
        let start = Instant::now();
        let uploads = decode();
        recorder.stats.decode_nanos.fetch_add(start.elapsed().as_nanos() as u64, Relaxed);
        let uploads = uploads?;
        recorder.stats.decoded.fetch_add(uploads.len() as u64, Relaxed);
        recorder.stats.received.fetch_add(uploads.len() as u64, Relaxed);
        recorder.record(&uploads, now_ms())?;
        store.sync().map_err(|e| Rejection::Unavailable(format!("writing the WAL: {e}")))
    })
    .await
    .unwrap_or_else(|e| Err(Rejection::Unavailable(e.to_string())));
    match result {
        Ok(()) if connect => ([(header::CONTENT_TYPE, "application/json")], "{}").into_response(),
        Ok(()) => StatusCode::OK.into_response(),
        Err(r) => refuse(&st, r, connect),
    }
}

fn refuse(st: &ApiState, r: Rejection, connect: bool) -> Response {
    st.profiles.stats.received.fetch_add(1, Relaxed);
    st.profiles.reject(&r);
    let status = match r {
        Rejection::BadRequest(..) => StatusCode::BAD_REQUEST,
        Rejection::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
        Rejection::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
    };
    tracing::debug!(%status, reason = r.reason(), error = r.message(), "profile upload rejected");
    if connect {
        // Connect's error shape, so Pyroscope clients log the reason.
        let code = match status {
            StatusCode::BAD_REQUEST => "invalid_argument",
            StatusCode::PAYLOAD_TOO_LARGE => "resource_exhausted",
            _ => "unavailable",
        };
        let body = serde_json::json!({"code": code, "message": r.message()}).to_string();
        return (status, [(header::CONTENT_TYPE, "application/json")], body).into_response();
    }
    (status, format!("{}\n", r.message())).into_response()
}
