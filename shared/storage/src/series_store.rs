//! What writers that keep handles on their series need of a database (its head): scrape
//! loops, the remote-write receiver, profile rules and the rollup engine. Prometheus's
//! `storage.Appender` with its `SeriesRef`, plus the head's limits and the observer that
//! streaming rollups hang on every ingest path. `cardinal-tsdb`'s head implements it.

use cardinal_model::{Labels, Timestamp};
use std::any::Any;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64};

/// Why a sample was not appended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendError {
    /// Older than the newest sample of the series.
    OutOfOrder,
    /// Same timestamp as the newest sample, different value.
    Duplicate,
    /// The series was removed by retention; look it up again.
    Removed,
    /// Older than the store takes: that time range is already in a block, or it is older
    /// than the retention window.
    OutOfBounds,
    /// Further ahead of the wall clock than the store's tolerance: one such sample would
    /// otherwise become its newest time.
    TooFarAhead,
}

impl std::fmt::Display for AppendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AppendError::OutOfOrder => "out of order sample",
            AppendError::Duplicate => "duplicate sample for timestamp",
            AppendError::Removed => "series removed from the head",
            AppendError::OutOfBounds => "out of bounds",
            AppendError::TooFarAhead => "out of bounds: timestamp is too far in the future",
        })
    }
}

/// Whether `(t, v)` may follow a series' newest sample `last`: `Ok(true)` to append,
/// `Ok(false)` for the same sample again (accepted as a no-op, as in Prometheus), or why not.
/// The one rule of order both appends and the remote-write receiver's pre-check apply.
pub fn follows(last: (Timestamp, f64), t: Timestamp, v: f64) -> Result<bool, AppendError> {
    match t.cmp(&last.0) {
        std::cmp::Ordering::Less => Err(AppendError::OutOfOrder),
        std::cmp::Ordering::Equal if v.to_bits() == last.1.to_bits() => Ok(false),
        std::cmp::Ordering::Equal => Err(AppendError::Duplicate),
        std::cmp::Ordering::Greater => Ok(true),
    }
}

/// A new series refused because the store holds as many as its limit allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeriesLimitReached {
    pub limit: usize,
}

impl std::fmt::Display for SeriesLimitReached {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "head series limit of {} reached (--storage.tsdb.head-series-limit)", self.limit)
    }
}

/// The sample times the store accepts at one moment: nothing before the range blocks
/// hold or the retention window, nothing further ahead of the wall clock than the
/// tolerance. Worked out once per append batch, not per sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeBounds {
    pub min: Timestamp,
    pub max: Timestamp,
}

impl TimeBounds {
    pub const ANY: TimeBounds = TimeBounds { min: i64::MIN, max: i64::MAX };

    pub fn check(&self, t: Timestamp) -> Result<(), AppendError> {
        if t < self.min {
            Err(AppendError::OutOfBounds)
        } else if t > self.max {
            Err(AppendError::TooFarAhead)
        } else {
            Ok(())
        }
    }
}

/// A handle on one series of a [`SeriesStore`], kept by writers (a scrape loop's cache
/// of its target's series) so that appending to a known series needs no lookup. Opaque:
/// only the store that gave it out reads it.
#[derive(Clone)]
pub struct SeriesRef(Arc<dyn Any + Send + Sync>);

impl SeriesRef {
    pub fn new<T: Any + Send + Sync>(series: Arc<T>) -> SeriesRef {
        SeriesRef(series)
    }

    /// The store's own series, when the handle is one of its.
    pub fn get<T: Any>(&self) -> Option<&T> {
        self.0.downcast_ref()
    }
}

/// Where an [`AppendObserver`] keeps what it worked out about a series, in the series
/// itself, so that the next sample finds it without a lookup (for rollups: whether the
/// series is an input under the current rules, and its slot in the one rule it feeds).
#[derive(Default, Debug)]
pub struct ObserverMemo {
    pub tag: AtomicU64,
    pub slot: AtomicU32,
}

/// A series as an [`AppendObserver`] sees one of its samples.
pub trait ObservedSeries {
    /// The stable hash of its labels: the same in every process and release.
    fn label_hash(&self) -> u64;
    /// Its labels, built on each call (read them once).
    fn labels(&self) -> Labels;
    fn memo(&self) -> &ObserverMemo;
}

/// Sees every sample the store accepts (once its log is replayed): where streaming
/// rollups attach to every ingest path (scrape, remote write, rules) at once.
pub trait AppendObserver: Send + Sync {
    fn observe(&self, series: &dyn ObservedSeries, t: Timestamp, v: f64);
}

/// One batch of appends by handle, made visible to readers (and logged) together.
pub trait SeriesAppender {
    fn append(&mut self, series: &SeriesRef, t: Timestamp, v: f64) -> Result<(), AppendError>;
    /// Logs an exemplar the exemplar store took, for the remote-write senders reading the
    /// store's log (`send_exemplars`); the exemplar store itself is kept apart, in memory.
    fn log_exemplar(&mut self, series: &SeriesRef, e: &crate::exemplars::Exemplar);
    fn commit(self: Box<Self>);
}

/// A database writers keep series handles on (the head).
pub trait SeriesStore: Send + Sync {
    /// The series with exactly these labels, created if new; the bool says whether it was.
    fn get_or_create(&self, labels: &Labels) -> (SeriesRef, bool);

    /// [`SeriesStore::get_or_create`] for series from outside (scrapes, pushes, profiles):
    /// a new one is refused once the store is at its series limit.
    fn get_or_create_within_limit(&self, labels: &Labels) -> Result<(SeriesRef, bool), SeriesLimitReached>;

    /// The series with exactly these labels, if the store has it.
    fn get(&self, labels: &Labels) -> Option<SeriesRef>;

    /// Whether `new` more series fit under the series limit.
    fn check_room(&self, new: usize) -> Result<(), SeriesLimitReached>;

    /// The sample times accepted now.
    fn bounds(&self) -> TimeBounds;

    /// The newest sample of a series, committed or not.
    fn last_sample(&self, series: &SeriesRef) -> Option<(Timestamp, f64)>;

    fn batch(&self) -> Box<dyn SeriesAppender + '_>;

    /// Why the store's log last failed to write, if it did: writes are then refused
    /// rather than acknowledged and lost.
    fn write_error(&self) -> Option<String>;

    /// Makes what was committed so far durable (the log flushed to disk).
    fn sync(&self) -> std::io::Result<()>;
}
