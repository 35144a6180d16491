//! Decoding and recording realistic profiles (2,000 samples over 5,000 locations, Go's
//! CPU shape): the in-place scanner beside prost's full decode of the same bytes (why
//! the scanner exists), gzip, and the whole ingest path with 25 rules.
//!
//! cargo bench -p cardinal-profiles --bench profiles

use bytes::Bytes;
use cardinal_config::Config;
use cardinal_profiles::pprof::{Context, decode};
use cardinal_profiles::synthetic::{Shape, cpu_profile};
use cardinal_profiles::{Recorder, Upload, proto};
use cardinal_tsdb::Head;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use prost::Message;
use std::io::Write;
use std::sync::Arc;

const SHAPE: Shape = Shape { samples: 2_000, locations: 5_000, label_values: 0 };

fn realistic() -> Vec<u8> {
    cpu_profile(42, &SHAPE, 1_700_000_000_000_000_000, 10_000_000_000).encode_to_vec()
}

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

fn ctx(service: &str) -> Context<'static> {
    let labels = vec![("service_name".to_string(), service.to_string()), ("region".to_string(), "eu".to_string())];
    Context { app_suffix: None, labels, fallback_end_ms: 0 }
}

/// 25 rules as a user might write them: per service, by region, a few on other types,
/// and (with `function`) one filtering on a function name.
fn rules(function: bool) -> Vec<cardinal_config::ProfileRule> {
    let mut text = String::from("profile_rules:\n");
    for i in 0..25 {
        let ty = if i % 5 == 4 {
            "memory:alloc_space:bytes:space:bytes"
        } else {
            "process_cpu:cpu:nanoseconds:cpu:nanoseconds"
        };
        let f = if function && i == 0 { ", function_name: pkg.fn7" } else { "" };
        text.push_str(&format!(
            "  - {{record: rule_{i}, matchers: ['{{__profile_type__=\"{ty}\", service_name=~\"svc-{}|svc-x\"}}'], group_by: [region]{f}}}\n",
            i % 3
        ));
    }
    Config::parse(&text, "bench.yml").unwrap().profiles
}

fn decoding(c: &mut Criterion) {
    let raw = realistic();
    let gz = gzip(&raw);
    let mut g = c.benchmark_group("profile_decode");
    g.throughput(Throughput::Elements(1));
    println!("realistic profile: {} bytes, {} gzip'd", raw.len(), gz.len());
    g.bench_function("scan", |b| b.iter(|| decode(Bytes::copy_from_slice(&raw), ctx("svc-0")).unwrap()));
    g.bench_function("prost_full_decode_and_sum", |b| {
        b.iter(|| {
            let p = proto::Profile::decode(&raw[..]).unwrap();
            p.sample.iter().map(|s| s.value[1]).sum::<i64>()
        })
    });
    g.bench_function("gunzip_and_scan", |b| {
        b.iter(|| {
            let body = cardinal_profiles::gunzip_if_gzip(Bytes::copy_from_slice(&gz), 64 << 20).unwrap();
            decode(body, ctx("svc-0")).unwrap()
        })
    });
    g.finish();
}

/// The ingest path after the HTTP body: decode, evaluate 25 rules, append to the head.
fn ingest(c: &mut Criterion) {
    let raw = Bytes::from(realistic());
    let gz = Bytes::from(gzip(&raw));
    let mut g = c.benchmark_group("profile_ingest_25_rules");
    g.throughput(Throughput::Elements(1));
    for (name, body, function) in
        [("raw", raw.clone(), false), ("gzip", gz.clone(), false), ("gzip_one_function_rule", gz, true)]
    {
        let rec = Recorder::new(Arc::new(Head::new()));
        rec.apply(&rules(function));
        let mut id = 0u64;
        g.bench_function(name, |b| {
            b.iter(|| {
                id += 1;
                let body = cardinal_profiles::gunzip_if_gzip(body.clone(), 64 << 20).unwrap();
                let p = decode(body, ctx(["svc-0", "svc-1", "svc-2"][id as usize % 3])).unwrap();
                rec.record(&[Upload { identity: id, profiles: vec![p] }], id as i64)
            })
        });
    }
    g.finish();
}

/// A Java Flight Recording (OpenJDK 17's recorder, one second of `e2e/sdk/Burn.java`:
/// 1,192 events that become profiles, 373 kB of which the metadata is 193 kB), decoded as
/// an upload: every event mapped, its labels looked up; per event, beside the pprof
/// scanner's per sample.
fn jfr(c: &mut Criterion) {
    use std::io::Read;
    let gz = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/openjdk17-burn.jfr.gz")).unwrap();
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(&gz[..]).read_to_end(&mut raw).unwrap();
    let (raw, gz) = (Bytes::from(raw), Bytes::from(gz));
    let mut g = c.benchmark_group("jfr_decode");
    g.throughput(Throughput::Elements(JFR_FIXTURE_EVENTS));
    let decode = |body: Bytes| {
        let body = cardinal_profiles::gunzip_if_gzip(body, 64 << 20).unwrap();
        let ctx = cardinal_profiles::jfr::Context { labels: Vec::new(), sample_rate: Some(100), fallback_end_ms: 0 };
        cardinal_profiles::jfr::decode(body, None, ctx).unwrap()
    };
    g.bench_function("openjdk17_1s_per_event", |b| b.iter(|| decode(raw.clone())));
    g.bench_function("openjdk17_1s_gzip_per_event", |b| b.iter(|| decode(gz.clone())));
    g.finish();
}

/// The fixture's events that feed profiles (`jfr summary`): 141 + 92 + 139 + 279 + 175 + 366.
const JFR_FIXTURE_EVENTS: u64 = 1_192;

criterion_group!(benches, decoding, ingest, jfr);
criterion_main!(benches);
