//! Profile ingestion over HTTP: real profiles (a profiler running in this test, and Go
//! profiles captured from Prometheus 2.42) posted raw, as multipart, and through the
//! Push API, recorded as counters equal to an independent sum; every kind of bad input
//! refused with its status and nothing recorded.

mod common;
use cardinal_profiles::proto;
use cardinal_profiles::synthetic::single_sample;
use common::*;
use e2e::Daemon;
use prost::Message;
use std::collections::BTreeMap;

const CONFIG: &str = r#"
global:
  external_labels: {collector: c1}
profile_rules:
  - record: rust_cpu_nanoseconds_total
    matchers: ['{__profile_type__="process_cpu:cpu:nanoseconds:cpu:nanoseconds", service_name="rustapp"}']
    group_by: [thread]
  - record: prometheus_alloc_bytes_total
    matchers: ['{__profile_type__="memory:alloc_space:bytes:space:bytes", service_name="prometheus"}']
    group_by: [env]
  - record: prometheus_cpu_nanoseconds_total
    matchers: ['{__profile_type__="process_cpu:cpu:nanoseconds:cpu:nanoseconds", service_name="prometheus"}']
  - record: prometheus_http_serve_cpu_nanoseconds_total
    matchers: ['{__profile_type__="process_cpu:cpu:nanoseconds:cpu:nanoseconds", service_name="prometheus"}']
    function_name: net/http.(*conn).serve
  - record: any_cpu_nanoseconds_total
    matchers: ['{__profile_type__="process_cpu:cpu:nanoseconds:cpu:nanoseconds"}']
    group_by: [service_name, pyroscope_spy]
"#;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/../shared/profiles/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn gunzip(b: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(b).read_to_end(&mut out).unwrap();
    out
}

/// Per value index, the sum over samples matching `keep`: computed from prost's decode,
/// independently of the collector's scanner.
fn sums(p: &proto::Profile, keep: impl Fn(&proto::Sample) -> bool) -> Vec<f64> {
    let mut out = vec![0.0; p.sample_type.len()];
    for s in p.sample.iter().filter(|s| keep(s)) {
        for (o, v) in out.iter_mut().zip(&s.value) {
            *o += *v as f64;
        }
    }
    out
}

async fn ingest(d: &Daemon, query: &str, body: Vec<u8>, multipart: bool) -> (u16, String) {
    let req = reqwest::Client::new().post(d.url(&format!("/ingest?{query}")));
    let req = if multipart {
        let part = reqwest::multipart::Part::bytes(body).file_name("profile.pprof");
        req.multipart(reqwest::multipart::Form::new().part("profile", part))
    } else {
        req.body(body)
    };
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// The newest value of each series `expr` selects, keyed by `label`'s value.
async fn values(d: &Daemon, expr: &str, label: &str) -> BTreeMap<String, f64> {
    d.query(expr)
        .await
        .iter()
        .map(|s| {
            let v: f64 = s["value"][1].as_str().unwrap().parse().unwrap();
            (s["metric"][label].as_str().unwrap_or("").to_string(), v)
        })
        .collect()
}

fn busy_loop(ms: u64) -> u64 {
    let end = std::time::Instant::now() + std::time::Duration::from_millis(ms);
    let mut x = 0u64;
    while std::time::Instant::now() < end {
        x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
    }
    x
}

#[tokio::test]
async fn a_real_profilers_output_is_recorded_per_thread_raw_and_multipart() {
    let d = collector(CONFIG).await;
    let guard = pprof::ProfilerGuardBuilder::default().frequency(997).build().unwrap();
    busy_loop(400);
    let profile = guard.report().build().unwrap().pprof().unwrap();
    let bytes = prost012::Message::encode_to_vec(&profile);
    let decoded = proto::Profile::decode(&bytes[..]).unwrap();
    let thread_key = decoded.string_table.iter().position(|s| s == "thread").unwrap() as i64;
    let mut want: BTreeMap<String, f64> = BTreeMap::new();
    for s in &decoded.sample {
        let thread = s.label.iter().find(|l| l.key == thread_key).map(|l| decoded.string_table[l.str as usize].clone());
        *want.entry(thread.unwrap()).or_default() += s.value[1] as f64;
    }
    assert!(want.values().sum::<f64>() > 0.0, "the profiler saw the busy loop");

    let now = cardinal_model::now_ms() / 1000;
    let q =
        |i: i64| format!("name=rustapp.cpu&from={}&until={}&format=pprof&spyName=pprof-rs", now - 20 + i, now - 10 + i);
    assert_eq!(ingest(&d, &q(0), bytes.clone(), false).await, (200, String::new()));
    assert_eq!(ingest(&d, &q(1), gzip(&bytes), true).await.0, 200);
    let got = values(&d, "rust_cpu_nanoseconds_total", "thread").await;
    let doubled: BTreeMap<String, f64> = want.iter().map(|(k, v)| (k.clone(), 2.0 * v)).collect();
    assert_eq!(got, doubled);
    let spy = values(&d, r#"any_cpu_nanoseconds_total{service_name="rustapp"}"#, "pyroscope_spy").await;
    assert_eq!(spy.get("pprof-rs"), Some(&(2.0 * want.values().sum::<f64>())));
}

fn gzip(b: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

/// A captured profile moved to a minute ago (the collector refuses profiles older than
/// its retention window), its content untouched: the profile and its gzip'd bytes.
fn recent(name: &str) -> (proto::Profile, Vec<u8>) {
    let mut p = proto::Profile::decode(&gunzip(&fixture(name))[..]).unwrap();
    p.time_nanos = (cardinal_model::now_ms() - 60_000) * 1_000_000;
    let bytes = gzip(&p.encode_to_vec());
    (p, bytes)
}

#[tokio::test]
async fn go_profiles_from_prometheus_are_recorded_with_their_own_time() {
    let d = collector(CONFIG).await;
    let ((heap, heap_gz), (cpu, cpu_gz)) = (recent("prometheus-2.42-heap.pb.gz"), recent("prometheus-2.42-cpu.pb.gz"));
    let q = "name=prometheus.alloc_space{env=fixture}&from=1700000000&until=1700000010&format=pprof";
    assert_eq!(ingest(&d, q, heap_gz.clone(), true).await.0, 200);
    let q = "name=prometheus.cpu&from=1700000000&until=1700000010&format=pprof";
    assert_eq!(ingest(&d, q, cpu_gz.clone(), false).await.0, 200);

    // The samples carry the profiles' own time (Go sets time_nanos), not from/until.
    let at = |p: &proto::Profile| (p.time_nanos + p.duration_nanos) as f64 / 1e9;
    let heap_alloc = sums(&heap, |_| true)[1];
    let r = d.query(&format!("prometheus_alloc_bytes_total @ {}", at(&heap))).await;
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!(r[0]["metric"]["env"], "fixture");
    assert_eq!(r[0]["value"][1].as_str().unwrap().parse::<f64>().unwrap(), heap_alloc);

    let serve = cpu.function.iter().filter(|f| cpu.string_table[f.name as usize] == "net/http.(*conn).serve");
    let serve_ids: Vec<u64> = serve.map(|f| f.id).collect();
    let locs: Vec<u64> = cpu
        .location
        .iter()
        .filter(|l| l.line.iter().any(|x| serve_ids.contains(&x.function_id)))
        .map(|l| l.id)
        .collect();
    let want_serve = sums(&cpu, |s| s.location_id.iter().any(|l| locs.contains(l)))[1];
    assert!(want_serve > 0.0);
    let t = at(&cpu);
    let v = |r: Vec<serde_json::Value>| r[0]["value"][1].as_str().unwrap().parse::<f64>().unwrap();
    assert_eq!(v(d.query(&format!("prometheus_cpu_nanoseconds_total @ {t}")).await), sums(&cpu, |_| true)[1]);
    assert_eq!(v(d.query(&format!("prometheus_http_serve_cpu_nanoseconds_total @ {t}")).await), want_serve);
}

#[tokio::test]
async fn push_api_takes_protobuf_and_json_and_recognises_retries() {
    let d = collector(CONFIG).await;
    let series = |id: &str, v: i64| proto::RawProfileSeries {
        labels: vec![
            proto::LabelPair { name: "__name__".into(), value: "process_cpu".into() },
            proto::LabelPair { name: "service_name".into(), value: "pushed".into() },
        ],
        samples: vec![proto::RawSample {
            raw_profile: gzip(&single_sample("cpu", v).encode_to_vec()).into(),
            id: id.into(),
        }],
    };
    let url = d.url("/push.v1.PusherService/Push");
    let body = proto::PushRequest { series: vec![series("a", 5)] }.encode_to_vec();
    let r = reqwest::Client::new()
        .post(&url)
        .header("content-type", "application/proto")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // The same sample again (a retry): not counted twice.
    let r =
        reqwest::Client::new().post(&url).header("content-type", "application/proto").body(body).send().await.unwrap();
    assert_eq!(r.status(), 200);
    use base64::Engine;
    let raw = base64::engine::general_purpose::STANDARD.encode(gzip(&single_sample("cpu", 7).encode_to_vec()));
    let json = serde_json::json!({"series": [{"labels": [{"name": "service_name", "value": "pushed"}],
        "samples": [{"rawProfile": raw, "ID": "b"}]}]});
    let r = reqwest::Client::new().post(&url).json(&json).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(values(&d, "any_cpu_nanoseconds_total", "service_name").await.get("pushed"), Some(&12.0));
    let (_, metrics) = d.get("/metrics").await;
    assert!(metrics.contains("cardinal_profiles_deduplicated_total 1\n"), "{metrics}");
}

#[tokio::test]
async fn folded_and_lines_profiles_count_at_the_sample_rate() {
    let d = collector(CONFIG).await;
    let now = cardinal_model::now_ms() / 1000;
    let q = format!("name=textapp.cpu&from={}&until={now}&sampleRate=100&spyName=rbspy", now - 10);
    assert_eq!(ingest(&d, &q, b"main;work 3\nmain;idle 2\n".to_vec(), false).await.0, 200);
    let q = format!("name=textapp.cpu&from={}&until={}&format=lines&spyName=rbspy", now - 9, now + 1);
    assert_eq!(ingest(&d, &q, b"main;work\nmain;work\n".to_vec(), true).await.0, 200);
    let got = values(&d, r#"any_cpu_nanoseconds_total{service_name="textapp"}"#, "pyroscope_spy").await;
    assert_eq!(got.get("rbspy"), Some(&(7.0 * 1e7)), "5 + 2 samples at 100 Hz");
}

#[tokio::test]
async fn bad_input_is_refused_with_its_reason_and_records_nothing() {
    let d = Daemon::start("collector", CONFIG, &["--web.max-request-bytes=64KiB"]).await;
    let good = single_sample("cpu", 5).encode_to_vec();
    let ok = "name=app&from=1&until=2&format=pprof";
    let bomb = gzip(&vec![0u8; 1 << 20]);
    let ahead = cardinal_model::now_ms() / 1000 + 10 * 365 * 86_400;
    let cases: Vec<(&str, String, Vec<u8>, u16, &str)> = vec![
        (
            "ten years ahead",
            format!("name=app.cpu&from={ahead}&until={}&format=pprof", ahead + 10),
            good.clone(),
            400,
            "too far in the future",
        ),
        (
            "from 1970",
            "name=app.cpu&from=1&until=2&format=pprof".into(),
            good.clone(),
            400,
            "older than this server keeps",
        ),
        ("truncated protobuf", ok.into(), good[..good.len() - 3].to_vec(), 400, "invalid pprof"),
        ("garbage", ok.into(), b"\xff\xff\xff\xff not a profile".to_vec(), 400, "invalid pprof"),
        ("bad gzip", ok.into(), vec![0x1f, 0x8b, 8, 0, 1, 2, 3, 4, 5, 6, 7], 400, "invalid gzip"),
        ("missing name", "from=1&until=2&format=pprof".into(), good.clone(), 400, "missing parameter \"name\""),
        ("missing until", "name=app&from=1&format=pprof".into(), good.clone(), 400, "missing parameter \"until\""),
        ("malformed from", "name=app&from=yesterday&until=2&format=pprof".into(), good.clone(), 400, "unix time"),
        ("malformed name", "name=app{region&from=1&until=2&format=pprof".into(), good.clone(), 400, "labels must end"),
        (
            "unknown format",
            "name=app&from=1&until=2&format=speedscope".into(),
            good.clone(),
            400,
            "unknown or unsupported format",
        ),
        (
            "a pprof sent as JFR",
            "name=app&from=1&until=2&format=jfr".into(),
            good.clone(),
            400,
            "invalid JFR: no JFR chunk",
        ),
        (
            "labels colliding once translated",
            "name=app.cpu{a.b=1,a_b=2}&from=1&until=2&format=pprof".into(),
            good.clone(),
            400,
            "both become \"a_b\"",
        ),
        ("body too large", ok.into(), vec![0u8; 100 << 10], 413, "too large"),
        ("zip bomb", ok.into(), bomb, 413, "decompressed profile exceeds"),
    ];
    for (what, query, body, status, message) in cases {
        for multipart in [false, true] {
            let (code, text) = ingest(&d, &query, body.clone(), multipart).await;
            assert_eq!(code, status, "{what} (multipart {multipart}): {text}");
            assert!(text.contains(message), "{what} (multipart {multipart}): {text:?}");
        }
    }
    let r = reqwest::Client::new()
        .post(d.url("/push.v1.PusherService/Push"))
        .header("content-type", "application/proto")
        .body(b"\x0a\xff".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["code"], "invalid_argument");
    assert!(d.query("{__name__=~\".+\"}").await.is_empty(), "nothing recorded");
    let (_, metrics) = d.get("/metrics").await;
    for reason in [
        "invalid_profile",
        "invalid_gzip",
        "invalid_parameter",
        "unknown_format",
        "too_large",
        "too_far_ahead",
        "too_old",
    ] {
        assert!(metrics.contains(&format!("cardinal_profiles_rejected_total{{reason=\"{reason}\"}}")), "{reason}");
    }
    assert!(metrics.contains("cardinal_profile_samples_written_total 0\n"), "{metrics}");
}

/// Uploads write data, so they are taken only when the config records profiles or a flag
/// asks for them, as Prometheus's remote-write receiver is off unless asked for.
#[tokio::test]
async fn uploads_are_refused_unless_profile_rules_or_the_flag_ask_for_them() {
    let now = cardinal_model::now_ms() / 1000;
    let q = format!("name=app.cpu&from={}&until={now}&format=pprof", now - 10);
    let body = single_sample("cpu", 5).encode_to_vec();
    let plain = "global: {external_labels: {collector: c1}}\n";
    let d = Daemon::start("collector", plain, &[]).await;
    let (code, text) = ingest(&d, &q, body.clone(), false).await;
    assert_eq!(code, 404);
    assert!(text.contains("--web.enable-profile-ingestion"), "{text}");
    let push = d.client().post(d.url("/push.v1.PusherService/Push")).body(Vec::new()).send().await.unwrap();
    assert_eq!(push.status(), 404);
    let d = Daemon::start("collector", plain, &["--web.enable-profile-ingestion"]).await;
    assert_eq!(ingest(&d, &q, body.clone(), false).await.0, 200);
    let d = collector(CONFIG).await;
    assert_eq!(ingest(&d, &q, body, false).await.0, 200);
}

#[tokio::test]
async fn counters_continue_after_a_crash_and_a_bad_reload_keeps_the_rules() {
    let mut d = Daemon::start("collector", CONFIG, &["--web.enable-lifecycle"]).await;
    let now = cardinal_model::now_ms() / 1000;
    let post = |d: &Daemon, i: i64, v: i64| {
        let q = format!("name=crashy.cpu&from={}&until={}&format=pprof", now - 60 + i, now - 50 + i);
        let body = single_sample("cpu", v).encode_to_vec();
        let url = d.url(&format!("/ingest?{q}"));
        async move { reqwest::Client::new().post(url).body(body).send().await.unwrap().status().as_u16() }
    };
    let total = |d: &Daemon| {
        let d = d.url("");
        async move {
            let r = reqwest::Client::new()
                .get(format!("{d}/api/v1/query"))
                .query(&[("query", r#"any_cpu_nanoseconds_total{service_name="crashy"}"#)])
                .send()
                .await
                .unwrap();
            let v: serde_json::Value = r.json().await.unwrap();
            v["data"]["result"][0]["value"][1].as_str().map(|s| s.parse::<f64>().unwrap())
        }
    };
    assert_eq!(post(&d, 0, 10).await, 200);
    d.kill9();
    d.restart().await;
    assert_eq!(total(&d).await, Some(10.0), "the answered upload survived the crash (WAL)");
    assert_eq!(post(&d, 1, 5).await, 200);
    assert_eq!(total(&d).await, Some(15.0), "the counter continues from the head, no reset");

    let gauge = CONFIG.replace("memory:alloc_space:bytes:space:bytes", "memory:inuse_space:bytes:space:bytes");
    let (status, body) = d.reload(&gauge).await;
    assert_ne!(status, 200);
    assert!(body.contains("measures a point in time"), "{body}");
    assert_eq!(post(&d, 2, 5).await, 200);
    assert_eq!(total(&d).await, Some(20.0), "the running rules still record");
}
