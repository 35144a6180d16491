//! Record framing in a segment file: `len: u32 LE | crc32: u32 LE | body`. The CRC covers
//! the body, so a torn write (a crash mid-record) and flipped bits are both detected.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

pub const HEADER: usize = 8;
/// A larger length can only be corruption: no record we write comes near it.
pub const MAX_RECORD: usize = 64 << 20;

/// Replaces `out` with one framed record whose body `encode` writes: the body is encoded
/// in place after a header filled in afterwards, so logging copies nothing.
pub fn frame_with(out: &mut Vec<u8>, encode: impl FnOnce(&mut Vec<u8>)) {
    out.clear();
    out.extend_from_slice(&[0; HEADER]);
    encode(out);
    let (header, body) = out.split_at_mut(HEADER);
    header[..4].copy_from_slice(&(body.len() as u32).to_le_bytes());
    header[4..].copy_from_slice(&crc32fast::hash(body).to_le_bytes());
}

/// How reading a segment ended.
#[derive(Debug, PartialEq, Eq)]
pub enum End {
    Clean,
    /// A record at this offset is incomplete or fails its CRC; nothing after it can be
    /// trusted, since record boundaries are only known by walking lengths.
    Corrupt {
        offset: u64,
        reason: String,
    },
}

/// Calls `f` with each intact record body, in order, until the end or the first damage.
pub fn read(path: &Path, mut f: impl FnMut(&[u8])) -> io::Result<End> {
    let (_, stop) = read_from(path, 0, |b| {
        f(b);
        true
    })?;
    Ok(match stop {
        Stop::Eof | Stop::Paused => End::Clean,
        Stop::Torn { offset, reason } | Stop::Corrupt { offset, reason } => End::Corrupt { offset, reason },
    })
}

/// Where reading from an offset stopped.
#[derive(Debug, PartialEq, Eq)]
pub enum Stop {
    Eof,
    /// The callback asked to stop; resume from the returned offset.
    Paused,
    /// The last record is incomplete: still being written, or torn by a crash.
    Torn {
        offset: u64,
        reason: String,
    },
    /// A complete record fails its CRC (or has an impossible length).
    Corrupt {
        offset: u64,
        reason: String,
    },
}

/// Reads records from `offset` while `f` returns true; returns the offset after the last
/// record consumed. What a WAL tailer (the remote-write sender) resumes from.
pub fn read_from(path: &Path, offset: u64, mut f: impl FnMut(&[u8]) -> bool) -> io::Result<(u64, Stop)> {
    let mut file = File::open(path)?;
    std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(offset))?;
    let mut r = BufReader::with_capacity(1 << 20, file);
    let mut offset = offset;
    let mut body = Vec::new();
    loop {
        let mut header = [0u8; HEADER];
        match read_full(&mut r, &mut header)? {
            0 => return Ok((offset, Stop::Eof)),
            n if n < HEADER => return Ok((offset, torn(offset, "torn record header"))),
            _ => {}
        }
        let len = u32::from_le_bytes(header[..4].try_into().expect("4 bytes")) as usize;
        let crc = u32::from_le_bytes(header[4..].try_into().expect("4 bytes"));
        if len > MAX_RECORD {
            return Ok((offset, corrupt(offset, "impossible record length")));
        }
        body.resize(len, 0);
        if read_full(&mut r, &mut body)? < len {
            return Ok((offset, torn(offset, "torn record")));
        }
        if crc32fast::hash(&body) != crc {
            return Ok((offset, corrupt(offset, "checksum mismatch")));
        }
        let more = f(&body);
        offset += (HEADER + len) as u64;
        if !more {
            return Ok((offset, Stop::Paused));
        }
    }
}

fn torn(offset: u64, reason: &str) -> Stop {
    Stop::Torn { offset, reason: reason.to_string() }
}

fn corrupt(offset: u64, reason: &str) -> Stop {
    Stop::Corrupt { offset, reason: reason.to_string() }
}

/// Like `read_exact`, but says how much it got instead of failing at the end of the file.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(bodies: &[&[u8]]) -> (tempfile::TempDir, std::path::PathBuf, Vec<u8>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("00000001");
        let (mut data, mut rec) = (Vec::new(), Vec::new());
        for b in bodies {
            frame_with(&mut rec, |out| out.extend_from_slice(b));
            data.extend_from_slice(&rec);
        }
        std::fs::write(&path, &data).unwrap();
        (dir, path, data)
    }

    fn read_all(path: &Path) -> (Vec<Vec<u8>>, End) {
        let mut got = Vec::new();
        let end = read(path, |b| got.push(b.to_vec())).unwrap();
        (got, end)
    }

    #[test]
    fn intact_records_come_back() {
        let (_d, path, _) = write(&[b"one", b"", b"three"]);
        assert_eq!(read_all(&path), (vec![b"one".to_vec(), vec![], b"three".to_vec()], End::Clean));
    }

    #[test]
    fn a_torn_tail_stops_at_the_last_whole_record() {
        let (_d, path, data) = write(&[b"one", b"two"]);
        for cut in [data.len() - 1, data.len() - 4, 11 + 3] {
            std::fs::write(&path, &data[..cut]).unwrap();
            let (got, end) = read_all(&path);
            assert_eq!(got, vec![b"one".to_vec()], "cut at {cut}");
            assert!(matches!(end, End::Corrupt { offset: 11, .. }), "{end:?}");
        }
    }

    #[test]
    fn a_flipped_bit_is_caught() {
        let (_d, path, mut data) = write(&[b"one", b"two", b"three"]);
        data[11 + 8] ^= 0x10;
        std::fs::write(&path, &data).unwrap();
        let (got, end) = read_all(&path);
        assert_eq!(got, vec![b"one".to_vec()]);
        assert_eq!(end, End::Corrupt { offset: 11, reason: "checksum mismatch".into() });
    }
}
