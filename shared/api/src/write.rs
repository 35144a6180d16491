//! `POST /api/v1/write`: the remote-write 1.0 receiver. A request is acknowledged (204)
//! only once its samples are in the WAL and handed to the OS, so a crash after the 204
//! loses nothing the sender believes delivered.

use crate::ApiState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cardinal_remote::receive::{self, Rejection};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Decompressed request bodies above this are refused (413): a snappy bomb cannot make
/// the daemon allocate without bound.
pub const MAX_DECOMPRESSED_BYTES: usize = 64 << 20;
/// Compressed bodies above this are refused before they are read whole.
pub const MAX_BODY_BYTES: usize = 32 << 20;

#[derive(Default)]
pub struct WriteStats {
    pub requests: AtomicU64,
    pub samples: AtomicU64,
    pub rejected: AtomicU64,
}

pub async fn handler(State(st): State<Arc<ApiState>>, headers: HeaderMap, body: Bytes) -> Response {
    if !st.endpoints.remote_write_receiver {
        let msg = "remote write receiver needs to be enabled with --web.enable-remote-write-receiver\n";
        return (StatusCode::NOT_FOUND, msg).into_response();
    }
    st.write_stats.requests.fetch_add(1, Relaxed);
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_string);
    let (store, exemplars) = (st.db.store.clone(), st.exemplars.clone());
    let result = tokio::task::spawn_blocking(move || {
        receive::check_content_type(ct.as_deref())?;
        let req = receive::decode(&body, MAX_DECOMPRESSED_BYTES)?;
        let written = receive::append(store.as_ref(), &req)?;
        if exemplars.enabled() {
            exemplars.add_logged(store.as_ref(), receive::exemplars_of(&req));
        }
        store.sync().map_err(|e| Rejection::Unavailable(format!("writing the WAL: {e}")))?;
        Ok::<_, Rejection>(written)
    })
    .await
    .unwrap_or_else(|e| Err(Rejection::Unavailable(e.to_string())));
    match result {
        Ok(w) => {
            st.write_stats.samples.fetch_add(w.samples as u64, Relaxed);
            let mut h = HeaderMap::new();
            h.insert("X-Prometheus-Remote-Write-Samples-Written", w.samples.into());
            (StatusCode::NO_CONTENT, h).into_response()
        }
        Err(r) => {
            st.write_stats.rejected.fetch_add(1, Relaxed);
            let (code, msg) = match r {
                Rejection::BadRequest(m) => (StatusCode::BAD_REQUEST, m),
                Rejection::TooLarge(m) => (StatusCode::PAYLOAD_TOO_LARGE, m),
                Rejection::Unsupported(m) => (StatusCode::UNSUPPORTED_MEDIA_TYPE, m),
                Rejection::Unavailable(m) => (StatusCode::SERVICE_UNAVAILABLE, m),
            };
            tracing::debug!(status = %code, error = %msg, "remote write rejected");
            (code, format!("{msg}\n")).into_response()
        }
    }
}
