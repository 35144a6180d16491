//! Tailing the WAL: what a remote-write sender reads instead of an in-memory queue, so
//! that while the remote is down nothing is dropped — the reader simply stays behind, and
//! the WAL keeps the segments it still needs (see `Wal::hold`).

use cardinal_wal::segment::{self, Stop};
use cardinal_wal::{Record, Wal, record};
use std::io;
use std::path::Path;

/// A position in the WAL: segment number and byte offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Position {
    pub segment: u32,
    pub offset: u64,
}

pub struct WalReader {
    pub pos: Position,
    /// Records before this position are read for their series only (already sent).
    pub resume: Position,
    pub corruptions: u64,
}

impl WalReader {
    /// Starts at the oldest data the WAL holds: the checkpoint's series, then the first
    /// segment. Samples and exemplars before `resume` are skipped (they were sent before a
    /// restart).
    pub fn open(wal: &Wal, resume: Position, mut f: impl FnMut(Record)) -> io::Result<WalReader> {
        let (checkpoint, segments) = wal.files()?;
        if let Some(path) = checkpoint {
            read_checkpoint(&path, &mut f)?;
        }
        let first = segments.first().copied().unwrap_or(1);
        Ok(WalReader { pos: Position { segment: first, offset: 0 }, resume, corruptions: 0 })
    }

    /// Reads on until `f` returns false or the end of what is written; returns whether
    /// anything was read.
    pub fn poll(&mut self, wal: &Wal, mut f: impl FnMut(Record) -> bool) -> io::Result<bool> {
        let mut progressed = false;
        loop {
            let path = wal.segment_path(self.pos.segment);
            if !path.exists() {
                return Ok(progressed | self.skip_missing(wal, &mut f)?);
            }
            let resume = self.resume;
            let seg = self.pos.segment;
            let mut skipped = 0;
            let (offset, stop) = segment::read_from(
                &path,
                self.pos.offset,
                |at, body| {
                    let before_resume = Position { segment: seg, offset: at } < resume;
                    match record::decode(body) {
                        Ok(Record::Samples(_) | Record::Exemplars(_)) if before_resume => true,
                        Ok(rec) => f(rec),
                        Err(_) => true,
                    }
                },
                |d| {
                    skipped += 1;
                    tracing::error!(segment = seg, offset = d.offset, reason = %d.reason, "damaged WAL record skipped by the sender");
                },
            )?;
            self.corruptions += skipped;
            progressed |= offset != self.pos.offset;
            self.pos.offset = offset;
            match stop {
                Stop::Paused => return Ok(true),
                Stop::Eof | Stop::Torn { .. } => {
                    // A finished segment is followed by the next; the current one may grow.
                    if !next_exists(wal, seg) || still_growing(&path, offset)? {
                        return Ok(progressed);
                    }
                }
                Stop::Corrupt { offset, reason } => {
                    self.corruptions += 1;
                    tracing::error!(segment = seg, offset, %reason, "damaged WAL record; the sender skips to the next segment");
                    if !next_exists(wal, seg) {
                        return Ok(progressed);
                    }
                }
            }
            self.pos = Position { segment: seg + 1, offset: 0 };
        }
    }

    /// The segment we were reading is gone (a checkpoint replaced it, the reader having
    /// fallen further behind than the WAL's hold limit): go on from the oldest one left,
    /// after the checkpoint's series, which include those the lost segments defined.
    fn skip_missing(&mut self, wal: &Wal, f: &mut impl FnMut(Record) -> bool) -> io::Result<bool> {
        let (checkpoint, segments) = wal.files()?;
        let Some(next) = segments.into_iter().find(|s| *s > self.pos.segment) else { return Ok(false) };
        if let Some(path) = checkpoint {
            read_checkpoint(&path, |rec| {
                f(rec);
            })?;
        }
        self.pos = Position { segment: next, offset: 0 };
        Ok(true)
    }
}

/// The records (series definitions) of a checkpoint.
fn read_checkpoint(path: &Path, mut f: impl FnMut(Record)) -> io::Result<()> {
    segment::read(path, |body| {
        if let Ok(rec) = record::decode(body) {
            f(rec);
        }
    })
    .map(drop)
}

fn next_exists(wal: &Wal, seg: u32) -> bool {
    wal.segment_path(seg + 1).exists()
}

/// Whether bytes were appended since we reached `offset` (the writer cut a new segment
/// right after flushing more into this one).
fn still_growing(path: &Path, offset: u64) -> io::Result<bool> {
    Ok(std::fs::metadata(path)?.len() > offset)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cardinal_model::Labels;
    use cardinal_wal::{RefExemplar, RefSample};

    /// A sender resuming after a restart reads the series defined before its position
    /// and only the samples and exemplars after it: what it sent is not sent twice.
    #[test]
    fn a_resumed_reader_skips_what_was_sent() {
        let dir = tempfile::tempdir().unwrap();
        let (wal, _) = Wal::open(dir.path(), 1 << 20, |_| {}).unwrap();
        let labels = Labels::from_pairs([("__name__", "s")]);
        let exemplar = |t| RefExemplar { id: 1, t, v: 1.0, labels: Labels::from_pairs([("trace_id", "x")]) };
        wal.log_series(&[(1, &labels)]);
        wal.log_samples(&[RefSample { id: 1, t: 1, v: 1.0 }]);
        wal.log_exemplars(&[exemplar(1)]);
        wal.flush().unwrap();
        let mut first = WalReader::open(&wal, Position::default(), |_| {}).unwrap();
        while first.poll(&wal, |_| true).unwrap() {}
        wal.log_samples(&[RefSample { id: 1, t: 2, v: 2.0 }]);
        wal.log_exemplars(&[exemplar(2)]);
        wal.flush().unwrap();
        let mut read = Vec::new();
        let mut resumed = WalReader::open(&wal, first.pos, |r| read.push(r)).unwrap();
        while resumed
            .poll(&wal, |r| {
                read.push(r);
                true
            })
            .unwrap()
        {}
        let times: Vec<(&str, i64)> = read
            .iter()
            .flat_map(|r| match r {
                Record::Series(_) => vec![("series", 0)],
                Record::Samples(s) => s.iter().map(|s| ("sample", s.t)).collect(),
                Record::Exemplars(e) => e.iter().map(|e| ("exemplar", e.t)).collect(),
            })
            .collect();
        assert_eq!(times, [("series", 0), ("sample", 2), ("exemplar", 2)]);
    }

    /// A reader left behind past the hold limit loses the segments that went, but goes on
    /// with the next one, knowing its series again from the checkpoint.
    #[test]
    fn a_reader_behind_truncated_segments_goes_on_from_the_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let (wal, _) = Wal::open(dir.path(), 4096, |_| {}).unwrap();
        let labels = |i: u64| Labels::from_pairs([("__name__", format!("s{i}"))]);
        let mut reader = WalReader::open(&wal, Position::default(), |_| {}).unwrap();
        wal.hold(1, reader.pos.segment);
        // Every series defined first, in the first segment; their samples fill the rest.
        (0..100u64).for_each(|i| wal.log_series(&[(i, &labels(i))]));
        wal.flush().unwrap();
        for i in 0..100u64 {
            wal.log_samples(&(0..20).map(|k| RefSample { id: i, t: (i * 20 + k) as i64, v: 1.0 }).collect::<Vec<_>>());
        }
        wal.flush().unwrap();
        wal.set_hold_limit(2 * 4096);
        assert!(wal.truncate(i64::MAX, || (0..100).map(|i| (i, labels(i))).collect()).unwrap() > 0);
        let (mut series, mut samples) = (std::collections::HashSet::new(), 0);
        let mut read = |rec| {
            match rec {
                Record::Series(list) => series.extend(list.into_iter().map(|(id, _)| id)),
                Record::Samples(list) => {
                    assert!(list.iter().all(|s| series.contains(&s.id)), "every sample's series known");
                    samples += list.len();
                }
                Record::Exemplars(_) => {}
            }
            true
        };
        while reader.poll(&wal, &mut read).unwrap() {}
        assert!(samples > 0 && samples < 2000, "the newest samples read, the dropped ones not: {samples}");
    }
}
