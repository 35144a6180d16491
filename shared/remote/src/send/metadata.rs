//! Metric metadata onward, as Prometheus does with `metadata_config.send`: every
//! `send_interval`, the TYPE, HELP and UNIT of each family the scrape targets expose, in
//! requests of at most `max_samples_per_send` entries, retried like samples.

use super::deliver::{Batch, Remote};
use crate::proto::{self, MetricMetadata, WriteRequest};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

/// What the daemon's scrape targets currently say of their families.
pub type MetadataSource = Arc<dyn Fn() -> Vec<MetricMetadata> + Send + Sync>;

pub(super) async fn run(remote: Arc<Remote>, source: MetadataSource, stop: Arc<AtomicBool>) {
    let m = remote.cfg.metadata_config.clone();
    let mut ticks = tokio::time::interval(m.send_interval.0);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The first tick is immediate: wait one interval, as Prometheus does, for the first scrapes.
    ticks.tick().await;
    loop {
        ticks.tick().await;
        if stop.load(Relaxed) {
            return;
        }
        for chunk in source().chunks(m.max_samples_per_send.max(1)) {
            let req = WriteRequest { timeseries: Vec::new(), metadata: chunk.to_vec() };
            let body = bytes::Bytes::from(proto::encode(&req));
            let batch =
                Batch { n: chunk.len() as u64, counts: &remote.stats.metadata, newest_sample: None, exemplars: 0 };
            if !remote.deliver(body, batch, &stop).await {
                return;
            }
        }
    }
}
