//! The database a daemon opens: the head (made durable by the WAL) and, for the master,
//! the on-disk blocks the head is compacted into, with a late head (`late.rs`) for samples
//! older than the head's lower bound. Queries see all as one: blocks and the late head
//! cover everything before the head's lower bound, the head everything from it.

use crate::block::Block;
use crate::compact;
use crate::head::Head;
use crate::wal::{self, Record, Wal};
use cardinal_exposition::{histogram::Histogram, summary::Summary};
use cardinal_model::{Labels, Timestamp};
use cardinal_storage::exemplars::Exemplar;
use parking_lot::{Mutex, RwLock};
use rustc_hash::FxHashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

mod append;
mod ingest;
mod late;
mod select;
mod status;
pub use cardinal_storage::{Grouped, LazySeries, Querier, Queryable, SeriesSamples};

pub const DEFAULT_BLOCK_RANGE: i64 = 2 * 3_600_000;

#[derive(Clone, Debug)]
pub struct DbOptions {
    pub retention: Duration,
    /// Oldest blocks go first once blocks and WAL together exceed this.
    pub retention_bytes: Option<u64>,
    /// Cut the head into blocks (the master); without, the head just drops what leaves
    /// the retention window (the collector).
    pub compaction: bool,
    pub block_range: i64,
    pub wal_segment_size: u64,
    /// Samples further ahead of the wall clock than this are refused everywhere, replay
    /// included (`--storage.tsdb.max-time-ahead`); `None`: no limit (tests, backfills).
    pub max_ahead: Option<Duration>,
    /// Samples older than this before the wall clock are refused (the daemons: their
    /// retention, which would drop them at once); `None`: no limit.
    pub max_age: Option<Duration>,
}

impl Default for DbOptions {
    fn default() -> Self {
        DbOptions {
            retention: Duration::from_secs(15 * 86_400),
            retention_bytes: None,
            compaction: false,
            block_range: DEFAULT_BLOCK_RANGE,
            wal_segment_size: wal::DEFAULT_SEGMENT_SIZE,
            max_ahead: None,
            max_age: None,
        }
    }
}

/// What Prometheus's TSDB metrics count that the head and WAL don't.
#[derive(Default)]
pub struct DbStats {
    /// Blocks written from the head or by merging.
    pub compactions: AtomicU64,
    /// Maintenance runs (compaction, merging, retention) that failed.
    pub compactions_failed: AtomicU64,
    /// Blocks written but then not opened.
    pub reloads_failed: AtomicU64,
    /// Whether the last run shut down cleanly (it removed its lock file).
    pub clean_start: bool,
    /// How long maintenance's steps take, under Prometheus's names (`status.rs`).
    pub durations: Mutex<Durations>,
}

/// Maintenance timings, in seconds, as Prometheus's TSDB reports them.
pub struct Durations {
    /// Each block written, from the head or by a merge.
    pub compaction: Histogram,
    pub wal_fsync: Summary,
    /// Dropping the head's data behind a new block or the retention window.
    pub head_gc: Summary,
    pub wal_truncate: Summary,
}

/// Prometheus's compaction buckets: 1 s doubling to 8192 s.
const COMPACTION_BUCKETS: &[f64] =
    &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 2048.0, 4096.0, 8192.0];

impl Default for Durations {
    fn default() -> Self {
        let summary = Summary::default;
        Durations {
            compaction: Histogram::new(COMPACTION_BUCKETS),
            wal_fsync: summary(),
            head_gc: summary(),
            wal_truncate: summary(),
        }
    }
}

impl DbStats {
    /// Runs `f`, handing how long it took (seconds) to `note` with the durations.
    fn timed<T>(&self, note: impl FnOnce(&mut Durations, f64), f: impl FnOnce() -> T) -> T {
        let started = std::time::Instant::now();
        let out = f();
        note(&mut self.durations.lock(), started.elapsed().as_secs_f64());
        out
    }
}

/// The file a running daemon keeps in its data directory, removed at a clean shutdown.
const LOCK_FILE: &str = "lock";

pub struct Db {
    dir: PathBuf,
    pub stats: DbStats,
    opts: DbOptions,
    pub head: Arc<Head>,
    wal: Arc<Wal>,
    /// Sorted by min time; they may overlap (late samples' blocks).
    blocks: RwLock<Vec<Arc<Block>>>,
    /// Samples older than the head's lower bound, on the master (with compaction).
    late: Option<late::Late>,
    /// What opening found damaged, for the logs and the status page.
    pub damage: Mutex<Vec<String>>,
    maintenance: Mutex<()>,
    /// Exemplars the WAL held, until the daemon takes them for its exemplar store.
    replayed_exemplars: Mutex<Replayed>,
}

impl Db {
    /// Opens `dir`: the blocks under `blocks/`, then the WAL under `wal/` replayed into a
    /// new head. Damaged files are reported and skipped, never fatal.
    pub fn open(dir: &Path, opts: DbOptions) -> io::Result<Db> {
        let blocks_dir = dir.join("blocks");
        std::fs::create_dir_all(&blocks_dir)?;
        let clean_start = !dir.join(LOCK_FILE).exists();
        std::fs::write(dir.join(LOCK_FILE), std::process::id().to_string())?;
        let mut damage = Vec::new();
        let late = match opts.compaction {
            true => {
                let (late, found) = late::Late::open(&dir.join("late"), &blocks_dir, &opts)?;
                damage.extend(found);
                Some(late)
            }
            false => None,
        };
        let blocks = open_blocks(&blocks_dir, &mut damage)?;
        let head = Arc::new(Head::new());
        head.set_time_limits(opts.max_age, opts.max_ahead);
        if let Some(newest) = blocks.iter().max_by_key(|b| b.meta.max_time) {
            head.set_min_valid(ingest_floor(newest, &mut damage));
        }
        let started = std::time::Instant::now();
        let (wal, report, exemplars) = replay_wal(&dir.join("wal"), opts.wal_segment_size, &head)?;
        let ahead = head.stats.too_far_ahead.swap(0, Relaxed);
        if ahead > 0 {
            damage.push(format!("WAL: {ahead} samples too far ahead of the clock were not loaded"));
        }
        head.stats.out_of_bounds.store(0, Relaxed);
        tracing::info!(
            records = report.records,
            series = head.num_series(),
            blocks = blocks.len(),
            elapsed = ?started.elapsed(),
            "storage opened"
        );
        damage.extend(report.damage);
        for d in &damage {
            tracing::warn!(damage = %d, "storage damage found and skipped");
        }
        let wal = Arc::new(wal);
        head.attach_wal(wal.clone());
        Ok(Db {
            dir: dir.to_path_buf(),
            stats: DbStats { clean_start, ..DbStats::default() },
            opts,
            head,
            wal,
            blocks: RwLock::new(blocks),
            late,
            damage: Mutex::new(damage),
            maintenance: Mutex::new(()),
            replayed_exemplars: Mutex::new(exemplars),
        })
    }

    /// The exemplars the WAL held at opening, oldest first (once: they are handed over).
    pub fn take_replayed_exemplars(&self) -> Vec<(Labels, Exemplar)> {
        std::mem::take(&mut *self.replayed_exemplars.lock()).into()
    }

    pub fn wal(&self) -> &Arc<Wal> {
        &self.wal
    }

    pub fn blocks(&self) -> Vec<Arc<Block>> {
        self.blocks.read().clone()
    }

    /// Label names of the heads and blocks whose span meets `[mint, maxt]`.
    pub fn label_names(&self, mint: Timestamp, maxt: Timestamp) -> Vec<String> {
        self.gather(mint, maxt, |h| h.label_names(), |b| b.label_names().map(str::to_string).collect())
    }

    /// Values of label `name` in the heads and blocks whose span meets `[mint, maxt]`.
    pub fn label_values(&self, name: &str, mint: Timestamp, maxt: Timestamp) -> Vec<String> {
        self.gather(
            mint,
            maxt,
            |h| h.label_values(name),
            |b| b.label_values(name).into_iter().map(str::to_string).collect(),
        )
    }

    /// What `of_head` and `of_block` say of each head and block whose span meets
    /// `[mint, maxt]`, sorted, each once.
    fn gather(
        &self,
        mint: Timestamp,
        maxt: Timestamp,
        of_head: impl Fn(&Head) -> Vec<String>,
        of_block: impl Fn(&Block) -> Vec<String>,
    ) -> Vec<String> {
        let mut out = Vec::new();
        let late = self.late_heads();
        let heads = std::iter::once(self.head.as_ref()).chain(late.iter().map(|l| &l.head));
        for head in heads.filter(|h| select::head_overlaps(h, mint, maxt)) {
            out.extend(of_head(head));
        }
        for b in self.blocks_overlapping(mint, maxt) {
            out.extend(of_block(&b));
        }
        out.sort();
        out.dedup();
        out
    }

    /// Compaction, retention and WAL truncation; run periodically off the async threads.
    /// Each is driven by the wall clock `now` as well as by the data: no timestamp,
    /// however far ahead, can make the head compact early or retention delete a block
    /// that `now` still keeps.
    pub fn maintain(&self, now: Timestamp) -> io::Result<()> {
        let _one_at_a_time = self.maintenance.lock();
        if self.opts.compaction {
            let done = self.write_out_late().and_then(|()| self.compact_head(now)).and_then(|()| self.merge_blocks());
            if done.is_err() {
                self.stats.compactions_failed.fetch_add(1, Relaxed);
            }
            done?;
            self.apply_retention(now)?;
        } else {
            let mint = now - self.opts.retention.as_millis() as i64;
            self.truncate_head(mint);
            self.truncate_wal(mint)?;
        }
        Ok(())
    }

    /// Cuts the head's oldest block range into a block while the head spans more than
    /// one and a half ranges (the newest half range stays open for late samples), its
    /// newest time taken as no later than `now`.
    fn compact_head(&self, now: Timestamp) -> io::Result<()> {
        let r = self.opts.block_range;
        while let Some((min, max)) = self.head.time_range() {
            let max = max.min(now);
            let start = min.max(self.head.min_valid()).div_euclid(r) * r;
            if max - start < r * 3 / 2 {
                break;
            }
            let end = start + r;
            let blocks = self.dir.join("blocks");
            let written = self.stats.timed(
                |d, secs| d.compaction.observe(secs),
                || compact::head_to_block(&self.head, &blocks, start, end),
            )?;
            if let Some(dir) = written {
                let block = self.open_written(&dir)?;
                tracing::info!(block = %dir.display(), series = block.num_series(), "head compacted");
                self.blocks.write().push(block);
            }
            self.head.set_min_valid(end);
            self.truncate_head(end);
            self.truncate_wal(end)?;
        }
        Ok(())
    }

    /// Opens a block maintenance just wrote, counting it.
    fn open_written(&self, dir: &Path) -> io::Result<Arc<Block>> {
        self.stats.compactions.fetch_add(1, Relaxed);
        Block::open(dir).map(Arc::new).inspect_err(|_| {
            self.stats.reloads_failed.fetch_add(1, Relaxed);
        })
    }

    /// Removes the lock file: the next start counts as clean (`prometheus_tsdb_clean_start`).
    pub fn close_cleanly(&self) {
        if let Err(e) = std::fs::remove_file(self.dir.join(LOCK_FILE)) {
            tracing::warn!(error = %e, "could not remove the lock file");
        }
    }

    fn merge_blocks(&self) -> io::Result<()> {
        let max_range = (self.opts.retention.as_millis() as i64 / 10).min(31 * 86_400_000);
        let ranges = compact::block_ranges(self.opts.block_range, max_range);
        loop {
            let blocks = self.blocks();
            let spans: Vec<_> = blocks.iter().map(|b| (b.meta.min_time, b.meta.max_time)).collect();
            let Some(group) = compact::plan_merge(&spans, &ranges) else { return Ok(()) };
            let parts: Vec<Arc<Block>> = group.iter().map(|i| blocks[*i].clone()).collect();
            let blocks = self.dir.join("blocks");
            let Some(dir) =
                self.stats.timed(|d, secs| d.compaction.observe(secs), || compact::merge(&blocks, &parts))?
            else {
                return Ok(());
            };
            let merged = self.open_written(&dir)?;
            tracing::info!(block = %dir.display(), parts = parts.len(), "blocks merged");
            self.replace_blocks(&parts, Some(merged));
        }
    }

    /// Deletes whole blocks: those entirely older than the retention window, then the
    /// oldest while over size. The window ends at the newest data (as Prometheus's, so a
    /// master restarted after a long stop keeps its blocks until new data arrives) but
    /// never later than `now`.
    fn apply_retention(&self, now: Timestamp) -> io::Result<()> {
        let blocks = self.blocks();
        let newest = blocks.iter().map(|b| b.meta.max_time).chain(self.head.time_range().map(|r| r.1)).max();
        let Some(newest) = newest else { return Ok(()) };
        let cutoff = newest.min(now) - self.opts.retention.as_millis() as i64;
        let mut doomed: Vec<Arc<Block>> = blocks.iter().filter(|b| b.meta.max_time <= cutoff).cloned().collect();
        if let Some(limit) = self.opts.retention_bytes {
            let mut total: u64 = blocks.iter().map(|b| b.disk_bytes).sum::<u64>() + self.wal.disk_bytes();
            total -= doomed.iter().map(|b| b.disk_bytes).sum::<u64>();
            for b in blocks.iter().filter(|b| b.meta.max_time > cutoff) {
                if total <= limit {
                    break;
                }
                total -= b.disk_bytes;
                doomed.push(b.clone());
            }
        }
        if !doomed.is_empty() {
            tracing::info!(blocks = doomed.len(), "retention: deleting blocks");
            self.replace_blocks(&doomed, None);
        }
        Ok(())
    }

    /// Swaps blocks out of the list, then deletes their directories. Queries holding an
    /// `Arc<Block>` keep reading: the mapping outlives the unlinked files.
    fn replace_blocks(&self, old: &[Arc<Block>], new: Option<Arc<Block>>) {
        {
            let mut list = self.blocks.write();
            list.retain(|b| !old.iter().any(|o| Arc::ptr_eq(o, b)));
            list.extend(new);
            list.sort_by_key(|b| b.meta.min_time);
        }
        for b in old {
            if let Err(e) = std::fs::remove_dir_all(&b.dir) {
                tracing::error!(block = %b.dir.display(), error = %e, "could not delete a block");
            }
        }
    }

    fn truncate_wal(&self, mint: Timestamp) -> io::Result<()> {
        self.stats
            .timed(|d, secs| d.wal_truncate.observe(secs), || self.wal.truncate(mint, || self.head.live_series()))
            .map(|_| ())
    }

    fn truncate_head(&self, mint: Timestamp) {
        self.stats.timed(|d, secs| d.head_gc.observe(secs), || self.head.truncate(mint));
    }

    /// Bytes on disk: blocks and WALs.
    pub fn disk_bytes(&self) -> u64 {
        let late = self.late.as_ref().map_or(0, |l| l.disk_bytes());
        self.blocks().iter().map(|b| b.disk_bytes).sum::<u64>() + self.wal.disk_bytes() + late
    }

    /// Fsyncs the WALs (the head's and the late head's): run on the fsync interval.
    pub fn fsync_wals(&self) -> io::Result<()> {
        self.stats.timed(|d, secs| d.wal_fsync.observe(secs), || self.wal.sync())?;
        self.late.as_ref().map_or(Ok(()), |l| l.fsync())
    }

    /// The late heads a read must see (none on the collector).
    fn late_heads(&self) -> Vec<Arc<late::LateHead>> {
        self.late.as_ref().map_or_else(Vec::new, |l| l.heads())
    }
}

/// Where the head starts taking samples: the newest block's end, unless that lies ahead
/// of the clock (a block cut from a far-future sample by an older release), which would
/// refuse every new sample; that block is kept and reported.
fn ingest_floor(newest: &Block, damage: &mut Vec<String>) -> Timestamp {
    let now = cardinal_model::now_ms();
    if newest.meta.max_time <= now {
        return newest.meta.max_time;
    }
    damage.push(format!(
        "block {} ends ahead of the clock (at {} ms); kept, and the head takes samples from now",
        newest.dir.display(),
        newest.meta.max_time
    ));
    now
}

/// Opens the WAL, replaying it into `head`: one thread reads and decodes the segments
/// while this one applies the records, so a restart uses two cores (with 1M series,
/// decoding is about a third of the work).
/// The newest exemplars a replay keeps for the exemplar store (Prometheus's largest
/// useful store is of this order): a WAL of nothing else cannot fill memory with them.
const REPLAYED_EXEMPLARS: usize = 1_000_000;

/// What a WAL replay leaves beside the head: the newest exemplars logged, with their
/// series' labels, oldest first.
type Replayed = std::collections::VecDeque<(Labels, Exemplar)>;

fn replay_wal(dir: &Path, segment_size: u64, head: &Head) -> io::Result<(Wal, wal::ReplayReport, Replayed)> {
    // Records go across in batches: one per channel message would wake the applier for
    // every scrape's record, and the futex calls cost ~9% of a replay.
    const BATCH: usize = 256;
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Record>>(8);
    std::thread::scope(|s| {
        let reader = s.spawn(move || {
            let mut batch = Vec::with_capacity(BATCH);
            let opened = Wal::open(dir, segment_size, |rec| {
                batch.push(rec);
                if batch.len() == BATCH {
                    tx.send(std::mem::replace(&mut batch, Vec::with_capacity(BATCH))).expect("the replay applier");
                }
            });
            tx.send(batch).expect("the replay applier");
            opened
        });
        let mut by_id = FxHashMap::default();
        let mut exemplars = Replayed::new();
        for rec in rx.into_iter().flatten() {
            replay(head, &mut by_id, rec, &mut exemplars);
        }
        let (wal, report) = reader.join().expect("the WAL reader panicked")?;
        Ok((wal, report, exemplars))
    })
}

fn replay(head: &Head, by_id: &mut FxHashMap<u64, crate::SeriesRef>, rec: Record, exemplars: &mut Replayed) {
    match rec {
        Record::Series(list) => {
            for (id, labels) in list {
                by_id.insert(id, head.replay_series(id, &labels));
            }
        }
        Record::Samples(samples) => {
            let bounds = head.bounds();
            for s in samples {
                // Samples of series no longer defined were older than the head anyway.
                if let Some(series) = by_id.get(&s.id) {
                    let _ = head.append_unlogged(series, s.t, s.v, bounds);
                }
            }
        }
        // For the exemplar store, filled again from them once the daemon has sized it.
        Record::Exemplars(list) => {
            for e in list {
                let Some(series) = by_id.get(&e.id) else { continue };
                if exemplars.len() == REPLAYED_EXEMPLARS {
                    exemplars.pop_front();
                }
                exemplars.push_back((head.labels(series), Exemplar { labels: e.labels, value: e.v, t: e.t }));
            }
        }
    }
}

/// Opens every block; a damaged one is reported and set aside (renamed `.damaged`) so
/// that it neither stops the start nor is deleted. A block a merge was made from (a
/// crash between writing the merged block and deleting its parts) is removed.
fn open_blocks(dir: &Path, damage: &mut Vec<String>) -> io::Result<Vec<Arc<Block>>> {
    let mut blocks = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let path = e?.path();
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if name.ends_with(".tmp") {
            std::fs::remove_dir_all(&path)?;
            continue;
        }
        if name.ends_with(".damaged") || !path.is_dir() {
            continue;
        }
        match Block::open(&path) {
            Ok(b) => {
                for what in &b.skipped {
                    damage.push(format!("block {}: {what}; that series is left out, the rest served", path.display()));
                }
                blocks.push(Arc::new(b))
            }
            Err(err) => {
                damage.push(format!("block {}: {err}; moved aside", path.display()));
                std::fs::rename(&path, path.with_file_name(format!("{name}.damaged")))?;
            }
        }
    }
    let merged: std::collections::HashSet<String> = blocks.iter().flat_map(|b| b.meta.parents.clone()).collect();
    let mut kept = Vec::with_capacity(blocks.len());
    for b in blocks {
        if b.dir.file_name().is_some_and(|n| merged.contains(n.to_string_lossy().as_ref())) {
            std::fs::remove_dir_all(&b.dir)?;
        } else {
            kept.push(b);
        }
    }
    kept.sort_by_key(|b| b.meta.min_time);
    Ok(kept)
}

#[cfg(test)]
mod tests;
