//! Java Flight Recordings made by OpenJDK inside the test (`e2e/sdk/Burn.java` under
//! `-XX:StartFlightRecording` with `e2e/sdk/burn.jfc`), uploaded as pyroscope-java uploads
//! them (`/ingest?format=jfr`, multipart `jfr` gzip'd and `labels`, `sampleRate=100`). The
//! recorded counters must equal what OpenJDK's own `jfr print` says the file holds:
//! execution samples × the 10 ms interval, per `contextId`'s labels for the wall samples,
//! allocation counts and bytes, lock and park counts and delays, and the samples whose
//! stack runs through `Burn.spin`.

mod common;
use cardinal_profiles::jfr::{LabelsContext, LabelsSnapshot};
use e2e::{Daemon, wait_until};
use prost::Message;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::Command;

const CONFIG: &str = r#"
global: {external_labels: {collector: c1}}
profile_rules:
  - record: java_cpu_nanoseconds_total
    matchers: ['{__profile_type__="process_cpu:cpu:nanoseconds:cpu:nanoseconds", service_name="java-app"}']
    group_by: [region]
  - record: java_spin_cpu_nanoseconds_total
    matchers: ['{__profile_type__="process_cpu:cpu:nanoseconds:cpu:nanoseconds", service_name="java-app"}']
    function_name: Burn.spin
  - record: java_wall_nanoseconds_total
    matchers: ['{__profile_type__="wall:wall:nanoseconds:wall:nanoseconds"}']
    group_by: [phase]
  - record: java_tlab_objects_total
    matchers: ['{__profile_type__="memory:alloc_in_new_tlab_objects:count:space:bytes"}']
  - record: java_tlab_bytes_total
    matchers: ['{__profile_type__="memory:alloc_in_new_tlab_bytes:bytes:space:bytes"}']
  - record: java_outside_tlab_objects_total
    matchers: ['{__profile_type__="memory:alloc_outside_tlab_objects:count:space:bytes"}']
  - record: java_outside_tlab_bytes_total
    matchers: ['{__profile_type__="memory:alloc_outside_tlab_bytes:bytes:space:bytes"}']
  - record: java_lock_contentions_total
    matchers: ['{__profile_type__="mutex:contentions:count:mutex:count"}']
  - record: java_lock_delay_nanoseconds_total
    matchers: ['{__profile_type__="mutex:delay:nanoseconds:mutex:count"}']
  - record: java_park_contentions_total
    matchers: ['{__profile_type__="block:contentions:count:block:count"}']
  - record: java_park_delay_nanoseconds_total
    matchers: ['{__profile_type__="block:delay:nanoseconds:block:count"}']
"#;

/// Records `Burn.java` for `seconds` with OpenJDK's recorder; `None` without a JDK.
fn record(dir: &Path, seconds: u32) -> Option<std::path::PathBuf> {
    let java = e2e::prometheus::find_tool("java")?;
    e2e::prometheus::find_tool("jfr")?;
    let out = dir.join("burn.jfr");
    let sdk = e2e::sdk::apps();
    let status = Command::new(java)
        .arg(format!("-XX:StartFlightRecording:filename={},settings={}", out.display(), sdk.join("burn.jfc").display()))
        .arg(sdk.join("Burn.java"))
        .arg(seconds.to_string())
        .output()
        .expect("run java");
    assert!(status.status.success(), "java: {}", String::from_utf8_lossy(&status.stderr));
    Some(out)
}

/// What OpenJDK's `jfr print --json` says the recording holds, summed here.
#[derive(Default, Debug)]
struct Counted {
    cpu_samples: f64,
    spin_samples: f64,
    wall_by_context: BTreeMap<i64, f64>,
    /// event type → (count, sum of its size or duration in ns)
    by_type: BTreeMap<String, (f64, f64)>,
}

fn count(path: &Path) -> Counted {
    let out = Command::new("jfr")
        .args(["print", "--json", "--events"])
        .arg("jdk.ExecutionSample,profiler.WallClockSample,jdk.ObjectAllocationInNewTLAB,jdk.ObjectAllocationOutsideTLAB,jdk.JavaMonitorEnter,jdk.ThreadPark")
        .arg(path)
        .output()
        .expect("jfr print");
    assert!(out.status.success(), "jfr print: {}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("jfr's JSON");
    let mut c = Counted::default();
    for e in v["recording"]["events"].as_array().unwrap() {
        let (kind, values) = (e["type"].as_str().unwrap(), &e["values"]);
        match kind {
            "jdk.ExecutionSample" if values["state"] != "STATE_SLEEPING" => {
                c.cpu_samples += 1.0;
                let frames = values["stackTrace"]["frames"].as_array().cloned().unwrap_or_default();
                let spins =
                    |f: &serde_json::Value| f["method"]["type"]["name"] == "Burn" && f["method"]["name"] == "spin";
                c.spin_samples += f64::from(u8::from(frames.iter().any(spins)));
            }
            "profiler.WallClockSample" => {
                let ctx = values["contextId"].as_i64().unwrap();
                *c.wall_by_context.entry(ctx).or_default() += values["samples"].as_f64().unwrap();
            }
            _ => {
                let amount = match kind {
                    "jdk.ObjectAllocationInNewTLAB" => values["tlabSize"].as_f64().unwrap(),
                    "jdk.ObjectAllocationOutsideTLAB" => values["allocationSize"].as_f64().unwrap(),
                    _ => iso_ns(values["duration"].as_str().unwrap_or("PT0S")),
                };
                let entry = c.by_type.entry(kind.to_string()).or_default();
                entry.0 += 1.0;
                entry.1 += amount;
            }
        }
    }
    c
}

/// `PT1M2.000003456S` in nanoseconds.
fn iso_ns(s: &str) -> f64 {
    let body = s.trim_start_matches("PT").trim_end_matches('S');
    let (minutes, seconds) = body.split_once('M').map_or((0.0, body), |(m, s)| (m.parse().unwrap(), s));
    let (whole, frac) = seconds.split_once('.').unwrap_or((seconds, ""));
    let frac = format!("{frac:0<9}");
    (minutes * 60.0 + whole.parse::<f64>().unwrap()) * 1e9 + frac[..9].parse::<f64>().unwrap()
}

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

/// pyroscope-java's labels: context 1 is `phase=a`, 2 `phase=b`.
fn snapshot() -> LabelsSnapshot {
    let mut s = LabelsSnapshot::default();
    for (id, text) in [(1, "phase"), (2, "a"), (3, "b")] {
        s.strings.insert(id, text.into());
    }
    s.contexts.insert(1, LabelsContext { labels: [(1, 2)].into() });
    s.contexts.insert(2, LabelsContext { labels: [(1, 3)].into() });
    s
}

#[tokio::test]
async fn an_openjdk_recording_is_recorded_as_openjdk_counts_it() {
    let dir = tempfile::tempdir().unwrap();
    let Some(path) = tokio::task::spawn_blocking({
        let dir = dir.path().to_path_buf();
        move || record(&dir, 3)
    })
    .await
    .unwrap() else {
        return;
    };
    let want = tokio::task::spawn_blocking({
        let path = path.clone();
        move || count(&path)
    })
    .await
    .unwrap();
    assert!(want.cpu_samples > 50.0 && want.wall_by_context.len() == 2, "a busy recording: {want:?}");

    let d = Daemon::start("collector", CONFIG, &[]).await;
    let now = cardinal_model::now_ms() / 1000;
    let query = format!(
        "name=java-app{{region=eu}}&units=samples&aggregationType=sum&from={}&until={now}&spyName=javaspy&sampleRate=100&format=jfr",
        now - 10
    );
    let form = reqwest::multipart::Form::new()
        .part("jfr", reqwest::multipart::Part::bytes(gzip(&std::fs::read(&path).unwrap())).file_name("jfr"))
        .part(
            "labels",
            reqwest::multipart::Part::bytes(snapshot().encode_to_vec())
                .file_name("labels")
                .mime_str("application/x-protobuf")
                .unwrap(),
        );
    let r = reqwest::Client::new().post(d.url(&format!("/ingest?{query}"))).multipart(form).send().await.unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());

    let value = |q: &'static str| {
        let d = &d;
        async move {
            wait_until(common::WAIT, || async { d.scalar(q).await.is_some() }).await;
            d.scalar(q).await.unwrap()
        }
    };
    assert_eq!(value(r#"java_cpu_nanoseconds_total{region="eu"}"#).await, want.cpu_samples * 1e7);
    assert_eq!(value("java_spin_cpu_nanoseconds_total").await, want.spin_samples * 1e7, "samples through Burn.spin");
    for (ctx, phase) in [(1, "a"), (2, "b")] {
        let q = if phase == "a" {
            r#"java_wall_nanoseconds_total{phase="a"}"#
        } else {
            r#"java_wall_nanoseconds_total{phase="b"}"#
        };
        assert_eq!(value(q).await, want.wall_by_context[&ctx] * 1e7, "wall samples of context {ctx}");
    }
    for (kind, objects, amount) in [
        ("jdk.ObjectAllocationInNewTLAB", "java_tlab_objects_total", "java_tlab_bytes_total"),
        ("jdk.ObjectAllocationOutsideTLAB", "java_outside_tlab_objects_total", "java_outside_tlab_bytes_total"),
        ("jdk.JavaMonitorEnter", "java_lock_contentions_total", "java_lock_delay_nanoseconds_total"),
        ("jdk.ThreadPark", "java_park_contentions_total", "java_park_delay_nanoseconds_total"),
    ] {
        let (n, sum) = want.by_type.get(kind).copied().unwrap_or_default();
        assert_eq!(value(objects).await, n, "{kind} events");
        // Durations: ticks become nanoseconds event by event, rounding down; OpenJDK's tool
        // rounds its own way. Within a nanosecond an event.
        let got = value(amount).await;
        assert!((got - sum).abs() <= n, "{kind}: recorded {got}, jfr print sums {sum}");
    }
}
