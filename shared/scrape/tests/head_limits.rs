//! What a scrape does when the head refuses part of it: samples out of its time bounds
//! are counted and named while the rest is stored; past the series limit the series it
//! has keep flowing and the scrape reports the limit.

use cardinal_exposition::Format;
use cardinal_model::{Labels, now_ms};
use cardinal_scrape::testing::offline_loop;
use cardinal_tsdb::Head;
use std::sync::Arc;
use std::time::Duration;

fn stored(head: &Head, name: &str) -> usize {
    let labels = Labels::from_pairs([("__name__", name), ("instance", "i:1"), ("job", "j")]);
    head.get(&labels).map_or(0, |s| {
        let mut out = Vec::new();
        s.samples(i64::MIN, i64::MAX, &mut out);
        out.len()
    })
}

#[test]
fn a_far_future_timestamp_is_refused_counted_and_named_while_the_rest_lands() {
    let head = Arc::new(Head::new());
    head.set_time_limits(None, Some(Duration::from_secs(600)));
    let mut l = offline_loop(head.clone(), "j", "i:1");
    let now = now_ms();
    let evil = now + 10 * 365 * 86_400_000;
    let body = format!("good 1\nevil 1 {evil}\n");
    let counts = l.ingest(body.as_bytes(), Format::PromText, now).unwrap();
    assert_eq!(counts.refused.out_of_bounds, 1);
    assert_eq!(counts.refused.describe(), "samples refused: 1 out of bounds (too old, or too far ahead of the clock)");
    assert_eq!((stored(&head, "good"), stored(&head, "evil")), (1, 0));
    let counts = l.ingest(b"good 2\n", Format::PromText, now + 1000).unwrap();
    assert_eq!(counts.refused.describe(), "");
    assert_eq!(stored(&head, "good"), 2, "later scrapes are stored");
}

#[test]
fn past_the_series_limit_known_series_flow_and_the_scrape_reports_the_limit() {
    let head = Arc::new(Head::new());
    let mut l = offline_loop(head.clone(), "j", "i:1");
    l.ingest(b"a 1\n", Format::PromText, 1000).unwrap();
    head.set_series_limit(head.num_series());
    let (err, counts) = l.ingest(b"a 2\nb 1\nc 1\n", Format::PromText, 2000).unwrap_err();
    assert!(err.starts_with("head series limit of") && err.ends_with("2 new series not stored"), "{err}");
    assert_eq!(counts.refused.series, 2);
    assert_eq!((stored(&head, "a"), stored(&head, "b")), (2, 0), "the known series flowed");
    head.set_series_limit(0);
    l.ingest(b"a 3\nb 1\n", Format::PromText, 3000).unwrap();
    assert_eq!(stored(&head, "b"), 1, "refused series are created once there is room");
}
