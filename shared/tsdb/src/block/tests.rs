use super::*;
use crate::compact::encode_chunks;
use cardinal_model::MatchOp;

fn sample_block(dir: &Path) -> PathBuf {
    let series = (0..10)
        .map(|i| {
            let samples: Vec<(i64, f64)> = (0..500).map(|k| (k * 15_000, (i * 1000 + k) as f64)).collect();
            SeriesChunks {
                labels: Labels::from_pairs([("__name__", "m".to_string()), ("i", i.to_string())]),
                chunks: encode_chunks(&samples),
            }
        })
        .collect();
    write_block(dir, 0, 500 * 15_000, 1, series).unwrap().unwrap()
}

#[test]
fn a_written_block_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let b = Block::open(&sample_block(dir.path())).unwrap();
    assert_eq!((b.meta.num_series, b.meta.num_samples), (10, 5000));
    let sel = b.select(&[Matcher::new(MatchOp::Equal, "i", "3").unwrap()]);
    assert_eq!(sel.len(), 1);
    let mut out = Vec::new();
    b.samples(sel[0], 15_000, 45_000, &mut out);
    assert_eq!(out, [(15_000, 3001.0), (30_000, 3002.0), (45_000, 3003.0)]);
    assert_eq!(b.label_values("i").len(), 10);
}

#[test]
fn a_damaged_chunk_is_skipped_not_returned() {
    let dir = tempfile::tempdir().unwrap();
    let path = sample_block(dir.path());
    let chunks = path.join(format::CHUNKS);
    let mut data = std::fs::read(&chunks).unwrap();
    data[10] ^= 0xff;
    std::fs::write(&chunks, data).unwrap();
    let b = Block::open(&path).unwrap();
    let mut out = Vec::new();
    b.samples(0, 0, i64::MAX, &mut out);
    assert_eq!(out.len(), 500 - 120, "the first chunk is lost, the rest kept");
    assert_eq!(b.corrupt_chunks.load(Relaxed), 1);
}

#[test]
fn a_damaged_or_truncated_index_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = sample_block(dir.path());
    let index = path.join(format::INDEX);
    let data = std::fs::read(&index).unwrap();
    let mut flipped = data.clone();
    flipped[20] ^= 1;
    std::fs::write(&index, &flipped).unwrap();
    assert!(Block::open(&path).err().unwrap().to_string().contains("checksum"));
    std::fs::write(&index, &data[..data.len() / 2]).unwrap();
    assert!(Block::open(&path).is_err());
}

#[test]
fn decoding_garbage_never_panics() {
    use proptest::prelude::*;
    proptest!(|(b: Vec<u8>)| {
        let mut data = b"CRDIDX01".to_vec();
        data.extend_from_slice(&b);
        let _ = format::decode_index(&data);
    });
}
