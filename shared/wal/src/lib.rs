//! The write-ahead log: every series definition and sample the head accepts, appended to
//! numbered segment files and replayed into a fresh head at start. A committed batch is
//! handed to the OS as it is logged, so a killed process loses nothing it had accepted
//! (as Prometheus's WAL, which writes out its page at the end of every record); the
//! segment is fsynced on the flush interval and at every cut, against power loss.
//!
//! Truncation drops whole segments whose samples are all older than what the head keeps;
//! the series those segments defined and the head still holds are first written to a
//! checkpoint (`checkpoint.N`, read before segment N), as Prometheus does.
//!
//! Damage is survived, never fatal, and costs only what it touched: a damaged record is
//! stepped over (the framing lets the reader find the next intact one; see [`segment`]),
//! and a torn tail in the newest segment (a crash mid-write) is cut off. Either way the
//! damaged bytes are first copied to `damaged/` beside the segments, for inspection, and
//! reported.
//!
//! Its own crate so that the remote-write sender, which tails it as Prometheus's does,
//! depends on the log and not on the database; [`encoding`] (varints, label sets) is the
//! binary form records and the TSDB's block index share.

pub mod encoding;
pub mod record;
pub mod segment;

use cardinal_model::{Labels, Timestamp};
use parking_lot::Mutex;
pub use record::{Record, RefExemplar, RefSample};
use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

pub const DEFAULT_SEGMENT_SIZE: u64 = 128 << 20;
const CHECKPOINT_PREFIX: &str = "checkpoint.";
/// Pending series definitions are written once they reach this size, whatever comes next.
const PENDING_SERIES_BYTES: usize = 1 << 20;

#[derive(Default)]
pub struct WalStats {
    pub records: AtomicU64,
    pub bytes: AtomicU64,
    pub fsyncs: AtomicU64,
    pub write_failures: AtomicU64,
    pub corruptions: AtomicU64,
    pub truncations: AtomicU64,
    /// Segments truncated that a reader (a remote-write sender) had not read yet, past
    /// the hold limit.
    pub held_segments_dropped: AtomicU64,
}

/// What replay found.
#[derive(Debug, Default)]
pub struct ReplayReport {
    pub records: u64,
    /// One line per damaged file: what was skipped and why.
    pub damage: Vec<String>,
}

struct Writer {
    file: BufWriter<File>,
    seg: u32,
    size: u64,
    max_t: Timestamp,
    /// The record being written, reused from one record to the next.
    record: Vec<u8>,
    /// Series definitions not yet written, and how many: they go out as one record just
    /// before the next samples record (so before any sample of theirs), or on a flush.
    /// One record per new series would leave each uncompressed, several times larger.
    series: Vec<u8>,
    series_n: usize,
}

pub struct Wal {
    dir: PathBuf,
    segment_size: u64,
    w: Mutex<Writer>,
    /// Closed segments with the newest sample time each holds.
    closed: Mutex<BTreeMap<u32, Timestamp>>,
    pub stats: WalStats,
    pub last_error: Mutex<Option<String>>,
    /// Segments readers (remote-write senders) still need: truncation keeps them.
    holds: Mutex<std::collections::HashMap<u64, u32>>,
    /// How many bytes of segments truncation keeps for readers alone (0: no bound), so
    /// that a remote down for days cannot fill the disk.
    hold_limit: AtomicU64,
    /// The newest sample time logged (replayed ones included): how far a reader is behind.
    newest_sample: AtomicI64,
}

impl Wal {
    /// Opens (creating) the WAL in `dir`, replaying everything readable into `apply`,
    /// then starts a new segment for writing.
    pub fn open(dir: &Path, segment_size: u64, mut apply: impl FnMut(Record)) -> io::Result<(Wal, ReplayReport)> {
        fs::create_dir_all(dir)?;
        let (checkpoint, segments) = list(dir)?;
        let mut report = ReplayReport::default();
        let stats = WalStats::default();
        if let Some((n, path)) = &checkpoint {
            read_file(path, &mut report, &stats, &mut apply, false)?;
            for (seg, p) in segments.iter().filter(|(s, _)| s < n) {
                fs::remove_file(p)?;
                tracing::debug!(segment = seg, "removed a segment older than the checkpoint");
            }
        }
        let first_kept = checkpoint.as_ref().map_or(0, |(n, _)| *n);
        let mut closed = BTreeMap::new();
        let kept: Vec<_> = segments.into_iter().filter(|(s, _)| *s >= first_kept).collect();
        for (i, (seg, path)) in kept.iter().enumerate() {
            let is_last = i + 1 == kept.len();
            let max_t = read_file(path, &mut report, &stats, &mut apply, is_last)?;
            closed.insert(*seg, max_t);
        }
        let next = kept.last().map_or(first_kept.max(1), |(s, _)| s + 1);
        let w = Writer::create(dir, next)?;
        let newest = closed.values().copied().max().unwrap_or(i64::MIN);
        let wal = Wal {
            dir: dir.to_path_buf(),
            segment_size,
            w: Mutex::new(w),
            closed: Mutex::new(closed),
            stats,
            last_error: Mutex::new(None),
            holds: Mutex::new(std::collections::HashMap::new()),
            hold_limit: AtomicU64::new(0),
            newest_sample: AtomicI64::new(newest),
        };
        Ok((wal, report))
    }

    pub fn log_series(&self, series: &[(u64, &Labels)]) {
        let mut w = self.w.lock();
        for (id, labels) in series {
            record::put_series_entry(&mut w.series, *id, labels);
        }
        w.series_n += series.len();
        if w.series.len() >= PENDING_SERIES_BYTES {
            self.write_series(&mut w);
        }
    }

    pub fn log_samples(&self, samples: &[RefSample]) {
        if samples.is_empty() {
            return;
        }
        let max_t = samples.iter().map(|s| s.t).max().unwrap_or(i64::MIN);
        self.log(max_t, |buf| record::encode_samples(buf, samples));
        self.newest_sample.fetch_max(max_t, Relaxed);
    }

    /// Exemplars newly stored, for the remote-write senders reading this WAL.
    pub fn log_exemplars(&self, exemplars: &[RefExemplar]) {
        if !exemplars.is_empty() {
            self.log(i64::MIN, |buf| record::encode_exemplars(buf, exemplars));
        }
    }

    /// The newest sample time logged so far, if any.
    pub fn newest_sample_time(&self) -> Option<Timestamp> {
        Some(self.newest_sample.load(Relaxed)).filter(|t| *t != i64::MIN)
    }

    fn log(&self, max_t: Timestamp, encode: impl FnOnce(&mut Vec<u8>)) {
        let mut w = self.w.lock();
        self.write_series(&mut w);
        self.write(&mut w, max_t, encode);
        let r = w.file.flush();
        self.note(&r);
    }

    /// Writes the pending series definitions as one record.
    fn write_series(&self, w: &mut Writer) {
        if w.series_n == 0 {
            return;
        }
        let (n, entries) = (std::mem::take(&mut w.series_n), std::mem::take(&mut w.series));
        self.write(w, i64::MIN, |buf| record::encode_series_entries(buf, n, &entries));
    }

    fn write(&self, w: &mut Writer, max_t: Timestamp, encode: impl FnOnce(&mut Vec<u8>)) {
        let Writer { file, record, .. } = &mut *w;
        segment::frame_with(record, encode);
        let n = record.len() as u64;
        self.note(&file.write_all(record));
        w.size += n;
        w.max_t = w.max_t.max(max_t);
        self.stats.records.fetch_add(1, Relaxed);
        self.stats.bytes.fetch_add(n, Relaxed);
        if w.size >= self.segment_size {
            let r = self.cut(w);
            self.note(&r);
        }
    }

    /// Hands pending series definitions, and anything a failed write left buffered, to
    /// the OS, saying whether that worked: what a push is acknowledged after.
    pub fn flush(&self) -> io::Result<()> {
        let mut w = self.w.lock();
        self.write_series(&mut w);
        let r = w.file.flush();
        self.note(&r);
        r
    }

    /// Flushes and fsyncs the current segment; run on the flush interval.
    pub fn sync(&self) -> io::Result<()> {
        let mut w = self.w.lock();
        self.write_series(&mut w);
        let r = w.file.flush().and_then(|_| w.file.get_ref().sync_data());
        self.stats.fsyncs.fetch_add(1, Relaxed);
        self.note(&r);
        r
    }

    /// Records the outcome of a write: the error a failing disk gives (refusing pushes
    /// until it clears), or its clearing.
    fn note(&self, r: &io::Result<()>) {
        let mut last = self.last_error.lock();
        match r {
            Ok(()) if last.take().is_some() => tracing::info!("WAL writes succeed again"),
            Ok(()) => {}
            Err(e) => {
                self.stats.write_failures.fetch_add(1, Relaxed);
                let msg = format!("writing the WAL in {}: {e}", self.dir.display());
                if last.as_deref() != Some(msg.as_str()) {
                    tracing::error!(error = %msg, "WAL write failed; data is kept in memory and retried");
                }
                *last = Some(msg);
            }
        }
    }

    fn cut(&self, w: &mut Writer) -> io::Result<()> {
        w.file.flush()?;
        w.file.get_ref().sync_data()?;
        self.closed.lock().insert(w.seg, w.max_t);
        let mut next = Writer::create(&self.dir, w.seg + 1)?;
        // Pending series definitions go to the new segment, ahead of their samples.
        (next.series, next.series_n) = (std::mem::take(&mut w.series), w.series_n);
        *w = next;
        Ok(())
    }

    /// Drops the segments whose samples are all older than `mint`, first checkpointing
    /// the series the head still holds (`live`, called only when something is dropped).
    /// Returns the number of segments removed.
    pub fn truncate(&self, mint: Timestamp, live: impl FnOnce() -> Vec<(u64, Labels)>) -> io::Result<usize> {
        {
            // The current segment is cut first if it is entirely old, so an idle head
            // does not pin its last segment forever.
            let mut w = self.w.lock();
            if w.size > 0 && w.max_t < mint {
                self.cut(&mut w)?;
            }
        }
        let current = self.w.lock().seg;
        let mut first_kept = self.closed.lock().iter().find(|(_, t)| **t >= mint).map_or(current, |(s, _)| *s);
        if let Some(held) = self.holds.lock().values().min() {
            first_kept = self.within_hold_limit(*held, first_kept);
        }
        let doomed: Vec<u32> = self.closed.lock().range(..first_kept).map(|(s, _)| *s).collect();
        if doomed.is_empty() {
            return Ok(0);
        }
        self.write_checkpoint(first_kept, &live())?;
        for seg in &doomed {
            fs::remove_file(self.dir.join(segment_name(*seg)))?;
            self.closed.lock().remove(seg);
        }
        self.stats.truncations.fetch_add(1, Relaxed);
        Ok(doomed.len())
    }

    /// The first segment to keep when readers hold `held` and later and the head needs
    /// `needed` and later: readers keep at most the hold limit's bytes of segments the
    /// head no longer needs, the newest; older ones go, and are counted.
    fn within_hold_limit(&self, held: u32, needed: u32) -> u32 {
        let limit = self.hold_limit.load(Relaxed);
        if held >= needed || limit == 0 {
            return held.min(needed);
        }
        let size = |seg: u32| fs::metadata(self.dir.join(segment_name(seg))).map_or(0, |m| m.len());
        let (mut first, mut bytes) = (needed, 0);
        while first > held && bytes + size(first - 1) <= limit {
            first -= 1;
            bytes += size(first);
        }
        if first > held {
            tracing::warn!(
                dropped = first - held,
                "a remote-write reader is behind by more than the WAL hold limit; its oldest segments are dropped"
            );
            self.stats.held_segments_dropped.fetch_add(u64::from(first - held), Relaxed);
        }
        first
    }

    /// Bounds the bytes of segments kept for readers alone (0: no bound).
    pub fn set_hold_limit(&self, bytes: u64) {
        self.hold_limit.store(bytes, Relaxed);
    }

    fn write_checkpoint(&self, n: u32, live: &[(u64, Labels)]) -> io::Result<()> {
        let tmp = self.dir.join(format!("{CHECKPOINT_PREFIX}{n:08}.tmp"));
        let mut f = BufWriter::new(File::create(&tmp)?);
        f.write_all(&segment::FILE_HEADER)?;
        let mut rec = Vec::new();
        for batch in live.chunks(1000) {
            let refs: Vec<(u64, &Labels)> = batch.iter().map(|(id, l)| (*id, l)).collect();
            segment::frame_with(&mut rec, |body| record::encode_series(body, &refs));
            f.write_all(&rec)?;
        }
        f.flush()?;
        f.get_ref().sync_all()?;
        fs::rename(&tmp, self.dir.join(format!("{CHECKPOINT_PREFIX}{n:08}")))?;
        File::open(&self.dir)?.sync_all()?;
        for (old, path) in list(&self.dir)?.0.into_iter().filter(|(o, _)| *o < n) {
            tracing::debug!(checkpoint = old, "removing an older checkpoint");
            fs::remove_file(path)?;
        }
        Ok(())
    }

    /// Bytes on disk, for size-based retention and the status page.
    /// The segment being written (`prometheus_tsdb_wal_segment_current`).
    pub fn current_segment(&self) -> u32 {
        self.w.lock().seg
    }

    pub fn disk_bytes(&self) -> u64 {
        fs::read_dir(&self.dir).map(|d| d.filter_map(|e| e.ok()?.metadata().ok()).map(|m| m.len()).sum()).unwrap_or(0)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Keeps segment `seg` and later from truncation on behalf of reader `id`.
    pub fn hold(&self, id: u64, seg: u32) {
        self.holds.lock().insert(id, seg);
    }

    pub fn release(&self, id: u64) {
        self.holds.lock().remove(&id);
    }

    /// The checkpoint to read first, if any, and the segment numbers in order.
    pub fn files(&self) -> io::Result<(Option<PathBuf>, Vec<u32>)> {
        let (checkpoint, segments) = list(&self.dir)?;
        Ok((checkpoint.map(|(_, p)| p), segments.into_iter().map(|(s, _)| s).collect()))
    }

    pub fn segment_path(&self, seg: u32) -> PathBuf {
        self.dir.join(segment_name(seg))
    }

    pub fn segments(&self) -> usize {
        self.closed.lock().len() + 1
    }
}

impl Writer {
    fn create(dir: &Path, seg: u32) -> io::Result<Writer> {
        let mut file = OpenOptions::new().create(true).append(true).open(dir.join(segment_name(seg)))?;
        let mut size = file.metadata()?.len();
        if size == 0 {
            file.write_all(&segment::FILE_HEADER)?;
            size = segment::FILE_HEADER.len() as u64;
        }
        Ok(Writer {
            file: BufWriter::with_capacity(256 << 10, file),
            seg,
            size,
            max_t: i64::MIN,
            record: Vec::new(),
            series: Vec::new(),
            series_n: 0,
        })
    }
}

fn segment_name(seg: u32) -> String {
    format!("{seg:08}")
}

/// The newest checkpoint and the segments, in order. Anything else is left alone.
#[allow(clippy::type_complexity)]
fn list(dir: &Path) -> io::Result<(Option<(u32, PathBuf)>, Vec<(u32, PathBuf)>)> {
    let (mut checkpoints, mut segments) = (Vec::new(), Vec::new());
    for e in fs::read_dir(dir)? {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(n) = name.strip_prefix(CHECKPOINT_PREFIX).and_then(|n| n.parse::<u32>().ok()) {
            checkpoints.push((n, e.path()));
        } else if let Ok(n) = name.parse::<u32>() {
            segments.push((n, e.path()));
        } else if name.ends_with(".tmp") {
            // A checkpoint a crash interrupted: the segments it was to replace are intact.
            fs::remove_file(e.path())?;
        }
    }
    checkpoints.sort();
    segments.sort();
    Ok((checkpoints.pop(), segments))
}

/// Replays one file; returns the newest sample time in it. Damaged records are stepped
/// over and the newest segment's torn tail is cut off, so that the file ends on a whole
/// record; the bytes of either are kept in `damaged/` first.
fn read_file(
    path: &Path,
    report: &mut ReplayReport,
    stats: &WalStats,
    apply: &mut impl FnMut(Record),
    repair_tail: bool,
) -> io::Result<Timestamp> {
    let mut max_t = i64::MIN;
    let mut undecodable = None;
    let read = segment::read(path, |body| match record::decode(body) {
        Ok(rec) => {
            if let Record::Samples(s) = &rec {
                max_t = s.iter().map(|s| s.t).fold(max_t, i64::max);
            }
            report.records += 1;
            apply(rec);
        }
        // A record whose CRC holds but which does not decode was written by something
        // else; skip it and carry on.
        Err(e) => undecodable = Some(e),
    })?;
    if let Some(e) = undecodable {
        stats.corruptions.fetch_add(1, Relaxed);
        report.damage.push(format!("{}: undecodable record skipped: {e}", path.display()));
    }
    let size = fs::metadata(path)?.len();
    for d in &read.skipped {
        stats.corruptions.fetch_add(1, Relaxed);
        let kept = keep_damaged(path, d.offset, d.offset + d.len)?;
        report.damage.push(format!(
            "{}: {} at byte {} of {size}; skipped that record's {} bytes (kept in {})",
            path.display(),
            d.reason,
            d.offset,
            d.len,
            kept.display()
        ));
    }
    if let Some((offset, reason)) = read.end {
        stats.corruptions.fetch_add(1, Relaxed);
        let what = format!("{}: {reason} at byte {offset} of {size}", path.display());
        if repair_tail {
            let kept = keep_damaged(path, offset, size)?;
            OpenOptions::new().write(true).open(path)?.set_len(offset)?;
            report.damage.push(format!("{what}; cut off the torn tail (kept in {})", kept.display()));
        } else {
            report.damage.push(format!("{what}; the rest of this segment is skipped"));
        }
    }
    Ok(max_t)
}

/// Copies bytes `[from, to)` of a damaged file to `damaged/<file>.<from>` beside it (once),
/// so that replay can step over or cut them without losing what they were.
fn keep_damaged(path: &Path, from: u64, to: u64) -> io::Result<PathBuf> {
    let dir = path.parent().unwrap_or(Path::new(".")).join("damaged");
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let kept = dir.join(format!("{name}.{from}"));
    if !kept.exists() {
        fs::create_dir_all(&dir)?;
        let mut src = File::open(path)?;
        io::Seek::seek(&mut src, io::SeekFrom::Start(from))?;
        io::copy(&mut io::Read::take(src, to.saturating_sub(from)), &mut File::create(&kept)?)?;
    }
    Ok(kept)
}

#[cfg(test)]
mod tests;
