//! A series' sealed chunks in one allocation: a header with each chunk's time bounds and
//! end, then the chunks' bytes back to back. Four 2-hour chunks kept apart cost a vector
//! of (bounds, box) entries plus five allocations' headers and rounding, ~220 bytes a
//! series beside the data; here it is 20 bytes a chunk and one allocation. Sealing and
//! retention copy the series' few hundred bytes, once per chunk of 120 samples.

use cardinal_model::Timestamp;

/// Per chunk: min_t, max_t, the offset its bytes end at (from the data's start).
const ENTRY: usize = 8 + 8 + 4;

#[derive(Default)]
pub struct SealedChunks(Box<[u8]>);

/// One sealed chunk as read back.
pub struct Sealed<'a> {
    pub min_t: Timestamp,
    pub max_t: Timestamp,
    pub data: &'a [u8],
}

impl SealedChunks {
    pub fn len(&self) -> usize {
        if self.0.is_empty() { 0 } else { u32::from_le_bytes(self.0[..4].try_into().unwrap_or_default()) as usize }
    }

    fn entry(&self, i: usize) -> (Timestamp, Timestamp, usize) {
        let e = &self.0[4 + i * ENTRY..4 + (i + 1) * ENTRY];
        let time = |at: usize| i64::from_le_bytes(e[at..at + 8].try_into().unwrap_or_default());
        (time(0), time(8), u32::from_le_bytes(e[16..20].try_into().unwrap_or_default()) as usize)
    }

    pub fn get(&self, i: usize) -> Sealed<'_> {
        let data_at = 4 + self.len() * ENTRY;
        let from = if i == 0 { 0 } else { self.entry(i - 1).2 };
        let (min_t, max_t, to) = self.entry(i);
        Sealed { min_t, max_t, data: &self.0[data_at + from..data_at + to] }
    }

    pub fn iter(&self) -> impl Iterator<Item = Sealed<'_>> {
        (0..self.len()).map(|i| self.get(i))
    }

    pub fn first_min_t(&self) -> Option<Timestamp> {
        (self.len() > 0).then(|| self.entry(0).0)
    }

    pub fn data_bytes(&self) -> usize {
        self.0.len().saturating_sub(4 + self.len() * ENTRY)
    }

    /// Adds a chunk after the others.
    pub fn push(&mut self, min_t: Timestamp, max_t: Timestamp, data: &[u8]) {
        let mut chunks: Vec<Sealed> = self.iter().collect();
        chunks.push(Sealed { min_t, max_t, data });
        *self = Self::build(&chunks);
    }

    /// Drops the chunks that end before `mint` (the oldest, chunks being in time order);
    /// returns how many.
    pub fn drop_before(&mut self, mint: Timestamp) -> usize {
        let gone = self.iter().take_while(|c| c.max_t < mint).count();
        if gone > 0 {
            let kept: Vec<Sealed> = self.iter().skip(gone).collect();
            *self = Self::build(&kept);
        }
        gone
    }

    fn build(chunks: &[Sealed]) -> Self {
        if chunks.is_empty() {
            return SealedChunks::default();
        }
        let data: usize = chunks.iter().map(|c| c.data.len()).sum();
        let mut out = Vec::with_capacity(4 + chunks.len() * ENTRY + data);
        out.extend_from_slice(&(chunks.len() as u32).to_le_bytes());
        let mut end = 0;
        for c in chunks {
            end += c.data.len();
            out.extend_from_slice(&c.min_t.to_le_bytes());
            out.extend_from_slice(&c.max_t.to_le_bytes());
            out.extend_from_slice(&(end as u32).to_le_bytes());
        }
        chunks.iter().for_each(|c| out.extend_from_slice(c.data));
        SealedChunks(out.into_boxed_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Chunks pushed read back in order with their bounds and bytes, and dropping
        /// by time removes exactly the ones ending before it.
        #[test]
        fn chunks_read_back_and_drop_by_time(
            chunks in proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 0..50), 0..8),
            cut in 0i64..900,
        ) {
            let mut s = SealedChunks::default();
            for (i, c) in chunks.iter().enumerate() {
                s.push(i as i64 * 100, i as i64 * 100 + 50, c);
            }
            proptest::prop_assert_eq!(s.len(), chunks.len());
            proptest::prop_assert_eq!(s.data_bytes(), chunks.iter().map(Vec::len).sum::<usize>());
            for (i, c) in s.iter().enumerate() {
                proptest::prop_assert_eq!((c.min_t, c.max_t, c.data), (i as i64 * 100, i as i64 * 100 + 50, &chunks[i][..]));
            }
            let gone = s.drop_before(cut);
            let want: Vec<usize> = (0..chunks.len()).filter(|i| *i as i64 * 100 + 50 >= cut).collect();
            proptest::prop_assert_eq!(gone, chunks.len() - want.len());
            let left: Vec<(i64, &[u8])> = s.iter().map(|c| (c.min_t, c.data)).collect();
            let expected: Vec<(i64, &[u8])> = want.iter().map(|i| (*i as i64 * 100, &chunks[*i][..])).collect();
            proptest::prop_assert_eq!(left, expected);
        }
    }
}
