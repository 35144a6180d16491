//! PromQL: parse with promql-parser, evaluate here. [`engine`] walks the syntax tree;
//! [`functions`], [`aggregate`] and [`binary`] hold the operations (a new PromQL function
//! goes in `functions.rs`). Three files make the common shapes fast and must give the
//! same results to the bit: `range_query` evaluates a dashboard's range query series at
//! a time, `rule_aggregation` a rule's `sum by (…) (irate(x[1m]))` straight from storage,
//! and `running_aggregation` holds the `sum`/`avg`/`min`… folds both share with
//! [`aggregate`]. [`storage`] is what the engine needs from a database (the collector's
//! head, the master's blocks).

pub mod aggregate;
pub mod binary;
pub mod engine;
pub mod functions;
mod info;
mod range_query;
mod rule_aggregation;
mod running_aggregation;
mod sort_by_label;
pub mod storage;
pub mod value;

pub use engine::{Engine, QueryError};

/// Hashing for label sets in the engine's maps: xxh3 rather than SipHash, which showed up
/// in profiles of rule evaluation. Unlike SipHash it is not keyed: label values come from
/// scraped targets, so crafted collisions could slow one query down (not corrupt it).
pub type FastHash = xxhash_rust::xxh3::Xxh3Builder;
pub use storage::{Querier, Queryable, StoredSeries};
pub use value::{Sample, Series, Value};

/// Whether `name` is one of a modifier's label names (`by`, `on`, `group_left`, …).
pub(crate) fn listed(names: &[String], name: &str) -> bool {
    names.iter().any(|n| n == name)
}
