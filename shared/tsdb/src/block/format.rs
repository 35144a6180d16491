//! The files of a block. `index` is a magic, a body of varint-encoded series (labels,
//! then per chunk: min time as a delta from the previous chunk's max, duration, length,
//! CRC), and a CRC of the body. A chunk's offset in `chunks` is implied: chunks are
//! written series after series, in order.

use crate::encoding::{Reader, put_labels, put_uvarint, put_varint};
use cardinal_model::{Labels, Timestamp};
use serde::{Deserialize, Serialize};
use std::io;
use std::path::Path;

pub const INDEX: &str = "index";
pub const CHUNKS: &str = "chunks";
pub const META: &str = "meta.json";
const INDEX_MAGIC: &[u8; 8] = b"CRDIDX01";

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
}

/// The format blocks are written in. Version 1 held chunks in Prometheus's own layout
/// (read with [`crate::chunk::XorIter::legacy`]); 2 in the current one.
pub const VERSION: u32 = 2;

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
    let mut body = Vec::with_capacity(series.len() * 128);
    put_uvarint(&mut body, series.len() as u64);
    for (labels, chunks) in series {
        put_labels(&mut body, labels);
        put_uvarint(&mut body, chunks.len() as u64);
        let mut prev_max = 0;
        for c in chunks {
            put_varint(&mut body, c.min_t - prev_max);
            put_uvarint(&mut body, (c.max_t - c.min_t) as u64);
            put_uvarint(&mut body, u64::from(c.len));
            body.extend_from_slice(&c.crc.to_le_bytes());
            prev_max = c.max_t;
        }
    }
    let mut out = Vec::with_capacity(body.len() + 12);
    out.extend_from_slice(INDEX_MAGIC);
    out.extend_from_slice(&body);
    out.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
    out
}

pub fn read_index(path: &Path) -> io::Result<Vec<(Labels, Vec<ChunkMeta>)>> {
    let data = std::fs::read(path)?;
    decode_index(&data).map_err(|e| invalid(format!("{}: {e}", path.display())))
}

pub fn decode_index(data: &[u8]) -> Result<Vec<(Labels, Vec<ChunkMeta>)>, String> {
    if data.len() < INDEX_MAGIC.len() + 4 || &data[..8] != INDEX_MAGIC {
        return Err("not a block index (bad magic or too short)".into());
    }
    let (body, crc) = data[8..].split_at(data.len() - 12);
    if crc32fast::hash(body).to_le_bytes() != crc {
        return Err("index checksum mismatch".into());
    }
    let mut r = Reader::new(body);
    let e = |c: crate::encoding::Corrupt| c.to_string();
    let n = r.len(2).map_err(e)?;
    let mut out = Vec::with_capacity(n);
    let mut offset = 0u64;
    for _ in 0..n {
        let labels = r.labels().map_err(e)?;
        let k = r.len(4).map_err(e)?;
        let mut chunks = Vec::with_capacity(k);
        let mut prev_max = 0i64;
        for _ in 0..k {
            let min_t = prev_max.wrapping_add(r.varint().map_err(e)?);
            let max_t = min_t.wrapping_add(r.uvarint().map_err(e)? as i64);
            let len = u32::try_from(r.uvarint().map_err(e)?).map_err(|_| "chunk length overflows")?;
            let crc = u32::from_le_bytes(r.bytes(4).map_err(e)?.try_into().expect("4 bytes"));
            chunks.push(ChunkMeta { min_t, max_t, offset, len, crc });
            offset += u64::from(len);
            prev_max = max_t;
        }
        out.push((labels, chunks));
    }
    Ok(out)
}
