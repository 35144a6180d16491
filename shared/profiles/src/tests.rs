//! The scanner against prost's full decode of the same bytes, and the recorder against
//! hand-computed counters.

use crate::pprof::{Context, decode};
use crate::proto;
use crate::recorder::{Recorder, Upload};
use crate::synthetic::{Shape, cpu_profile};
use bytes::Bytes;
use cardinal_config::{Config, ProfileRule};
use cardinal_model::Labels;
use cardinal_tsdb::Head;
use proptest::prelude::*;
use prost::Message;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

/// Totals per (sample labels, type index), summed from prost's decode: an independent
/// reading of the same bytes.
pub fn independent_totals(p: &proto::Profile, function: Option<&str>) -> BTreeMap<(Vec<(String, String)>, usize), f64> {
    let s = |i: i64| p.string_table[i as usize].clone();
    let locations: Option<HashSet<u64>> = function.map(|f| {
        let fns: HashSet<u64> = p.function.iter().filter(|x| s(x.name) == f).map(|x| x.id).collect();
        p.location.iter().filter(|l| l.line.iter().any(|ln| fns.contains(&ln.function_id))).map(|l| l.id).collect()
    });
    let mut out = BTreeMap::new();
    for sample in &p.sample {
        if let Some(locs) = &locations
            && !sample.location_id.iter().any(|l| locs.contains(l))
        {
            continue;
        }
        let mut labels: Vec<(String, String)> =
            sample.label.iter().filter(|l| l.str != 0).map(|l| (s(l.key), s(l.str))).collect();
        labels.sort();
        for (k, v) in sample.value.iter().enumerate() {
            *out.entry((labels.clone(), k)).or_insert(0.0) += *v as f64;
        }
    }
    out
}

fn ours(bytes: &[u8], function: Option<&str>) -> BTreeMap<(Vec<(String, String)>, usize), f64> {
    let ctx = Context { app_suffix: None, labels: vec![], fallback_end_ms: 0 };
    let p = decode(Bytes::copy_from_slice(bytes), ctx).unwrap();
    let totals = match function {
        None => p.groups.iter().map(|g| g.totals.clone()).collect(),
        Some(f) => p.function_totals(f),
    };
    let mut out = BTreeMap::new();
    for (g, t) in p.groups.iter().zip(totals) {
        for (k, v) in t.into_iter().enumerate() {
            out.insert((g.labels.clone(), k), v);
        }
    }
    out
}

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let gz = std::fs::read(path).unwrap();
    crate::gunzip_if_gzip(gz.into(), 1 << 24).unwrap().to_vec()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn scanner_agrees_with_prost(seed in any::<u64>(), samples in 0usize..200, locations in 1usize..300, labels in 0usize..4) {
        let p = cpu_profile(seed, &Shape { samples, locations, label_values: labels }, 0, 0);
        let bytes = p.encode_to_vec();
        let mut want = independent_totals(&p, None);
        want.retain(|_, v| *v != 0.0);
        let mut got = ours(&bytes, None);
        got.retain(|_, v| *v != 0.0);
        prop_assert_eq!(got, want);
        let f = format!("pkg.fn{}", seed as usize % locations);
        let mut want = independent_totals(&p, Some(&f));
        let mut got = ours(&bytes, Some(&f));
        want.retain(|_, v| *v != 0.0);
        got.retain(|_, v| *v != 0.0);
        prop_assert_eq!(got, want);
    }

    #[test]
    fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let ctx = Context { app_suffix: None, labels: vec![], fallback_end_ms: 0 };
        let _ = decode(Bytes::from(bytes), ctx);
    }
}

#[test]
fn truncated_profiles_are_errors_or_prefixes() {
    let p = cpu_profile(7, &Shape { samples: 20, locations: 30, label_values: 2 }, 0, 0);
    let bytes = p.encode_to_vec();
    let mut errors = 0;
    for n in 0..bytes.len() {
        let ctx = Context { app_suffix: None, labels: vec![], fallback_end_ms: 0 };
        errors += decode(Bytes::copy_from_slice(&bytes[..n]), ctx).is_err() as usize;
    }
    // Only cuts at a field boundary leave a valid (shorter) profile.
    assert!(errors > bytes.len() * 9 / 10, "{errors} of {}", bytes.len());
}

#[test]
fn go_heap_profile_from_prometheus_splits_into_four_types() {
    let bytes = fixture("prometheus-2.42-heap.pb.gz");
    let ctx = Context { app_suffix: None, labels: vec![], fallback_end_ms: 0 };
    let p = decode(Bytes::from(bytes.clone()), ctx).unwrap();
    let ids: Vec<String> = p.types.iter().map(|t| t.id()).collect();
    assert_eq!(
        ids,
        [
            "memory:alloc_objects:count:space:bytes",
            "memory:alloc_space:bytes:space:bytes",
            "memory:inuse_objects:count:space:bytes",
            "memory:inuse_space:bytes:space:bytes"
        ]
    );
    assert!(p.end_ms > 1_700_000_000_000, "the profile's own time: {}", p.end_ms);
    let want = independent_totals(&proto::Profile::decode(&bytes[..]).unwrap(), None);
    assert_eq!(ours(&bytes, None), want);
    assert!(want.values().all(|v| *v > 0.0));
}

#[test]
fn go_cpu_profile_from_prometheus_sums_and_filters_by_function() {
    let bytes = fixture("prometheus-2.42-cpu.pb.gz");
    let ctx = Context { app_suffix: None, labels: vec![], fallback_end_ms: 0 };
    let p = decode(Bytes::from(bytes.clone()), ctx).unwrap();
    let ids: Vec<String> = p.types.iter().map(|t| t.id()).collect();
    assert_eq!(ids, ["process_cpu:samples:count:cpu:nanoseconds", "process_cpu:cpu:nanoseconds:cpu:nanoseconds"]);
    let full = proto::Profile::decode(&bytes[..]).unwrap();
    assert_eq!(ours(&bytes, None), independent_totals(&full, None));
    for f in ["runtime.mcall", "net/http.(*conn).serve", "no.such.function"] {
        let mut want = independent_totals(&full, Some(f));
        want.retain(|_, v| *v != 0.0);
        let mut got = ours(&bytes, Some(f));
        got.retain(|_, v| *v != 0.0);
        assert_eq!(got, want, "{f}");
    }
    let serve = ours(&bytes, Some("net/http.(*conn).serve"));
    assert!(serve.values().any(|v| *v > 0.0), "the profile covers HTTP serving");
}

// ---- recorder ----

fn rules(yaml: &str) -> Vec<ProfileRule> {
    Config::parse(yaml, "test.yml").unwrap().profiles
}

const SEED_RULE: &str = r#"
profile_rules:
  - record: cpu_usage_compress_workers
    matchers: ['{__profile_type__="process_cpu:cpu:nanoseconds:cpu:nanoseconds", service_name="worker", job="batch_compress"}']
    group_by: [region]
"#;

fn upload(id: u64, kind: &str, v: i64, labels: &[(&str, &str)], end_ms: i64) -> Upload {
    let labels = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let ctx = Context { app_suffix: None, labels, fallback_end_ms: end_ms };
    Upload {
        identity: id,
        profiles: vec![decode(crate::synthetic::single_sample(kind, v).encode_to_vec().into(), ctx).unwrap()],
    }
}

fn value(head: &Head, labels: &[(&str, &str)]) -> Option<(i64, f64)> {
    head.get(&Labels::from_pairs(labels.iter().copied()))?.last_at_or_before(i64::MAX)
}

/// The seed document's six profiles.
pub fn seed_uploads(end_ms: i64) -> Vec<Upload> {
    let w = |region| vec![("service_name", "worker"), ("job", "batch_compress"), ("region", region)];
    vec![
        upload(1, "alloc", 10, &w("eu"), end_ms),
        upload(2, "cpu", 20, &w("eu"), end_ms),
        upload(3, "cpu", 1, &[("service_name", "API"), ("region", "eu")], end_ms),
        upload(4, "cpu", 30, &w("ap"), end_ms),
        upload(5, "cpu", 40, &w("us"), end_ms),
        upload(6, "cpu", 100, &w("eu"), end_ms),
    ]
}

#[test]
fn the_seed_example_records_eu_120_ap_30_us_40() {
    let head = Arc::new(Head::new());
    let rec = Recorder::new(head.clone());
    rec.apply(&rules(SEED_RULE));
    assert_eq!(rec.record(&seed_uploads(1_000_000), 2_000_000), Ok(3));
    let out = |r| {
        [
            ("__name__", "cpu_usage_compress_workers"),
            ("job", "batch_compress"),
            ("region", r),
            ("service_name", "worker"),
        ]
    };
    assert_eq!(value(&head, &out("eu")), Some((1_000_000, 120.0)));
    assert_eq!(value(&head, &out("ap")), Some((1_000_000, 30.0)));
    assert_eq!(value(&head, &out("us")), Some((1_000_000, 40.0)));
    assert_eq!(head.num_series(), 3);
    assert_eq!(rec.rule_status()[0].matches, 4);
}

#[test]
fn counters_accumulate_stay_monotonic_and_ignore_retries() {
    let head = Arc::new(Head::new());
    let rec = Recorder::new(head.clone());
    rec.apply(&rules(SEED_RULE));
    let eu = [
        ("__name__", "cpu_usage_compress_workers"),
        ("job", "batch_compress"),
        ("region", "eu"),
        ("service_name", "worker"),
    ];
    rec.record(&seed_uploads(1_000_000), 2_000_000).unwrap();
    // A retry of upload 6 is recognised; a new upload adds on.
    let w = [("service_name", "worker"), ("job", "batch_compress"), ("region", "eu")];
    rec.record(&[upload(6, "cpu", 100, &w, 1_010_000), upload(7, "cpu", 5, &w, 1_010_000)], 2_000_000).unwrap();
    assert_eq!(value(&head, &eu), Some((1_010_000, 125.0)));
    assert_eq!(rec.stats.deduplicated.load(std::sync::atomic::Ordering::Relaxed), 1);
    // A late profile (older than the newest sample) still counts, just after it.
    rec.record(&[upload(8, "cpu", 1, &w, 900_000)], 2_000_000).unwrap();
    assert_eq!(value(&head, &eu), Some((1_010_001, 126.0)));
    // A profile from the future is dated when it arrived.
    rec.record(&[upload(9, "cpu", 1, &w, 9_000_000)], 2_000_000).unwrap();
    assert_eq!(value(&head, &eu), Some((2_000_000, 127.0)));
}

#[test]
fn a_restarted_recorder_continues_from_the_head() {
    let head = Arc::new(Head::new());
    let w = [("service_name", "worker"), ("job", "batch_compress"), ("region", "eu")];
    for (i, t) in [(1, 1_000_000), (2, 1_010_000)] {
        let rec = Recorder::new(head.clone());
        rec.apply(&rules(SEED_RULE));
        rec.record(&[upload(i, "cpu", 10, &w, t)], 2_000_000).unwrap();
    }
    let eu = [
        ("__name__", "cpu_usage_compress_workers"),
        ("job", "batch_compress"),
        ("region", "eu"),
        ("service_name", "worker"),
    ];
    assert_eq!(value(&head, &eu), Some((1_010_000, 20.0)));
}

#[test]
fn function_rules_count_inclusive_totals() {
    let head = Arc::new(Head::new());
    let rec = Recorder::new(head.clone());
    rec.apply(&rules(
        r#"
profile_rules:
  - record: main_cpu
    matchers: ['{__profile_type__="process_cpu:cpu:nanoseconds:cpu:nanoseconds"}']
    function_name: main
  - record: other_cpu
    matchers: ['{__profile_type__="process_cpu:cpu:nanoseconds:cpu:nanoseconds"}']
    function_name: other
"#,
    ));
    rec.record(&[upload(1, "cpu", 7, &[("service_name", "a")], 1000)], 2000).unwrap();
    assert_eq!(value(&head, &[("__name__", "main_cpu")]), Some((1000, 7.0)));
    assert_eq!(value(&head, &[("__name__", "other_cpu")]), Some((1000, 0.0)));
}
