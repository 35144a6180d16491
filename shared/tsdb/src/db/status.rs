//! The database as the status pages and `/metrics` see it (the storage contract's
//! `DbStatus`): the head's cardinality and counters, the blocks, the WAL.

use super::Db;
use cardinal_exposition::text::{self, counter, metric};
use cardinal_storage::{BlockInfo, Cardinality, DbStatus};
use std::sync::atomic::Ordering::Relaxed;

impl DbStatus for Db {
    fn cardinality(&self, top: usize) -> Cardinality {
        self.head.cardinality(top)
    }

    fn head_series(&self) -> usize {
        self.head.num_series()
    }

    fn blocks(&self) -> Vec<BlockInfo> {
        let info = |b: &std::sync::Arc<crate::block::Block>| BlockInfo {
            min_time: b.meta.min_time,
            max_time: b.meta.max_time,
            level: b.meta.level,
            num_series: b.meta.num_series,
            num_samples: b.meta.num_samples,
            bytes: b.disk_bytes,
        };
        Db::blocks(self).iter().map(info).collect()
    }

    fn wal_bytes(&self) -> u64 {
        self.wal().disk_bytes()
    }

    fn disk_bytes(&self) -> u64 {
        Db::disk_bytes(self)
    }

    fn damage(&self) -> Vec<String> {
        self.damage.lock().clone()
    }

    fn write_metrics(&self, out: &mut String) {
        self.head_metrics(out);
        self.wal_and_block_metrics(out);
        self.prometheus_metrics(out);
    }
}

impl Db {
    fn head_metrics(&self, out: &mut String) {
        let h = &self.head.stats;
        metric(out, "cardinal_head_series", "gauge", "Series in the head.", self.head.num_series() as f64);
        metric(out, "cardinal_head_chunks", "gauge", "Chunks in the head.", h.chunks() as f64);
        for (name, help, c) in [
            ("cardinal_head_series_created_total", "Series created in the head.", &h.series_created),
            ("cardinal_head_series_removed_total", "Series removed from the head by retention.", &h.series_removed),
            ("cardinal_head_samples_appended_total", "Samples appended to the head.", &h.samples_appended),
            ("cardinal_head_out_of_order_samples_total", "Samples rejected as out of order.", &h.out_of_order),
            ("cardinal_head_duplicate_samples_total", "Samples rejected as duplicates.", &h.duplicates),
            (
                "cardinal_head_out_of_bounds_samples_total",
                "Samples refused as older than the head takes (blocks or the retention window).",
                &h.out_of_bounds,
            ),
            (
                "cardinal_head_too_far_ahead_samples_total",
                "Samples refused as further ahead of the clock than --storage.tsdb.max-time-ahead.",
                &h.too_far_ahead,
            ),
            (
                "cardinal_head_series_refused_total",
                "New series refused at --storage.tsdb.head-series-limit.",
                &h.series_refused,
            ),
        ] {
            counter(out, name, help, c);
        }
        if let Some(late) = &self.late {
            let help = "Samples older than the head's lower bound (the newest block's end) kept beside the blocks.";
            counter(out, "cardinal_late_samples_appended_total", help, &late.appended);
        }
    }

    fn wal_and_block_metrics(&self, out: &mut String) {
        let w = &self.wal().stats;
        for (name, help, c) in [
            ("cardinal_wal_records_total", "Records written to the WAL.", &w.records),
            ("cardinal_wal_bytes_total", "Bytes written to the WAL.", &w.bytes),
            ("cardinal_wal_fsyncs_total", "WAL fsyncs.", &w.fsyncs),
            ("cardinal_wal_write_failures_total", "WAL writes that failed (a full disk, say).", &w.write_failures),
            ("cardinal_wal_corruptions_total", "Damaged WAL records found at replay.", &w.corruptions),
            ("cardinal_wal_truncations_total", "WAL truncations behind the head.", &w.truncations),
            (
                "cardinal_wal_held_segments_dropped_total",
                "WAL segments truncated before a remote-write sender read them, past --storage.remote.max-held-wal-size.",
                &w.held_segments_dropped,
            ),
        ] {
            counter(out, name, help, c);
        }
        let blocks = DbStatus::blocks(self);
        let (samples, bytes) = BlockInfo::totals(&blocks);
        for (name, help, value) in [
            ("cardinal_blocks", "On-disk blocks.", blocks.len() as f64),
            ("cardinal_blocks_samples", "Samples in on-disk blocks.", samples as f64),
            ("cardinal_blocks_bytes", "Bytes of on-disk blocks.", bytes as f64),
            ("cardinal_storage_bytes", "Bytes on disk: blocks and WAL.", Db::disk_bytes(self) as f64),
        ] {
            metric(out, name, "gauge", help, value);
        }
    }
}

impl Db {
    /// Prometheus's `prometheus_tsdb_*` names for what we count alike, with its types
    /// and labels (samples by `type`, ours all floats): what the Prometheus mixin's
    /// alerts and dashboards read.
    fn prometheus_metrics(&self, out: &mut String) {
        let (h, w, d) = (&self.head.stats, &self.wal().stats, &self.stats);
        let blocks = self.blocks();
        for (name, help, value) in [
            ("prometheus_tsdb_wal_segment_current", "Write log segment index that TSDB is currently writing to.", {
                f64::from(self.wal().current_segment())
            }),
            ("prometheus_tsdb_head_series", "Total number of series in the head block.", self.head.num_series() as f64),
            ("prometheus_tsdb_head_chunks", "Total number of chunks in the head block.", h.chunks() as f64),
            ("prometheus_tsdb_blocks_loaded", "Number of currently loaded data blocks", blocks.len() as f64),
            (
                "prometheus_tsdb_storage_blocks_bytes",
                "The number of bytes that are currently used for local storage by all blocks.",
                blocks.iter().map(|b| b.disk_bytes).sum::<u64>() as f64,
            ),
        ] {
            metric(out, name, "gauge", help, value);
        }
        for (name, help, c) in [
            (
                "prometheus_tsdb_head_series_created_total",
                "Total number of series created in the head",
                &h.series_created,
            ),
            (
                "prometheus_tsdb_head_series_removed_total",
                "Total number of series removed in the head",
                &h.series_removed,
            ),
            (
                "prometheus_tsdb_head_chunks_created_total",
                "Total number of chunks created in the head",
                &h.chunks_created,
            ),
            (
                "prometheus_tsdb_head_chunks_removed_total",
                "Total number of chunks removed in the head",
                &h.chunks_removed,
            ),
            ("prometheus_tsdb_wal_corruptions_total", "Total number of WAL corruptions.", &w.corruptions),
            (
                "prometheus_tsdb_wal_truncations_total",
                "Total number of write log truncations attempted.",
                &w.truncations,
            ),
            (
                "prometheus_tsdb_wal_writes_failed_total",
                "Total number of write log writes that failed.",
                &w.write_failures,
            ),
            (
                "prometheus_tsdb_compactions_total",
                "Total number of compactions that were executed for the partition.",
                &d.compactions,
            ),
            (
                "prometheus_tsdb_compactions_failed_total",
                "Total number of compactions that failed for the partition.",
                &d.compactions_failed,
            ),
            (
                "prometheus_tsdb_reloads_failures_total",
                "Number of times the database failed to reloadBlocks block data from disk.",
                &d.reloads_failed,
            ),
        ] {
            counter(out, name, help, c);
        }
        metric(
            out,
            "prometheus_tsdb_clean_start",
            "gauge",
            "-1: lockfile is disabled. 0: a lockfile from a previous execution was replaced. 1: lockfile creation was clean",
            if d.clean_start { 1.0 } else { 0.0 },
        );
        self.duration_metrics(out);
        for (name, help, c) in [
            ("prometheus_tsdb_head_samples_appended_total", "Total number of appended samples.", &h.samples_appended),
            (
                "prometheus_tsdb_out_of_order_samples_total",
                "Total number of out of order samples ingestion failed attempts due to OOO being disabled.",
                &h.out_of_order,
            ),
            (
                "prometheus_tsdb_out_of_bound_samples_total",
                "Total number of out of bound samples ingestion failed attempts with out of order support disabled.",
                &h.out_of_bounds,
            ),
        ] {
            text::write_header(out, name, "counter", help);
            text::write_sample(out, name, [("type", "float")], c.load(Relaxed) as f64, None);
        }
    }

    /// Maintenance's timings under Prometheus's names, types and quantiles.
    fn duration_metrics(&self, out: &mut String) {
        let d = self.stats.durations.lock();
        let name = "prometheus_tsdb_compaction_duration_seconds";
        text::write_header(out, name, "histogram", "Duration of compaction runs");
        d.compaction.write(out, name, &[]);
        let summaries = [
            (
                "prometheus_tsdb_wal_fsync_duration_seconds",
                "Duration of write log fsync.",
                &d.wal_fsync,
                &[0.5, 0.9, 0.99][..],
            ),
            (
                "prometheus_tsdb_head_gc_duration_seconds",
                "Runtime of garbage collection in the head block.",
                &d.head_gc,
                &[],
            ),
            ("prometheus_tsdb_wal_truncate_duration_seconds", "Duration of WAL truncation.", &d.wal_truncate, &[]),
        ];
        for (name, help, summary, quantiles) in summaries {
            text::write_header(out, name, "summary", help);
            summary.write(out, name, &[], quantiles);
        }
    }
}
