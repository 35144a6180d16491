//! Serving the daemons' HTTP as Prometheus serves its own (exporter-toolkit's `web`
//! package): `--web.config.file` with TLS, client certificates, basic auth, response
//! headers and a rate limit, re-read when the file changes. [`config`] is the file's
//! schema, [`tls`] the TLS listener, [`guard`] what each request passes first.

pub mod config;
pub mod guard;
pub mod tls;

pub use config::WebConfig;

use axum::Router;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use tokio::net::TcpListener;

/// Serves `router` on `listener` until `shutdown` completes: plain HTTP without a web
/// config, otherwise behind its guard and, when it configures TLS, over TLS (decided now,
/// as in Prometheus; certificates and everything else are re-read as they change). The
/// config is the file at the path, as [`WebConfig::load`] checked it at startup.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    web_config: Option<(&Path, WebConfig)>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
    let Some((path, cfg)) = web_config else {
        return axum::serve(listener, router).with_graceful_shutdown(shutdown).await.map_err(|e| e.to_string());
    };
    let tls = cfg.tls_server_config.is_enabled();
    tracing::info!(tls, basic_auth = cfg.auth_enabled(), web_config = %path.display(), "serving with a web config");
    let guard = guard::Guard::new(path, cfg);
    let router = router.layer(axum::middleware::from_fn_with_state(guard, guard::check));
    if !tls {
        return axum::serve(listener, router).with_graceful_shutdown(shutdown).await.map_err(|e| e.to_string());
    }
    let listener = tls::TlsListener::new(listener, Arc::new(tls::TlsReloader::new(path))).map_err(|e| e.to_string())?;
    axum::serve(listener, router).with_graceful_shutdown(shutdown).await.map_err(|e| e.to_string())
}
