//! `/-/healthy`, `/-/ready`, `/-/reload` and `/-/quit`, answering as Prometheus does. The
//! last two change state, so they answer 403 unless `--web.enable-lifecycle` is given.

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

type Answer = (StatusCode, String);

/// Prometheus's answer to a lifecycle call when the API is off.
fn lifecycle_off(st: &ApiState) -> Option<Answer> {
    (!st.endpoints.lifecycle).then(|| (StatusCode::FORBIDDEN, "Lifecycle API is not enabled.\n".into()))
}

/// `GET /-/reload` and `GET /-/quit`.
pub async fn lifecycle_get() -> Answer {
    (StatusCode::METHOD_NOT_ALLOWED, "Only POST or PUT requests allowed\n".into())
}

/// Re-reads the config; a bad one is refused with the reason and the old one keeps running.
pub async fn reload(State(st): State<Arc<ApiState>>) -> Answer {
    if let Some(off) = lifecycle_off(&st) {
        return off;
    }
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

/// Shuts the daemon down as SIGTERM does.
pub async fn quit(State(st): State<Arc<ApiState>>) -> Answer {
    if let Some(off) = lifecycle_off(&st) {
        return off;
    }
    st.quit.notify_one();
    (StatusCode::OK, "Requesting termination... Goodbye!".into())
}
