//! The primitive encodings of a JFR chunk: big-endian fixed-width numbers in the header,
//! LEB128 varints everywhere else (a long's ninth byte carries eight bits), and strings
//! in one of five encodings. Every read is bounds-checked: a recording is input.

/// Why a recording does not read; the message names where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bad(pub String);

pub type Result<T> = std::result::Result<T, Bad>;

pub fn bad<T>(msg: impl Into<String>) -> Result<T> {
    Err(Bad(msg.into()))
}

#[derive(Clone)]
pub struct Reader<'a> {
    data: &'a [u8],
    pub pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(data: &'a [u8], pos: usize) -> Self {
        Reader { data, pos }
    }

    pub fn remaining(&self) -> usize {
        self.data.len().saturating_sub(self.pos)
    }

    #[inline]
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|e| *e <= self.data.len());
        let Some(end) = end else { return self.truncated(n) };
        let out = &self.data[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    #[cold]
    fn truncated<T>(&self, wanted: usize) -> Result<T> {
        bad(format!("truncated at byte {} (wanted {wanted} more)", self.pos))
    }

    #[inline]
    pub fn u8(&mut self) -> Result<u8> {
        match self.data.get(self.pos) {
            Some(b) => {
                self.pos += 1;
                Ok(*b)
            }
            None => self.truncated(1),
        }
    }

    pub fn be_u16(&mut self) -> Result<u16> {
        Ok(u16::from_be_bytes(self.bytes(2)?.try_into().expect("2 bytes")))
    }

    pub fn be_i32(&mut self) -> Result<i32> {
        Ok(i32::from_be_bytes(self.bytes(4)?.try_into().expect("4 bytes")))
    }

    pub fn be_i64(&mut self) -> Result<i64> {
        Ok(i64::from_be_bytes(self.bytes(8)?.try_into().expect("8 bytes")))
    }

    /// A compressed long: seven bits a byte, low first, the ninth byte whole. The hottest
    /// read of a recording: one bounds check for the common one-byte case.
    #[inline]
    pub fn varlong(&mut self) -> Result<i64> {
        let rest = self.data.get(self.pos..).unwrap_or_default();
        let mut v: u64 = 0;
        for (i, b) in rest.iter().take(9).enumerate() {
            if i == 8 {
                self.pos += 9;
                return Ok((v | (u64::from(*b) << 56)) as i64);
            }
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                self.pos += i + 1;
                return Ok(v as i64);
            }
        }
        self.truncated(1)
    }

    /// A compressed int (written as a long of at most five bytes).
    #[inline]
    pub fn varint(&mut self) -> Result<i32> {
        Ok(self.varlong()? as i32)
    }

    /// A count of items each at least `min_bytes` long: refused when the rest of the data
    /// could not hold them, so a crafted count cannot make us allocate without bound.
    pub fn count(&mut self, min_bytes: usize) -> Result<usize> {
        let n = self.varint()?;
        let n = usize::try_from(n).or_else(|_| bad(format!("negative count {n} at byte {}", self.pos)))?;
        if n.saturating_mul(min_bytes.max(1)) > self.remaining() {
            return bad(format!("count {n} at byte {} exceeds the data left", self.pos));
        }
        Ok(n)
    }

    /// A string: `None` for null, else its text (a constant-pool reference gives
    /// `Str::Pooled`).
    pub fn string(&mut self) -> Result<Str<'a>> {
        Ok(match self.u8()? {
            0 => Str::Null,
            1 => Str::Text(std::borrow::Cow::Borrowed("")),
            2 => Str::Pooled(self.varlong()?),
            3 | 5 => {
                let n = self.count(1)?;
                Str::Text(String::from_utf8_lossy(self.bytes(n)?))
            }
            4 => {
                let n = self.count(1)?;
                let mut s = String::with_capacity(n);
                for _ in 0..n {
                    s.push(char::from_u32(self.varint()? as u32).unwrap_or(char::REPLACEMENT_CHARACTER));
                }
                Str::Text(std::borrow::Cow::Owned(s))
            }
            e => return bad(format!("unknown string encoding {e} at byte {}", self.pos - 1)),
        })
    }
}

/// A string as encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Str<'a> {
    Null,
    Text(std::borrow::Cow<'a, str>),
    /// An index into the `java.lang.String` constant pool.
    Pooled(i64),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_and_strings() {
        let data = [0x96, 0x01, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 3, 2, b'h', b'i', 2, 0x05];
        let mut r = Reader::new(&data, 0);
        assert_eq!(r.varlong(), Ok(150));
        assert_eq!(r.varlong(), Ok(127));
        assert_eq!(r.varlong(), Ok(-1), "nine bytes, the last whole");
        assert_eq!(r.string(), Ok(Str::Text("hi".into())));
        assert_eq!(r.string(), Ok(Str::Pooled(5)));
        assert!(r.u8().is_err());
    }

    #[test]
    fn counts_beyond_the_data_are_refused() {
        let mut r = Reader::new(&[0xff, 0xff, 0x03, 1, 2], 0);
        assert!(r.count(1).is_err());
    }
}
