//! `/-/healthy`, `/-/ready` and `/-/reload`, answering as Prometheus does.

use crate::ApiState;
use axum::extract::State;
use axum::http::StatusCode;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

pub async fn healthy() -> &'static str {
    "Cardinal is Healthy.\n"
}

pub async fn ready(State(st): State<Arc<ApiState>>) -> (StatusCode, &'static str) {
    if st.ready.load(Relaxed) {
        (StatusCode::OK, "Cardinal is Ready.\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable")
    }
}

/// Re-reads the config; a bad one is refused with the reason and the old one keeps running.
pub async fn reload(State(st): State<Arc<ApiState>>) -> (StatusCode, String) {
    let (tx, rx) = tokio::sync::oneshot::channel();
    if st.reload.send(tx).await.is_err() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n".into());
    }
    match rx.await {
        Ok(Ok(())) => (StatusCode::OK, String::new()),
        Ok(Err(e)) => (StatusCode::INTERNAL_SERVER_ERROR, format!("failed to reload config: {e}\n")),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n".into()),
    }
}
