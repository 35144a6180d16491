//! The little binary encoding the WAL and the block index share: LEB128 varints,
//! zig-zag signed integers, length-prefixed strings, and a bounds-checked reader that
//! reports truncation instead of panicking (files on disk may be torn or corrupt).

use cardinal_model::{Label, Labels};

pub fn put_uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub fn put_varint(out: &mut Vec<u8>, v: i64) {
    put_uvarint(out, ((v << 1) ^ (v >> 63)) as u64);
}

pub fn put_str(out: &mut Vec<u8>, s: &str) {
    put_uvarint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

pub fn put_labels(out: &mut Vec<u8>, labels: &Labels) {
    put_uvarint(out, labels.len() as u64);
    for l in labels.iter() {
        put_str(out, &l.name);
        put_str(out, &l.value);
    }
}

/// The data ended early or made no sense.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Corrupt(pub &'static str);

impl std::fmt::Display for Corrupt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "corrupt data: {}", self.0)
    }
}

pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    pub fn uvarint(&mut self) -> Result<u64, Corrupt> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self.buf.get(self.pos).ok_or(Corrupt("truncated varint"))?;
            self.pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(Corrupt("varint too long"))
    }

    pub fn varint(&mut self) -> Result<i64, Corrupt> {
        let u = self.uvarint()?;
        Ok((u >> 1) as i64 ^ -((u & 1) as i64))
    }

    /// A length read from the data, checked against what is left so that a corrupt
    /// length cannot make the caller allocate gigabytes.
    pub fn len(&mut self, min_item_bytes: usize) -> Result<usize, Corrupt> {
        let n = self.uvarint()?;
        let left = (self.buf.len() - self.pos) as u64;
        if n.saturating_mul(min_item_bytes as u64) > left {
            return Err(Corrupt("length beyond the end"));
        }
        Ok(n as usize)
    }

    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], Corrupt> {
        let end = self.pos.checked_add(n).filter(|e| *e <= self.buf.len()).ok_or(Corrupt("truncated bytes"))?;
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    pub fn u64_le(&mut self) -> Result<u64, Corrupt> {
        Ok(u64::from_le_bytes(self.bytes(8)?.try_into().expect("8 bytes")))
    }

    pub fn str(&mut self) -> Result<&'a str, Corrupt> {
        let n = self.len(1)?;
        std::str::from_utf8(self.bytes(n)?).map_err(|_| Corrupt("label is not UTF-8"))
    }

    pub fn labels(&mut self) -> Result<Labels, Corrupt> {
        let n = self.len(2)?;
        let mut out: Vec<Label> = Vec::with_capacity(n);
        for _ in 0..n {
            let l = Label::new(self.str()?, self.str()?);
            if out.last().is_some_and(|p| p.name >= l.name) {
                return Err(Corrupt("labels not sorted"));
            }
            out.push(l);
        }
        Ok(Labels::from_sorted(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn varints_round_trip(u: u64, i: i64) {
            let mut b = Vec::new();
            put_uvarint(&mut b, u);
            put_varint(&mut b, i);
            let mut r = Reader::new(&b);
            prop_assert_eq!(r.uvarint().unwrap(), u);
            prop_assert_eq!(r.varint().unwrap(), i);
            prop_assert!(r.is_empty());
        }

        #[test]
        fn garbage_never_panics(b: Vec<u8>) {
            let mut r = Reader::new(&b);
            let _ = r.labels();
            let _ = r.varint();
            let _ = r.str();
        }
    }

    #[test]
    fn corrupt_lengths_are_refused() {
        let mut b = Vec::new();
        put_uvarint(&mut b, u64::MAX / 2);
        assert!(Reader::new(&b).labels().is_err());
        assert!(Reader::new(&b).str().is_err());
    }
}
