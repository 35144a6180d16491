use super::*;
use cardinal_model::MatchOp;
use cardinal_model::{Labels, Matcher};
use cardinal_storage::{Queryable, Stored};

const H: i64 = 3_600_000;

fn opts(compaction: bool) -> DbOptions {
    DbOptions { compaction, retention: Duration::from_secs(10 * 86_400), ..DbOptions::default() }
}

fn labels(i: usize) -> Labels {
    Labels::from_pairs([("__name__", "m".to_string()), ("i", i.to_string())])
}

/// Appends `series` series at 15 s intervals over `[from, to)`, value = t/1000 + i.
fn fill(db: &Db, series: usize, from: i64, to: i64) -> usize {
    let mut n = 0;
    let refs: Vec<_> = (0..series).map(|i| db.head.get_or_create(&labels(i)).0).collect();
    let mut t = from;
    while t < to {
        let mut app = db.head.appender();
        for (i, s) in refs.iter().enumerate() {
            app.append(s, t, (t / 1000 + i as i64) as f64).unwrap();
            n += 1;
        }
        app.commit();
        t += 15_000;
    }
    n
}

fn all(db: &Db) -> Vec<SeriesSamples> {
    let mut v = db.select(&[Matcher::new(MatchOp::Equal, "__name__", "m").unwrap()], i64::MIN, i64::MAX);
    v.sort_by(|a, b| a.labels.cmp(&b.labels));
    v
}

fn count(db: &Db) -> usize {
    all(db).iter().map(|s| s.samples.len()).sum()
}

#[test]
fn a_restart_replays_the_wal() {
    let dir = tempfile::tempdir().unwrap();
    let written = {
        let db = Db::open(dir.path(), opts(false)).unwrap();
        let n = fill(&db, 5, 0, H);
        db.wal().flush().unwrap();
        n
    };
    let db = Db::open(dir.path(), opts(false)).unwrap();
    assert_eq!(count(&db), written);
    // New series after a restart get fresh ids, which a second restart keeps apart.
    let (s, created) = db.head.get_or_create(&labels(99));
    assert!(created);
    db.head.append(&s, H, 1.0).unwrap();
    db.wal().flush().unwrap();
    drop(db);
    let db = Db::open(dir.path(), opts(false)).unwrap();
    assert_eq!(count(&db), written + 1);
}

#[test]
fn compaction_keeps_every_sample_and_queries_span_blocks_and_head() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), opts(true)).unwrap();
    let written = fill(&db, 20, 0, 13 * H);
    let before = all(&db);
    db.maintain(13 * H).unwrap();
    let blocks = db.blocks();
    assert!(!blocks.is_empty(), "the head was compacted");
    let metas: Vec<_> = blocks.iter().map(|b| &b.meta).collect();
    assert!(blocks.iter().any(|b| b.meta.level > 1), "and blocks were merged: {metas:?}");
    assert!(db.head.min_valid() >= 10 * H);
    let after = all(&db);
    assert_eq!(count(&db), written);
    for (a, b) in before.iter().zip(&after) {
        assert_eq!(a.labels, b.labels);
        assert_eq!(a.samples, b.samples, "series {} is identical after compaction", a.labels);
    }
    // And after a restart: blocks reopened, the head's remainder replayed from the WAL,
    // with nothing duplicated across the boundary.
    drop(db);
    let db = Db::open(dir.path(), opts(true)).unwrap();
    let reopened = all(&db);
    assert_eq!(count(&db), written);
    assert_eq!(reopened[7].samples, after[7].samples);
}

/// Exemplars logged with a batch come back from the WAL after a restart, with their
/// series' labels, for the exemplar store; handed over once.
#[test]
fn logged_exemplars_are_replayed_for_the_exemplar_store() {
    use cardinal_storage::SeriesStore;
    use cardinal_storage::exemplars::Exemplar;
    let dir = tempfile::tempdir().unwrap();
    let trace = Labels::from_pairs([("trace_id", "abc")]);
    let exemplar = Exemplar { labels: trace, value: 0.5, t: 1_000 };
    {
        let db = Db::open(dir.path(), opts(false)).unwrap();
        let (s, _) = SeriesStore::get_or_create(&db, &labels(1));
        let mut batch = SeriesStore::batch(&db);
        batch.append(&s, 1_000, 1.0).unwrap();
        batch.log_exemplar(&s, &exemplar);
        batch.commit();
        db.wal().flush().unwrap();
    }
    let db = Db::open(dir.path(), opts(false)).unwrap();
    assert_eq!(db.take_replayed_exemplars(), [(labels(1), exemplar)]);
    assert!(db.take_replayed_exemplars().is_empty(), "handed over once");
    assert_eq!(count(&db), 1);
}

/// Maintenance times each step under Prometheus's names: blocks written, the head's
/// garbage collection, WAL truncations and fsyncs.
#[test]
fn maintenance_steps_are_timed_as_prometheus_reports_them() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), opts(true)).unwrap();
    fill(&db, 5, 0, 13 * H);
    db.maintain(13 * H).unwrap();
    db.fsync_wals().unwrap();
    let mut out = String::new();
    cardinal_storage::DbStatus::write_metrics(&db, &mut out);
    let value = |series: &str| -> f64 {
        let line = out.lines().find(|l| l.starts_with(series)).unwrap_or_else(|| panic!("{series} in {out}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    let blocks = db.stats.compactions.load(Relaxed) as f64;
    assert!(blocks >= 2.0, "blocks written and merged: {blocks}");
    assert_eq!(value("prometheus_tsdb_compaction_duration_seconds_count "), blocks);
    assert_eq!(value("prometheus_tsdb_compaction_duration_seconds_bucket{le=\"+Inf\"} "), blocks);
    assert!(value("prometheus_tsdb_head_gc_duration_seconds_count ") >= 1.0);
    assert!(value("prometheus_tsdb_wal_truncate_duration_seconds_count ") >= 1.0);
    assert_eq!(value("prometheus_tsdb_wal_fsync_duration_seconds_count "), 1.0);
    assert!(value("prometheus_tsdb_wal_fsync_duration_seconds{quantile=\"0.99\"} ") >= 0.0);
    assert!(out.contains("# TYPE prometheus_tsdb_compaction_duration_seconds histogram\n"));
    assert!(out.contains("# TYPE prometheus_tsdb_head_gc_duration_seconds summary\n"));
}

/// Each series' group and samples.
type GroupedSamples = Vec<(usize, Vec<(i64, f64)>)>;

/// Groups and each series' samples, as an aggregation reads them.
fn grouped(db: &Db, mint: i64, maxt: i64) -> (Vec<Labels>, GroupedSamples) {
    let m = [Matcher::new(MatchOp::Equal, "__name__", "m").unwrap()];
    // As `sum by (i) (…)` groups them.
    let keep = |name: &str| name == "i";
    let g = db.querier().select_grouped(&m, mint, maxt, &keep);
    let read = |(group, s): &(usize, Stored)| {
        let mut out = Vec::new();
        s.read(mint, maxt, &mut out);
        (*group, out)
    };
    (g.groups.clone(), g.series.iter().map(read).collect())
}

#[test]
fn series_group_alike_from_the_head_alone_and_from_blocks_and_head() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), opts(true)).unwrap();
    fill(&db, 6, 0, 13 * H);
    let (head_groups, head_series) = grouped(&db, 0, 13 * H);
    assert_eq!(head_groups.len(), 6, "one group a value of i");
    assert!(head_groups.iter().all(|l| l.len() == 1 && l.get("i").is_some()), "{head_groups:?}");
    db.maintain(13 * H).unwrap();
    assert!(!db.blocks().is_empty(), "the head was compacted");
    let (groups, series) = grouped(&db, 0, 13 * H);
    assert_eq!(groups, head_groups);
    assert_eq!(series, head_series, "every sample, read across blocks and head");
    // Within the head's range the head alone answers, grouped by symbols.
    let (recent_groups, recent) = grouped(&db, 12 * H, 13 * H);
    assert_eq!(recent_groups, head_groups);
    assert!(recent.iter().all(|(_, s)| s.len() == 240), "{:?}", recent.iter().map(|s| s.1.len()).collect::<Vec<_>>());
}

#[test]
fn samples_older_than_the_head_are_refused_once_compacted() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), opts(true)).unwrap();
    fill(&db, 1, 0, 4 * H);
    db.maintain(4 * H).unwrap();
    let (s, _) = db.head.get_or_create(&labels(5));
    assert_eq!(db.head.append(&s, H, 1.0), Err(crate::AppendError::OutOfBounds));
}

#[test]
fn retention_deletes_whole_old_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = opts(true);
    o.retention = Duration::from_secs(6 * 3600);
    let db = Db::open(dir.path(), o).unwrap();
    fill(&db, 3, 0, 20 * H);
    db.maintain(20 * H).unwrap();
    let oldest = db.blocks().first().map(|b| b.meta.min_time).unwrap();
    assert!(oldest >= 10 * H, "blocks before the window are gone (oldest starts at {}h)", oldest / H);
    let first = all(&db)[0].samples[0].0;
    assert!((10 * H..=14 * H).contains(&first), "queries start at the oldest kept block: {}h", first / H);
}

#[test]
fn size_retention_drops_the_oldest_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = opts(true);
    o.retention_bytes = Some(1);
    let db = Db::open(dir.path(), o).unwrap();
    fill(&db, 3, 0, 8 * H);
    db.maintain(8 * H).unwrap();
    assert!(db.blocks().is_empty(), "every block went over a 1-byte budget");
    assert!(count(&db) > 0, "the head is kept");
}

#[test]
fn a_damaged_block_is_set_aside_and_the_rest_opens() {
    let dir = tempfile::tempdir().unwrap();
    // A one-day retention caps blocks at 2.4 h: no merging, three 2 h blocks.
    let mut o = opts(true);
    o.retention = Duration::from_secs(86_400);
    {
        let db = Db::open(dir.path(), o.clone()).unwrap();
        fill(&db, 2, 0, 8 * H);
        db.maintain(8 * H).unwrap();
        assert_eq!(db.blocks().len(), 3);
    }
    let victim = std::fs::read_dir(dir.path().join("blocks")).unwrap().next().unwrap().unwrap().path();
    std::fs::write(victim.join("index"), b"garbage").unwrap();
    let db = Db::open(dir.path(), o).unwrap();
    assert_eq!(db.blocks().len(), 2);
    let damage = db.damage.lock().clone();
    assert!(damage.iter().any(|d| d.contains("moved aside")), "{damage:?}");
    assert!(count(&db) > 0);
}

#[test]
fn the_wal_is_truncated_behind_the_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = opts(true);
    o.wal_segment_size = 64 << 10;
    let db = Db::open(dir.path(), o.clone()).unwrap();
    fill(&db, 50, 0, 12 * H);
    let before = db.wal().disk_bytes();
    db.maintain(12 * H).unwrap();
    let after = db.wal().disk_bytes();
    assert!(after < before / 2, "WAL {before} → {after} bytes");
    let n = count(&db);
    drop(db);
    assert_eq!(count(&Db::open(dir.path(), o).unwrap()), n);
}

/// A far-future sample that got into the head (as one did through a scrape before time
/// bounds existed: the reported incident) must neither cut the current range into a
/// block early, which refused every later sample, nor make retention count from it,
/// which deleted every block.
#[test]
fn a_far_future_sample_neither_compacts_early_nor_deletes_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), opts(true)).unwrap();
    let now = 1000 * H + H / 2;
    fill(&db, 3, now - 8 * H, now);
    db.maintain(now).unwrap();
    let blocks = db.blocks().len();
    assert!(blocks > 0);
    let (evil, _) = db.head.get_or_create(&labels(50));
    db.head.append(&evil, now + 10 * 365 * 24 * H, 1.0).unwrap();
    let before = count(&db);
    db.maintain(now).unwrap();
    db.maintain(now + 60_000).unwrap();
    assert_eq!(db.blocks().len(), blocks, "no block deleted, none cut early");
    assert_eq!(count(&db), before, "every sample still answered");
    let (s, _) = db.head.get_or_create(&labels(0));
    assert_eq!(db.head.append(&s, now + 15_000, 1.0), Ok(()), "ingestion goes on");
}

#[test]
fn replay_leaves_out_samples_too_far_ahead_and_reports_them() {
    let dir = tempfile::tempdir().unwrap();
    let now = cardinal_model::now_ms();
    {
        let db = Db::open(dir.path(), opts(false)).unwrap();
        let (s, _) = db.head.get_or_create(&labels(1));
        db.head.append(&s, now, 1.0).unwrap();
        db.head.append(&s, now + 365 * 24 * H, 2.0).unwrap();
        db.wal().flush().unwrap();
    }
    let mut o = opts(false);
    o.max_ahead = Some(Duration::from_secs(600));
    let db = Db::open(dir.path(), o).unwrap();
    assert_eq!(all(&db)[0].samples, vec![(now, 1.0)]);
    let damage = db.damage.lock().clone();
    assert!(damage.iter().any(|d| d.contains("1 samples too far ahead")), "{damage:?}");
    let (s, _) = db.head.get_or_create(&labels(1));
    assert_eq!(db.head.append(&s, now + 1000, 3.0), Ok(()));
}

/// Appends through the ingest store (as federation and pushes do) `series`' samples at
/// 15 s intervals over `[from, to)` shifted by `offset`, value = t/1000 + i.
fn push(db: &Db, series: &[usize], from: i64, to: i64, offset: i64) -> Result<usize, crate::AppendError> {
    use cardinal_storage::SeriesStore;
    let mut batch = SeriesStore::batch(db);
    let mut n = 0;
    for &i in series {
        let (s, _) = SeriesStore::get_or_create(db, &labels(i));
        for t in (from..to).step_by(15_000).map(|t| t + offset) {
            batch.append(&s, t, (t / 1000 + i as i64) as f64)?;
            n += 1;
        }
    }
    batch.commit();
    Ok(n)
}

/// Every series' samples strictly in time order, and the total.
fn ordered_count(db: &Db) -> usize {
    let all = all(db);
    for s in &all {
        assert!(s.samples.windows(2).all(|w| w[0].0 < w[1].0), "{} is in order, each timestamp once", s.labels);
    }
    all.iter().map(|s| s.samples.len()).sum()
}

#[test]
fn samples_older_than_the_blocks_are_kept_written_out_and_merged_each_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), opts(true)).unwrap();
    let mut written = fill(&db, 2, 0, 4 * H);
    db.maintain(4 * H).unwrap();
    assert_eq!(db.head.min_valid(), 2 * H);
    // A backlog before the head's lower bound: new points between the stored ones, a
    // series the blocks lack, and points the blocks already hold (pushed twice).
    written += push(&db, &[0, 5], H, 2 * H, 7_500).unwrap();
    push(&db, &[1], H, 2 * H, 0).unwrap();
    assert_eq!(ordered_count(&db), written, "read from the late head beside the blocks");
    let blocks = db.blocks().len();
    db.maintain(4 * H).unwrap();
    // Written out as a block of its own, at once merged with the head's of that range.
    assert_eq!(db.blocks().len(), blocks);
    assert_eq!(db.blocks()[0].meta.level, 2);
    assert!(db.late_heads().iter().all(|l| l.head.num_series() == 0));
    assert_eq!(ordered_count(&db), written);
    drop(db);
    let db = Db::open(dir.path(), opts(true)).unwrap();
    assert_eq!(ordered_count(&db), written, "after a restart");
    assert_eq!(db.head.min_valid(), 2 * H, "a late block does not move the head's lower bound");

    // Late samples the process dies holding come back from their WAL, as blocks.
    written += push(&db, &[6], 0, H, 0).unwrap();
    cardinal_storage::SeriesStore::sync(&db).unwrap();
    drop(db);
    let db = Db::open(dir.path(), opts(true)).unwrap();
    assert_eq!(ordered_count(&db), written, "the late WAL replayed");

    // Once the 6 h window is complete, its overlapping blocks merge into one.
    written += fill(&db, 2, 4 * H, 8 * H);
    db.maintain(8 * H).unwrap();
    let blocks = db.blocks();
    let first: Vec<_> = blocks.iter().filter(|b| b.meta.min_time < 6 * H).collect();
    assert_eq!(first.len(), 1, "{:?}", blocks.iter().map(|b| &b.meta).collect::<Vec<_>>());
    assert_eq!(ordered_count(&db), written);
    let stored: u64 = blocks.iter().map(|b| b.meta.num_samples).sum();
    assert_eq!(stored as usize + count_head(&db), written, "the merged block holds each sample once");
}

/// Late samples are in the head's WAL too, under the head's series ids, for the
/// remote-write senders that tail it; a restart still holds each sample once.
#[test]
fn late_samples_are_logged_for_the_senders_and_replayed_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), opts(true)).unwrap();
    let mut written = fill(&db, 1, 0, 4 * H);
    db.maintain(4 * H).unwrap();
    written += push(&db, &[3], H, H + 60_000, 0).unwrap();
    cardinal_storage::SeriesStore::sync(&db).unwrap();
    let id = db.head.get(&labels(3)).unwrap().id;
    drop(db);
    let mut logged = Vec::new();
    let (wal, _) = Wal::open(&dir.path().join("wal"), DbOptions::default().wal_segment_size, |rec| {
        if let Record::Samples(s) = rec {
            logged.extend(s.into_iter().filter(|s| s.id == id).map(|s| s.t));
        }
    })
    .unwrap();
    drop(wal);
    assert_eq!(logged, [H, H + 15_000, H + 30_000, H + 45_000]);
    let db = Db::open(dir.path(), opts(true)).unwrap();
    assert_eq!(ordered_count(&db), written);
}

fn count_head(db: &Db) -> usize {
    let mut out = Vec::new();
    db.head
        .all_series()
        .iter()
        .map(|s| {
            out.clear();
            s.samples(db.head.min_valid(), i64::MAX, &mut out);
            out.len()
        })
        .sum()
}

#[test]
fn a_late_sample_before_the_retention_window_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let now = cardinal_model::now_ms();
    let mut o = opts(true);
    o.max_age = Some(Duration::from_secs(10 * 3600));
    let db = Db::open(dir.path(), o).unwrap();
    fill(&db, 1, now - 4 * H, now);
    db.maintain(now).unwrap();
    assert!(db.head.min_valid() > now - 4 * H);
    assert_eq!(push(&db, &[0], now - 11 * H, now - 11 * H + 1, 0), Err(crate::AppendError::OutOfBounds));
    assert_eq!(push(&db, &[0], now - 9 * H, now - 9 * H + 1, 0), Ok(1));
}

#[test]
fn the_parts_of_a_merge_a_crash_left_are_deleted_and_overlapping_blocks_kept() {
    let dir = tempfile::tempdir().unwrap();
    let blocks_dir = dir.path().join("blocks");
    std::fs::create_dir_all(&blocks_dir).unwrap();
    let block = |min: i64, max: i64, v: f64| {
        let chunks = crate::compact::encode_chunks(&[(min, v)]);
        let series = vec![crate::block::SeriesChunks { labels: labels(0), chunks }];
        let dir = crate::block::write_block(&blocks_dir, crate::block::BlockSpec::new(min, max, 1), series);
        Arc::new(Block::open(&dir.unwrap().unwrap()).unwrap())
    };
    let (a, b) = (block(0, 2 * H, 1.0), block(2 * H, 4 * H, 2.0));
    crate::compact::merge(&blocks_dir, &[a.clone(), b.clone()]).unwrap().unwrap();
    let (c, d) = (block(4 * H, 6 * H, 3.0), block(4 * H, 6 * H, 4.0));
    let db = Db::open(dir.path(), opts(true)).unwrap();
    let kept: Vec<_> = db.blocks().iter().map(|b| b.dir.clone()).collect();
    assert_eq!(kept.len(), 3, "{kept:?}");
    assert!(!a.dir.exists() && !b.dir.exists(), "the merged parts are gone");
    assert!(c.dir.exists() && d.dir.exists(), "two blocks of one range are both kept");
}

#[test]
fn a_batch_the_compaction_overtakes_sends_its_older_samples_beside_the_blocks() {
    use cardinal_storage::SeriesStore;
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), opts(true)).unwrap();
    let written = fill(&db, 1, 0, 4 * H);
    let (s, _) = SeriesStore::get_or_create(&db, &labels(3));
    let mut batch = SeriesStore::batch(&db);
    db.maintain(4 * H).unwrap();
    assert_eq!(db.head.min_valid(), 2 * H, "the head's lower bound moved after the batch began");
    assert_eq!(batch.append(&s, H, 1.0), Ok(()));
    batch.commit();
    assert_eq!(ordered_count(&db), written + 1);
}

#[test]
fn a_start_after_a_crash_is_not_clean_and_compactions_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), opts(true)).unwrap();
    assert!(db.stats.clean_start, "a first start is clean");
    fill(&db, 1, 0, 4 * H);
    db.maintain(4 * H).unwrap();
    assert_eq!(db.stats.compactions.load(Relaxed), 1);
    assert_eq!(db.stats.compactions_failed.load(Relaxed), 0);
    drop(db); // a crash: the lock file stays
    let db = Db::open(dir.path(), opts(true)).unwrap();
    assert!(!db.stats.clean_start);
    db.close_cleanly();
    drop(db);
    assert!(Db::open(dir.path(), opts(true)).unwrap().stats.clean_start);
}

#[test]
fn label_names_and_values_for_a_time_range_come_from_the_heads_and_blocks_it_meets() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), opts(true)).unwrap();
    fill(&db, 2, 0, 4 * H);
    db.maintain(4 * H).unwrap();
    let (s, _) = db.head.get_or_create(&labels(7));
    db.head.append(&s, 4 * H, 1.0).unwrap();
    let q = db.querier();
    assert_eq!(q.label_values("i", 0, H), ["0", "1"], "the block alone");
    assert_eq!(q.label_values("i", 3 * H, 5 * H), ["0", "1", "7"], "the head");
    assert!(q.label_values("i", 10 * H, 11 * H).is_empty(), "after everything");
    assert!(q.label_names(10 * H, 11 * H).is_empty());
    assert_eq!(q.label_names(i64::MIN, i64::MAX), ["__name__", "i"]);
}

#[test]
fn a_late_directory_that_cannot_be_read_is_set_aside_and_the_database_opens() {
    let dir = tempfile::tempdir().unwrap();
    drop(Db::open(dir.path(), opts(true)).unwrap());
    let stray = dir.path().join("late").join("ffff");
    std::fs::create_dir_all(&stray).unwrap();
    std::fs::create_dir(stray.join("00000000")).unwrap(); // a directory where a segment file goes
    let db = Db::open(dir.path(), opts(true)).unwrap();
    assert!(db.damage.lock().iter().any(|d| d.contains("late samples")), "{:?}", db.damage.lock());
    assert!(dir.path().join("late").join("ffff.damaged").exists());
}
