//! The election: per cluster, the replica whose samples are stored. The first replica
//! seen is elected; it stays elected while it keeps sending, and another replica takes
//! over once the elected one has been silent for longer than the fail-over timeout (as
//! Mimir's HA tracker, without its KV store: one master is the only writer).

use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Elected {
    replica: Arc<str>,
    seen: Instant,
}

/// What the tracker reports per cluster, for `/metrics`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClusterStatus {
    pub elected: String,
    pub changes: u64,
    pub deduped_samples: u64,
}

pub struct Tracker {
    timeout: Duration,
    clusters: Mutex<HashMap<Arc<str>, (Elected, ClusterStatus)>>,
}

impl Tracker {
    pub fn new(timeout: Duration) -> Tracker {
        Tracker { timeout, clusters: Mutex::default() }
    }

    /// Whether `replica`'s samples for `cluster`, arriving `now`, are stored.
    pub fn accept(&self, cluster: &Arc<str>, replica: &Arc<str>, now: Instant) -> bool {
        let mut clusters = self.clusters.lock();
        let Some((elected, status)) = clusters.get_mut(cluster) else {
            let status = ClusterStatus { elected: replica.to_string(), changes: 1, deduped_samples: 0 };
            clusters.insert(cluster.clone(), (Elected { replica: replica.clone(), seen: now }, status));
            tracing::info!(%cluster, %replica, "HA tracker: replica elected");
            return true;
        };
        if elected.replica == *replica {
            elected.seen = elected.seen.max(now);
            return true;
        }
        if now.saturating_duration_since(elected.seen) <= self.timeout {
            return false;
        }
        tracing::warn!(%cluster, from = %elected.replica, to = %replica, "HA tracker: fail-over, the elected replica fell silent");
        *elected = Elected { replica: replica.clone(), seen: now };
        status.elected = replica.to_string();
        status.changes += 1;
        true
    }

    /// The replica elected for `cluster` now, if any.
    pub fn elected(&self, cluster: &str) -> Option<Arc<str>> {
        self.clusters.lock().get(cluster).map(|(e, _)| e.replica.clone())
    }

    /// Counts samples of a replica not elected, dropped.
    pub fn deduped(&self, cluster: &str, n: u64) {
        if let Some((_, status)) = self.clusters.lock().get_mut(cluster) {
            status.deduped_samples += n;
        }
    }

    pub fn status(&self) -> Vec<(String, ClusterStatus)> {
        let mut out: Vec<_> = self.clusters.lock().iter().map(|(c, (_, s))| (c.to_string(), s.clone())).collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_replica_holds_the_cluster_until_it_falls_silent() {
        let t = Tracker::new(Duration::from_secs(30));
        let (c, a, b) = (Arc::from("eu"), Arc::from("a"), Arc::from("b"));
        let t0 = Instant::now();
        assert!(t.accept(&c, &a, t0));
        assert!(!t.accept(&c, &b, t0 + Duration::from_secs(1)));
        assert!(t.accept(&c, &a, t0 + Duration::from_secs(20)));
        assert!(!t.accept(&c, &b, t0 + Duration::from_secs(49)), "a was seen 29 s ago");
        assert!(t.accept(&c, &b, t0 + Duration::from_secs(51)), "a silent 31 s: b takes over");
        assert!(!t.accept(&c, &a, t0 + Duration::from_secs(52)), "and keeps it when a comes back");
        assert_eq!(t.elected("eu").as_deref(), Some("b"));
        t.deduped("eu", 7);
        let status = t.status();
        assert_eq!(status, [("eu".into(), ClusterStatus { elected: "b".into(), changes: 2, deduped_samples: 7 })]);
    }

    #[test]
    fn clusters_elect_independently() {
        let t = Tracker::new(Duration::from_secs(30));
        let now = Instant::now();
        assert!(t.accept(&Arc::from("eu"), &Arc::from("a"), now));
        assert!(t.accept(&Arc::from("us"), &Arc::from("b"), now));
        assert!(!t.accept(&Arc::from("eu"), &Arc::from("b"), now));
    }
}
