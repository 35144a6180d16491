use super::*;
use cardinal_model::{MatchOp, stale_nan};

fn ls(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

#[test]
fn get_or_create_finds_the_same_series() {
    let h = Head::new();
    let (a, created) = h.get_or_create(&ls(&[("__name__", "up"), ("job", "x")]));
    assert!(created);
    let (b, created) = h.get_or_create(&ls(&[("job", "x"), ("__name__", "up")]));
    assert!(!created);
    assert_eq!(a.id, b.id);
    assert_eq!(h.num_series(), 1);
    assert_eq!(h.labels(&a), ls(&[("__name__", "up"), ("job", "x")]));
}

#[test]
fn out_of_order_and_duplicates_are_rejected_and_counted() {
    let h = Head::new();
    let (s, _) = h.get_or_create(&ls(&[("__name__", "x")]));
    h.append(&s, 1000, 1.0).unwrap();
    assert_eq!(h.append(&s, 999, 2.0), Err(AppendError::OutOfOrder));
    assert_eq!(h.append(&s, 1000, 2.0), Err(AppendError::Duplicate));
    assert_eq!(h.append(&s, 1000, 1.0), Ok(()), "an identical resend is a no-op");
    assert_eq!(h.stats.out_of_order.load(Relaxed), 1);
    assert_eq!(h.stats.duplicates.load(Relaxed), 1);
}

#[test]
fn samples_across_chunks_and_stale_markers() {
    let h = Head::new();
    let (s, _) = h.get_or_create(&ls(&[("__name__", "x")]));
    for i in 0..500 {
        h.append(&s, i * 15_000, i as f64).unwrap();
    }
    h.append(&s, 500 * 15_000, stale_nan()).unwrap();
    assert_eq!(h.stats.chunks(), 5, "501 samples make 4 full chunks and an open one");
    let mut out = Vec::new();
    s.samples(0, i64::MAX, &mut out);
    assert_eq!(out.len(), 501);
    assert!(cardinal_model::is_stale_nan(out[500].1));
    assert_eq!(out[123], (123 * 15_000, 123.0));
    out.clear();
    s.samples(15_000 * 100, 15_000 * 102, &mut out);
    assert_eq!(out, vec![(1_500_000, 100.0), (1_515_000, 101.0), (1_530_000, 102.0)]);
    assert_eq!(s.last_at_or_before(15_000 * 250 + 1), Some((15_000 * 250, 250.0)));
    assert!(cardinal_model::is_stale_nan(s.last_at_or_before(i64::MAX).unwrap().1));
    assert_eq!(s.last_at_or_before(-1), None);
}

#[test]
fn select_with_matchers() {
    let h = Head::new();
    for job in ["a", "b", "c"] {
        h.get_or_create(&ls(&[("__name__", "up"), ("job", job)]));
    }
    let m = [Matcher::equal("__name__", "up"), Matcher::new(MatchOp::Regex, "job", "a|c").unwrap()];
    let got: Vec<_> = h.select(&m).iter().map(|s| h.labels(s).get("job").unwrap().to_string()).collect();
    assert_eq!(got, ["a", "c"]);
}

#[test]
fn truncate_drops_old_chunks_and_idle_series_and_frees_symbols() {
    let h = Head::new();
    let (old, _) = h.get_or_create(&ls(&[("__name__", "x"), ("pod", "gone")]));
    let (live, _) = h.get_or_create(&ls(&[("__name__", "x"), ("pod", "live")]));
    for i in 0..300 {
        h.append(&live, i * 1000, 1.0).unwrap();
    }
    h.append(&old, 10, 1.0).unwrap();
    assert_eq!(h.stats.chunks(), 4);
    assert_eq!(h.truncate(200_000), 1);
    assert_eq!(h.num_series(), 1);
    assert_eq!(h.stats.chunks(), 2, "one sealed chunk of the live series and the dead series' chunk are gone");
    assert_eq!(h.append(&old, 400_000, 1.0), Err(AppendError::Removed));
    assert!(h.index.read().symbols.lookup("gone").is_none(), "the churned pod name is freed");
    let mut out = Vec::new();
    live.samples(0, i64::MAX, &mut out);
    assert!(out[0].0 >= 120_000 && out.len() < 300, "whole chunks before the cut are gone");
    // The removed series can be created again, as a fresh series.
    let (again, created) = h.get_or_create(&ls(&[("__name__", "x"), ("pod", "gone")]));
    assert!(created && again.id != old.id);
}

#[test]
fn a_new_empty_series_survives_truncation_until_it_is_old() {
    let h = Head::new();
    let (s, _) = h.get_or_create(&ls(&[("__name__", "up")]));
    assert_eq!(h.truncate(cardinal_model::now_ms() - 1000), 0, "just created, no sample yet");
    assert_eq!(h.append(&s, cardinal_model::now_ms(), 1.0), Ok(()));
    let (e, _) = h.get_or_create(&ls(&[("__name__", "never_written")]));
    assert_eq!(h.truncate(cardinal_model::now_ms() + 1000), 2);
    assert_eq!(h.append(&e, 1, 1.0), Err(AppendError::Removed));
}

#[test]
fn concurrent_appenders_and_readers() {
    let h = Arc::new(Head::new());
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let h = h.clone();
            std::thread::spawn(move || {
                for t in 0..200 {
                    for i in 0..50 {
                        let (s, _) =
                            h.get_or_create(&ls(&[("__name__", "m"), ("i", &i.to_string()), ("w", &w.to_string())]));
                        h.append(&s, t, t as f64).unwrap();
                    }
                }
            })
        })
        .collect();
    let reader = {
        let h = h.clone();
        std::thread::spawn(move || {
            for _ in 0..200 {
                let sel = h.select(&[Matcher::equal("__name__", "m")]);
                assert!(sel.len() <= 200);
            }
        })
    };
    writers.into_iter().for_each(|w| w.join().unwrap());
    reader.join().unwrap();
    assert_eq!(h.num_series(), 200);
    assert_eq!(h.stats.samples_appended.load(Relaxed), 200 * 200);
}

#[test]
fn cardinality_report() {
    let h = Head::new();
    for i in 0..5 {
        h.get_or_create(&ls(&[("__name__", "big"), ("pod", &i.to_string())]));
    }
    h.get_or_create(&ls(&[("__name__", "small")]));
    let c = h.cardinality(10);
    assert_eq!(c.num_series, 6);
    assert_eq!(c.series_by_metric[0], ("big".to_string(), 5));
    assert_eq!(c.values_by_label[0], ("pod".to_string(), 5));
}

#[test]
fn a_read_sees_a_batch_whole_once_it_is_committed_before_the_read_starts() {
    let h = Head::new();
    let (a, _) = h.get_or_create(&ls(&[("__name__", "a")]));
    let (b, _) = h.get_or_create(&ls(&[("__name__", "b")]));
    let mut first = h.appender();
    first.append(&a, 1000, 1.0).unwrap();
    first.append(&b, 1000, 1.0).unwrap();
    first.commit();
    let seen = |s: &MemSeries, view: &ReadView| {
        let mut out = Vec::new();
        s.samples_seen(0, i64::MAX, view, &mut out);
        (out, s.last_seen(i64::MAX, view))
    };
    let mut second = h.appender();
    second.append(&a, 2000, 2.0).unwrap();
    let during = h.read_view();
    assert_eq!(seen(&a, &during), (vec![(1000, 1.0)], Some((1000, 1.0))), "half a batch is not seen");
    second.append(&b, 2000, 2.0).unwrap();
    second.commit();
    assert_eq!(seen(&b, &during), (vec![(1000, 1.0)], Some((1000, 1.0))), "committed after the read began");
    let after = h.read_view();
    for s in [&a, &b] {
        assert_eq!(seen(s, &after), (vec![(1000, 1.0), (2000, 2.0)], Some((2000, 2.0))));
    }
    assert_eq!(a.last_at_or_before(i64::MAX), Some((2000, 2.0)), "bookkeeping sees everything");
}

#[test]
fn a_dropped_appender_commits_and_single_appends_are_seen_at_once() {
    let h = Head::new();
    let (a, _) = h.get_or_create(&ls(&[("__name__", "a")]));
    {
        let mut app = h.appender();
        app.append(&a, 1000, 1.0).unwrap();
    }
    h.append(&a, 2000, 2.0).unwrap();
    let mut out = Vec::new();
    a.samples_seen(0, i64::MAX, &h.read_view(), &mut out);
    assert_eq!(out, [(1000, 1.0), (2000, 2.0)]);
}

/// Scrapers creating series, rules looking series up, queries and retention all at once
/// finish: every path takes the head's locks in one order. (Looking up by labels once
/// took the index before the table's shard, and deadlocked against two creators.)
#[test]
fn concurrent_creates_lookups_selects_and_truncation_do_not_deadlock() {
    let h = Arc::new(Head::new());
    let (done, finished) = std::sync::mpsc::channel();
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let (h, done) = (h.clone(), done.clone());
            std::thread::spawn(move || {
                for i in 0..20_000 {
                    let l = ls(&[("__name__", "x"), ("i", &(i % 3_000).to_string()), ("w", &(w % 2).to_string())]);
                    match w {
                        0 | 1 => drop(h.get_or_create(&l)),
                        2 => drop(h.get(&l)),
                        _ if i % 500 == 0 => drop(h.truncate(i64::MIN)),
                        _ => drop(h.select(&[Matcher::equal("i", (i % 3_000).to_string())])),
                    }
                }
                done.send(()).unwrap();
            })
        })
        .collect();
    for _ in &workers {
        finished.recv_timeout(std::time::Duration::from_secs(60)).expect("a worker is stuck: deadlock");
    }
    assert_eq!(h.num_series(), 6_000);
}

#[test]
fn samples_outside_the_time_limits_are_refused_and_counted_in_every_path() {
    let h = Head::new();
    h.set_time_limits(Some(std::time::Duration::from_secs(3600)), Some(std::time::Duration::from_secs(600)));
    let (s, _) = h.get_or_create(&ls(&[("__name__", "x")]));
    let now = cardinal_model::now_ms();
    let ten_years = 10 * 365 * 86_400_000;
    assert_eq!(h.append(&s, now + ten_years, 1.0), Err(AppendError::TooFarAhead));
    assert_eq!(h.append(&s, now - 2 * 3_600_000, 1.0), Err(AppendError::OutOfBounds));
    let mut app = h.appender();
    assert_eq!(app.append(&s, now + 11 * 60_000, 1.0), Err(AppendError::TooFarAhead));
    assert_eq!(app.append(&s, now + 60_000, 1.0), Ok(()), "a clock a minute ahead is tolerated");
    app.commit();
    assert_eq!(h.append_unlogged(&s, i64::MAX, 2.0, h.bounds()), Err(AppendError::TooFarAhead));
    assert_eq!(h.stats.too_far_ahead.load(Relaxed), 3);
    assert_eq!(h.stats.out_of_bounds.load(Relaxed), 1);
    assert_eq!(h.append(&s, now + 61_000, 2.0), Ok(()), "later samples still land");
}

#[test]
fn past_the_series_limit_new_series_are_refused_and_existing_ones_found() {
    let h = Head::new();
    h.set_series_limit(2);
    let a = ls(&[("__name__", "a")]);
    assert!(h.get_or_create_within_limit(&a).unwrap().1);
    assert!(h.get_or_create_within_limit(&ls(&[("__name__", "b")])).is_ok());
    let refused = h.get_or_create_within_limit(&ls(&[("__name__", "c")]));
    assert_eq!(refused.err(), Some(SeriesLimitReached { limit: 2 }));
    assert!(!h.get_or_create_within_limit(&a).unwrap().1, "an existing series is found at the limit");
    assert_eq!(h.check_room(1), Err(SeriesLimitReached { limit: 2 }));
    assert_eq!(h.check_room(0), Ok(()));
    assert_eq!(h.stats.series_refused.load(Relaxed), 2);
    // Rule and rollup outputs are created regardless.
    assert!(h.get_or_create(&ls(&[("__name__", "rule:out")])).1);
    h.set_series_limit(0);
    assert!(h.get_or_create_within_limit(&ls(&[("__name__", "c")])).is_ok());
}
