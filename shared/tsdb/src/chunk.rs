//! The chunk: Gorilla's delta-of-delta timestamps and XOR'd float values in the layout of
//! Prometheus's `chunkenc.XORChunk` (2-byte sample count, then the bit stream), with two
//! changes that halve scrape-like data:
//! - a 5-bit delta-of-delta bucket below the 14-bit one: scrape timestamps wander by a few
//!   milliseconds, and Prometheus's format spends 16 bits on each such wobble;
//! - after an integral value, the next is written as the delta-of-delta of the integers
//!   (escaping to XOR when it is not integral or the jump is too large). Counters are
//!   integers, and XOR spends ~20 bits on each irregular increment.
//!
//! Values are stored bit-exactly, so staleness markers survive. Blocks of format version 1
//! hold Prometheus's layout and are read with [`XorIter::legacy`].

/// Samples per chunk before it is sealed; Prometheus cuts at 120 too.
pub const SAMPLES_PER_CHUNK: u16 = 120;

/// An append-only bit stream.
#[derive(Clone, Debug, Default)]
struct BitWriter {
    bytes: Vec<u8>,
    /// Free bits left in the last byte (0 means a new byte is needed).
    free: u8,
}

impl BitWriter {
    fn write_bit(&mut self, bit: bool) {
        if self.free == 0 {
            self.bytes.push(0);
            self.free = 8;
        }
        self.free -= 1;
        if bit {
            *self.bytes.last_mut().expect("pushed above") |= 1 << self.free;
        }
    }

    /// Writes the low `n` bits of `v`, most significant first.
    fn write_bits(&mut self, v: u64, mut n: u8) {
        while n > 0 {
            if self.free == 0 {
                self.bytes.push(0);
                self.free = 8;
            }
            let take = n.min(self.free);
            let shift = n - take;
            let chunk = ((v >> shift) & ((1u64 << take) - 1)) as u8;
            self.free -= take;
            *self.bytes.last_mut().expect("pushed above") |= chunk << self.free;
            n -= take;
        }
    }

    fn write_byte(&mut self, b: u8) {
        self.write_bits(u64::from(b), 8);
    }
}

struct BitReader<'a> {
    bytes: &'a [u8],
    pos: usize, // bit position
}

impl<'a> BitReader<'a> {
    fn read_bit(&mut self) -> Option<bool> {
        let byte = *self.bytes.get(self.pos / 8)?;
        let bit = byte & (0x80 >> (self.pos % 8)) != 0;
        self.pos += 1;
        Some(bit)
    }

    fn read_bits(&mut self, n: u8) -> Option<u64> {
        // Fast path: one 16-byte big-endian load covers any ≤ 64 bits at any bit offset.
        // Decoding spends most of its time here; the byte loop below is 3× slower.
        let byte = self.pos / 8;
        if n > 0 && byte + 16 <= self.bytes.len() {
            let w = u128::from_be_bytes(self.bytes[byte..byte + 16].try_into().expect("16 bytes"));
            let offset = self.pos % 8;
            self.pos += n as usize;
            return Some(((w << offset) >> (128 - u32::from(n))) as u64);
        }
        let mut v = 0u64;
        let mut left = n;
        while left > 0 {
            let byte = *self.bytes.get(self.pos / 8)? as u64;
            let offset = (self.pos % 8) as u8;
            let avail = 8 - offset;
            let take = left.min(avail);
            let bits = (byte >> (avail - take)) & ((1u64 << take) - 1);
            v = if take == 64 { bits } else { (v << take) | bits };
            self.pos += take as usize;
            left -= take;
        }
        Some(v)
    }

    /// The next 32 bits, most significant first, without consuming them; `None` within
    /// 8 bytes of the end.
    #[inline(always)]
    fn peek32(&self) -> Option<u32> {
        let byte = self.pos / 8;
        let w: [u8; 8] = self.bytes.get(byte..byte + 8)?.try_into().ok()?;
        Some(((u64::from_be_bytes(w) << (self.pos % 8)) >> 32) as u32)
    }

    fn read_varint(&mut self) -> Option<i64> {
        let u = self.read_uvarint()?;
        Some(((u >> 1) as i64) ^ -((u & 1) as i64))
    }

    fn read_uvarint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..70).step_by(7) {
            let b = self.read_bits(8)?;
            v |= (b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }
}

fn write_uvarint(w: &mut BitWriter, mut v: u64) {
    while v >= 0x80 {
        w.write_byte((v as u8) | 0x80);
        v >>= 7;
    }
    w.write_byte(v as u8);
}

fn write_varint(w: &mut BitWriter, v: i64) {
    write_uvarint(w, ((v << 1) ^ (v >> 63)) as u64);
}

/// Widths of the delta-of-delta buckets after the zero one ('0'); prefixes '10', '110',
/// '1110', then '1111' for a full 64 bits.
const DOD_WIDTHS: [u8; 3] = [5, 14, 20];
/// Prometheus's, in blocks of format version 1.
const LEGACY_DOD_WIDTHS: [u8; 3] = [14, 17, 20];
/// Widths of the integer value delta-of-delta buckets, prefixed like the timestamps'; the
/// all-ones prefix escapes to an XOR'd value.
const INT_WIDTHS: [u8; 3] = [4, 10, 20];
/// The prefix of a value no bucket holds: a 64-bit timestamp delta-of-delta, or an XOR'd
/// value after an integer.
const ESCAPE: u64 = 0b1111;

/// `bits` as an integer, when the float is one that converts back bit-exactly (so not
/// -0.0) and within ±2^53 (so steps between two cannot overflow). By round trip rather
/// than `fract()`, which is a libm call on baseline x86-64 and halved decoding speed.
#[inline]
fn as_int(bits: u64) -> Option<i64> {
    let i = f64::from_bits(bits) as i64;
    ((i as f64).to_bits() == bits && i.unsigned_abs() <= 1 << 53).then_some(i)
}

/// The integer step from `prev` (an integer) to `cur`, 0 when `cur` is not one: what the
/// next integer delta-of-delta is taken against.
fn int_step(prev: i64, cur: u64) -> i64 {
    as_int(cur).map_or(0, |c| c - prev)
}

/// Writes `v` in the first bucket of `widths` that holds it: prefix `1…10`, then `v` in
/// two's complement. Returns whether one did (if not, the caller writes [`ESCAPE`] and the
/// value its own way). A width n holds [-(2^(n-1) - 1), 2^(n-1)].
fn write_bucketed(w: &mut BitWriter, v: i64, widths: &[u8; 3]) -> bool {
    if v == 0 {
        w.write_bit(false);
        return true;
    }
    for (i, &n) in widths.iter().enumerate() {
        if -((1i64 << (n - 1)) - 1) <= v && v <= 1i64 << (n - 1) {
            let prefix = (1u64 << (i + 2)) - 2; // i+1 ones, then a zero
            w.write_bits(prefix, i as u8 + 2);
            w.write_bits(v as u64, n);
            return true;
        }
    }
    false
}

/// Appends samples to one chunk. Timestamps must increase.
#[derive(Clone, Debug, Default)]
pub struct XorAppender {
    w: BitWriter,
    count: u16,
    t: i64,
    t_delta: i64,
    v: u64,
    /// The last integer step (see [`int_step`]).
    v_step: i64,
    leading: u8,
    trailing: u8,
}

impl XorAppender {
    pub fn new() -> Self {
        XorAppender { leading: 0xff, ..Default::default() }
    }

    /// An appender whose stream starts with room for `bytes`: a series' next chunk is
    /// about as long as its last, and growing to it by doubling left a quarter of the
    /// last step unused on average, in every series' open chunk.
    pub fn with_capacity(bytes: usize) -> Self {
        let w = BitWriter { bytes: Vec::with_capacity(bytes), free: 0 };
        XorAppender { w, ..XorAppender::new() }
    }

    pub fn count(&self) -> u16 {
        self.count
    }

    /// The newest sample appended, if any.
    pub fn last(&self) -> Option<(i64, f64)> {
        (self.count > 0).then(|| (self.t, f64::from_bits(self.v)))
    }

    /// Bytes the encoded data uses so far.
    pub fn len_bytes(&self) -> usize {
        self.w.bytes.len() + 2
    }

    pub fn append(&mut self, t: i64, v: f64) {
        let bits = v.to_bits();
        match self.count {
            0 => {
                write_varint(&mut self.w, t);
                self.w.write_bits(bits, 64);
            }
            1 => {
                let delta = t - self.t;
                write_uvarint(&mut self.w, delta as u64);
                self.write_value(bits);
                self.t_delta = delta;
            }
            _ => {
                let delta = t - self.t;
                self.write_dod(delta - self.t_delta);
                self.write_value(bits);
                self.t_delta = delta;
            }
        }
        self.t = t;
        self.v = bits;
        self.count += 1;
    }

    fn write_dod(&mut self, dod: i64) {
        if !write_bucketed(&mut self.w, dod, &DOD_WIDTHS) {
            self.w.write_bits(ESCAPE, 4);
            self.w.write_bits(dod as u64, 64);
        }
    }

    fn write_value(&mut self, bits: u64) {
        let Some(prev) = as_int(self.v) else {
            self.v_step = 0;
            return self.write_xor(bits);
        };
        if let Some(cur) = as_int(bits)
            && write_bucketed(&mut self.w, cur - prev - self.v_step, &INT_WIDTHS)
        {
            self.v_step = cur - prev;
            return;
        }
        self.w.write_bits(ESCAPE, 4);
        self.write_xor(bits);
        self.v_step = int_step(prev, bits);
    }

    fn write_xor(&mut self, bits: u64) {
        let delta = bits ^ self.v;
        let w = &mut self.w;
        if delta == 0 {
            w.write_bit(false);
            return;
        }
        w.write_bit(true);
        let leading = (delta.leading_zeros() as u8).min(31);
        let trailing = delta.trailing_zeros() as u8;
        if self.leading != 0xff && leading >= self.leading && trailing >= self.trailing {
            w.write_bit(false);
            w.write_bits(delta >> self.trailing, 64 - self.leading - self.trailing);
            return;
        }
        self.leading = leading;
        self.trailing = trailing;
        w.write_bit(true);
        w.write_bits(u64::from(leading), 5);
        let sig = 64 - leading - trailing;
        w.write_bits(u64::from(sig) & 63, 6); // 64 significant bits are written as 0
        w.write_bits(delta >> trailing, sig);
    }

    /// The chunk's bytes: sample count (big-endian u16), then the stream.
    pub fn bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.w.bytes.len() + 2);
        out.extend_from_slice(&self.count.to_be_bytes());
        out.extend_from_slice(&self.w.bytes);
        out
    }

    /// Iterates over the samples appended so far.
    pub fn iter(&self) -> XorIter<'_> {
        XorIter::over(&self.w.bytes, self.count)
    }
}

/// Decodes a chunk produced by [`XorAppender::bytes`].
pub struct XorIter<'a> {
    r: BitReader<'a>,
    left: u16,
    read: u16,
    t: i64,
    t_delta: i64,
    v: u64,
    /// The current value as an integer, if it is one (and the chunk is not version 1):
    /// kept beside `v` so that an integer run needs no float conversions to check.
    int: Option<i64>,
    v_step: i64,
    leading: u8,
    trailing: u8,
    /// A version-1 chunk: Prometheus's timestamp buckets, every value XOR'd.
    legacy: bool,
}

/// The sample count a chunk's header declares (0 for a chunk too short to have one).
pub fn sample_count(chunk: &[u8]) -> u16 {
    match chunk {
        [a, b, ..] => u16::from_be_bytes([*a, *b]),
        _ => 0,
    }
}

impl<'a> XorIter<'a> {
    /// Iterates a whole chunk (header included). A malformed chunk ends early.
    pub fn new(chunk: &'a [u8]) -> Self {
        XorIter::over(chunk.get(2..).unwrap_or(&[]), sample_count(chunk))
    }

    /// Iterates a chunk in Prometheus's own layout, as blocks of format version 1 hold.
    pub fn legacy(chunk: &'a [u8]) -> Self {
        XorIter { legacy: true, ..XorIter::new(chunk) }
    }

    fn over(stream: &'a [u8], count: u16) -> Self {
        XorIter {
            r: BitReader { bytes: stream, pos: 0 },
            left: count,
            read: 0,
            t: 0,
            t_delta: 0,
            v: 0,
            int: None,
            v_step: 0,
            leading: 0,
            trailing: 0,
            legacy: false,
        }
    }

    fn decode(&mut self) -> Option<(i64, f64)> {
        match self.read {
            0 => {
                self.t = self.r.read_varint()?;
                self.v = self.r.read_bits(64)?;
                self.int = self.int_of_v();
            }
            // Wrapping: a corrupt chunk decodes to garbage, never to a panic.
            1 => {
                self.t_delta = self.r.read_uvarint()? as i64;
                self.t = self.t.wrapping_add(self.t_delta);
                self.read_value()?;
            }
            _ => {
                let dod = self.read_dod()?;
                self.t_delta = self.t_delta.wrapping_add(dod);
                self.t = self.t.wrapping_add(self.t_delta);
                self.read_value()?;
            }
        }
        Some((self.t, f64::from_bits(self.v)))
    }

    fn read_dod(&mut self) -> Option<i64> {
        let widths = if self.legacy { LEGACY_DOD_WIDTHS } else { DOD_WIDTHS };
        match self.read_bucketed(widths)? {
            Some(dod) => Some(dod),
            None => self.r.read_bits(64).map(|raw| raw as i64),
        }
    }

    /// Reads what [`write_bucketed`] wrote: `Some(None)` for the all-ones prefix. Every
    /// timestamp and integer value starts with one, so prefix and payload (at most 24
    /// bits) come from one load where the stream allows.
    #[inline(always)]
    fn read_bucketed(&mut self, widths: [u8; 3]) -> Option<Option<i64>> {
        let width = |ones: usize| if ones == 0 || ones == 4 { 0 } else { widths[ones - 1] };
        let (ones, bits, raw) = match self.r.peek32() {
            Some(w) => {
                let ones = (w.leading_ones() as usize).min(4);
                let n = width(ones);
                self.r.pos += ones + usize::from(ones < 4) + usize::from(n);
                (ones, n, if n == 0 { 0 } else { u64::from((w << (ones + 1)) >> (32 - u32::from(n))) })
            }
            None => {
                let mut ones = 0;
                while ones < 4 && self.r.read_bit()? {
                    ones += 1;
                }
                (ones, width(ones), self.r.read_bits(width(ones))?)
            }
        };
        match ones {
            0 => return Some(Some(0)),
            4 => return Some(None),
            _ => {}
        }
        // The writer's range is [-(2^(n-1) - 1), 2^(n-1)], so only values above 2^(n-1)
        // are negative (plain sign extension would misread +2^(n-1)).
        let half = 1u64 << (bits - 1);
        Some(Some(if raw > half { raw as i64 - (1i64 << bits) } else { raw as i64 }))
    }

    fn int_of_v(&self) -> Option<i64> {
        as_int(self.v).filter(|_| !self.legacy)
    }

    fn read_value(&mut self) -> Option<()> {
        let Some(prev) = self.int else {
            self.v_step = 0;
            self.read_xor()?;
            self.int = self.int_of_v();
            return Some(());
        };
        match self.read_bucketed(INT_WIDTHS)? {
            Some(dod) => {
                // Wrapping: a corrupt chunk decodes to garbage, never to a panic.
                let cur = prev.wrapping_add(self.v_step).wrapping_add(dod);
                self.v = (cur as f64).to_bits();
                self.v_step = cur.wrapping_sub(prev);
                // Within 2^53 the float is exact, so `as_int` would give `cur` back.
                self.int = if cur.unsigned_abs() <= 1 << 53 { Some(cur) } else { self.int_of_v() };
            }
            None => {
                self.read_xor()?;
                self.int = self.int_of_v();
                self.v_step = int_step(prev, self.v);
            }
        }
        Some(())
    }

    fn read_xor(&mut self) -> Option<()> {
        if !self.r.read_bit()? {
            return Some(());
        }
        if self.r.read_bit()? {
            self.leading = self.r.read_bits(5)? as u8;
            let mut sig = self.r.read_bits(6)? as u8;
            if sig == 0 {
                sig = 64;
            }
            // A corrupt chunk can claim more than 64 bits: stop there (found by fuzzing).
            self.trailing = 64u8.checked_sub(self.leading)?.checked_sub(sig)?;
        }
        let sig = 64 - self.leading - self.trailing;
        let bits = self.r.read_bits(sig)?;
        self.v ^= bits << self.trailing;
        Some(())
    }
}

impl Iterator for XorIter<'_> {
    type Item = (i64, f64);

    fn next(&mut self) -> Option<(i64, f64)> {
        if self.left == 0 {
            return None;
        }
        let s = self.decode();
        self.left = if s.is_some() { self.left - 1 } else { 0 };
        self.read += 1;
        s
    }
}

/// A chunk written by the version-1 encoder (Prometheus's layout), and what it holds:
/// integers, an irregular timestamp, a fraction, a stale marker and a large float.
#[cfg(test)]
pub(crate) const LEGACY_CHUNK: [u8; 49] = [
    0, 6, 128, 160, 171, 254, 249, 98, 64, 36, 0, 0, 0, 0, 0, 0, 154, 117, 216, 31, 191, 253, 64, 1, 235, 27, 220, 58,
    147, 197, 239, 248, 144, 0, 0, 0, 0, 0, 119, 21, 174, 7, 31, 144, 242, 32, 1, 214, 120,
];
#[cfg(test)]
pub(crate) const LEGACY_SAMPLES: [(i64, f64); 6] = [
    (1_700_000_000_000, 10.0),
    (1_700_000_015_002, 13.0),
    (1_700_000_030_001, 13.0),
    (1_700_000_045_003, 20.5),
    (1_700_000_075_000, f64::from_bits(cardinal_model::STALE_NAN_BITS)),
    (1_700_000_090_000, 1e300),
];

#[cfg(test)]
mod tests {
    use super::*;
    use cardinal_model::stale_nan;
    use proptest::prelude::*;

    fn round_trip(samples: &[(i64, f64)]) -> Vec<(i64, u64)> {
        let mut a = XorAppender::new();
        for (t, v) in samples {
            a.append(*t, *v);
        }
        let bytes = a.bytes();
        let from_bytes: Vec<_> = XorIter::new(&bytes).map(|(t, v)| (t, v.to_bits())).collect();
        let live: Vec<_> = a.iter().map(|(t, v)| (t, v.to_bits())).collect();
        assert_eq!(from_bytes, live);
        from_bytes
    }

    #[test]
    fn scrape_like_data_is_small_and_exact() {
        let samples: Vec<(i64, f64)> =
            (0..120).map(|i| (1_700_000_000_000 + i * 15_000 + (i % 3), (i * 7) as f64)).collect();
        let got = round_trip(&samples);
        assert_eq!(got, samples.iter().map(|(t, v)| (*t, v.to_bits())).collect::<Vec<_>>());
        let mut a = XorAppender::new();
        samples.iter().for_each(|(t, v)| a.append(*t, *v));
        assert!(a.len_bytes() < 120 * 3, "{} bytes for 120 samples", a.len_bytes());
    }

    #[test]
    fn stale_markers_and_specials_survive() {
        let samples =
            [(1, 1.0), (2, stale_nan()), (3, f64::INFINITY), (4, f64::NAN), (5, -0.0), (6, f64::MIN_POSITIVE)];
        let got = round_trip(&samples);
        assert_eq!(got[1].1, cardinal_model::STALE_NAN_BITS);
        assert_eq!(
            got.iter().map(|s| s.1).collect::<Vec<_>>(),
            samples.iter().map(|s| s.1.to_bits()).collect::<Vec<_>>()
        );
    }

    #[test]
    fn delta_of_delta_range_edges() {
        // Each width's extremes: 2^(n-1) is positive, -(2^(n-1) - 1) the most negative.
        for n in [5u32, 14, 20] {
            for dod in [1i64 << (n - 1), -((1i64 << (n - 1)) - 1), (1i64 << (n - 1)) + 1, -(1i64 << (n - 1))] {
                let base = 1_000_000;
                let samples = [(0, 1.5), (base, 2.5), (2 * base + dod, 3.5)];
                let got = round_trip(&samples);
                assert_eq!(got[2].0, 2 * base + dod, "dod {dod} in {n} bits");
            }
        }
    }

    #[test]
    fn integer_steps_at_every_bucket_edge_and_beyond() {
        let mut steps = vec![0i64, 1, -1];
        for n in [4u32, 10, 20, 40, 53] {
            steps.extend([1i64 << (n - 1), -((1i64 << (n - 1)) - 1), (1i64 << (n - 1)) + 1, -(1i64 << (n - 1))]);
        }
        for step in steps {
            // Integers, then the step twice (a zero delta-of-delta), then non-integers, -0
            // and the 2^53 limit, each after an integer.
            let vals = [
                100.0,
                100.0 + step as f64,
                100.0 + 2.0 * step as f64,
                0.5,
                7.0,
                -0.0,
                0.0,
                9_007_199_254_740_992.0,
                9_007_199_254_740_994.0,
                -9_007_199_254_740_992.0,
            ];
            let samples: Vec<(i64, f64)> = vals.iter().enumerate().map(|(i, v)| (i as i64 * 15_000, *v)).collect();
            assert_eq!(
                round_trip(&samples),
                samples.iter().map(|(t, v)| (*t, v.to_bits())).collect::<Vec<_>>(),
                "step {step}"
            );
        }
    }

    #[test]
    fn a_counter_costs_a_few_bits_a_sample() {
        // 0–6 requests and 0–4 ms of jitter per 15 s scrape: Prometheus's layout takes
        // ~26 bits a sample for this (16 for the jitter, ~10 for the XOR); ours ~12.5.
        let mut a = XorAppender::new();
        let (mut v, mut seed) = (1_000.0, 7u64);
        for i in 0..120 {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            v += ((seed >> 33) % 7) as f64;
            a.append(i * 15_000 + ((seed >> 40) % 5) as i64, v);
        }
        assert!(a.len_bytes() * 8 < 120 * 13, "{} bytes for 120 samples", a.len_bytes());
    }

    #[test]
    fn a_version_1_chunk_still_reads() {
        let want: Vec<(i64, u64)> = LEGACY_SAMPLES.iter().map(|(t, v)| (*t, v.to_bits())).collect();
        assert_eq!(XorIter::legacy(&LEGACY_CHUNK).map(|(t, v)| (t, v.to_bits())).collect::<Vec<_>>(), want);
        assert_ne!(XorIter::new(&LEGACY_CHUNK).map(|(t, v)| (t, v.to_bits())).collect::<Vec<_>>(), want);
    }

    #[test]
    fn corrupt_chunks_end_without_panicking() {
        // Found by the chunk_decode fuzz target: a value header claiming 64+ bits.
        let crash = [0x40, 0x05, 0x52, 0x05, 0x05, 0x05, 0x2e, 0xba, 0xff, 0xcd, 0x00, 0x00, 0x39, 0xe1];
        assert!(XorIter::new(&crash).count() <= 0x4005);
    }

    proptest! {
        /// Any bytes decode without panicking.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = XorIter::new(&bytes).count();
        }
    }

    #[test]
    fn truncated_chunk_ends_early_without_panicking() {
        let mut a = XorAppender::new();
        (0..50).for_each(|i| a.append(i * 1000, i as f64 * 1.5));
        let bytes = a.bytes();
        for cut in 0..bytes.len() {
            let n = XorIter::new(&bytes[..cut]).count();
            assert!(n <= 50);
        }
    }

    proptest! {
        /// Encode → decode is bit-exact for any values and any increasing timestamps,
        /// including large jumps that need each delta-of-delta width.
        #[test]
        fn encode_decode_bit_exact(
            start in -1_000_000_000_000i64..4_000_000_000_000i64,
            deltas in proptest::collection::vec(prop_oneof![0i64..100, 0i64..100_000, 0i64..10_000_000_000], 0..119),
            values in proptest::collection::vec(prop_oneof![
                any::<u64>(),
                // Counters: integers, small and large steps, up to and past 2^53.
                (0i64..1_000).prop_map(|i| (i as f64).to_bits()),
                any::<i32>().prop_map(|i| f64::from(i).to_bits()),
                (-(1i64 << 54)..(1i64 << 54)).prop_map(|i| (i as f64).to_bits()),
                Just((-0.0f64).to_bits()),
                Just(cardinal_model::STALE_NAN_BITS),
            ], 120),
        ) {
            let mut t = start;
            let mut samples = vec![(t, f64::from_bits(values[0]))];
            for (i, d) in deltas.iter().enumerate() {
                t += d + 1;
                samples.push((t, f64::from_bits(values[i + 1])));
            }
            let got = round_trip(&samples);
            prop_assert_eq!(got, samples.iter().map(|(t, v)| (*t, v.to_bits())).collect::<Vec<_>>());
        }
    }
}
