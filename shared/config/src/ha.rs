//! `ha_tracker`: the master's deduplication of collector HA pairs, as Mimir's HA tracker
//! (same label defaults and fail-over timeout), plus which series are counters to keep
//! continuous across a fail-over. Not in Prometheus's schema; a master without it stores
//! every replica's series as they come.

use crate::units::Dur;
use cardinal_relabel::AnchoredRegex;
use serde::{Deserialize, Deserializer};
use std::time::Duration;

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HaTrackerConfig {
    /// The label naming a pair's cluster (kept on stored series).
    pub cluster_label: String,
    /// The label naming the replica within it (dropped from stored series).
    pub replica_label: String,
    /// How long the elected replica may be silent before another takes over.
    pub failover_timeout: Dur,
    /// Metric names whose series are counters, spliced at a fail-over so that they
    /// neither reset nor jump (anchored regex).
    #[serde(deserialize_with = "regex")]
    pub counter_names: AnchoredRegex,
}

impl Default for HaTrackerConfig {
    fn default() -> Self {
        HaTrackerConfig {
            cluster_label: "cluster".into(),
            replica_label: "__replica__".into(),
            failover_timeout: Dur(Duration::from_secs(30)),
            counter_names: AnchoredRegex::new(DEFAULT_COUNTERS).expect("a valid default"),
        }
    }
}

/// Prometheus's naming conventions for counters and histogram and summary parts.
const DEFAULT_COUNTERS: &str = ".+_(total|count|sum|bucket)";

fn regex<'de, D: Deserializer<'de>>(d: D) -> Result<AnchoredRegex, D::Error> {
    AnchoredRegex::new(&String::deserialize(d)?).map_err(serde::de::Error::custom)
}

impl HaTrackerConfig {
    pub(crate) fn validate(&self) -> Result<(), String> {
        for name in [&self.cluster_label, &self.replica_label] {
            if !cardinal_model::labels::is_valid_label_name(name) {
                return Err(format!("ha_tracker: {name:?} is not a valid label name"));
            }
        }
        if self.cluster_label == self.replica_label {
            return Err("ha_tracker: cluster_label and replica_label must differ".into());
        }
        if self.failover_timeout.0.is_zero() {
            return Err("ha_tracker: failover_timeout must be greater than 0".into());
        }
        Ok(())
    }
}
