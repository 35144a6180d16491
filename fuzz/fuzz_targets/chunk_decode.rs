//! Arbitrary bytes as a chunk must decode without panicking (a corrupt chunk on disk);
//! arbitrary samples must round-trip bit-exactly.
#![no_main]
use cardinal_tsdb::chunk::{XorAppender, XorIter};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = XorIter::new(data).count();
    let mut a = XorAppender::new();
    let mut t = 0i64;
    let mut want = Vec::new();
    for w in data.chunks_exact(12).take(120) {
        let dt = u32::from_le_bytes([w[0], w[1], w[2], w[3]]) as i64 + 1;
        let v = f64::from_bits(u64::from_le_bytes([w[4], w[5], w[6], w[7], w[8], w[9], w[10], w[11]]));
        t += dt;
        a.append(t, v);
        want.push((t, v.to_bits()));
    }
    let got: Vec<(i64, u64)> = XorIter::new(&a.bytes()).map(|(t, v)| (t, v.to_bits())).collect();
    assert_eq!(got, want);
});
