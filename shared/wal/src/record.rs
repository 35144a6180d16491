//! WAL record bodies. A body is a type byte and a payload; the payload of a large record
//! is snappy-compressed (flag bit 0x80 on the type), which halves the WAL of a
//! scrape-heavy collector for little CPU.

use crate::encoding::{Corrupt, Reader, put_labels, put_uvarint, put_varint};
use cardinal_model::{Labels, Timestamp};

const SERIES: u8 = 1;
/// Samples in the WAL's first format, still read: ids plain, times from the first sample's.
const SAMPLES_V1: u8 = 2;
/// Samples with each id and time a delta from the previous sample's: a scrape's or a
/// federation's samples come in series order with shared times, so both are a byte.
const SAMPLES: u8 = 3;
/// Exemplars newly stored, for a remote-write sender with `send_exemplars` (as
/// Prometheus logs them): series id, time, value, labels.
const EXEMPLARS: u8 = 4;
const SNAPPY: u8 = 0x80;
/// Below this a record is written plain: snappy's framing would cost more than it saves.
const COMPRESS_ABOVE: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RefSample {
    pub id: u64,
    pub t: Timestamp,
    pub v: f64,
}

/// An exemplar of the series `id`.
#[derive(Debug, Clone, PartialEq)]
pub struct RefExemplar {
    pub id: u64,
    pub t: Timestamp,
    pub v: f64,
    pub labels: Labels,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    /// Series definitions: a series' id is used by every later samples record.
    Series(Vec<(u64, Labels)>),
    Samples(Vec<RefSample>),
    Exemplars(Vec<RefExemplar>),
}

pub fn encode_series(out: &mut Vec<u8>, series: &[(u64, &Labels)]) {
    let mut entries = Vec::with_capacity(series.len() * 64);
    for (id, labels) in series {
        put_series_entry(&mut entries, *id, labels);
    }
    encode_series_entries(out, series.len(), &entries);
}

/// One series definition, for a series record built up over time.
pub fn put_series_entry(entries: &mut Vec<u8>, id: u64, labels: &Labels) {
    put_uvarint(entries, id);
    put_labels(entries, labels);
}

/// A series record of `n` definitions already encoded by [`put_series_entry`].
pub fn encode_series_entries(out: &mut Vec<u8>, n: usize, entries: &[u8]) {
    let mut p = Vec::with_capacity(entries.len() + 10);
    put_uvarint(&mut p, n as u64);
    p.extend_from_slice(entries);
    finish(out, SERIES, &p);
}

/// Ids and timestamps as deltas from the previous sample's, values as raw bits.
pub fn encode_samples(out: &mut Vec<u8>, samples: &[RefSample]) {
    let mut p = Vec::with_capacity(samples.len() * 11 + 10);
    put_uvarint(&mut p, samples.len() as u64);
    let (mut id, mut t) = (0u64, 0i64);
    for s in samples {
        put_varint(&mut p, s.id.wrapping_sub(id) as i64);
        put_varint(&mut p, s.t.wrapping_sub(t));
        p.extend_from_slice(&s.v.to_bits().to_le_bytes());
        (id, t) = (s.id, s.t);
    }
    finish(out, SAMPLES, &p);
}

/// Each exemplar whole: they are few (new ones only), so nothing is delta-encoded.
pub fn encode_exemplars(out: &mut Vec<u8>, exemplars: &[RefExemplar]) {
    let mut p = Vec::with_capacity(exemplars.len() * 48 + 10);
    put_uvarint(&mut p, exemplars.len() as u64);
    for e in exemplars {
        put_uvarint(&mut p, e.id);
        put_varint(&mut p, e.t);
        p.extend_from_slice(&e.v.to_bits().to_le_bytes());
        put_labels(&mut p, &e.labels);
    }
    finish(out, EXEMPLARS, &p);
}

fn finish(out: &mut Vec<u8>, kind: u8, payload: &[u8]) {
    if payload.len() > COMPRESS_ABOVE {
        let compressed = snap::raw::Encoder::new().compress_vec(payload).expect("snappy of a bounded buffer");
        if compressed.len() < payload.len() {
            out.push(kind | SNAPPY);
            out.extend_from_slice(&compressed);
            return;
        }
    }
    out.push(kind);
    out.extend_from_slice(payload);
}

pub fn decode(body: &[u8]) -> Result<Record, Corrupt> {
    let (&kind, payload) = body.split_first().ok_or(Corrupt("empty record"))?;
    let plain;
    let payload = if kind & SNAPPY != 0 {
        let n = snap::raw::decompress_len(payload).map_err(|_| Corrupt("bad snappy header"))?;
        if n > super::segment::MAX_RECORD * 8 {
            return Err(Corrupt("record too large"));
        }
        plain = snap::raw::Decoder::new().decompress_vec(payload).map_err(|_| Corrupt("bad snappy data"))?;
        &plain[..]
    } else {
        payload
    };
    let mut r = Reader::new(payload);
    let rec = match kind & !SNAPPY {
        SERIES => {
            let n = r.len(2)?;
            let mut out = Vec::with_capacity(n);
            for _ in 0..n {
                out.push((r.uvarint()?, r.labels()?));
            }
            Record::Series(out)
        }
        SAMPLES => {
            let n = r.len(10)?;
            let (mut id, mut t) = (0u64, 0i64);
            let mut out = Vec::with_capacity(n);
            for _ in 0..n {
                id = id.wrapping_add(r.varint()? as u64);
                t = t.wrapping_add(r.varint()?);
                out.push(RefSample { id, t, v: f64::from_bits(r.u64_le()?) });
            }
            Record::Samples(out)
        }
        SAMPLES_V1 => {
            let n = r.len(10)?;
            let base = r.varint()?;
            let mut out = Vec::with_capacity(n);
            for _ in 0..n {
                let id = r.uvarint()?;
                let t = base.wrapping_add(r.varint()?);
                out.push(RefSample { id, t, v: f64::from_bits(r.u64_le()?) });
            }
            Record::Samples(out)
        }
        EXEMPLARS => {
            let n = r.len(11)?;
            let mut out = Vec::with_capacity(n);
            for _ in 0..n {
                let (id, t, v) = (r.uvarint()?, r.varint()?, f64::from_bits(r.u64_le()?));
                out.push(RefExemplar { id, t, v, labels: r.labels()? });
            }
            Record::Exemplars(out)
        }
        _ => return Err(Corrupt("unknown record type")),
    };
    if !r.is_empty() {
        return Err(Corrupt("trailing bytes in record"));
    }
    Ok(rec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn series_and_samples_round_trip() {
        let l = Labels::from_pairs([("__name__", "up"), ("job", "a")]);
        let mut b = Vec::new();
        encode_series(&mut b, &[(7, &l)]);
        assert_eq!(decode(&b).unwrap(), Record::Series(vec![(7, l)]));
        let samples: Vec<RefSample> =
            (0..100).map(|i| RefSample { id: i % 7, t: 1_000 + i as i64 * 15_000, v: i as f64 }).collect();
        let mut b = Vec::new();
        encode_samples(&mut b, &samples);
        assert!(b[0] & SNAPPY != 0, "a large record is compressed");
        assert!(b.len() < samples.len() * 10, "{} bytes", b.len());
        assert_eq!(decode(&b).unwrap(), Record::Samples(samples));
    }

    #[test]
    fn exemplars_round_trip() {
        let trace = |id: &str| Labels::from_pairs([("trace_id", id)]);
        let exemplars: Vec<RefExemplar> = (0..50)
            .map(|i| RefExemplar { id: i, t: -5 + i as i64, v: 0.5 * i as f64, labels: trace(&i.to_string()) })
            .collect();
        let mut b = Vec::new();
        encode_exemplars(&mut b, &exemplars);
        assert_eq!(decode(&b).unwrap(), Record::Exemplars(exemplars));
    }

    #[test]
    fn samples_written_by_the_first_format_are_still_read() {
        // n = 2, base t = 1000, then (id, t − base, value bits) each.
        let mut b = vec![SAMPLES_V1];
        put_uvarint(&mut b, 2);
        put_varint(&mut b, 1000);
        for (id, dt, v) in [(5u64, 0i64, 1.5f64), (9, 15, -2.0)] {
            put_uvarint(&mut b, id);
            put_varint(&mut b, dt);
            b.extend_from_slice(&v.to_bits().to_le_bytes());
        }
        let want = vec![RefSample { id: 5, t: 1000, v: 1.5 }, RefSample { id: 9, t: 1015, v: -2.0 }];
        assert_eq!(decode(&b).unwrap(), Record::Samples(want));
    }

    #[test]
    fn a_scrape_in_series_order_costs_a_byte_for_id_and_time() {
        // Values that snappy cannot shrink: what is left is the ids and times.
        let bits = |i: u64| i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (i << 7);
        let samples: Vec<RefSample> =
            (0..1000).map(|i| RefSample { id: 300 + i, t: 1_700_000_000_000, v: f64::from_bits(bits(i)) }).collect();
        let mut b = Vec::new();
        encode_samples(&mut b, &samples);
        assert!(b.len() <= 10 * samples.len() + 16, "{} bytes for {} samples", b.len(), samples.len());
    }

    proptest! {
        #[test]
        fn samples_round_trip(s in proptest::collection::vec((any::<u64>(), any::<i64>(), any::<u64>()), 0..200)) {
            let samples: Vec<RefSample> = s.iter().map(|&(id, t, v)| RefSample { id, t, v: f64::from_bits(v) }).collect();
            let mut b = Vec::new();
            encode_samples(&mut b, &samples);
            match decode(&b).unwrap() {
                Record::Samples(got) => {
                    prop_assert_eq!(got.len(), samples.len());
                    for (g, w) in got.iter().zip(&samples) {
                        prop_assert_eq!((g.id, g.t, g.v.to_bits()), (w.id, w.t, w.v.to_bits()));
                    }
                }
                other => prop_assert!(false, "{other:?}"),
            }
        }

        #[test]
        fn garbage_is_an_error_not_a_panic(b: Vec<u8>) {
            let _ = decode(&b);
        }
    }
}
