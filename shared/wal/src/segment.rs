//! Record framing in a segment file. A segment starts with `CWAL` and a format byte; each
//! record is `magic: u32 LE | len: u32 LE | crc32(len ‖ body): u32 LE | body`. The CRC
//! catches a torn write (a crash mid-record) and flipped bits alike, and covers the length,
//! so a damaged length cannot send the reader astray. The magic lets a reader that meets a
//! damaged record find the next intact one: a flipped bit costs the record it is in, not
//! the rest of the segment.
//!
//! Segments written before the magic existed (format 1: `len | crc32(body) | body`, no
//! file header) are still read; in them damage ends the segment, as it did then.

use memmap2::Mmap;
use std::fs::File;
use std::io;
use std::path::Path;

/// What a segment (or checkpoint) of the current format starts with.
pub const FILE_HEADER: [u8; 8] = *b"CWAL\x02\0\0\0";
/// Each record's first bytes: chosen to be unlikely in encoded samples and labels.
const RECORD_MAGIC: [u8; 4] = [0xC7, 0x9E, 0x5A, 0x3D];
/// A record's header: magic, length, CRC.
pub const HEADER: usize = 12;
/// A larger length can only be corruption: no record we write comes near it.
pub const MAX_RECORD: usize = 64 << 20;

/// Replaces `out` with one framed record whose body `encode` writes: the body is encoded
/// in place after a header filled in afterwards, so logging copies nothing.
pub fn frame_with(out: &mut Vec<u8>, encode: impl FnOnce(&mut Vec<u8>)) {
    out.clear();
    out.extend_from_slice(&[0; HEADER]);
    encode(out);
    let len = ((out.len() - HEADER) as u32).to_le_bytes();
    let mut crc = crc32fast::Hasher::new();
    crc.update(&len);
    crc.update(&out[HEADER..]);
    out[..4].copy_from_slice(&RECORD_MAGIC);
    out[4..8].copy_from_slice(&len);
    out[8..12].copy_from_slice(&crc.finalize().to_le_bytes());
}

/// A damaged stretch of a segment that reading stepped over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    pub offset: u64,
    pub len: u64,
    pub reason: String,
}

/// Where reading from an offset stopped.
#[derive(Debug, PartialEq, Eq)]
pub enum Stop {
    Eof,
    /// The callback asked to stop; resume from the returned offset.
    Paused,
    /// The file ends inside a record, with no intact record after it: still being
    /// written, or torn by a crash.
    Torn {
        offset: u64,
        reason: String,
    },
    /// A damaged record in a format-1 segment, which gives no way to find the next one.
    Corrupt {
        offset: u64,
        reason: String,
    },
}

/// How reading a whole segment ended, and what it stepped over.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Read {
    /// Where the file stops making sense: a torn tail (or, in format 1, damage) starts
    /// here. `None`: the file ends on a whole record.
    pub end: Option<(u64, String)>,
    /// Damaged records stepped over, each costing only itself.
    pub skipped: Vec<Damage>,
}

/// Calls `f` with each intact record body, in order, to the end of the file.
pub fn read(path: &Path, mut f: impl FnMut(&[u8])) -> io::Result<Read> {
    let mut out = Read::default();
    let (_, stop) = read_from(
        path,
        0,
        |_, b| {
            f(b);
            true
        },
        |d| out.skipped.push(d),
    )?;
    out.end = match stop {
        Stop::Eof | Stop::Paused => None,
        Stop::Torn { offset, reason } | Stop::Corrupt { offset, reason } => Some((offset, reason)),
    };
    Ok(out)
}

/// Reads records from `offset` while `f` (given each record's offset and body) returns
/// true, stepping over damaged records (reported to `damaged`); returns the offset after
/// the last record consumed. What a WAL tailer (the remote-write sender) resumes from.
pub fn read_from(
    path: &Path,
    offset: u64,
    mut f: impl FnMut(u64, &[u8]) -> bool,
    mut damaged: impl FnMut(Damage),
) -> io::Result<(u64, Stop)> {
    let file = File::open(path)?;
    if file.metadata()?.len() == 0 {
        return Ok((offset, Stop::Eof));
    }
    // SAFETY: segments are only appended to while open; the one truncation (of a torn
    // tail) happens at startup, before any reader, and removal unlinks, which a mapping
    // survives.
    let map = unsafe { Mmap::map(&file)? };
    let data = &map[..];
    let framed = is_framed(data);
    let mut pos = if framed { (offset as usize).max(FILE_HEADER.len()) } else { offset as usize };
    while pos < data.len() {
        let parsed = if framed { parse(data, pos) } else { parse_format1(data, pos) };
        match parsed {
            Ok((body, next)) => {
                if !f(pos as u64, body) {
                    return Ok((next as u64, Stop::Paused));
                }
                pos = next;
            }
            Err(why) if !framed => {
                let offset = pos as u64;
                return Ok((
                    offset,
                    if why.torn { Stop::Torn { offset, reason: why.reason } } else { corrupt(offset, why) },
                ));
            }
            Err(why) => match next_record(data, pos + 1) {
                Some(next) => {
                    damaged(Damage { offset: pos as u64, len: (next - pos) as u64, reason: why.reason });
                    pos = next;
                }
                None => return Ok((pos as u64, Stop::Torn { offset: pos as u64, reason: why.reason })),
            },
        }
    }
    Ok((pos as u64, Stop::Eof))
}

/// Whether a file is in the current format: it starts with [`FILE_HEADER`], which as a
/// format-1 record length (its first four bytes) would be impossible even with a bit of
/// it flipped, or its first record has the magic.
fn is_framed(data: &[u8]) -> bool {
    data.len() >= 4 && u32_at(data, 0) as usize > MAX_RECORD
        || data.get(FILE_HEADER.len()..FILE_HEADER.len() + 4) == Some(&RECORD_MAGIC[..])
}

fn corrupt(offset: u64, why: Bad) -> Stop {
    Stop::Corrupt { offset, reason: why.reason }
}

/// Why a record does not read: `torn` when the file ends inside it.
struct Bad {
    torn: bool,
    reason: String,
}

fn bad(torn: bool, reason: &str) -> Bad {
    Bad { torn, reason: reason.to_string() }
}

fn u32_at(data: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(data[at..at + 4].try_into().expect("4 bytes"))
}

/// The record at `pos` (current format): its body and where the next starts.
fn parse(data: &[u8], pos: usize) -> Result<(&[u8], usize), Bad> {
    if data.len() - pos < HEADER {
        return Err(bad(true, "torn record header"));
    }
    if data[pos..pos + 4] != RECORD_MAGIC {
        return Err(bad(false, "no record starts here"));
    }
    let len = u32_at(data, pos + 4) as usize;
    if len > MAX_RECORD {
        return Err(bad(false, "impossible record length"));
    }
    let end = pos + HEADER + len;
    if end > data.len() {
        return Err(bad(true, "torn record"));
    }
    let mut crc = crc32fast::Hasher::new();
    crc.update(&data[pos + 4..pos + 8]);
    crc.update(&data[pos + HEADER..end]);
    if crc.finalize() != u32_at(data, pos + 8) {
        return Err(bad(false, "checksum mismatch"));
    }
    Ok((&data[pos + HEADER..end], end))
}

/// The first intact record at or after `from`.
fn next_record(data: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    while at < data.len() {
        let found = at + memchr::memmem::find(&data[at..], &RECORD_MAGIC)?;
        if parse(data, found).is_ok() {
            return Some(found);
        }
        at = found + 1;
    }
    None
}

/// A format-1 record: `len | crc32(body) | body`, found only by walking lengths.
fn parse_format1(data: &[u8], pos: usize) -> Result<(&[u8], usize), Bad> {
    const HEADER1: usize = 8;
    if data.len() - pos < HEADER1 {
        return Err(bad(true, "torn record header"));
    }
    let len = u32_at(data, pos) as usize;
    if len > MAX_RECORD {
        return Err(bad(false, "impossible record length"));
    }
    let end = pos + HEADER1 + len;
    if end > data.len() {
        return Err(bad(true, "torn record"));
    }
    if crc32fast::hash(&data[pos + HEADER1..end]) != u32_at(data, pos + 4) {
        return Err(bad(false, "checksum mismatch"));
    }
    Ok((&data[pos + HEADER1..end], end))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(bodies: &[&[u8]]) -> Vec<u8> {
        let (mut data, mut rec) = (FILE_HEADER.to_vec(), Vec::new());
        for b in bodies {
            frame_with(&mut rec, |out| out.extend_from_slice(b));
            data.extend_from_slice(&rec);
        }
        data
    }

    fn read_all(data: &[u8]) -> (Vec<Vec<u8>>, Read) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("00000001");
        std::fs::write(&path, data).unwrap();
        let mut got = Vec::new();
        let r = read(&path, |b| got.push(b.to_vec())).unwrap();
        (got, r)
    }

    #[test]
    fn intact_records_come_back() {
        let (got, r) = read_all(&framed(&[b"one", b"", b"three"]));
        assert_eq!(got, vec![b"one".to_vec(), vec![], b"three".to_vec()]);
        assert_eq!(r, Read::default());
    }

    #[test]
    fn a_torn_tail_stops_at_the_last_whole_record() {
        let data = framed(&[b"one", b"two"]);
        let second = FILE_HEADER.len() + HEADER + 3;
        for cut in [data.len() - 1, data.len() - 4, second + 3] {
            let (got, r) = read_all(&data[..cut]);
            assert_eq!(got, vec![b"one".to_vec()], "cut at {cut}");
            assert_eq!(r.end.map(|e| e.0), Some(second as u64), "cut at {cut}");
            assert!(r.skipped.is_empty());
        }
    }

    /// A flipped bit anywhere in a record (magic, length, CRC or body) costs that record
    /// and nothing after it.
    #[test]
    fn a_flipped_bit_costs_only_its_record() {
        let data = framed(&[b"one", b"two", b"three"]);
        let second = FILE_HEADER.len() + HEADER + 3;
        for at in second..second + HEADER + 3 {
            for bit in [0x01, 0x10, 0x80] {
                let mut bad = data.clone();
                bad[at] ^= bit;
                let (got, r) = read_all(&bad);
                assert_eq!(got, vec![b"one".to_vec(), b"three".to_vec()], "bit {bit:#x} at {at}");
                assert_eq!(r.skipped.len(), 1, "bit {bit:#x} at {at}");
                assert_eq!((r.skipped[0].offset, r.skipped[0].len), (second as u64, (HEADER + 3) as u64));
                assert_eq!(r.end, None);
            }
        }
    }

    #[test]
    fn a_flipped_bit_in_the_file_header_loses_nothing() {
        let data = framed(&[b"one", b"two"]);
        for at in 0..FILE_HEADER.len() {
            let mut bad = data.clone();
            bad[at] ^= 0x40;
            assert_eq!(read_all(&bad).0.len(), 2, "bit at {at}");
        }
    }

    #[test]
    fn format_1_segments_are_read_and_stop_at_damage() {
        let mut data = Vec::new();
        for b in [&b"one"[..], b"two", b"three"] {
            data.extend_from_slice(&(b.len() as u32).to_le_bytes());
            data.extend_from_slice(&crc32fast::hash(b).to_le_bytes());
            data.extend_from_slice(b);
        }
        let (got, r) = read_all(&data);
        assert_eq!((got.len(), r.end), (3, None));
        data[11 + 8] ^= 0x10;
        let (got, r) = read_all(&data);
        assert_eq!(got, vec![b"one".to_vec()]);
        assert_eq!(r.end, Some((11, "checksum mismatch".into())));
    }

    proptest::proptest! {
        /// Any bytes after a good record, and any damage, read without panicking and
        /// never yield a body that was not written.
        #[test]
        fn damage_never_invents_records(flips in proptest::collection::vec((0usize..200, 0u8..8), 0..6)) {
            let bodies: Vec<Vec<u8>> = (0..8u8).map(|i| vec![i; 10 + usize::from(i)]).collect();
            let refs: Vec<&[u8]> = bodies.iter().map(Vec::as_slice).collect();
            let mut data = framed(&refs);
            for (at, bit) in flips {
                let at = at % data.len();
                data[at] ^= 1 << bit;
            }
            let (got, _) = read_all(&data);
            for g in got {
                proptest::prop_assert!(bodies.contains(&g));
            }
        }
    }
}
