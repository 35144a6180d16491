//! One HTTP scrape: Prometheus's request headers, the timeout, gzip, and the body size
//! limit (measured on the decompressed body, so a small gzip bomb cannot get past it).

use cardinal_client::{USER_AGENT, authorize, build_client, error_chain};
use cardinal_config::HttpClientConfig;
use futures_util::StreamExt;
use std::io::Read;
use std::time::Duration;

/// A scraped body with its Content-Type.
pub struct Scraped {
    pub body: Vec<u8>,
    pub content_type: String,
}

pub struct Fetcher {
    client: reqwest::Client,
    http: HttpClientConfig,
    timeout: Duration,
    body_limit: u64,
}

impl Fetcher {
    pub fn new(http: &HttpClientConfig, timeout: Duration, body_limit: u64) -> Result<Fetcher, String> {
        Ok(Fetcher { client: build_client(http)?, http: http.clone(), timeout, body_limit })
    }

    /// Fetches `url`; every failure comes back as the message `lastError` shows.
    pub async fn fetch(&self, url: &str) -> Result<Scraped, String> {
        match tokio::time::timeout(self.timeout, self.fetch_inner(url)).await {
            Ok(r) => r,
            Err(_) => Err("context deadline exceeded".into()),
        }
    }

    async fn fetch_inner(&self, url: &str) -> Result<Scraped, String> {
        let mut req = self
            .client
            .get(url)
            .header("Accept", cardinal_exposition::SCRAPE_ACCEPT)
            .header("Accept-Encoding", "gzip")
            .header("User-Agent", USER_AGENT)
            .header("X-Prometheus-Scrape-Timeout-Seconds", cardinal_model::number::go_f(self.timeout.as_secs_f64()));
        req = authorize(req, &self.http)?;
        let resp = req.send().await.map_err(|e| error_chain(&e))?;
        let status = resp.status();
        if status != reqwest::StatusCode::OK {
            return Err(format!(
                "server returned HTTP status {} {}",
                status.as_u16(),
                status.canonical_reason().unwrap_or("")
            ));
        }
        let header = |name: &str| resp.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        let content_type = header("content-type");
        let gzipped = header("content-encoding").eq_ignore_ascii_case("gzip");
        let raw = self.read_limited(resp, !gzipped).await?;
        let body = if gzipped { self.gunzip(&raw)? } else { raw };
        Ok(Scraped { body, content_type })
    }

    /// Reads the body; when `enforce` (uncompressed bodies) stops as soon as the limit is
    /// passed instead of buffering the rest.
    async fn read_limited(&self, resp: reqwest::Response, enforce: bool) -> Result<Vec<u8>, String> {
        let mut body = Vec::new();
        let mut stream = resp.bytes_stream();
        while let Some(chunk) = stream.next().await {
            body.extend_from_slice(&chunk.map_err(|e| error_chain(&e))?);
            if enforce && self.body_limit > 0 && body.len() as u64 > self.body_limit {
                return Err(body_limit_error());
            }
        }
        Ok(body)
    }

    fn gunzip(&self, raw: &[u8]) -> Result<Vec<u8>, String> {
        let limit = if self.body_limit > 0 { self.body_limit + 1 } else { u64::MAX };
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(raw)
            .take(limit)
            .read_to_end(&mut out)
            .map_err(|e| format!("decompressing response: {e}"))?;
        if self.body_limit > 0 && out.len() as u64 > self.body_limit {
            return Err(body_limit_error());
        }
        Ok(out)
    }
}

/// The error of a scrape whose body passed `body_size_limit` (Prometheus's words).
pub const BODY_SIZE_LIMIT_EXCEEDED: &str = "body size limit exceeded";

fn body_limit_error() -> String {
    BODY_SIZE_LIMIT_EXCEEDED.into()
}
