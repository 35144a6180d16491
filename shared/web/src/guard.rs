//! What every request passes before a handler, as exporter-toolkit's handler: the web
//! config file re-read when it changed (an unreadable one answers 500 until fixed), the
//! rate limit (429), the configured response headers (on every answer, 401s included),
//! then basic auth against bcrypt hashes (401 with `WWW-Authenticate: Basic`).

use crate::config::WebConfig;
use crate::tls::{Stamp, stamp};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// Checked when a user name is unknown, so that timing does not tell which names exist
/// (the toolkit's hash of "fakepassword").
const DUMMY_HASH: &str = "$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi";
/// Remembered verdicts: bcrypt takes tens of milliseconds, a dashboard sends many requests.
const CACHE_ENTRIES: usize = 100;

pub struct Guard {
    path: PathBuf,
    current: Mutex<(Stamp, Option<Arc<WebConfig>>)>,
    limiter: Mutex<Option<TokenBucket>>,
    /// (user, stored hash, password) → whether they match.
    verdicts: Mutex<HashMap<(String, String, String), bool>>,
    /// One bcrypt at a time, as the toolkit: a flood of wrong passwords costs one core.
    bcrypt: tokio::sync::Mutex<()>,
}

impl Guard {
    /// Starts from a config already checked at startup.
    pub fn new(path: &Path, config: WebConfig) -> Arc<Guard> {
        let limiter = TokenBucket::of(&config);
        Arc::new(Guard {
            path: path.to_path_buf(),
            current: Mutex::new((stamp(path), Some(Arc::new(config)))),
            limiter: Mutex::new(limiter),
            verdicts: Mutex::new(HashMap::new()),
            bcrypt: tokio::sync::Mutex::new(()),
        })
    }

    /// The config as the file now says, re-read if it changed; `None` while it is broken.
    fn config(&self) -> Option<Arc<WebConfig>> {
        let now = stamp(&self.path);
        let mut cur = self.current.lock();
        if cur.0 != now {
            let parsed = WebConfig::parse_file(&self.path);
            if let Err(e) = &parsed {
                tracing::error!(error = %e, "unable to parse the web configuration");
            }
            let parsed = parsed.ok().map(Arc::new);
            *self.limiter.lock() = parsed.as_deref().and_then(TokenBucket::of);
            *cur = (now, parsed);
        }
        cur.1.clone()
    }

    async fn authorized(&self, cfg: &WebConfig, credentials: Option<(String, String)>) -> bool {
        let Some((user, pass)) = credentials else { return false };
        let known = cfg.basic_auth_users.get(&user);
        let hash = known.map_or(DUMMY_HASH, String::as_str).to_string();
        let key = (user, hash, pass);
        if let Some(v) = self.verdicts.lock().get(&key) {
            return *v && known.is_some();
        }
        let _one = self.bcrypt.lock().await;
        let (h, p) = (key.1.clone(), key.2.clone());
        let matched =
            tokio::task::spawn_blocking(move || bcrypt::verify(p, &h).unwrap_or(false)).await.unwrap_or(false);
        let mut verdicts = self.verdicts.lock();
        if verdicts.len() >= CACHE_ENTRIES
            && let Some(k) = verdicts.keys().next().cloned()
        {
            verdicts.remove(&k);
        }
        verdicts.insert(key, matched);
        matched && known.is_some()
    }
}

/// The user and password of a `Basic` `Authorization` header.
fn basic_credentials(req: &Request) -> Option<(String, String)> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, pass) = text.split_once(':')?;
    Some((user.to_string(), pass.to_string()))
}

/// Go's `http.Error`: the status text and a newline, as plain text.
fn plain(status: StatusCode) -> Response {
    let body = format!("{}\n", status.canonical_reason().unwrap_or(""));
    let mut r = (status, body).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    r
}

/// The middleware: `axum::middleware::from_fn_with_state(guard, web::guard::check)`.
pub async fn check(State(g): State<Arc<Guard>>, req: Request, next: Next) -> Response {
    let Some(cfg) = g.config() else { return plain(StatusCode::INTERNAL_SERVER_ERROR) };
    if let Some(bucket) = g.limiter.lock().as_mut()
        && !bucket.allow(Instant::now())
    {
        return plain(StatusCode::TOO_MANY_REQUESTS);
    }
    if cfg.auth_enabled() && !g.authorized(&cfg, basic_credentials(&req)).await {
        let mut r = plain(StatusCode::UNAUTHORIZED);
        r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic"));
        return with_headers(r, &cfg);
    }
    with_headers(next.run(req).await, &cfg)
}

fn with_headers(mut r: Response<Body>, cfg: &WebConfig) -> Response<Body> {
    for (name, value) in &cfg.http_server_config.headers {
        if let (Ok(n), Ok(v)) = (HeaderName::try_from(name.as_str()), HeaderValue::try_from(value.as_str())) {
            r.headers_mut().insert(n, v);
        }
    }
    r
}

/// Go's `rate.Limiter`: `burst` tokens, one more every `interval`.
struct TokenBucket {
    tokens: f64,
    burst: f64,
    per_second: f64,
    last: Instant,
}

impl TokenBucket {
    fn of(cfg: &WebConfig) -> Option<TokenBucket> {
        let interval = cfg.rate_limit.interval.as_ref()?.0;
        if interval.is_zero() {
            return None;
        }
        let burst = f64::from(cfg.rate_limit.burst);
        Some(TokenBucket { tokens: burst, burst, per_second: 1.0 / interval.as_secs_f64(), last: Instant::now() })
    }

    fn allow(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_allows_a_burst_then_one_per_interval() {
        let cfg: WebConfig =
            cardinal_config::parse_yaml("rate_limit:\n  burst: 2\n  interval: 1s\n", "web.yml").unwrap();
        let mut b = TokenBucket::of(&cfg).unwrap();
        let t0 = b.last;
        assert!(b.allow(t0) && b.allow(t0));
        assert!(!b.allow(t0));
        assert!(!b.allow(t0 + std::time::Duration::from_millis(500)));
        assert!(b.allow(t0 + std::time::Duration::from_millis(1000)));
    }

    #[test]
    fn credentials_are_read_from_the_header() {
        let req = Request::builder().header("Authorization", "Basic YWxpY2U6czNjcjN0").body(Body::empty()).unwrap();
        assert_eq!(basic_credentials(&req), Some(("alice".into(), "s3cr3t".into())));
        let req = Request::builder().header("Authorization", "Bearer x").body(Body::empty()).unwrap();
        assert_eq!(basic_credentials(&req), None);
    }
}
