//! Writing through the storage contract (`cardinal-storage`'s `Appendable`): a batch over
//! the head's appender that finds or creates each series by its labels. Rules write this
//! way; scrapes keep each target's series handles and use the head's appender directly.

use super::Db;
use crate::head::{self, Head};
use cardinal_model::{Labels, Timestamp};
use cardinal_storage::{Appendable, Appender};

struct ByLabels<'a> {
    head: &'a Head,
    batch: head::Appender<'a>,
}

impl Appender for ByLabels<'_> {
    fn append(&mut self, labels: &Labels, t: Timestamp, v: f64) -> Result<(), String> {
        let (series, _) = self.head.get_or_create(labels);
        self.batch.append(&series, t, v).map_err(|e| e.to_string())
    }

    fn commit(self: Box<Self>) {
        self.batch.commit();
    }
}

impl Appendable for Head {
    fn appender(&self) -> Box<dyn Appender + '_> {
        Box::new(ByLabels { head: self, batch: Head::appender(self) })
    }
}

/// New samples go to the head (blocks are cut from it).
impl Appendable for Db {
    fn appender(&self) -> Box<dyn Appender + '_> {
        Appendable::appender(self.head.as_ref())
    }
}
