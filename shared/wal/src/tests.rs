use super::*;

fn labels(i: u64) -> Labels {
    Labels::from_pairs([("__name__", "m".to_string()), ("i", i.to_string())])
}

fn replay(dir: &Path) -> (Vec<Record>, ReplayReport) {
    let mut got = Vec::new();
    let (_, report) = Wal::open(dir, DEFAULT_SEGMENT_SIZE, |r| got.push(r)).unwrap();
    (got, report)
}

fn samples_in(records: &[Record]) -> Vec<RefSample> {
    records
        .iter()
        .flat_map(|r| match r {
            Record::Samples(s) => s.clone(),
            Record::Series(_) | Record::Exemplars(_) => Vec::new(),
        })
        .collect()
}

#[test]
fn what_is_flushed_is_replayed_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = Wal::open(dir.path(), DEFAULT_SEGMENT_SIZE, |_| {}).unwrap();
    wal.log_series(&[(1, &labels(1))]);
    wal.log_samples(&[RefSample { id: 1, t: 10, v: 1.5 }, RefSample { id: 1, t: 20, v: f64::NAN }]);
    wal.flush().unwrap();
    drop(wal);
    let (got, report) = replay(dir.path());
    assert!(report.damage.is_empty(), "{:?}", report.damage);
    assert_eq!(got[0], Record::Series(vec![(1, labels(1))]));
    let s = samples_in(&got);
    assert_eq!((s[0].t, s[0].v, s[1].t), (10, 1.5, 20));
    assert!(s[1].v.is_nan());
}

/// A `kill -9` runs no destructor: what was logged must already be in the file.
#[test]
fn a_logged_batch_survives_the_process_dying_without_a_flush() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = Wal::open(dir.path(), DEFAULT_SEGMENT_SIZE, |_| {}).unwrap();
    wal.log_series(&[(1, &labels(1)), (2, &labels(2))]);
    wal.log_samples(&[RefSample { id: 1, t: 10, v: 1.0 }, RefSample { id: 2, t: 10, v: 2.0 }]);
    std::mem::forget(wal);
    let (got, _) = replay(dir.path());
    assert_eq!(got[0], Record::Series(vec![(1, labels(1)), (2, labels(2))]));
    assert_eq!(samples_in(&got).len(), 2);
}

#[test]
fn segments_are_cut_and_old_ones_truncated_behind_a_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = Wal::open(dir.path(), 4096, |_| {}).unwrap();
    for i in 0..100u64 {
        wal.log_series(&[(i, &labels(i))]);
        wal.log_samples(&(0..20).map(|k| RefSample { id: i, t: (i * 20 + k) as i64, v: 1.0 }).collect::<Vec<_>>());
    }
    assert!(wal.segments() > 3, "{} segments", wal.segments());
    // The head keeps series 90.. (samples from t=1800 on).
    let removed = wal.truncate(1800, || (90..100).map(|i| (i, labels(i))).collect()).unwrap();
    assert!(removed > 0);
    wal.flush().unwrap();
    drop(wal);
    let (got, report) = replay(dir.path());
    assert!(report.damage.is_empty(), "{:?}", report.damage);
    let series: Vec<u64> = got
        .iter()
        .flat_map(|r| if let Record::Series(s) = r { s.iter().map(|x| x.0).collect() } else { vec![] })
        .collect();
    for i in 90..100 {
        assert!(series.contains(&i), "series {i} survives truncation");
    }
    let samples = samples_in(&got);
    for t in 1800..2000 {
        assert!(samples.iter().any(|s| s.t == t), "sample at {t} survives truncation");
    }
    assert!(samples.len() < 2000, "old samples went with their segments");
}

#[test]
fn a_torn_tail_is_truncated_and_writing_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = Wal::open(dir.path(), DEFAULT_SEGMENT_SIZE, |_| {}).unwrap();
    wal.log_series(&[(1, &labels(1))]);
    wal.log_samples(&[RefSample { id: 1, t: 10, v: 1.0 }]);
    wal.log_samples(&[RefSample { id: 1, t: 20, v: 2.0 }]);
    wal.flush().unwrap();
    drop(wal);
    let seg = dir.path().join("00000001");
    let len = fs::metadata(&seg).unwrap().len();
    OpenOptions::new().write(true).open(&seg).unwrap().set_len(len - 3).unwrap();

    let mut got = Vec::new();
    let (wal, report) = Wal::open(dir.path(), DEFAULT_SEGMENT_SIZE, |r| got.push(r)).unwrap();
    assert_eq!(report.damage.len(), 1, "{:?}", report.damage);
    assert!(report.damage[0].contains("cut off the torn tail"), "{}", report.damage[0]);
    assert_eq!(samples_in(&got).len(), 1, "the whole record before the tear is kept");
    let kept = fs::read_dir(dir.path().join("damaged")).unwrap().count();
    assert_eq!(kept, 1, "the torn bytes are kept aside");
    wal.log_samples(&[RefSample { id: 1, t: 30, v: 3.0 }]);
    wal.flush().unwrap();
    drop(wal);
    let (got, report) = replay(dir.path());
    assert!(report.damage.is_empty(), "the repaired WAL reads clean: {:?}", report.damage);
    assert_eq!(samples_in(&got).iter().map(|s| s.t).collect::<Vec<_>>(), [10, 30]);
}

/// The reported incident: bytes flipped at a third, half and two thirds of a segment cost
/// the records they are in, and nothing after them, in the newest segment as in older
/// ones; the damaged bytes stay on disk and the segment is not cut.
#[test]
fn flipped_bytes_cost_only_the_records_they_touch() {
    for segment_size in [512, DEFAULT_SEGMENT_SIZE] {
        let dir = tempfile::tempdir().unwrap();
        let (wal, _) = Wal::open(dir.path(), segment_size, |_| {}).unwrap();
        wal.log_series(&[(1, &labels(1))]);
        for t in 0..200 {
            wal.log_samples(&[RefSample { id: 1, t, v: t as f64 }]);
        }
        wal.flush().unwrap();
        drop(wal);
        let first = dir.path().join("00000001");
        let mut data = fs::read(&first).unwrap();
        let n = data.len();
        for at in [n / 3, n / 2, 2 * n / 3] {
            data[at] ^= 0xff;
        }
        fs::write(&first, &data).unwrap();
        let (got, report) = replay(dir.path());
        assert_eq!(report.damage.len(), 3, "{:?}", report.damage);
        assert!(report.damage.iter().all(|d| d.contains("skipped that record's")), "{:?}", report.damage);
        let ts: Vec<i64> = samples_in(&got).iter().map(|s| s.t).collect();
        assert_eq!(ts.len(), 197, "three one-sample records lost, no more ({segment_size} B segments)");
        assert_eq!(fs::metadata(&first).unwrap().len(), n as u64, "the segment is not cut");
        assert_eq!(fs::read_dir(dir.path().join("damaged")).unwrap().count(), 3);
    }
}

#[test]
fn series_logged_one_by_one_are_written_together_before_the_samples_that_follow() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = Wal::open(dir.path(), DEFAULT_SEGMENT_SIZE, |_| {}).unwrap();
    for i in 1..=50 {
        wal.log_series(&[(i, &labels(i))]);
    }
    wal.log_samples(&[RefSample { id: 50, t: 10, v: 1.0 }]);
    // Defined after the last samples: written by the flush alone.
    wal.log_series(&[(51, &labels(51))]);
    wal.flush().unwrap();
    drop(wal);
    let (got, _) = replay(dir.path());
    assert_eq!(got.len(), 3, "one series record, one samples record, one series record: {got:?}");
    assert_eq!(got[0], Record::Series((1..=50).map(|i| (i, labels(i))).collect()));
    assert_eq!(samples_in(&got[1..2]), [RefSample { id: 50, t: 10, v: 1.0 }]);
    assert_eq!(got[2], Record::Series(vec![(51, labels(51))]));
}

#[test]
fn pending_series_survive_a_segment_cut() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = Wal::open(dir.path(), DEFAULT_SEGMENT_SIZE, |_| {}).unwrap();
    wal.log_samples(&[RefSample { id: 0, t: 1, v: 1.0 }]);
    wal.log_series(&[(7, &labels(7))]);
    // The segment holds only old samples, so truncation cuts it with the series pending.
    wal.truncate(100, Vec::new).unwrap();
    wal.log_samples(&[RefSample { id: 7, t: 200, v: 2.0 }]);
    wal.flush().unwrap();
    drop(wal);
    let (got, _) = replay(dir.path());
    let at = got.iter().position(|r| *r == Record::Series(vec![(7, labels(7))])).expect("series 7 replayed");
    assert!(samples_in(&got[at..]).contains(&RefSample { id: 7, t: 200, v: 2.0 }));
}

/// A reader far behind keeps at most the hold limit's bytes of segments the head no
/// longer needs: the newest of them; older ones go, counted, and a checkpoint keeps the
/// series they defined.
#[test]
fn a_reader_holds_segments_only_up_to_the_hold_limit() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = Wal::open(dir.path(), 4096, |_| {}).unwrap();
    wal.hold(7, 1);
    for i in 0..100u64 {
        wal.log_series(&[(i, &labels(i))]);
        wal.log_samples(&(0..20).map(|k| RefSample { id: i, t: (i * 20 + k) as i64, v: 1.0 }).collect::<Vec<_>>());
    }
    let before = wal.segments();
    assert!(before > 4, "{before} segments");
    let live = || (0..100).map(|i| (i, labels(i))).collect();
    assert_eq!(wal.truncate(i64::MAX, live).unwrap(), 0, "no limit: the reader's hold keeps them all");
    wal.set_hold_limit(2 * 4096);
    let removed = wal.truncate(i64::MAX, live).unwrap();
    let kept: u64 = wal.files().unwrap().1.iter().map(|s| std::fs::metadata(wal.segment_path(*s)).unwrap().len()).sum();
    assert!(removed > 0 && kept <= 3 * 4096, "{removed} removed, {kept} bytes kept");
    assert_eq!(wal.stats.held_segments_dropped.load(Relaxed), removed as u64);
    let (checkpoint, _) = wal.files().unwrap();
    assert!(checkpoint.is_some(), "the series of what went are in a checkpoint");
}
