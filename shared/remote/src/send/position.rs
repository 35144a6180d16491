//! Where a sender is in the WAL, saved beside it (`remote-<name>.position`) after each
//! delivered round, so that a restart resumes there instead of resending or skipping.

use crate::wal_reader::Position;
use cardinal_wal::Wal;
use std::path::PathBuf;

pub(super) struct PositionFile(PathBuf);

impl PositionFile {
    pub fn new(wal: &Wal, name: &str) -> PositionFile {
        PositionFile(wal.dir().join(format!("remote-{name}.position")))
    }

    /// The saved position; without one, the end of what is written now, as Prometheus
    /// starts from the present.
    pub fn load(&self, wal: &Wal) -> Position {
        let text = std::fs::read_to_string(&self.0).unwrap_or_default();
        let mut parts = text.split_whitespace().map(str::parse::<u64>);
        match (parts.next(), parts.next()) {
            (Some(Ok(segment)), Some(Ok(offset))) => Position { segment: segment as u32, offset },
            _ => wal_end(wal),
        }
    }

    /// Replaces the file atomically (write, then rename).
    pub fn save(&self, pos: Position) {
        let tmp = self.0.with_extension("tmp");
        let saved = std::fs::write(&tmp, format!("{} {}\n", pos.segment, pos.offset))
            .and_then(|_| std::fs::rename(&tmp, &self.0));
        if let Err(e) = saved {
            tracing::warn!(error = %e, "could not save the remote-write position");
        }
    }
}

fn wal_end(wal: &Wal) -> Position {
    let last = wal.files().ok().and_then(|(_, s)| s.last().copied()).unwrap_or(1);
    let offset = std::fs::metadata(wal.segment_path(last)).map(|m| m.len()).unwrap_or(0);
    Position { segment: last, offset }
}
