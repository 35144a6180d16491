//! The vocabulary every other Cardinal crate speaks: label sets, samples, matchers,
//! Prometheus durations and Go-compatible number and time formatting.

pub mod duration;
pub mod gotime;
pub mod labels;
pub mod matcher;
pub mod number;
pub mod promql_text;
pub mod sample;
pub mod schedule;

pub use duration::{format_duration, parse_duration};
pub use labels::{Label, Labels, LabelsBuilder};
pub use matcher::{MatchOp, Matcher, parse_selector};
pub use sample::{STALE_NAN_BITS, is_stale_nan, stale_nan};

/// Milliseconds since the Unix epoch, the unit of every timestamp in storage.
pub type Timestamp = i64;

/// The current wall-clock time in milliseconds.
pub fn now_ms() -> Timestamp {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// A stable 64-bit hash (xxh3): the same input hashes the same across runs and hosts,
/// which scrape offsets and rule slots rely on.
pub fn stable_hash(bytes: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(bytes)
}
