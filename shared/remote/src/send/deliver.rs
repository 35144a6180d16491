//! One request to the remote, retried as Prometheus does: 5xx and network errors with
//! exponential backoff (`min_backoff` doubling to `max_backoff`) for as long as it takes,
//! 429 only with `retry_on_http_429` (after its `Retry-After`, when it gives one), any
//! other 4xx dropped and counted. Samples and metadata go through the same retries.

use super::{Counts, SenderStats};
use crate::proto;
use cardinal_config::RemoteWriteConfig;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// The remote of one `remote_write` entry, shared by its shards.
pub(super) struct Remote {
    pub cfg: RemoteWriteConfig,
    pub client: reqwest::Client,
    pub stats: std::sync::Arc<SenderStats>,
}

/// Why a request failed: its status (none: no answer), what to log, and how long the
/// remote asked to be left alone.
struct Failed {
    status: Option<u16>,
    msg: String,
    retry_after: Option<Duration>,
}

/// A `Retry-After` header's wait: whole seconds or an HTTP date; `None` for anything else
/// or a date already past (the backoff applies then, as in Prometheus).
fn retry_after(value: &str) -> Option<Duration> {
    if let Ok(secs) = value.trim().parse::<u64>() {
        return Some(Duration::from_secs(secs)).filter(|d| !d.is_zero());
    }
    let at = httpdate::parse_http_date(value.trim()).ok()?;
    at.duration_since(std::time::SystemTime::now()).ok()
}

/// What one request carries: how many entries, the counters they move, for samples the
/// newest sample time (delivered samples also move the sent totals), and how many
/// exemplars ride along (moving the sender's exemplar counters alike).
pub(super) struct Batch<'a> {
    pub n: u64,
    pub counts: &'a Counts,
    pub newest_sample: Option<i64>,
    pub exemplars: u64,
}

impl Batch<'_> {
    /// Moves one counter of the entries' `Counts`, and the same of the exemplars'.
    fn count(&self, stats: &SenderStats, which: impl Fn(&Counts) -> &std::sync::atomic::AtomicU64) {
        which(self.counts).fetch_add(self.n, Relaxed);
        if self.exemplars > 0 {
            which(&stats.exemplars).fetch_add(self.exemplars, Relaxed);
        }
    }
}

impl Remote {
    /// Sends one encoded request, retrying until it is delivered, refused for good (both:
    /// `true`, its entries are done with), or we stop (`false`).
    pub async fn deliver(&self, body: bytes::Bytes, batch: Batch<'_>, stop: &AtomicBool) -> bool {
        let q = &self.cfg.queue_config;
        let (s, n) = (&self.stats, batch.n);
        let mut backoff = q.min_backoff.0;
        let began = Instant::now();
        loop {
            batch.count(s, |c| &c.attempted);
            match self.post(&body).await {
                Ok(()) => {
                    if let Some(newest) = batch.newest_sample {
                        s.samples_sent.fetch_add(n, Relaxed);
                        s.send_nanos.fetch_add(began.elapsed().as_nanos() as u64, Relaxed);
                        s.highest_sent_ms.fetch_max(newest, Relaxed);
                        s.last_sent_unix_ms.store(cardinal_model::now_ms(), Relaxed);
                    }
                    *s.last_error.lock() = None;
                    return true;
                }
                Err(Failed { status, msg, retry_after }) => {
                    s.requests_failed.fetch_add(1, Relaxed);
                    *s.last_error.lock() = Some(msg.clone());
                    let rate_limited = status == Some(429) && q.retry_on_http_429;
                    let retry = status.is_none_or(|s| s >= 500) || rate_limited;
                    if !retry {
                        tracing::error!(url = %self.cfg.url, error = %msg, samples = n, "remote write refused a batch; dropped");
                        batch.count(s, |c| &c.failed);
                        return true;
                    }
                    if stop.load(Relaxed) {
                        return false;
                    }
                    // As Prometheus 2.42: a rate limit's Retry-After replaces the backoff, and
                    // the backoff then doubles from it.
                    let sleep = retry_after.filter(|_| rate_limited).unwrap_or(backoff);
                    tracing::warn!(url = %self.cfg.url, error = %msg, ?sleep, "remote write failed; retrying");
                    s.retries.fetch_add(1, Relaxed);
                    batch.count(s, |c| &c.retried);
                    tokio::time::sleep(sleep).await;
                    backoff = (sleep * 2).min(q.max_backoff.0);
                }
            }
        }
    }

    async fn post(&self, body: &bytes::Bytes) -> Result<(), Failed> {
        let mut req = self
            .client
            .post(&self.cfg.url)
            .timeout(self.cfg.remote_timeout.0)
            .header("Content-Encoding", "snappy")
            .header("Content-Type", proto::CONTENT_TYPE)
            .header("User-Agent", concat!("Cardinal/", env!("CARGO_PKG_VERSION")))
            .header(proto::VERSION_HEADER, proto::VERSION);
        for (k, v) in &self.cfg.headers {
            req = req.header(k, v);
        }
        let failed = |status, msg| Failed { status, msg, retry_after: None };
        let req = cardinal_client::authorize(req, &self.cfg.http).map_err(|e| failed(Some(400), e))?;
        let resp = req.body(body.clone()).send().await.map_err(|e| failed(None, cardinal_client::error_chain(&e)))?;
        let status = resp.status().as_u16();
        if resp.status().is_success() {
            return Ok(());
        }
        let retry_after = resp.headers().get("Retry-After").and_then(|v| v.to_str().ok()).and_then(retry_after);
        let text = resp.text().await.unwrap_or_default();
        let msg = format!("server returned HTTP status {status}: {}", text.trim());
        Err(Failed { status: Some(status), msg, retry_after })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_seconds_or_a_date_to_come() {
        assert_eq!(retry_after("7"), Some(Duration::from_secs(7)));
        assert_eq!(retry_after("0"), None, "no wait: the backoff applies");
        assert_eq!(retry_after("soon"), None);
        let later = std::time::SystemTime::now() + Duration::from_secs(120);
        let waited = retry_after(&httpdate::fmt_http_date(later)).expect("a date to come");
        assert!(waited > Duration::from_secs(110) && waited <= Duration::from_secs(120), "{waited:?}");
        assert_eq!(retry_after("Sun, 06 Nov 1994 08:49:37 GMT"), None, "a date past");
    }
}
