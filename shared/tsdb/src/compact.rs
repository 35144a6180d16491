//! Compaction: cutting the head's oldest range into a block, and merging blocks into
//! larger ones so a months-long query opens a few dozen blocks, not thousands. Blocks
//! may overlap (late samples are written out as blocks of their own); a merge makes one
//! block of them, each sample once.

use crate::block::{Block, BlockSpec, EncodedChunk, SeriesChunks, write_block};
use crate::chunk::XorAppender;
use crate::head::Head;
use cardinal_model::Timestamp;
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Writes the head's samples in `[mint, maxt)` as a level-1 block.
pub fn head_to_block(head: &Head, parent: &Path, mint: Timestamp, maxt: Timestamp) -> io::Result<Option<PathBuf>> {
    let mut series = Vec::new();
    let mut samples = Vec::new();
    for s in head.all_series() {
        samples.clear();
        s.samples(mint, maxt - 1, &mut samples);
        if !samples.is_empty() {
            series.push(SeriesChunks { labels: head.labels(&s), chunks: encode_chunks(&samples) });
        }
    }
    write_block(parent, BlockSpec::new(mint, maxt, 1), series)
}

/// Samples a chunk in a block holds at most: a 2 h block of 15 s scrapes is one chunk a
/// series. The head cuts at [`SAMPLES_PER_CHUNK`](crate::chunk::SAMPLES_PER_CHUNK), as
/// Prometheus does, to bound what an append re-reads; a block is written once, and each
/// chunk costs ~25 bytes of header and index entry, so fewer, larger ones save ~0.15
/// bytes a sample (~13%) on scrape-like data. A read decodes up to 480 samples where
/// it might have needed fewer, a few microseconds.
pub const BLOCK_CHUNK_SAMPLES: usize = 480;

/// Samples as chunks of at most [`BLOCK_CHUNK_SAMPLES`] samples each.
pub fn encode_chunks(samples: &[(Timestamp, f64)]) -> Vec<EncodedChunk> {
    samples
        .chunks(BLOCK_CHUNK_SAMPLES)
        .map(|part| {
            let mut a = XorAppender::new();
            for (t, v) in part {
                a.append(*t, *v);
            }
            (part[0].0, part[part.len() - 1].0, part.len() as u16, a.bytes())
        })
        .collect()
}

/// Merges blocks (sorted by min time) into one covering their union. A series' chunks
/// are copied as they are (re-encoded only from a block of an older format), unless
/// blocks overlap in it: then its samples are decoded, ordered, and each timestamp kept
/// once.
pub fn merge(parent: &Path, blocks: &[Arc<Block>]) -> io::Result<Option<PathBuf>> {
    let mut by_labels: BTreeMap<_, SeriesChunks> = BTreeMap::new();
    for b in blocks {
        for i in 0..b.num_series() {
            let labels = b.labels(i);
            let entry = by_labels
                .entry(labels.clone())
                .or_insert_with(|| SeriesChunks { labels: labels.clone(), chunks: Vec::new() });
            entry.chunks.extend(b.chunks_for_merge(i));
        }
    }
    let mut series: Vec<SeriesChunks> = by_labels.into_values().collect();
    for s in &mut series {
        if !in_order(&s.chunks) {
            s.chunks = encode_chunks(&merged_samples(&s.chunks));
        }
    }
    let spec = BlockSpec {
        min_time: blocks.iter().map(|b| b.meta.min_time).min().unwrap_or(0),
        max_time: blocks.iter().map(|b| b.meta.max_time).max().unwrap_or(0),
        level: blocks.iter().map(|b| b.meta.level).max().unwrap_or(0) + 1,
        parents: blocks.iter().filter_map(|b| Some(b.dir.file_name()?.to_string_lossy().into_owned())).collect(),
    };
    write_block(parent, spec, series)
}

/// Whether each chunk starts after the one before ends.
fn in_order(chunks: &[EncodedChunk]) -> bool {
    chunks.windows(2).all(|w| w[0].1 < w[1].0)
}

/// Overlapping chunks' samples in time order, one per timestamp (the first found: the
/// copies of a sample written twice are alike).
fn merged_samples(chunks: &[EncodedChunk]) -> Vec<(Timestamp, f64)> {
    let mut samples: Vec<(Timestamp, f64)> =
        chunks.iter().flat_map(|c| crate::chunk::XorIter::new(&c.3).collect::<Vec<_>>()).collect();
    samples.sort_by_key(|s| s.0);
    samples.dedup_by_key(|s| s.0);
    samples
}

/// The next group of blocks worth merging: two or more blocks inside one aligned window of
/// a range, once that window is complete (the newest block has reached its end).
/// `ranges` ascend, the first being the head's block range: a window of that one holds
/// two blocks only when late samples were written out beside the head's.
pub fn plan_merge(blocks: &[(Timestamp, Timestamp)], ranges: &[i64]) -> Option<Vec<usize>> {
    let newest = blocks.iter().map(|b| b.1).max()?;
    for &r in ranges {
        let mut windows: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
        for (i, (min, max)) in blocks.iter().enumerate() {
            let w = min.div_euclid(r);
            if (max - 1).div_euclid(r) == w {
                windows.entry(w).or_default().push(i);
            }
        }
        if let Some(group) = windows.into_iter().find(|(w, g)| g.len() > 1 && (w + 1) * r <= newest).map(|(_, g)| g) {
            return Some(group);
        }
    }
    None
}

/// Prometheus's block ranges: the head's, then each three times the last, up to `max`.
pub fn block_ranges(first: i64, max: i64) -> Vec<i64> {
    let mut out = vec![first];
    while let Some(&last) = out.last() {
        if last * 3 > max || out.len() >= 10 {
            break;
        }
        out.push(last * 3);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;

    #[test]
    fn ranges_grow_by_three_up_to_the_cap() {
        assert_eq!(block_ranges(2 * H, 36 * H), [2 * H, 6 * H, 18 * H]);
        assert_eq!(block_ranges(2 * H, H), [2 * H]);
    }

    #[test]
    fn merges_only_complete_windows() {
        let ranges = block_ranges(2 * H, 100 * H);
        let blocks = [(0, 2 * H), (2 * H, 4 * H), (4 * H, 6 * H), (6 * H, 8 * H)];
        assert_eq!(plan_merge(&blocks, &ranges), Some(vec![0, 1, 2]));
        // The second 6h window holds one block and is not complete: nothing more to do.
        assert_eq!(plan_merge(&blocks[..2], &ranges), None);
        assert_eq!(plan_merge(&[(0, 6 * H), (6 * H, 8 * H)], &ranges), None);
    }

    #[test]
    fn overlapping_blocks_of_one_range_merge_once_it_is_complete() {
        let ranges = block_ranges(2 * H, 100 * H);
        let blocks = [(0, 2 * H), (H, 2 * H), (2 * H, 4 * H)];
        assert_eq!(plan_merge(&blocks, &ranges), Some(vec![0, 1]));
        assert_eq!(plan_merge(&blocks[..2], &ranges), Some(vec![0, 1]));
        assert_eq!(plan_merge(&[(0, H), (H / 2, 3 * H / 2)], &ranges), None, "the window is not complete");
    }

    #[test]
    fn overlapping_chunks_merge_into_ordered_samples_each_timestamp_once() {
        let a = encode_chunks(&[(0, 1.0), (20, 3.0), (40, 5.0)]);
        let b = encode_chunks(&[(10, 2.0), (20, 3.0), (30, 4.0)]);
        let chunks: Vec<EncodedChunk> = a.into_iter().chain(b).collect();
        assert!(!in_order(&chunks));
        let want = [(0, 1.0), (10, 2.0), (20, 3.0), (30, 4.0), (40, 5.0)];
        assert_eq!(merged_samples(&chunks), want);
        assert!(in_order(&encode_chunks(&want)));
    }
}
