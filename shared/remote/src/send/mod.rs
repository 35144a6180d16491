//! The remote-write sender: one task per `remote_write` entry, tailing the WAL
//! (`wal_reader`) instead of keeping an in-memory queue, so that while the remote is down
//! nothing is dropped — the reader stays behind, and the WAL keeps what it still needs.
//!
//! It works in rounds. A round reads up to `shards × capacity` samples, splits them by
//! series over the shards (so one series' samples stay in order), and sends every shard's
//! requests of at most `max_samples_per_send` concurrently (`deliver.rs`: retries,
//! backoff, 429). Only when the whole round is delivered, or refused for good, is the WAL
//! position after it saved beside the WAL: neither an outage of the remote nor a restart of
//! this daemon loses samples, and a sender stopped mid-round leaves the round to the next
//! one. Prometheus's shards each drain their own queue instead; rounds trade that for a
//! saved position that is exact without tracking each shard's progress, at the cost of a
//! round waiting for its slowest shard. How many shards: `shards.rs`, Prometheus's rule.

mod deliver;
mod metadata;
mod position;
pub mod shards;

use crate::proto::{self, Exemplar, Label, Sample, TimeSeries, WriteRequest};
use crate::wal_reader::WalReader;
use cardinal_config::RemoteWriteConfig;
use cardinal_model::Labels;
use cardinal_wal::{Record, Wal};
use deliver::{Batch, Remote};
use parking_lot::Mutex;
use position::PositionFile;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::Duration;
use tokio::time::Instant;

/// Samples or metadata entries through the remote's requests.
#[derive(Default)]
pub struct Counts {
    /// Put in a request, once per attempt (Prometheus's `samples_total`).
    pub attempted: AtomicU64,
    /// In a request that was retried.
    pub retried: AtomicU64,
    /// Refused by the remote for good (a 4xx).
    pub failed: AtomicU64,
}

/// What a sender did, for `/metrics` (as Prometheus's `prometheus_remote_storage_*`).
#[derive(Default)]
pub struct SenderStats {
    /// Samples read from the WAL, including those dropped before sending.
    pub samples_in: AtomicU64,
    /// Delivered.
    pub samples_sent: AtomicU64,
    pub samples: Counts,
    /// Exemplars read from the WAL (with `send_exemplars`), including those dropped.
    pub exemplars_in: AtomicU64,
    pub exemplars: Counts,
    /// Exemplars of series dropped by `write_relabel_configs` or never defined.
    pub exemplars_dropped: AtomicU64,
    /// Read and not yet delivered.
    pub exemplars_pending: AtomicU64,
    /// Metric metadata entries, per `metadata_config`.
    pub metadata: Counts,
    /// Dropped by `write_relabel_configs`, or of a series the WAL never defined.
    pub samples_dropped: AtomicU64,
    /// Read and not yet delivered.
    pub samples_pending: AtomicU64,
    pub requests_failed: AtomicU64,
    pub retries: AtomicU64,
    /// Time spent delivering, summed over concurrent shards.
    pub send_nanos: AtomicU64,
    /// Timestamp of the newest sample delivered: how far behind the sender is.
    pub highest_sent_ms: AtomicI64,
    pub last_sent_unix_ms: AtomicI64,
    pub shards: AtomicUsize,
    /// The shard count the last tick computed, as `f64` bits.
    pub shards_desired: AtomicU64,
    /// The WAL segment being read (`prometheus_wal_watcher_current_segment`).
    pub reading_segment: AtomicU64,
    pub last_error: Mutex<Option<String>>,
}

pub struct RemoteWriter {
    pub name: String,
    pub url: String,
    pub stats: Arc<SenderStats>,
    pub queue: cardinal_config::QueueConfig,
    stop: Arc<AtomicBool>,
    wal: Arc<Wal>,
    id: u64,
}

impl RemoteWriter {
    /// The newest sample time in the WAL the sender reads (`i64::MIN`: none).
    pub fn newest_logged_ms(&self) -> i64 {
        self.wal.newest_sample_time().unwrap_or(i64::MIN)
    }
}

impl Drop for RemoteWriter {
    fn drop(&mut self) {
        self.stop.store(true, Relaxed);
        self.wal.release(self.id);
    }
}

/// One pending sample, or exemplar (its labels), with its series' labels (already
/// relabeled). Both count towards `capacity` and `max_samples_per_send`, as in Prometheus.
struct Pending {
    labels: Labels,
    t: i64,
    v: f64,
    exemplar: Option<Labels>,
}

pub use metadata::MetadataSource;

struct Sender {
    remote: Arc<Remote>,
    wal: Arc<Wal>,
    external: Labels,
    /// WAL series id → labels to send (None: dropped by write_relabel_configs).
    series: HashMap<u64, Option<Labels>>,
    position: PositionFile,
    id: u64,
    tuner: shards::ShardTuner,
}

/// Starts a sender for `cfg`, and with `metadata_config.send` one for what `metadata`
/// gives. Fails only on a config it cannot use (an unreadable CA file).
pub fn start(
    wal: Arc<Wal>,
    cfg: RemoteWriteConfig,
    external: Labels,
    metadata: MetadataSource,
) -> Result<RemoteWriter, String> {
    let client = cardinal_client::build_client(&cfg.http)?;
    let name = cfg.name.clone().unwrap_or_else(|| format!("{:016x}", cardinal_model::stable_hash(cfg.url.as_bytes())));
    let id = cardinal_model::stable_hash(name.as_bytes());
    let position = PositionFile::new(&wal, &name);
    let stats = Arc::new(SenderStats::default());
    stats.shards.store(cfg.queue_config.min_shards.max(1), Relaxed);
    let stop = Arc::new(AtomicBool::new(false));
    let (url, queue) = (cfg.url.clone(), cfg.queue_config.clone());
    let remote = Arc::new(Remote { cfg, client, stats: stats.clone() });
    if remote.cfg.metadata_config.send {
        tokio::spawn(metadata::run(remote.clone(), metadata, stop.clone()));
    }
    let sender = Sender {
        remote,
        wal: wal.clone(),
        external,
        series: HashMap::new(),
        position,
        id,
        tuner: shards::ShardTuner::default(),
    };
    tokio::spawn(sender.run(stop.clone()));
    Ok(RemoteWriter { name, url, stats, queue, stop, wal, id })
}

impl Sender {
    async fn run(mut self, stop: Arc<AtomicBool>) {
        let resume = self.position.load(&self.wal);
        // Saved at once, so that a crash before the first delivery still resumes here.
        self.position.save(resume);
        let mut series_records = Vec::new();
        let reader = WalReader::open(&self.wal, resume, |rec| series_records.push(rec));
        let mut reader = match reader {
            Ok(r) => r,
            Err(e) => return self.fail(format!("reading the WAL: {e}")),
        };
        series_records.into_iter().for_each(|r| self.learn(r));
        let q = self.remote.cfg.queue_config.clone();
        let mut round: Vec<Pending> = Vec::new();
        let (mut since, mut last_tick) = (Instant::now(), Instant::now());
        while !stop.load(Relaxed) {
            self.wal.hold(self.id, reader.pos.segment);
            self.remote.stats.reading_segment.store(u64::from(reader.pos.segment), Relaxed);
            let cap = self.shards() * q.capacity.max(q.max_samples_per_send);
            let progressed = match self.read(&mut reader, &mut round, cap) {
                Ok(p) => p,
                Err(e) => {
                    self.fail(format!("reading the WAL: {e}"));
                    false
                }
            };
            // A request's worth (all there is to read now, up to a full round), or waited
            // long enough.
            let due = round.len() >= q.max_samples_per_send
                || (!round.is_empty() && since.elapsed() >= q.batch_send_deadline.0);
            if due {
                if !self.send_round(std::mem::take(&mut round), &stop).await {
                    // Stopped with the round undelivered: the position stays before it,
                    // for whichever sender runs next.
                    return;
                }
                self.position.save(reader.pos);
                since = Instant::now();
            } else if !progressed {
                if round.is_empty() {
                    since = Instant::now();
                }
                tokio::time::sleep(Duration::from_millis(100).min(q.batch_send_deadline.0)).await;
            }
            if last_tick.elapsed() >= shards::INTERVAL {
                self.reshard(last_tick.elapsed());
                last_tick = Instant::now();
            }
        }
    }

    fn shards(&self) -> usize {
        self.remote.stats.shards.load(Relaxed)
    }

    /// Reads WAL records into `round` until it holds `max` samples or the WAL is drained.
    fn read(&mut self, reader: &mut WalReader, round: &mut Vec<Pending>, max: usize) -> std::io::Result<bool> {
        let wal = self.wal.clone();
        let stats = self.remote.stats.clone();
        let send_exemplars = self.remote.cfg.send_exemplars;
        reader.poll(&wal, |rec| {
            match rec {
                Record::Series(_) => self.learn(rec),
                Record::Samples(samples) => {
                    stats.samples_in.fetch_add(samples.len() as u64, Relaxed);
                    for s in samples {
                        self.queue(round, s.id, (s.t, s.v, None), &stats.samples_dropped);
                    }
                }
                Record::Exemplars(exemplars) if send_exemplars => {
                    stats.exemplars_in.fetch_add(exemplars.len() as u64, Relaxed);
                    for e in exemplars {
                        self.queue(round, e.id, (e.t, e.v, Some(e.labels)), &stats.exemplars_dropped);
                    }
                }
                Record::Exemplars(_) => {}
            }
            round.len() < max
        })
    }

    /// Queues a sample or exemplar of the series `id`, or counts it `dropped` when its
    /// series is relabeled away or unknown.
    fn queue(
        &self,
        round: &mut Vec<Pending>,
        id: u64,
        (t, v, exemplar): (i64, f64, Option<Labels>),
        dropped: &AtomicU64,
    ) {
        match self.series.get(&id) {
            Some(Some(labels)) => round.push(Pending { labels: labels.clone(), t, v, exemplar }),
            Some(None) | None => {
                dropped.fetch_add(1, Relaxed);
            }
        }
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
                let relabeled = cardinal_relabel::process(&b.build(), &self.remote.cfg.write_relabel_configs);
                self.series.insert(id, relabeled);
            }
        }
    }

    /// Sends a round over as many shards as it fills (at most the current count), each
    /// shard's requests one after another; `false` if we stopped before all were done.
    async fn send_round(&self, round: Vec<Pending>, stop: &AtomicBool) -> bool {
        let per_request = self.remote.cfg.queue_config.max_samples_per_send;
        let used = self.shards().min(round.len().div_ceil(per_request)).max(1);
        let stats = &self.remote.stats;
        let exemplars = round.iter().filter(|p| p.exemplar.is_some()).count() as u64;
        stats.samples_pending.store(round.len() as u64 - exemplars, Relaxed);
        stats.exemplars_pending.store(exemplars, Relaxed);
        let mut parts: Vec<Vec<Pending>> = (0..used).map(|_| Vec::new()).collect();
        for p in round {
            parts[(p.labels.stable_hash() % used as u64) as usize].push(p);
        }
        let sends = parts.into_iter().map(|part| async move {
            let mut part = part.into_iter().peekable();
            while part.peek().is_some() {
                let chunk: Vec<Pending> = part.by_ref().take(per_request).collect();
                let exemplars = chunk.iter().filter(|p| p.exemplar.is_some()).count() as u64;
                let n = chunk.len() as u64 - exemplars;
                let newest = chunk.iter().filter(|p| p.exemplar.is_none()).map(|p| p.t).max().unwrap_or(i64::MIN);
                let body = bytes::Bytes::from(proto::encode(&request(chunk)));
                let batch = Batch { n, counts: &self.remote.stats.samples, newest_sample: Some(newest), exemplars };
                if !self.remote.deliver(body, batch, stop).await {
                    return false;
                }
                stats.samples_pending.fetch_sub(n, Relaxed);
                stats.exemplars_pending.fetch_sub(exemplars, Relaxed);
            }
            true
        });
        let done = futures_util::future::join_all(sends).await;
        done.into_iter().all(|d| d)
    }

    /// Reconsiders the shard count from the last interval's rates (`shards.rs`).
    fn reshard(&mut self, elapsed: Duration) {
        let s = &self.remote.stats;
        let totals = shards::Totals {
            read: s.samples_in.load(Relaxed),
            dropped: s.samples_dropped.load(Relaxed),
            sent: s.samples_sent.load(Relaxed),
            send_nanos: s.send_nanos.load(Relaxed),
        };
        let q = &self.remote.cfg.queue_config;
        let newest = self.wal.newest_sample_time().unwrap_or(i64::MIN);
        let behind_secs = newest.saturating_sub(s.highest_sent_ms.load(Relaxed)).max(0) as f64 / 1000.0;
        let deadline_ms = 2 * q.batch_send_deadline.0.as_millis() as i64;
        let sent_recently = cardinal_model::now_ms() - s.last_sent_unix_ms.load(Relaxed) <= deadline_ms;
        let current = self.shards();
        let d = self.tuner.tick(totals, elapsed, behind_secs, sent_recently, current, q);
        s.shards_desired.store(d.desired.to_bits(), Relaxed);
        if d.shards != current {
            tracing::info!(url = %self.remote.cfg.url, from = current, to = d.shards, "remote storage resharding");
            s.shards.store(d.shards, Relaxed);
        }
    }

    fn fail(&self, msg: String) {
        tracing::error!(url = %self.remote.cfg.url, error = %msg, "remote write");
        *self.remote.stats.last_error.lock() = Some(msg);
    }
}

/// Groups samples and exemplars by series, keeping each series' in order.
fn request(batch: Vec<Pending>) -> WriteRequest {
    let mut index: HashMap<Labels, usize> = HashMap::new();
    let mut timeseries: Vec<TimeSeries> = Vec::new();
    for p in batch {
        let i = *index.entry(p.labels.clone()).or_insert_with(|| {
            let labels = p.labels.iter().map(|l| Label { name: l.name.to_string(), value: l.value.to_string() });
            timeseries.push(TimeSeries { labels: labels.collect(), ..Default::default() });
            timeseries.len() - 1
        });
        match p.exemplar {
            None => timeseries[i].samples.push(Sample { value: p.v, timestamp: p.t }),
            Some(labels) => {
                let labels = labels.iter().map(|l| Label { name: l.name.to_string(), value: l.value.to_string() });
                timeseries[i].exemplars.push(Exemplar { labels: labels.collect(), value: p.v, timestamp: p.t });
            }
        }
    }
    WriteRequest { timeseries, metadata: Vec::new() }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A series' samples and exemplars go in its one `TimeSeries`, each in the order read.
    #[test]
    fn a_request_carries_each_series_samples_and_exemplars() {
        let series = |i: &str| Labels::from_pairs([("__name__", "req_total"), ("i", i)]);
        let trace = Labels::from_pairs([("trace_id", "t")]);
        let pending =
            |i, t, exemplar: Option<&Labels>| Pending { labels: series(i), t, v: 1.0, exemplar: exemplar.cloned() };
        let req = request(vec![
            pending("a", 1, None),
            pending("b", 1, None),
            pending("a", 1, Some(&trace)),
            pending("a", 2, None),
        ]);
        assert_eq!(req.timeseries.len(), 2);
        let a = &req.timeseries[0];
        assert_eq!(a.samples.iter().map(|s| s.timestamp).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(a.exemplars.len(), 1);
        assert_eq!((a.exemplars[0].labels[0].value.as_str(), a.exemplars[0].timestamp), ("t", 1));
        assert!(req.timeseries[1].exemplars.is_empty());
    }
}
