//! Late samples: those older than the head's lower bound (the newest block's end), such as
//! a collector's backlog after a partition longer than the head spans. The head only
//! appends after its blocks, so they go to a small head of their own, made durable by
//! its own WAL under `late/<n>/`, which maintenance writes out as blocks beside those
//! already covering that time. Reads and merges combine overlapping blocks, each
//! timestamp once (`select.rs`, `compact::merge`).

use super::{Db, replay_wal};
use crate::compact;
use crate::head::Head;
use cardinal_model::{Labels, Timestamp};
use parking_lot::RwLock;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// A late head and the WAL directory that makes it durable.
pub(super) struct LateHead {
    pub head: Head,
    dir: PathBuf,
}

pub(super) struct Late {
    dir: PathBuf,
    segment_size: u64,
    limits: (Option<std::time::Duration>, Option<std::time::Duration>),
    /// Takes appends; swapped for a fresh one when written out.
    current: RwLock<Arc<LateHead>>,
    /// The one being written out: still read until its blocks are in the list, so no
    /// sample is out of sight in between.
    writing: RwLock<Option<Arc<LateHead>>>,
    /// Samples kept, for `cardinal_late_samples_appended_total`.
    pub appended: AtomicU64,
}

impl Late {
    /// Writes out whatever late heads a previous run left (their WAL replayed) as blocks
    /// under `blocks_dir`, then starts an empty one. One that cannot be read or written
    /// out is reported and set aside (`.damaged`), never a reason not to start.
    pub fn open(dir: &Path, blocks_dir: &Path, db: &super::DbOptions) -> io::Result<(Late, Vec<String>)> {
        std::fs::create_dir_all(dir)?;
        let limits = (db.max_age, db.max_ahead);
        let mut damage = Vec::new();
        for e in std::fs::read_dir(dir)? {
            let path = e?.path();
            if !path.is_dir() || path.extension().is_some_and(|x| x == "damaged") {
                continue;
            }
            let recovered = LateHead::open(&path, db.wal_segment_size, limits)
                .and_then(|left| write_out(&left.head, blocks_dir, db.block_range).map(|_| left));
            match recovered {
                Ok(left) => left.remove(),
                Err(err) => {
                    damage.push(format!("late samples in {}: {err}; moved aside", path.display()));
                    std::fs::rename(&path, path.with_extension("damaged"))?;
                }
            }
        }
        let current = LateHead::open(&next_dir(dir), db.wal_segment_size, limits)?;
        let late = Late {
            dir: dir.to_path_buf(),
            segment_size: db.wal_segment_size,
            limits,
            current: RwLock::new(Arc::new(current)),
            writing: RwLock::new(None),
            appended: AtomicU64::new(0),
        };
        Ok((late, damage))
    }

    /// Appends as one logged batch; a sample its series already has a newer one of is
    /// counted in the late head's stats and left out.
    pub fn append(&self, samples: &[(Labels, Timestamp, f64)]) {
        let late = self.current.read();
        let mut batch = late.head.appender();
        let mut kept = 0;
        for (labels, t, v) in samples {
            let (series, _) = late.head.get_or_create(labels);
            kept += u64::from(batch.append(&series, *t, *v).is_ok());
        }
        batch.commit();
        self.appended.fetch_add(kept, Relaxed);
    }

    /// The late heads a read must see: the one taking appends and the one being written out.
    pub fn heads(&self) -> Vec<Arc<LateHead>> {
        let current = self.current.read().clone();
        std::iter::once(current).chain(self.writing.read().clone()).collect()
    }

    pub fn wal_error(&self) -> Option<String> {
        self.current.read().head.wal().and_then(|w| w.last_error.lock().clone())
    }

    pub fn sync(&self) -> io::Result<()> {
        self.current.read().head.wal().map_or(Ok(()), |w| w.flush())
    }

    pub fn fsync(&self) -> io::Result<()> {
        self.current.read().head.wal().map_or(Ok(()), |w| w.sync())
    }

    pub fn disk_bytes(&self) -> u64 {
        self.heads().iter().filter_map(|l| l.head.wal()).map(|w| w.disk_bytes()).sum()
    }
}

impl LateHead {
    fn open(
        dir: &Path,
        segment_size: u64,
        limits: (Option<std::time::Duration>, Option<std::time::Duration>),
    ) -> io::Result<LateHead> {
        let head = Head::new();
        head.set_time_limits(limits.0, limits.1);
        let (wal, _, _) = replay_wal(dir, segment_size, &head)?;
        head.attach_wal(Arc::new(wal));
        Ok(LateHead { head, dir: dir.to_path_buf() })
    }

    /// Deletes its WAL, once its samples are in blocks.
    fn remove(&self) {
        if let Err(e) = std::fs::remove_dir_all(&self.dir) {
            tracing::error!(dir = %self.dir.display(), error = %e, "could not delete a late head's WAL");
        }
    }
}

/// A new late head's directory: named by the clock, so a later one sorts after.
fn next_dir(dir: &Path) -> PathBuf {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    (0u32..).map(|n| dir.join(format!("{:x}", nanos + u128::from(n)))).find(|p| !p.exists()).expect("a free name")
}

/// Writes `head`'s samples out as level-1 blocks, one per aligned block range they fall
/// in, each ending just after its newest sample: a late block never reaches past the
/// samples it holds, so it can never move the head's lower bound over samples the head
/// still has.
fn write_out(head: &Head, blocks_dir: &Path, range: i64) -> io::Result<Vec<PathBuf>> {
    let Some((min, max)) = head.time_range() else { return Ok(Vec::new()) };
    let mut written = Vec::new();
    let mut start = min.div_euclid(range) * range;
    while start <= max {
        let end = (start + range).min(max + 1);
        written.extend(compact::head_to_block(head, blocks_dir, start, end)?);
        start += range;
    }
    Ok(written)
}

impl Db {
    /// Writes the late head out as blocks, if it holds anything, and starts a fresh one.
    /// One that failed to be written (a full disk) stays readable and is retried first.
    pub(super) fn write_out_late(&self) -> io::Result<()> {
        let Some(late) = &self.late else { return Ok(()) };
        let pending = late.writing.read().clone();
        let old = match pending {
            Some(old) => old,
            None if late.current.read().head.num_series() == 0 => return Ok(()),
            None => {
                let fresh = Arc::new(LateHead::open(&next_dir(&late.dir), late.segment_size, late.limits)?);
                let old = std::mem::replace(&mut *late.current.write(), fresh);
                *late.writing.write() = Some(old.clone());
                old
            }
        };
        let dirs = write_out(&old.head, &self.dir.join("blocks"), self.opts.block_range)?;
        let blocks = dirs.iter().map(|d| self.open_written(d)).collect::<io::Result<Vec<_>>>()?;
        tracing::info!(blocks = blocks.len(), series = old.head.num_series(), "late samples written out");
        {
            let mut list = self.blocks.write();
            list.extend(blocks);
            list.sort_by_key(|b| b.meta.min_time);
        }
        *late.writing.write() = None;
        old.remove();
        Ok(())
    }
}
