use super::*;
use std::io::Read;

/// A one-second recording of `e2e/sdk/Burn.java` by OpenJDK 17.0.15's own recorder with
/// `e2e/sdk/burn.jfc` (gzip'd; 373 KB raw). The counts below are OpenJDK's: from
/// `jfr summary` and `jfr print --json` of the same file, summed independently.
fn fixture() -> Bytes {
    let gz = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/openjdk17-burn.jfr.gz")).unwrap();
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(&gz[..]).read_to_end(&mut out).unwrap();
    out.into()
}

const EXECUTION_SAMPLES: f64 = 141.0;
const WALL_SAMPLES_PER_CONTEXT: f64 = 46.0;
const MONITOR_ENTERS: (f64, f64) = (175.0, 430_859_684.0);
const PARKS: (f64, f64) = (366.0, 1_523_678_964.0);
const IN_TLAB: (f64, f64) = (139.0, 79_949_624.0);
const OUTSIDE_TLAB: (f64, f64) = (279.0, 1_149_916_048.0);

/// pyroscope-java's snapshot: context 1 is `phase=a`, 2 `phase=b` (named as an SDK would,
/// with a dot, to be translated).
fn snapshot() -> LabelsSnapshot {
    let mut s = LabelsSnapshot::default();
    for (id, text) in [(1, "work.phase"), (2, "a"), (3, "b")] {
        s.strings.insert(id, text.to_string());
    }
    s.contexts.insert(1, LabelsContext { labels: [(1, 2)].into() });
    s.contexts.insert(2, LabelsContext { labels: [(1, 3)].into() });
    s
}

fn decoded(sample_rate: Option<u32>) -> Profile {
    let ctx = Context { labels: vec![("service_name".into(), "burn".into())], sample_rate, fallback_end_ms: 0 };
    decode(fixture(), Some(snapshot()), ctx).unwrap()
}

/// The total of `type_id` in the group with `labels`.
fn total(p: &Profile, labels: &[(&str, &str)], type_id: &str) -> f64 {
    let t = p.types.iter().position(|t| t.id() == type_id).unwrap_or_else(|| panic!("no {type_id}"));
    let g = p.groups.iter().find(|g| g.labels.iter().map(|(a, b)| (a.as_str(), b.as_str())).eq(labels.iter().copied()));
    g.unwrap_or_else(|| panic!("no group {labels:?}")).totals[t]
}

#[test]
fn every_event_kind_is_counted_as_openjdk_counts_it() {
    let p = decoded(Some(100));
    let none: &[(&str, &str)] = &[];
    assert_eq!(total(&p, none, "process_cpu:cpu:nanoseconds:cpu:nanoseconds"), EXECUTION_SAMPLES * 1e7);
    for (labels, phase) in [([("work_phase", "a")], "a"), ([("work_phase", "b")], "b")] {
        let wall = total(&p, &labels, "wall:wall:nanoseconds:wall:nanoseconds");
        assert_eq!(wall, WALL_SAMPLES_PER_CONTEXT * 1e7, "phase {phase}: the contextId's labels");
    }
    for ((count, sum), objects, bytes) in [
        (
            IN_TLAB,
            "memory:alloc_in_new_tlab_objects:count:space:bytes",
            "memory:alloc_in_new_tlab_bytes:bytes:space:bytes",
        ),
        (
            OUTSIDE_TLAB,
            "memory:alloc_outside_tlab_objects:count:space:bytes",
            "memory:alloc_outside_tlab_bytes:bytes:space:bytes",
        ),
    ] {
        assert_eq!((total(&p, none, objects), total(&p, none, bytes)), (count, sum));
    }
    for ((count, ns), contentions, delay) in [
        (MONITOR_ENTERS, "mutex:contentions:count:mutex:count", "mutex:delay:nanoseconds:mutex:count"),
        (PARKS, "block:contentions:count:block:count", "block:delay:nanoseconds:block:count"),
    ] {
        assert_eq!(total(&p, none, contentions), count);
        // Ticks become nanoseconds one event at a time, rounding down: within a
        // nanosecond an event of what OpenJDK's tool prints.
        let d = total(&p, none, delay);
        assert!((ns - d).abs() <= count, "{delay}: {d} against {ns}");
    }
    assert!(p.end_ms > 1_700_000_000_000, "the recording's own time");
}

#[test]
fn without_sample_rate_the_recordings_own_period_is_the_interval() {
    let p = decoded(None);
    let cpu = total(&p, &[], "process_cpu:cpu:nanoseconds:cpu:nanoseconds");
    assert_eq!(cpu, EXECUTION_SAMPLES * 1e7, "burn.jfc samples every 10 ms");
}

#[test]
fn function_filters_read_the_stacks() {
    let p = decoded(Some(100));
    let cpu = p.types.iter().position(|t| t.id() == "process_cpu:cpu:nanoseconds:cpu:nanoseconds").unwrap();
    let none = p.groups.iter().position(|g| g.labels.is_empty()).unwrap();
    let spin = p.function_totals("Burn.spin")[none][cpu];
    assert!(spin > 0.0 && spin <= EXECUTION_SAMPLES * 1e7, "{spin}");
    assert_eq!(spin % 1e7, 0.0, "whole samples");
    assert_eq!(p.function_totals("Burn.nothing")[none][cpu], 0.0);
    assert_eq!(p.function_totals("Burn")[none][cpu], 0.0, "a class alone names no frame");
}

#[test]
fn damage_is_refused_with_its_reason() {
    let good = fixture();
    let ctx = || Context { labels: vec![], sample_rate: Some(100), fallback_end_ms: 0 };
    let reason = |b: Vec<u8>| match decode(b.into(), None, ctx()) {
        Err(Rejection::BadRequest("invalid_jfr", m)) => m,
        other => panic!("{:?}", other.map(|p| p.types)),
    };
    assert!(reason(good[..good.len() / 2].to_vec()).contains("truncated JFR"));
    assert!(reason(b"not a recording at all".to_vec()).contains("bad magic"));
    assert!(reason(Vec::new()).contains("empty"));
    // The metadata (the last one, which is read) garbled around a class name.
    let mut meta = good.to_vec();
    let at = meta.windows(19).rposition(|w| w == b"jdk.ExecutionSample").unwrap();
    meta[at - 40..at + 40].iter_mut().for_each(|b| *b = 0xff);
    let m = reason(meta);
    assert!(m.starts_with("invalid JFR:"), "{m}");
    // The last constant pool (where the header points) garbled.
    let mut pool = good.to_vec();
    let cp = i64::from_be_bytes(pool[16..24].try_into().unwrap()) as usize;
    let n = pool.len();
    pool[cp + 12..n].iter_mut().for_each(|b| *b = 0xff);
    let m = reason(pool);
    assert!(m.starts_with("invalid JFR: constant pool:"), "{m}");
}

#[test]
fn labels_that_collide_once_translated_are_refused_naming_both() {
    let mut s = snapshot();
    s.strings.insert(4, "work_phase".into());
    s.contexts.insert(1, LabelsContext { labels: [(1, 2), (4, 3)].into() });
    let ctx = Context { labels: vec![], sample_rate: Some(100), fallback_end_ms: 0 };
    let Err(Rejection::BadRequest(_, m)) = decode(fixture(), Some(s), ctx) else { panic!() };
    assert!(m.contains("\"work.phase\"") && m.contains("\"work_phase\""), "{m}");
}

#[test]
fn periods_parse() {
    assert_eq!(period_ns("10 ms"), Some(1e7));
    assert_eq!(period_ns("20ms"), Some(2e7));
    assert_eq!(period_ns("1 s"), Some(1e9));
    assert_eq!(period_ns("0 ms"), None);
    assert_eq!(period_ns("everyChunk"), None);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
    /// Any bytes flipped anywhere in a real recording: decoded or refused, never a panic.
    #[test]
    fn a_damaged_recording_never_panics(flips in proptest::collection::vec((0usize..373_000, proptest::num::u8::ANY), 1..8)) {
        let mut data = fixture().to_vec();
        for (at, b) in flips {
            let at = at % data.len();
            data[at] ^= b | 1;
        }
        let ctx = Context { labels: vec![], sample_rate: Some(100), fallback_end_ms: 0 };
        if let Ok(p) = decode(data.into(), Some(snapshot()), ctx) {
            let f = p.function_totals("Burn.spin");
            proptest::prop_assert_eq!(f.len(), p.groups.len());
        }
    }
}

/// An event whose type the metadata does not describe is stepped over and counted; the
/// rest of the recording is read.
#[test]
fn events_of_undescribed_types_are_skipped_and_counted() {
    let mut data = fixture().to_vec();
    let h = chunk::header(&data, 0).unwrap();
    assert_eq!(h.size, data.len(), "one chunk");
    let index = chunk::index(&data, 0, h.size).unwrap();
    let meta = chunk::metadata(&data, index.metadata.as_ref().unwrap()).unwrap();
    let unknown = (1000..).find(|id| !meta.classes.contains_key(id)).unwrap();
    // An event appended to the chunk: size, type, a few bytes of fields.
    let mut event = varint(unknown);
    event.extend([1, 2, 3]);
    event.insert(0, (event.len() + 1) as u8);
    data.extend(&event);
    let size = data.len() as i64;
    data[8..16].copy_from_slice(&size.to_be_bytes());
    let ctx = Context { labels: vec![], sample_rate: Some(100), fallback_end_ms: 0 };
    let p = decode(data.into(), None, ctx).unwrap();
    assert_eq!(p.skipped_events(), 1);
    assert_eq!(total(&p, &[], "process_cpu:cpu:nanoseconds:cpu:nanoseconds"), EXECUTION_SAMPLES * 1e7);
}

fn varint(mut v: i64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return out;
        }
        out.push(b | 0x80);
    }
}
