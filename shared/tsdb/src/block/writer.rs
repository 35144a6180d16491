//! Writing a block: chunks and index into `<name>.tmp`, fsynced, renamed into place.

use super::format::{self, BlockMeta, ChunkMeta};
use cardinal_model::{Labels, Timestamp};
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// One series' data for a new block: encoded chunks in time order.
pub struct SeriesChunks {
    pub labels: Labels,
    pub chunks: Vec<EncodedChunk>,
}

/// (min time, max time, samples, chunk bytes)
pub type EncodedChunk = (Timestamp, Timestamp, u16, Vec<u8>);

/// What a new block is: its time range `[min_time, max_time)`, level, and the blocks a
/// merge made it from.
pub struct BlockSpec {
    pub min_time: Timestamp,
    pub max_time: Timestamp,
    pub level: u32,
    pub parents: Vec<String>,
}

impl BlockSpec {
    pub fn new(min_time: Timestamp, max_time: Timestamp, level: u32) -> BlockSpec {
        BlockSpec { min_time, max_time, level, parents: Vec::new() }
    }
}

/// Writes a block under `parent`; series need not be sorted. Returns the block's
/// directory, or `None` when there was nothing to write.
pub fn write_block(parent: &Path, spec: BlockSpec, mut series: Vec<SeriesChunks>) -> io::Result<Option<PathBuf>> {
    series.retain(|s| !s.chunks.is_empty());
    if series.is_empty() {
        return Ok(None);
    }
    series.sort_by(|a, b| a.labels.cmp(&b.labels));
    let BlockSpec { min_time, max_time, level, parents } = spec;
    let name = unique_name(parent, &format!("{min_time:013}-{max_time:013}-L{level}"));
    let tmp = parent.join(format!("{name}.tmp"));
    let _ = fs::remove_dir_all(&tmp);
    fs::create_dir_all(&tmp)?;
    let mut chunks = BufWriter::with_capacity(1 << 20, File::create(tmp.join(format::CHUNKS))?);
    let mut index = Vec::with_capacity(series.len());
    let (mut offset, mut samples, mut n_chunks) = (0u64, 0u64, 0u64);
    for s in &series {
        let mut metas = Vec::with_capacity(s.chunks.len());
        for (min_t, max_t, count, data) in &s.chunks {
            chunks.write_all(data)?;
            let len = data.len() as u32;
            metas.push(ChunkMeta { min_t: *min_t, max_t: *max_t, offset, len, crc: crc32fast::hash(data) });
            offset += u64::from(len);
            samples += u64::from(*count);
        }
        n_chunks += metas.len() as u64;
        index.push((s.labels.clone(), metas));
    }
    chunks.flush()?;
    chunks.get_ref().sync_all()?;
    write_synced(&tmp.join(format::INDEX), &format::encode_index(&index))?;
    let meta = BlockMeta {
        min_time,
        max_time,
        num_series: series.len() as u64,
        num_samples: samples,
        num_chunks: n_chunks,
        level,
        version: format::VERSION,
        parents,
    };
    write_synced(&tmp.join(format::META), &serde_json::to_vec_pretty(&meta).expect("meta serializes"))?;
    let dir = parent.join(name);
    fs::rename(&tmp, &dir)?;
    File::open(parent)?.sync_all()?;
    Ok(Some(dir))
}

/// `stem` with a suffix no block under `parent` has: two blocks may cover the same range
/// (one cut from the head, one from late samples), and neither may replace the other.
fn unique_name(parent: &Path, stem: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    (0u32..)
        .map(|n| format!("{stem}-{:x}", nanos + u128::from(n)))
        .find(|name| !parent.join(name).exists() && !parent.join(format!("{name}.tmp")).exists())
        .expect("some suffix is free")
}

fn write_synced(path: &Path, data: &[u8]) -> io::Result<()> {
    let mut f = File::create(path)?;
    f.write_all(data)?;
    f.sync_all()
}
