//! A scrape loop without a network, for tests and benchmarks that feed bodies directly.

use crate::fetch::Fetcher;
use crate::sample_labels::LabelLimits;
use crate::scrape_loop::{LoopConfig, ScrapeLoop};
use crate::target::Target;
use cardinal_model::Labels;
use cardinal_storage::SeriesStore;
use std::sync::Arc;
use std::time::Duration;

/// A loop for `job`/`instance` with default settings, appending into `store`.
pub fn offline_loop(store: Arc<dyn SeriesStore>, job: &str, instance: &str) -> ScrapeLoop {
    let cfg = LoopConfig {
        honor_labels: false,
        honor_timestamps: true,
        track_timestamps_staleness: true,
        sample_limit: 0,
        limits: LabelLimits::default(),
        metric_relabel: Vec::new(),
        interval: Duration::from_secs(15),
        timestamp_tolerance: Duration::ZERO,
        exemplars: Default::default(),
        fetcher: Fetcher::new(&Default::default(), Duration::from_secs(10), 0).expect("default client"),
        forced_error: Default::default(),
    };
    let labels = Labels::from_pairs([("job", job), ("instance", instance)]);
    let target = Target::new(labels.clone(), labels, format!("http://{instance}/metrics"));
    ScrapeLoop::new(store, target, Arc::new(cfg), Arc::default())
}
