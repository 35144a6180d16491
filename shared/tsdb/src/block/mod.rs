//! Immutable on-disk blocks. A block is a directory holding `meta.json` (time range,
//! counts, level), `chunks` (XOR chunks back to back) and `index` (each series' labels
//! and its chunks' time ranges, lengths and CRCs). A block is written to a `.tmp`
//! directory and renamed into place, so a crash never leaves half a block.
//!
//! Opening loads the index into memory (a master holds thousands of aggregate series,
//! not millions) and maps `chunks`, so reading a 30-day range touches only the pages of
//! the chunks it decodes. Every chunk carries its CRC: a damaged chunk is skipped and
//! counted, never returned as data; so does every index entry: a damaged one costs its
//! series, and the block serves the rest.

mod format;
mod writer;

use crate::chunk::XorIter;
use crate::index::Postings;
use crate::symbols::Symbols;
use cardinal_model::{Labels, Matcher, Timestamp};
pub use format::{BlockMeta, ChunkMeta};
use memmap2::Mmap;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
pub use writer::{BlockSpec, EncodedChunk, SeriesChunks, write_block};

pub struct Block {
    pub dir: PathBuf,
    pub meta: BlockMeta,
    chunks: Option<Mmap>,
    series: Vec<(Labels, Vec<ChunkMeta>)>,
    symbols: Symbols,
    postings: Postings,
    pub disk_bytes: u64,
    /// Chunks found damaged on read (each is skipped).
    pub corrupt_chunks: AtomicU64,
    /// Index entries found damaged on opening, each a series left out.
    pub skipped: Vec<String>,
}

impl Block {
    pub fn open(dir: &Path) -> io::Result<Block> {
        let meta = format::read_meta(dir)?;
        let format::Index { series, skipped } = format::read_index(&dir.join(format::INDEX))?;
        let file = File::open(dir.join(format::CHUNKS))?;
        let len = file.metadata()?.len();
        // SAFETY: block files are immutable once renamed into place; nothing writes them.
        let chunks = if len == 0 { None } else { Some(unsafe { Mmap::map(&file)? }) };
        let (mut symbols, mut postings) = (Symbols::default(), Postings::default());
        for (i, (labels, _)) in series.iter().enumerate() {
            let pairs: Vec<(u32, u32)> =
                labels.iter().map(|l| (symbols.intern(&l.name), symbols.intern(&l.value))).collect();
            postings.add(i as u64, &pairs);
        }
        let disk_bytes = std::fs::read_dir(dir)?.filter_map(|e| e.ok()?.metadata().ok()).map(|m| m.len()).sum();
        Ok(Block {
            dir: dir.to_path_buf(),
            meta,
            chunks,
            series,
            symbols,
            postings,
            disk_bytes,
            corrupt_chunks: AtomicU64::new(0),
            skipped,
        })
    }

    pub fn num_series(&self) -> usize {
        self.series.len()
    }

    /// The series matching `matchers`, by index, in label order.
    pub fn select(&self, matchers: &[Matcher]) -> Vec<usize> {
        self.postings.select(matchers, &self.symbols).into_iter().map(|i| i as usize).collect()
    }

    pub fn labels(&self, i: usize) -> &Labels {
        &self.series[i].0
    }

    /// Appends series `i`'s samples in `[mint, maxt]` to `out`, oldest first.
    pub fn samples(&self, i: usize, mint: Timestamp, maxt: Timestamp, out: &mut Vec<(Timestamp, f64)>) {
        for c in self.series[i].1.iter().filter(|c| c.max_t >= mint && c.min_t <= maxt) {
            if let Some(data) = self.chunk(c) {
                out.reserve(usize::from(crate::chunk::sample_count(data)));
                for (t, v) in self.decode(data) {
                    if t > maxt {
                        break;
                    }
                    if t >= mint {
                        out.push((t, v));
                    }
                }
            }
        }
    }

    fn decode<'a>(&self, chunk: &'a [u8]) -> XorIter<'a> {
        if self.meta.version == 1 { XorIter::legacy(chunk) } else { XorIter::new(chunk) }
    }

    /// Series `i`'s chunks in the current format, for merging blocks: copied as they are,
    /// or re-encoded from a block of an older format.
    pub fn chunks_for_merge(&self, i: usize) -> impl Iterator<Item = EncodedChunk> + '_ {
        self.series[i].1.iter().flat_map(|c| {
            let Some(data) = self.chunk(c) else { return Vec::new() };
            if self.meta.version >= 2 {
                return vec![(c.min_t, c.max_t, crate::chunk::sample_count(data), data.to_vec())];
            }
            crate::compact::encode_chunks(&self.decode(data).collect::<Vec<_>>())
        })
    }

    fn chunk(&self, c: &ChunkMeta) -> Option<&[u8]> {
        let data = self.chunks.as_deref()?.get(c.offset as usize..(c.offset + u64::from(c.len)) as usize);
        match data {
            Some(d) if crc32fast::hash(d) == c.crc => Some(d),
            _ => {
                if self.corrupt_chunks.fetch_add(1, Relaxed) == 0 {
                    tracing::error!(block = %self.dir.display(), offset = c.offset, "damaged chunk skipped");
                }
                None
            }
        }
    }

    pub fn label_names(&self) -> impl Iterator<Item = &str> {
        self.postings.names().map(|(n, _)| self.symbols.get(n))
    }

    pub fn label_values(&self, name: &str) -> Vec<&str> {
        let Some(n) = self.symbols.lookup(name) else { return Vec::new() };
        self.postings.values_of(n).map(|(v, _)| self.symbols.get(v)).collect()
    }
}

#[cfg(test)]
mod tests;
