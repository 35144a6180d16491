//! The head as the storage contract's [`SeriesStore`]: handles are its `Arc<MemSeries>`,
//! behind the contract's opaque [`SeriesRef`], and a batch is its WAL-logged appender.

use super::{Appender, Head, MemSeries};
use cardinal_model::{Labels, Timestamp};
use cardinal_storage::{
    AppendError, ObservedSeries, ObserverMemo, SeriesAppender, SeriesLimitReached, SeriesRef, SeriesStore, TimeBounds,
};

/// A series of the head as its append observer sees it.
pub(super) struct Observed<'a> {
    pub head: &'a Head,
    pub series: &'a MemSeries,
}

impl ObservedSeries for Observed<'_> {
    fn label_hash(&self) -> u64 {
        self.series.label_hash()
    }

    fn labels(&self) -> Labels {
        self.head.labels(self.series)
    }

    fn memo(&self) -> &ObserverMemo {
        &self.series.memo
    }
}

fn handle((series, created): (super::SeriesRef, bool)) -> (SeriesRef, bool) {
    (SeriesRef::new(series), created)
}

/// The head's series behind a handle; one from another store is as good as removed.
fn mem(series: &SeriesRef) -> Result<&MemSeries, AppendError> {
    series.get::<MemSeries>().ok_or(AppendError::Removed)
}

impl SeriesAppender for Appender<'_> {
    fn append(&mut self, series: &SeriesRef, t: Timestamp, v: f64) -> Result<(), AppendError> {
        Appender::append(self, mem(series)?, t, v)
    }

    fn log_exemplar(&mut self, series: &SeriesRef, e: &cardinal_storage::exemplars::Exemplar) {
        if let Ok(s) = mem(series) {
            Appender::log_exemplar(self, s, e);
        }
    }

    fn commit(self: Box<Self>) {
        Appender::commit(*self);
    }
}

impl SeriesStore for Head {
    fn get_or_create(&self, labels: &Labels) -> (SeriesRef, bool) {
        handle(Head::get_or_create(self, labels))
    }

    fn get_or_create_within_limit(&self, labels: &Labels) -> Result<(SeriesRef, bool), SeriesLimitReached> {
        Head::get_or_create_within_limit(self, labels).map(handle)
    }

    fn get(&self, labels: &Labels) -> Option<SeriesRef> {
        Head::get(self, labels).map(SeriesRef::new)
    }

    fn check_room(&self, new: usize) -> Result<(), SeriesLimitReached> {
        Head::check_room(self, new)
    }

    fn bounds(&self) -> TimeBounds {
        Head::bounds(self)
    }

    fn last_sample(&self, series: &SeriesRef) -> Option<(Timestamp, f64)> {
        mem(series).ok()?.last_at_or_before(Timestamp::MAX)
    }

    fn batch(&self) -> Box<dyn SeriesAppender + '_> {
        Box::new(Head::appender(self))
    }

    fn write_error(&self) -> Option<String> {
        self.wal().and_then(|w| w.last_error.lock().clone())
    }

    fn sync(&self) -> std::io::Result<()> {
        self.wal().map_or(Ok(()), |w| w.flush())
    }
}
