//! The remote-write sender: one task per `remote_write` entry, tailing the WAL, batching
//! samples into requests and retrying as Prometheus does — 5xx and network errors with
//! exponential backoff for as long as it takes, 429 only with `retry_on_http_429` (after
//! its `Retry-After`, when it gives one), any other 4xx dropped and counted. The reader only moves past a batch once it is
//! delivered (or dropped), and its position is saved beside the WAL, so neither an outage
//! of the remote nor a restart of this daemon loses samples.

use crate::proto::{self, Label, Sample, TimeSeries, WriteRequest};
use crate::wal_reader::{Position, WalReader};
use cardinal_config::RemoteWriteConfig;
use cardinal_model::Labels;
use cardinal_wal::{Record, Wal};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

#[derive(Default)]
pub struct SenderStats {
    pub samples_sent: AtomicU64,
    pub samples_dropped: AtomicU64,
    pub requests_failed: AtomicU64,
    pub retries: AtomicU64,
    /// Timestamp of the newest sample delivered: how far behind the sender is.
    pub highest_sent_ms: AtomicI64,
    pub last_error: Mutex<Option<String>>,
}

pub struct RemoteWriter {
    pub name: String,
    pub url: String,
    pub stats: Arc<SenderStats>,
    stop: Arc<AtomicBool>,
    wal: Arc<Wal>,
    id: u64,
}

impl Drop for RemoteWriter {
    fn drop(&mut self) {
        self.stop.store(true, Relaxed);
        self.wal.release(self.id);
    }
}

/// One pending sample with its series' labels (already relabeled).
struct Pending {
    labels: Labels,
    t: i64,
    v: f64,
}

struct Sender {
    cfg: RemoteWriteConfig,
    client: reqwest::Client,
    wal: Arc<Wal>,
    stats: Arc<SenderStats>,
    external: Labels,
    /// WAL series id → labels to send (None: dropped by write_relabel_configs).
    series: HashMap<u64, Option<Labels>>,
    position_file: PathBuf,
    id: u64,
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

/// Starts a sender for `cfg`. Fails only on a config it cannot use (an unreadable CA file).
pub fn start(wal: Arc<Wal>, cfg: RemoteWriteConfig, external: Labels) -> Result<RemoteWriter, String> {
    let client = cardinal_client::build_client(&cfg.http)?;
    let name = cfg.name.clone().unwrap_or_else(|| format!("{:016x}", cardinal_model::stable_hash(cfg.url.as_bytes())));
    let id = cardinal_model::stable_hash(name.as_bytes());
    let position_file = wal.dir().join(format!("remote-{name}.position"));
    let stats = Arc::new(SenderStats::default());
    let stop = Arc::new(AtomicBool::new(false));
    let url = cfg.url.clone();
    let sender = Sender {
        cfg,
        client,
        wal: wal.clone(),
        stats: stats.clone(),
        external,
        series: HashMap::new(),
        position_file,
        id,
    };
    tokio::spawn(sender.run(stop.clone()));
    Ok(RemoteWriter { name, url, stats, stop, wal, id })
}

impl Sender {
    async fn run(mut self, stop: Arc<AtomicBool>) {
        let resume = self.saved_position();
        // Saved at once, so that a crash before the first delivery still resumes here.
        self.save_position(resume);
        let mut series_records = Vec::new();
        let reader = WalReader::open(&self.wal, resume, |rec| series_records.push(rec));
        let mut reader = match reader {
            Ok(r) => r,
            Err(e) => return self.fail(format!("reading the WAL: {e}")),
        };
        series_records.into_iter().for_each(|r| self.learn(r));
        let max = self.cfg.queue_config.max_samples_per_send;
        let deadline = self.cfg.queue_config.batch_send_deadline.0;
        let mut batch: Vec<Pending> = Vec::with_capacity(max);
        let mut since = tokio::time::Instant::now();
        while !stop.load(Relaxed) {
            self.wal.hold(self.id, reader.pos.segment);
            let progressed = match self.read(&mut reader, &mut batch, max) {
                Ok(p) => p,
                Err(e) => {
                    self.fail(format!("reading the WAL: {e}"));
                    false
                }
            };
            let due = batch.len() >= max || (!batch.is_empty() && since.elapsed() >= deadline);
            if due {
                if !self.deliver(std::mem::take(&mut batch), &stop).await {
                    // Stopped with the batch undelivered: the position stays before it,
                    // for whichever sender runs next.
                    return;
                }
                self.save_position(reader.pos);
                since = tokio::time::Instant::now();
            } else if !progressed {
                if batch.is_empty() {
                    since = tokio::time::Instant::now();
                }
                tokio::time::sleep(Duration::from_millis(100).min(deadline)).await;
            }
        }
    }

    /// Reads WAL records into `batch` until it holds `max` samples or the WAL is drained.
    fn read(&mut self, reader: &mut WalReader, batch: &mut Vec<Pending>, max: usize) -> std::io::Result<bool> {
        let wal = self.wal.clone();
        reader.poll(&wal, |rec| {
            match rec {
                Record::Series(_) => self.learn(rec),
                Record::Samples(samples) => {
                    for s in samples {
                        match self.series.get(&s.id) {
                            Some(Some(labels)) => batch.push(Pending { labels: labels.clone(), t: s.t, v: s.v }),
                            Some(None) => {}
                            None => {
                                self.stats.samples_dropped.fetch_add(1, Relaxed);
                            }
                        }
                    }
                }
            }
            batch.len() < max
        })
    }

    /// Notes series definitions: external labels added where absent, then
    /// `write_relabel_configs`, as Prometheus applies them.
    fn learn(&mut self, rec: Record) {
        if let Record::Series(list) = rec {
            for (id, labels) in list {
                let mut b = cardinal_model::LabelsBuilder::new(labels);
                for l in self.external.iter() {
                    if b.get(&l.name).is_none() {
                        b.set(l.name.clone(), l.value.clone());
                    }
                }
                let relabeled = cardinal_relabel::process(&b.build(), &self.cfg.write_relabel_configs);
                self.series.insert(id, relabeled);
            }
        }
    }

    /// Sends one batch, retrying until it is delivered, refused for good (both: `true`,
    /// the batch is done with), or we stop (`false`).
    async fn deliver(&self, batch: Vec<Pending>, stop: &AtomicBool) -> bool {
        let n = batch.len() as u64;
        let newest = batch.iter().map(|p| p.t).max().unwrap_or(i64::MIN);
        let body = proto::encode(&request(batch));
        let q = &self.cfg.queue_config;
        let mut backoff = q.min_backoff.0;
        loop {
            match self.post(&body).await {
                Ok(()) => {
                    self.stats.samples_sent.fetch_add(n, Relaxed);
                    self.stats.highest_sent_ms.fetch_max(newest, Relaxed);
                    *self.stats.last_error.lock() = None;
                    return true;
                }
                Err(Failed { status, msg, retry_after }) => {
                    self.stats.requests_failed.fetch_add(1, Relaxed);
                    *self.stats.last_error.lock() = Some(msg.clone());
                    let rate_limited = status == Some(429) && q.retry_on_http_429;
                    let retry = status.is_none_or(|s| s >= 500) || rate_limited;
                    if !retry {
                        tracing::error!(url = %self.cfg.url, error = %msg, samples = n, "remote write refused a batch; dropped");
                        self.stats.samples_dropped.fetch_add(n, Relaxed);
                        return true;
                    }
                    if stop.load(Relaxed) {
                        return false;
                    }
                    // As Prometheus 2.42: a rate limit's Retry-After replaces the backoff, and
                    // the backoff then doubles from it.
                    let sleep = retry_after.filter(|_| rate_limited).unwrap_or(backoff);
                    tracing::warn!(url = %self.cfg.url, error = %msg, ?sleep, "remote write failed; retrying");
                    self.stats.retries.fetch_add(1, Relaxed);
                    tokio::time::sleep(sleep).await;
                    backoff = (sleep * 2).min(q.max_backoff.0);
                }
            }
        }
    }

    async fn post(&self, body: &[u8]) -> Result<(), Failed> {
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
        let resp = req.body(body.to_vec()).send().await.map_err(|e| failed(None, cardinal_client::error_chain(&e)))?;
        let status = resp.status().as_u16();
        if resp.status().is_success() {
            return Ok(());
        }
        let retry_after = resp.headers().get("Retry-After").and_then(|v| v.to_str().ok()).and_then(retry_after);
        let text = resp.text().await.unwrap_or_default();
        let msg = format!("server returned HTTP status {status}: {}", text.trim());
        Err(Failed { status: Some(status), msg, retry_after })
    }

    fn saved_position(&self) -> Position {
        let text = std::fs::read_to_string(&self.position_file).unwrap_or_default();
        let mut parts = text.split_whitespace().map(str::parse::<u64>);
        match (parts.next(), parts.next()) {
            (Some(Ok(segment)), Some(Ok(offset))) => Position { segment: segment as u32, offset },
            // No saved position: start from what is being written now, as Prometheus does.
            _ => self.wal_end(),
        }
    }

    fn wal_end(&self) -> Position {
        let last = self.wal.files().ok().and_then(|(_, s)| s.last().copied()).unwrap_or(1);
        let offset = std::fs::metadata(self.wal.segment_path(last)).map(|m| m.len()).unwrap_or(0);
        Position { segment: last, offset }
    }

    fn save_position(&self, pos: Position) {
        let tmp = self.position_file.with_extension("tmp");
        let saved = std::fs::write(&tmp, format!("{} {}\n", pos.segment, pos.offset))
            .and_then(|_| std::fs::rename(&tmp, &self.position_file));
        if let Err(e) = saved {
            tracing::warn!(error = %e, "could not save the remote-write position");
        }
    }

    fn fail(&self, msg: String) {
        tracing::error!(url = %self.cfg.url, error = %msg, "remote write");
        *self.stats.last_error.lock() = Some(msg);
    }
}

/// Groups samples by series, keeping each series' samples in order.
fn request(batch: Vec<Pending>) -> WriteRequest {
    let mut index: HashMap<Labels, usize> = HashMap::new();
    let mut timeseries: Vec<TimeSeries> = Vec::new();
    for p in batch {
        let i = *index.entry(p.labels.clone()).or_insert_with(|| {
            let labels = p.labels.iter().map(|l| Label { name: l.name.to_string(), value: l.value.to_string() });
            timeseries.push(TimeSeries { labels: labels.collect(), ..Default::default() });
            timeseries.len() - 1
        });
        timeseries[i].samples.push(Sample { value: p.v, timestamp: p.t });
    }
    WriteRequest { timeseries, metadata: Vec::new() }
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
