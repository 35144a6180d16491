use super::*;
use crate::compact::{BLOCK_CHUNK_SAMPLES, encode_chunks};
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
    write_block(dir, BlockSpec::new(0, 500 * 15_000, 1), series).unwrap().unwrap()
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

/// Every sample of every series in `b`, by labels.
fn all_samples(b: &Block) -> Vec<(String, Vec<(i64, u64)>)> {
    (0..b.num_series())
        .map(|i| {
            let mut out = Vec::new();
            b.samples(i, i64::MIN, i64::MAX, &mut out);
            (b.labels(i).to_string(), out.into_iter().map(|(t, v)| (t, v.to_bits())).collect())
        })
        .collect()
}

#[test]
fn a_version_1_block_reads_and_merges_into_the_current_format() {
    use crate::chunk::{LEGACY_CHUNK, LEGACY_SAMPLES};
    let dir = tempfile::tempdir().unwrap();
    let (min, max) = (LEGACY_SAMPLES[0].0, LEGACY_SAMPLES[5].0);
    let labels = Labels::from_pairs([("__name__", "m")]);
    let chunks = vec![(min, max, 6, LEGACY_CHUNK.to_vec())];
    let old =
        write_block(dir.path(), BlockSpec::new(min, max + 1, 1), vec![SeriesChunks { labels: labels.clone(), chunks }])
            .unwrap()
            .unwrap();
    let meta = std::fs::read_to_string(old.join(format::META)).unwrap();
    std::fs::write(old.join(format::META), meta.replace("\"version\": 3", "\"version\": 1")).unwrap();
    let want = vec![(labels.to_string(), LEGACY_SAMPLES.iter().map(|(t, v)| (*t, v.to_bits())).collect())];
    let old = std::sync::Arc::new(Block::open(&old).unwrap());
    assert_eq!(old.meta.version, 1);
    assert_eq!(all_samples(&old), want);

    let later: Vec<(i64, f64)> = (1..=3).map(|k| (max + k * 15_000, k as f64)).collect();
    let new = write_block(
        dir.path(),
        BlockSpec::new(max + 1, max + 60_000, 1),
        vec![SeriesChunks { labels: labels.clone(), chunks: encode_chunks(&later) }],
    )
    .unwrap()
    .unwrap();
    let new = std::sync::Arc::new(Block::open(&new).unwrap());
    let merged = Block::open(&crate::compact::merge(dir.path(), &[old, new]).unwrap().unwrap()).unwrap();
    assert_eq!(merged.meta.version, format::VERSION);
    let mut want = want;
    want[0].1.extend(later.iter().map(|(t, v)| (*t, v.to_bits())));
    assert_eq!(all_samples(&merged), want);
}

#[test]
fn a_block_of_an_unknown_format_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = sample_block(dir.path());
    let meta = std::fs::read_to_string(path.join(format::META)).unwrap();
    std::fs::write(path.join(format::META), meta.replace("\"version\": 3", "\"version\": 4")).unwrap();
    assert!(Block::open(&path).err().unwrap().to_string().contains("format version 4"));
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
    assert_eq!(out.len(), 500 - BLOCK_CHUNK_SAMPLES, "the first chunk is lost, the rest kept");
    assert_eq!(b.corrupt_chunks.load(Relaxed), 1);
}

#[test]
fn an_index_with_no_readable_entry_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = sample_block(dir.path());
    let index = path.join(format::INDEX);
    let data = std::fs::read(&index).unwrap();
    std::fs::write(&index, &data[..12]).unwrap();
    assert!(Block::open(&path).err().unwrap().to_string().contains("no readable series entry"));
    std::fs::write(&index, b"garbage").unwrap();
    assert!(Block::open(&path).err().unwrap().to_string().contains("not a block index"));
    // In the format before entries were framed, any damage refuses the whole index.
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/block-format-2/index");
    let mut old = std::fs::read(fixture).unwrap();
    old[20] ^= 1;
    assert!(format::decode_index(&old).err().unwrap().contains("checksum"));
}

#[test]
fn decoding_garbage_never_panics() {
    use proptest::prelude::*;
    proptest!(|(b: Vec<u8>, framed: bool)| {
        let mut data = if framed { b"CRDIDX02".to_vec() } else { b"CRDIDX01".to_vec() };
        data.extend_from_slice(&b);
        let _ = format::decode_index(&data);
    });
}

/// A block written before index entries were framed (format 2, captured from that
/// release's writer) opens and reads back.
#[test]
fn a_format_2_block_still_opens() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/block-format-2");
    let b = Block::open(&fixture).unwrap();
    assert_eq!((b.meta.version, b.num_series()), (2, 3));
    let got = all_samples(&b);
    for (i, (labels, samples)) in got.iter().enumerate() {
        assert_eq!(labels, &format!("{{__name__=\"m\", i=\"{i}\"}}"));
        let want: Vec<(i64, u64)> = (0..20).map(|k| (k * 15_000, ((i as i64 * 100 + k) as f64).to_bits())).collect();
        assert_eq!(samples, &want);
    }
}

/// A flipped byte in one series' index entry, or in a chunk, costs that series (or
/// chunk) alone; a damaged offset table is walked around.
#[test]
fn index_and_chunk_damage_cost_only_what_they_touch() {
    let dir = tempfile::tempdir().unwrap();
    let path = sample_block(dir.path());
    let intact = all_samples(&Block::open(&path).unwrap());
    let index = std::fs::read(path.join(format::INDEX)).unwrap();
    let entry_start = |n: usize| {
        // Entries follow the 8-byte magic in series order; walk their lengths.
        let mut at = 8;
        for _ in 0..n {
            at += 8 + u32::from_le_bytes(index[at..at + 4].try_into().unwrap()) as usize;
        }
        at
    };
    for (what, at) in [("entry 3's body", entry_start(3) + 12), ("entry 3's length", entry_start(3) + 1)] {
        let mut bad = index.clone();
        bad[at] ^= 0x5a;
        std::fs::write(path.join(format::INDEX), &bad).unwrap();
        let b = Block::open(&path).unwrap();
        assert_eq!(b.skipped.len(), 1, "{what}: {:?}", b.skipped);
        let mut want = intact.clone();
        want.remove(3);
        assert_eq!(all_samples(&b), want, "{what}: every other series is served");
    }
    let mut bad = index.clone();
    let table = bad.len() - 16 - 8 * 10;
    bad[table + 5] ^= 0x5a;
    std::fs::write(path.join(format::INDEX), &bad).unwrap();
    let b = Block::open(&path).unwrap();
    assert_eq!(all_samples(&b), intact, "a damaged table loses nothing");
    assert!(b.skipped[0].contains("offset table damaged"), "{:?}", b.skipped);
    std::fs::write(path.join(format::INDEX), &index).unwrap();
    let mut chunks = std::fs::read(path.join(format::CHUNKS)).unwrap();
    chunks[10] ^= 0x5a;
    std::fs::write(path.join(format::CHUNKS), &chunks).unwrap();
    let b = Block::open(&path).unwrap();
    let got = all_samples(&b);
    assert_eq!(got[1..], intact[1..], "other series' chunks read");
    assert!(got[0].1.len() < intact[0].1.len(), "the damaged chunk is left out");
    assert_eq!(b.corrupt_chunks.load(std::sync::atomic::Ordering::Relaxed), 1);
}
