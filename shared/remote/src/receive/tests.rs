use super::*;
use crate::proto::{self, Label, Sample, TimeSeries};
use cardinal_model::{Labels, MatchOp, Matcher};
use cardinal_tsdb::Head;

fn series(name: &str, samples: &[(i64, f64)]) -> TimeSeries {
    TimeSeries {
        labels: vec![
            Label { name: "job".into(), value: "push".into() },
            Label { name: "__name__".into(), value: name.into() },
        ],
        samples: samples.iter().map(|&(timestamp, value)| Sample { value, timestamp }).collect(),
        ..Default::default()
    }
}

fn req(ts: Vec<TimeSeries>) -> WriteRequest {
    WriteRequest { timeseries: ts, metadata: vec![] }
}

fn stored(head: &Head, name: &str) -> Vec<(i64, f64)> {
    let m = [Matcher::new(MatchOp::Equal, "__name__", name).unwrap()];
    let mut out = Vec::new();
    for s in head.select(&m) {
        s.samples(i64::MIN, i64::MAX, &mut out);
    }
    out
}

#[test]
fn a_request_round_trips_through_snappy_and_lands() {
    let head = Head::new();
    let body = proto::encode(&req(vec![series("a", &[(1000, 1.0), (2000, 2.0)]), series("b", &[(1000, 5.0)])]));
    let r = decode(&body, 1 << 20).unwrap();
    let w = append(&head, &r).unwrap();
    assert_eq!((w.series, w.samples), (2, 3));
    assert_eq!(stored(&head, "a"), [(1000, 1.0), (2000, 2.0)]);
}

#[test]
fn one_bad_sample_rejects_the_whole_request() {
    let head = Head::new();
    append(&head, &req(vec![series("a", &[(5000, 1.0)])])).unwrap();
    for (bad, msg) in [
        (series("a", &[(4000, 1.0)]), "out of order sample"),
        (series("a", &[(5000, 2.0)]), "duplicate sample for timestamp"),
        (series("c", &[(9000, 1.0), (8000, 1.0)]), "out of order sample"),
    ] {
        let r = req(vec![series("b", &[(6000, 1.0)]), bad]);
        match append(&head, &r) {
            Err(Rejection::BadRequest(m)) => assert!(m.starts_with(msg), "{m}"),
            other => panic!("{other:?}"),
        }
        assert!(stored(&head, "b").is_empty(), "nothing of a rejected request is stored");
        let b = Labels::from_pairs([("__name__", "b"), ("job", "push")]);
        assert!(head.get(&b).is_none(), "not even an empty series");
    }
    // The same sample again is accepted, as Prometheus does.
    append(&head, &req(vec![series("a", &[(5000, 1.0)])])).unwrap();
}

#[test]
fn bad_bodies_and_labels_are_400s() {
    assert!(matches!(decode(b"not snappy at all", 1 << 20), Err(Rejection::BadRequest(m)) if m.starts_with("snappy")));
    let garbage = snap::raw::Encoder::new().compress_vec(&[0xff; 10]).unwrap();
    assert!(matches!(decode(&garbage, 1 << 20), Err(Rejection::BadRequest(m)) if m.starts_with("protobuf")));
    let big = proto::encode(&req(vec![series("a", &[(1, 1.0); 1000])]));
    assert!(matches!(decode(&big, 100), Err(Rejection::TooLarge(_))));
    let head = Head::new();
    let mut dup = series("a", &[(1, 1.0)]);
    dup.labels.push(Label { name: "job".into(), value: "x".into() });
    assert!(matches!(append(&head, &req(vec![dup])), Err(Rejection::BadRequest(m)) if m.contains("duplicate label")));
    let mut nameless = series("a", &[(1, 1.0)]);
    nameless.labels.remove(1);
    assert!(matches!(append(&head, &req(vec![nameless])), Err(Rejection::BadRequest(m)) if m.contains("__name__")));
}

#[test]
fn remote_write_2_is_a_415() {
    assert!(check_content_type(Some("application/x-protobuf")).is_ok());
    assert!(check_content_type(None).is_ok());
    assert!(check_content_type(Some("application/x-protobuf;proto=prometheus.WriteRequest")).is_ok());
    let v2 = check_content_type(Some("application/x-protobuf;proto=io.prometheus.write.v2.Request"));
    assert!(matches!(v2, Err(Rejection::Unsupported(_))));
    assert!(matches!(check_content_type(Some("application/json")), Err(Rejection::Unsupported(_))));
}

proptest::proptest! {
    #[test]
    fn garbage_bodies_never_panic(b: Vec<u8>) {
        let _ = decode(&b, 1 << 20);
        let compressed = snap::raw::Encoder::new().compress_vec(&b).unwrap();
        if let Ok(r) = decode(&compressed, 1 << 20) {
            let _ = append(&Head::new(), &r);
        }
    }
}

#[test]
fn a_sample_too_far_ahead_rejects_the_whole_request_naming_it() {
    let head = Head::new();
    head.set_time_limits(None, Some(std::time::Duration::from_secs(600)));
    let now = cardinal_model::now_ms();
    let r = req(vec![series("ok", &[(now, 1.0)]), series("evil", &[(now + 10 * 365 * 86_400_000, 1.0)])]);
    match append(&head, &r) {
        Err(Rejection::BadRequest(m)) => {
            assert!(m.starts_with("out of bounds: timestamp is too far in the future for series"), "{m}")
        }
        other => panic!("{other:?}"),
    }
    assert!(stored(&head, "ok").is_empty() && head.num_series() == 0, "nothing of it is stored");
    append(&head, &req(vec![series("ok", &[(now, 1.0)])])).unwrap();
    assert_eq!(stored(&head, "ok"), [(now, 1.0)]);
}

#[test]
fn new_series_past_the_head_limit_reject_the_request_and_known_ones_flow() {
    let head = Head::new();
    append(&head, &req(vec![series("a", &[(1000, 1.0)])])).unwrap();
    head.set_series_limit(1);
    match append(&head, &req(vec![series("a", &[(2000, 2.0)]), series("b", &[(2000, 1.0)])])) {
        Err(Rejection::BadRequest(m)) => assert!(m.contains("head series limit of 1 reached"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(stored(&head, "a"), [(1000, 1.0)], "all or nothing");
    append(&head, &req(vec![series("a", &[(2000, 2.0)])])).unwrap();
    assert_eq!(stored(&head, "a"), [(1000, 1.0), (2000, 2.0)]);
}
