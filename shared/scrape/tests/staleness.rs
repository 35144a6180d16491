//! Staleness markers written by the scrape loop, checked sample by sample in the head.

use cardinal_exposition::Format;
use cardinal_model::{Labels, is_stale_nan};
use cardinal_scrape::testing::offline_loop;
use cardinal_tsdb::Head;
use std::sync::Arc;

fn samples(head: &Head, name: &str) -> Vec<(i64, String)> {
    let labels = Labels::from_pairs([("__name__", name), ("instance", "i:1"), ("job", "j")]);
    let (s, _) = head.get_or_create(&labels);
    let mut out = Vec::new();
    s.samples(0, i64::MAX, &mut out);
    out.into_iter().map(|(t, v)| (t, if is_stale_nan(v) { "stale".into() } else { v.to_string() })).collect()
}

#[test]
fn vanished_series_get_a_marker_at_the_next_scrape_time() {
    let head = Arc::new(Head::new());
    let mut l = offline_loop(head.clone(), "j", "i:1");
    l.ingest(b"a 1\nb 2\n", Format::PromText, 1000).unwrap();
    l.ingest(b"a 1\n", Format::PromText, 2000).unwrap();
    l.ingest(b"a 1\n", Format::PromText, 3000).unwrap();
    l.ingest(b"a 1\nb 5\n", Format::PromText, 4000).unwrap();
    assert_eq!(samples(&head, "b"), [(1000, "2".into()), (2000, "stale".into()), (4000, "5".into())]);
    assert_eq!(samples(&head, "a").len(), 4);
}

#[test]
fn a_failed_scrape_stales_everything_once() {
    let head = Arc::new(Head::new());
    let mut l = offline_loop(head.clone(), "j", "i:1");
    l.ingest(b"a 1\n", Format::PromText, 1000).unwrap();
    assert!(l.ingest(b"a 1\nbroken{\n", Format::PromText, 2000).is_err());
    assert!(l.ingest(b"a 1\nbroken{\n", Format::PromText, 2500).is_err());
    l.ingest(b"a 1\n", Format::PromText, 3000).unwrap();
    assert_eq!(samples(&head, "a"), [(1000, "1".into()), (2000, "stale".into()), (3000, "1".into())]);
}

#[test]
fn explicit_timestamps_are_tracked_by_default_and_stale_when_gone() {
    let head = Arc::new(Head::new());
    let mut l = offline_loop(head.clone(), "j", "i:1");
    l.ingest(b"fed 7 900\n", Format::PromText, 1000).unwrap();
    l.ingest(b"other 1\n", Format::PromText, 2000).unwrap();
    assert_eq!(samples(&head, "fed"), [(900, "7".into()), (2000, "stale".into())]);
}
