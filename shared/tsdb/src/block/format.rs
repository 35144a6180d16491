//! The files of a block. `index` is a magic, then one entry per series — its labels and
//! per chunk: offset in `chunks` (the first absolute, then implied), min time as a delta
//! from the previous chunk's max, duration, length, CRC — each entry framed with its own
//! length and CRC, then a table of the entries' offsets and a footer with the table's CRC.
//! A damaged entry costs that series alone: the others are found through the table (or,
//! if the table is damaged, by walking the entries' lengths).
//!
//! Blocks written before entries were framed (index magic `CRDIDX01`: one CRC over the
//! whole body) are still read; in them any damage sets the whole block aside.

use cardinal_model::{Labels, Timestamp};
use cardinal_wal::encoding::{Reader, put_labels, put_uvarint, put_varint};
use serde::{Deserialize, Serialize};
use std::io;
use std::path::Path;

pub const INDEX: &str = "index";
pub const CHUNKS: &str = "chunks";
pub const META: &str = "meta.json";
const INDEX_MAGIC: &[u8; 8] = b"CRDIDX02";
const INDEX_MAGIC_1: &[u8; 8] = b"CRDIDX01";
/// An entry's length and CRC.
const ENTRY_HEADER: usize = 8;
/// The footer: the offset table's position, its entry count, and a CRC of both and it.
const FOOTER: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkMeta {
    pub min_t: Timestamp,
    pub max_t: Timestamp,
    pub offset: u64,
    pub len: u32,
    pub crc: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BlockMeta {
    /// Inclusive.
    pub min_time: Timestamp,
    /// Exclusive, as Prometheus's.
    pub max_time: Timestamp,
    pub num_series: u64,
    pub num_samples: u64,
    pub num_chunks: u64,
    /// 1 for a block cut from the head, one more for each merge.
    pub level: u32,
    pub version: u32,
    /// The directory names of the blocks a merge made this one from: a crash between
    /// writing it and deleting them leaves both, and opening deletes the parents. (Blocks
    /// may overlap, since late samples are written out as blocks of their own, so being
    /// covered by another block says nothing.)
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parents: Vec<String>,
}

/// The format blocks are written in. Version 1 held chunks in Prometheus's own layout
/// (read with [`crate::chunk::XorIter::legacy`]); 2 the current chunks with an index
/// checked as a whole; 3 the same chunks with an index checked entry by entry.
pub const VERSION: u32 = 3;

pub fn read_meta(dir: &Path) -> io::Result<BlockMeta> {
    let data = std::fs::read(dir.join(META))?;
    let meta: BlockMeta =
        serde_json::from_slice(&data).map_err(|e| invalid(format!("{}: {e}", dir.join(META).display())))?;
    if !(1..=VERSION).contains(&meta.version) {
        return Err(invalid(format!(
            "{}: format version {} is not one this build reads (1–{VERSION})",
            dir.join(META).display(),
            meta.version
        )));
    }
    Ok(meta)
}

pub fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

pub fn encode_index(series: &[(Labels, Vec<ChunkMeta>)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(series.len() * 140 + 24);
    out.extend_from_slice(INDEX_MAGIC);
    let mut offsets = Vec::with_capacity(series.len());
    let mut body = Vec::new();
    for (labels, chunks) in series {
        body.clear();
        put_labels(&mut body, labels);
        put_uvarint(&mut body, chunks.first().map_or(0, |c| c.offset));
        put_chunks(&mut body, chunks);
        offsets.push(out.len() as u64);
        out.extend_from_slice(&(body.len() as u32).to_le_bytes());
        out.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
        out.extend_from_slice(&body);
    }
    let table_at = out.len() as u64;
    for o in &offsets {
        out.extend_from_slice(&o.to_le_bytes());
    }
    out.extend_from_slice(&table_at.to_le_bytes());
    out.extend_from_slice(&(offsets.len() as u32).to_le_bytes());
    let crc = crc32fast::hash(&out[table_at as usize..]);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

fn put_chunks(body: &mut Vec<u8>, chunks: &[ChunkMeta]) {
    put_uvarint(body, chunks.len() as u64);
    let mut prev_max = 0;
    for c in chunks {
        put_varint(body, c.min_t - prev_max);
        put_uvarint(body, (c.max_t - c.min_t) as u64);
        put_uvarint(body, u64::from(c.len));
        body.extend_from_slice(&c.crc.to_le_bytes());
        prev_max = c.max_t;
    }
}

/// A block's index as read: its series, and what was damaged and left out.
pub struct Index {
    pub series: Vec<(Labels, Vec<ChunkMeta>)>,
    pub skipped: Vec<String>,
}

pub fn read_index(path: &Path) -> io::Result<Index> {
    let data = std::fs::read(path)?;
    decode_index(&data).map_err(|e| invalid(format!("{}: {e}", path.display())))
}

/// Decodes an index; damage that leaves no entry readable is an error.
pub fn decode_index(data: &[u8]) -> Result<Index, String> {
    match data.get(..8) {
        Some(m) if m == INDEX_MAGIC => decode_entries(data),
        Some(m) if m == INDEX_MAGIC_1 => Ok(Index { series: decode_format_1(data)?, skipped: Vec::new() }),
        _ => Err("not a block index (bad magic or too short)".into()),
    }
}

fn decode_entries(data: &[u8]) -> Result<Index, String> {
    let mut out = Index { series: Vec::new(), skipped: Vec::new() };
    let offsets = match entry_table(data) {
        Some(t) => t,
        None => {
            out.skipped.push("index offset table damaged; entries found by their lengths".into());
            walk_entries(data)
        }
    };
    for (n, at) in offsets.iter().enumerate() {
        match decode_entry(data, *at as usize) {
            Ok(entry) => out.series.push(entry),
            Err(e) => out.skipped.push(format!("series entry {n} at byte {at}: {e}")),
        }
    }
    // A block is never written empty: an index without one series is all damage.
    if out.series.is_empty() {
        return Err(format!("no readable series entry: {}", out.skipped.join("; ")));
    }
    Ok(out)
}

fn u64_at(data: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(data.get(at..at + 8)?.try_into().ok()?))
}

fn u32_at(data: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(data.get(at..at + 4)?.try_into().ok()?))
}

/// The entries' offsets from the table, if the footer and table are intact.
fn entry_table(data: &[u8]) -> Option<Vec<u64>> {
    let footer = data.len().checked_sub(FOOTER)?;
    let table_at = usize::try_from(u64_at(data, footer)?).ok()?;
    let n = u32_at(data, footer + 8)? as usize;
    let crc = u32_at(data, footer + 12)?;
    if table_at < INDEX_MAGIC.len() || table_at.checked_add(n.checked_mul(8)?)? != footer {
        return None;
    }
    if crc32fast::hash(&data[table_at..footer + 12]) != crc {
        return None;
    }
    (0..n).map(|i| u64_at(data, table_at + i * 8)).collect()
}

/// The entries' offsets by walking their lengths from the start, as far as they lead.
fn walk_entries(data: &[u8]) -> Vec<u64> {
    let mut out = Vec::new();
    let mut at = INDEX_MAGIC.len();
    let end = data.len().saturating_sub(FOOTER);
    while at + ENTRY_HEADER <= end {
        let Some(len) = u32_at(data, at) else { break };
        out.push(at as u64);
        at += ENTRY_HEADER + len as usize;
    }
    out
}

fn decode_entry(data: &[u8], at: usize) -> Result<(Labels, Vec<ChunkMeta>), String> {
    let len = u32_at(data, at).ok_or("beyond the end of the index")? as usize;
    let crc = u32_at(data, at + 4).ok_or("beyond the end of the index")?;
    let body = data.get(at + ENTRY_HEADER..at + ENTRY_HEADER + len).ok_or("runs past the end of the index")?;
    if crc32fast::hash(body) != crc {
        return Err("checksum mismatch".into());
    }
    let mut r = Reader::new(body);
    let e = |c: cardinal_wal::encoding::Corrupt| c.to_string();
    let labels = r.labels().map_err(e)?;
    let mut offset = r.uvarint().map_err(e)?;
    let chunks = read_chunks(&mut r, &mut offset)?;
    Ok((labels, chunks))
}

/// A series' chunk metadata, the first chunk at `offset` and each next one after it.
fn read_chunks(r: &mut Reader, offset: &mut u64) -> Result<Vec<ChunkMeta>, String> {
    let e = |c: cardinal_wal::encoding::Corrupt| c.to_string();
    let k = r.len(4).map_err(e)?;
    let mut chunks = Vec::with_capacity(k);
    let mut prev_max = 0i64;
    for _ in 0..k {
        let min_t = prev_max.wrapping_add(r.varint().map_err(e)?);
        let max_t = min_t.wrapping_add(r.uvarint().map_err(e)? as i64);
        let len = u32::try_from(r.uvarint().map_err(e)?).map_err(|_| "chunk length overflows")?;
        let crc = u32::from_le_bytes(r.bytes(4).map_err(e)?.try_into().expect("4 bytes"));
        chunks.push(ChunkMeta { min_t, max_t, offset: *offset, len, crc });
        *offset += u64::from(len);
        prev_max = max_t;
    }
    Ok(chunks)
}

/// An index of blocks before format 3: one body, one CRC, chunk offsets implied across
/// every series.
fn decode_format_1(data: &[u8]) -> Result<Vec<(Labels, Vec<ChunkMeta>)>, String> {
    if data.len() < INDEX_MAGIC_1.len() + 4 {
        return Err("not a block index (too short)".into());
    }
    let (body, crc) = data[8..].split_at(data.len() - 12);
    if crc32fast::hash(body).to_le_bytes() != crc {
        return Err("index checksum mismatch".into());
    }
    let mut r = Reader::new(body);
    let n = r.len(2).map_err(|c| c.to_string())?;
    let mut out = Vec::with_capacity(n);
    let mut offset = 0u64;
    for _ in 0..n {
        let labels = r.labels().map_err(|c| c.to_string())?;
        out.push((labels, read_chunks(&mut r, &mut offset)?));
    }
    Ok(out)
}
