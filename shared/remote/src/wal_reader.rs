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
    /// segment. Samples before `resume` are skipped (they were sent before a restart).
    pub fn open(wal: &Wal, resume: Position, mut f: impl FnMut(Record)) -> io::Result<WalReader> {
        let (checkpoint, segments) = wal.files()?;
        if let Some(path) = checkpoint {
            segment::read(&path, |body| {
                if let Ok(rec) = record::decode(body) {
                    f(rec);
                }
            })?;
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
                return Ok(progressed | self.skip_missing(wal)?);
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
                        Ok(Record::Samples(_)) if before_resume => true,
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

    /// The segment we were reading is gone (a checkpoint replaced it): go on from the
    /// oldest one left.
    fn skip_missing(&mut self, wal: &Wal) -> io::Result<bool> {
        let (_, segments) = wal.files()?;
        match segments.into_iter().find(|s| *s > self.pos.segment) {
            Some(next) => {
                self.pos = Position { segment: next, offset: 0 };
                Ok(true)
            }
            None => Ok(false),
        }
    }
}

fn next_exists(wal: &Wal, seg: u32) -> bool {
    wal.segment_path(seg + 1).exists()
}

/// Whether bytes were appended since we reached `offset` (the writer cut a new segment
/// right after flushing more into this one).
fn still_growing(path: &Path, offset: u64) -> io::Result<bool> {
    Ok(std::fs::metadata(path)?.len() > offset)
}
