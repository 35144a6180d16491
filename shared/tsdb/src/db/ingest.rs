//! The database as the storage contract's [`SeriesStore`], the one federation scrapes and
//! pushes write through: the head's, except that a sample older than the head's lower
//! bound (the newest block's end) but inside the retention window goes to the late head
//! rather than being refused. Handles are the head's series. Late samples are also
//! logged in the head's WAL, under the head's series ids, for the remote-write senders
//! that tail it (so a partition's backfill goes onward too); the head's replay leaves
//! them out, as older than it takes, and the late head's own WAL keeps them.

use super::Db;
use crate::head::{self, MemSeries};
use crate::wal::RefSample;
use cardinal_model::{Labels, Timestamp};
use cardinal_storage::{AppendError, SeriesAppender, SeriesLimitReached, SeriesRef, SeriesStore, TimeBounds};

/// One batch: the head's appender, and the late samples, appended as one batch at commit.
struct Batch<'a> {
    db: &'a Db,
    head: head::Appender<'a>,
    /// Samples before this go to the late head (the head's lower bound at the batch's start).
    head_min: Timestamp,
    /// The time bounds late samples must keep (the retention window's start).
    late_bounds: TimeBounds,
    late: Vec<(Labels, Timestamp, f64)>,
    /// The same samples under the head's series ids, for the head's WAL.
    late_logged: Vec<RefSample>,
}

impl SeriesAppender for Batch<'_> {
    fn append(&mut self, series: &SeriesRef, t: Timestamp, v: f64) -> Result<(), AppendError> {
        if self.db.late.is_none() {
            return SeriesAppender::append(&mut self.head, series, t, v);
        }
        if t >= self.head_min {
            match SeriesAppender::append(&mut self.head, series, t, v) {
                // Compaction moved the head's lower bound past `t` since the batch began.
                Err(AppendError::OutOfBounds) => {}
                r => return r,
            }
        }
        self.late_bounds.check(t)?;
        let s = series.get::<MemSeries>().ok_or(AppendError::Removed)?;
        self.late.push((self.db.head.labels(s), t, v));
        self.late_logged.push(RefSample { id: s.id, t, v });
        Ok(())
    }

    fn log_exemplar(&mut self, series: &SeriesRef, e: &cardinal_storage::exemplars::Exemplar) {
        SeriesAppender::log_exemplar(&mut self.head, series, e);
    }

    fn commit(self: Box<Self>) {
        let Batch { db, head, late, late_logged, .. } = *self;
        head.commit();
        if let (Some(store), false) = (&db.late, late.is_empty()) {
            store.append(&late);
            db.wal.log_samples(&late_logged);
        }
    }
}

impl Db {
    /// The bounds of the whole store: the head's, reaching back to the retention
    /// window's start when late samples are taken.
    fn late_bounds(&self) -> TimeBounds {
        let head = self.head.bounds();
        match (&self.late, self.opts.max_age) {
            (None, _) => head,
            (Some(_), Some(age)) => TimeBounds { min: cardinal_model::now_ms() - age.as_millis() as i64, ..head },
            (Some(_), None) => TimeBounds { min: i64::MIN, ..head },
        }
    }
}

impl SeriesStore for Db {
    fn get_or_create(&self, labels: &Labels) -> (SeriesRef, bool) {
        SeriesStore::get_or_create(self.head.as_ref(), labels)
    }

    fn get_or_create_within_limit(&self, labels: &Labels) -> Result<(SeriesRef, bool), SeriesLimitReached> {
        SeriesStore::get_or_create_within_limit(self.head.as_ref(), labels)
    }

    fn get(&self, labels: &Labels) -> Option<SeriesRef> {
        SeriesStore::get(self.head.as_ref(), labels)
    }

    fn check_room(&self, new: usize) -> Result<(), SeriesLimitReached> {
        self.head.check_room(new)
    }

    fn bounds(&self) -> TimeBounds {
        self.late_bounds()
    }

    fn last_sample(&self, series: &SeriesRef) -> Option<(Timestamp, f64)> {
        SeriesStore::last_sample(self.head.as_ref(), series)
    }

    fn batch(&self) -> Box<dyn SeriesAppender + '_> {
        Box::new(Batch {
            db: self,
            head: self.head.appender(),
            head_min: self.head.min_valid(),
            late_bounds: self.late_bounds(),
            late: Vec::new(),
            late_logged: Vec::new(),
        })
    }

    fn write_error(&self) -> Option<String> {
        SeriesStore::write_error(self.head.as_ref()).or_else(|| self.late.as_ref()?.wal_error())
    }

    fn sync(&self) -> std::io::Result<()> {
        SeriesStore::sync(self.head.as_ref())?;
        self.late.as_ref().map_or(Ok(()), |l| l.sync())
    }
}
