//! The HA store over a real head: one copy per cluster without the replica label, the
//! standby's samples dropped and counted, series without both labels untouched, and a
//! counter continuing across a fail-over.

use cardinal_config::HaTrackerConfig;
use cardinal_ha::HaStore;
use cardinal_model::Labels;
use cardinal_storage::SeriesStore;
use cardinal_tsdb::Head;
use std::sync::Arc;
use std::time::Duration;

fn store(failover: Duration) -> (Arc<Head>, HaStore) {
    let head = Arc::new(Head::new());
    let cfg = HaTrackerConfig {
        replica_label: "replica".into(),
        failover_timeout: cardinal_config::Dur(failover),
        ..HaTrackerConfig::default()
    };
    (head.clone(), HaStore::new(head, cfg))
}

fn push(s: &HaStore, name: &str, replica: &str, t: i64, v: f64) {
    let labels = Labels::from_pairs([("__name__", name), ("cluster", "eu"), ("replica", replica)]);
    let (r, _) = s.get_or_create(&labels);
    let mut b = s.batch();
    b.append(&r, t, v).unwrap();
    b.commit();
}

fn stored(head: &Head, name: &str) -> Vec<(i64, f64)> {
    let labels = Labels::from_pairs([("__name__", name), ("cluster", "eu")]);
    let mut out = Vec::new();
    head.get(&labels).expect("stored without the replica label").samples(i64::MIN, i64::MAX, &mut out);
    out
}

#[test]
fn one_copy_per_cluster_without_the_replica_label() {
    let (head, s) = store(Duration::from_secs(30));
    for t in 0..3 {
        push(&s, "temp", "a", t * 10, 1.0 + t as f64);
        push(&s, "temp", "b", t * 10 + 1, 100.0);
    }
    assert_eq!(stored(&head, "temp"), [(0, 1.0), (10, 2.0), (20, 3.0)]);
    assert_eq!(head.num_series(), 1);
    assert_eq!(s.tracker.status()[0].1.deduped_samples, 3);
    let mut metrics = String::new();
    s.write_metrics(&mut metrics);
    assert!(metrics.contains("cardinal_ha_tracker_elected_replica{cluster=\"eu\",replica=\"a\"} 1"), "{metrics}");
    assert!(metrics.contains("cardinal_ha_deduped_samples_total{cluster=\"eu\"} 3"), "{metrics}");
    // A standby's sample older than what the elected stored is not an error for a push.
    let b = Labels::from_pairs([("__name__", "temp"), ("cluster", "eu"), ("replica", "b")]);
    assert_eq!(s.last_sample(&s.get(&b).unwrap()), None);
}

#[test]
fn series_without_both_labels_pass_through() {
    let (head, s) = store(Duration::from_secs(30));
    let labels = Labels::from_pairs([("__name__", "up"), ("replica", "a")]);
    let (r, created) = s.get_or_create(&labels);
    assert!(created);
    let mut b = s.batch();
    b.append(&r, 5, 1.0).unwrap();
    b.commit();
    assert!(head.get(&labels).is_some(), "kept as it came");
}

#[test]
fn a_counter_continues_across_a_fail_over() {
    let (head, s) = store(Duration::from_millis(200));
    // a counts from 1000, b from 10, both +5 per step at the same timestamps.
    for i in 0..4 {
        push(&s, "req_total", "a", i * 10, 1000.0 + 5.0 * i as f64);
        push(&s, "req_total", "b", i * 10, 10.0 + 5.0 * i as f64);
    }
    // a falls silent; b is elected once the timeout has passed.
    push(&s, "req_total", "b", 40, 30.0);
    std::thread::sleep(Duration::from_millis(300));
    push(&s, "req_total", "b", 50, 35.0);
    push(&s, "req_total", "b", 60, 40.0);
    let values: Vec<f64> = stored(&head, "req_total").into_iter().map(|(_, v)| v).collect();
    assert_eq!(values, [1000.0, 1005.0, 1010.0, 1015.0, 1025.0, 1030.0]);
}
