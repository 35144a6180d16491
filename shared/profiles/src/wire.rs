//! The protobuf wire format, read in place: the pprof scanner walks messages without
//! building them, which is what makes decoding cheap (see `benches/profiles.rs`).

/// A protobuf decoding error: the bytes are truncated or not protobuf at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireError(pub &'static str);

/// One field of a message: its number and value.
pub enum Field<'a> {
    Varint(u32, u64),
    Bytes(u32, &'a [u8]),
    /// A fixed32 or fixed64 field: nothing pprof reads, so only skipped.
    Fixed,
}

/// Iterates over the fields of one message.
pub struct Fields<'a> {
    buf: &'a [u8],
}

impl<'a> Fields<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Fields { buf }
    }

    #[inline]
    fn field(&mut self) -> Result<Field<'a>, WireError> {
        let key = varint(&mut self.buf)?;
        let number = u32::try_from(key >> 3).map_err(|_| WireError("field number out of range"))?;
        if number == 0 {
            return Err(WireError("field number 0"));
        }
        Ok(match key & 7 {
            0 => Field::Varint(number, varint(&mut self.buf)?),
            1 => take(&mut self.buf, 8).map(|_| Field::Fixed)?,
            2 => {
                let len = usize::try_from(varint(&mut self.buf)?).map_err(|_| WireError("length out of range"))?;
                Field::Bytes(number, take(&mut self.buf, len)?)
            }
            5 => take(&mut self.buf, 4).map(|_| Field::Fixed)?,
            _ => return Err(WireError("unsupported wire type")),
        })
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<Field<'a>, WireError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.buf.is_empty() {
            return None;
        }
        let r = self.field();
        if r.is_err() {
            self.buf = &[];
        }
        Some(r)
    }
}

fn take<'a>(buf: &mut &'a [u8], n: usize) -> Result<&'a [u8], WireError> {
    if buf.len() < n {
        return Err(WireError("truncated message"));
    }
    let (head, rest) = buf.split_at(n);
    *buf = rest;
    Ok(head)
}

/// Reads one base-128 varint.
#[inline]
pub fn varint(buf: &mut &[u8]) -> Result<u64, WireError> {
    // Most varints in a profile (keys, lengths, small ids) are one byte.
    if let Some(&b) = buf.first()
        && b < 0x80
    {
        *buf = &buf[1..];
        return Ok(u64::from(b));
    }
    let mut v = 0u64;
    for (i, &b) in buf.iter().enumerate().take(10) {
        v |= u64::from(b & 0x7f) << (7 * i);
        if b < 0x80 {
            *buf = &buf[i + 1..];
            return Ok(v);
        }
    }
    Err(WireError(if buf.len() < 10 { "truncated varint" } else { "varint too long" }))
}

/// Calls `f` with each value of a repeated integer field, packed or not: `field` is the
/// field as found, so an unpacked element arrives as a varint and a packed run as bytes.
pub fn repeated_varints(field: &Field<'_>, mut f: impl FnMut(u64)) -> Result<(), WireError> {
    match field {
        Field::Varint(_, v) => f(*v),
        Field::Bytes(_, b) => {
            let mut b = *b;
            while !b.is_empty() {
                f(varint(&mut b)?);
            }
        }
        _ => return Err(WireError("integer field with a wrong wire type")),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_and_truncation_is_an_error() {
        for v in [0u64, 1, 127, 128, 300, u32::MAX as u64, u64::MAX] {
            let mut buf = Vec::new();
            prost::encoding::encode_varint(v, &mut buf);
            let mut s = &buf[..];
            assert_eq!(varint(&mut s), Ok(v));
            assert!(s.is_empty());
            let mut cut = &buf[..buf.len() - 1];
            assert!(varint(&mut cut).is_err());
        }
    }

    #[test]
    fn fields_report_truncated_bytes() {
        // Field 1, length-delimited, claims 5 bytes but has 2.
        let mut it = Fields::new(&[0x0a, 5, 1, 2]);
        assert!(matches!(it.next(), Some(Err(_))));
        assert!(it.next().is_none());
    }
}
