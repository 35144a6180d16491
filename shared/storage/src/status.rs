//! What a database says of itself on the status pages, `/api/v1/status/tsdb` and
//! `/metrics`: the head's cardinality, the blocks on disk, the WAL, what opening found
//! damaged, and its own counters.

use cardinal_model::Timestamp;

/// A database the status endpoints describe.
pub trait DbStatus: Send + Sync {
    /// The head's figures, with the `top` metric names and label names by count.
    fn cardinality(&self, top: usize) -> Cardinality;

    /// Series in the head.
    fn head_series(&self) -> usize;

    /// The blocks on disk, oldest first.
    fn blocks(&self) -> Vec<BlockInfo>;

    /// Bytes of the write-ahead log on disk.
    fn wal_bytes(&self) -> u64;

    /// Bytes on disk in all: blocks and WAL.
    fn disk_bytes(&self) -> u64;

    /// One line per damaged file found at opening: what was skipped and why.
    fn damage(&self) -> Vec<String>;

    /// Its counters and gauges (head, WAL, blocks) in the Prometheus text format.
    fn write_metrics(&self, out: &mut String);
}

/// What the cardinality explorer shows.
#[derive(Debug, Clone)]
pub struct Cardinality {
    pub num_series: usize,
    pub num_label_pairs: usize,
    pub chunk_count: usize,
    pub chunk_bytes: usize,
    pub min_time: Timestamp,
    pub max_time: Timestamp,
    pub series_by_metric: Vec<(String, usize)>,
    pub values_by_label: Vec<(String, usize)>,
}

/// One block on disk.
#[derive(Debug, Clone, Copy)]
pub struct BlockInfo {
    pub min_time: Timestamp,
    pub max_time: Timestamp,
    pub level: u32,
    pub num_series: u64,
    pub num_samples: u64,
    pub bytes: u64,
}

impl BlockInfo {
    /// Samples and bytes over `blocks`: what a sample costs on disk.
    pub fn totals(blocks: &[BlockInfo]) -> (u64, u64) {
        blocks.iter().fold((0, 0), |(s, b), x| (s + x.num_samples, b + x.bytes))
    }
}
