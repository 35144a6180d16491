//! Arbitrary bytes as a WAL record body must decode without panicking (a damaged record
//! whose CRC holds); samples and exemplars built from the bytes must round-trip.
#![no_main]
use cardinal_model::Labels;
use cardinal_tsdb::wal::record::{self, Record, RefExemplar, RefSample};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = record::decode(data);
    let words: Vec<u64> = data.chunks_exact(8).map(|w| u64::from_le_bytes(w.try_into().unwrap())).collect();
    let samples: Vec<RefSample> =
        words.chunks_exact(3).map(|w| RefSample { id: w[0], t: w[1] as i64, v: f64::from_bits(w[2]) }).collect();
    let mut body = Vec::new();
    record::encode_samples(&mut body, &samples);
    match record::decode(&body) {
        Ok(Record::Samples(got)) => {
            let bits = |s: &[RefSample]| s.iter().map(|s| (s.id, s.t, s.v.to_bits())).collect::<Vec<_>>();
            assert_eq!(bits(&got), bits(&samples));
        }
        other => panic!("samples decoded as {other:?}"),
    }
    let value = String::from_utf8_lossy(data).into_owned();
    let exemplars: Vec<RefExemplar> = samples
        .iter()
        .map(|s| RefExemplar { id: s.id, t: s.t, v: s.v, labels: Labels::from_pairs([("trace_id", value.as_str())]) })
        .collect();
    let mut body = Vec::new();
    record::encode_exemplars(&mut body, &exemplars);
    match record::decode(&body) {
        Ok(Record::Exemplars(got)) => {
            assert_eq!(got.len(), exemplars.len());
            for (g, w) in got.iter().zip(&exemplars) {
                assert_eq!((g.id, g.t, g.v.to_bits(), &g.labels), (w.id, w.t, w.v.to_bits(), &w.labels));
            }
        }
        other => panic!("exemplars decoded as {other:?}"),
    }
});
