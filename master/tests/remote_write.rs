//! The remote-write receiver over HTTP: status codes, all-or-nothing, and durability of
//! everything acknowledged across a SIGKILL.

use cardinal_remote::proto::{self, Label, Sample, TimeSeries, WriteRequest};
use e2e::Daemon;
use std::collections::BTreeMap;

const CONFIG: &str = "global: {scrape_interval: 15s}\n";

fn series(name: &str, i: usize, samples: &[(i64, f64)]) -> TimeSeries {
    TimeSeries {
        labels: vec![
            Label { name: "__name__".into(), value: name.into() },
            Label { name: "i".into(), value: i.to_string() },
        ],
        samples: samples.iter().map(|&(timestamp, value)| Sample { value, timestamp }).collect(),
        ..Default::default()
    }
}

async fn push(d: &Daemon, body: Vec<u8>, content_type: &str) -> (u16, String) {
    let r = reqwest::Client::new()
        .post(d.url("/api/v1/write"))
        .header("Content-Encoding", "snappy")
        .header("Content-Type", content_type)
        .header(proto::VERSION_HEADER, proto::VERSION)
        .body(body)
        .send()
        .await
        .expect("push");
    (r.status().as_u16(), r.text().await.unwrap_or_default())
}

async fn push_req(d: &Daemon, ts: Vec<TimeSeries>) -> (u16, String) {
    push(d, proto::encode(&WriteRequest { timeseries: ts, metadata: vec![] }), proto::CONTENT_TYPE).await
}

/// Every stored (series, timestamp) of `name` within the last day, via the query API.
async fn stored(d: &Daemon, name: &str) -> BTreeMap<String, Vec<i64>> {
    let mut out = BTreeMap::new();
    for s in d.query(&format!("{name}[1d]")).await {
        let ts = s["values"].as_array().unwrap().iter().map(|p| (p[0].as_f64().unwrap() * 1000.0).round() as i64);
        out.insert(s["metric"]["i"].as_str().unwrap().to_string(), ts.collect());
    }
    out
}

#[tokio::test]
async fn status_codes_and_all_or_nothing() {
    let d = Daemon::start("master", CONFIG, &["--web.enable-remote-write-receiver"]).await;
    let now = cardinal_model::now_ms();
    assert_eq!(push_req(&d, vec![series("rw", 0, &[(now - 2000, 1.0), (now - 1000, 2.0)])]).await.0, 204);
    let (code, msg) = push_req(&d, vec![series("rw", 1, &[(now, 1.0)]), series("rw", 0, &[(now - 5000, 1.0)])]).await;
    assert_eq!(code, 400);
    assert!(msg.starts_with("out of order sample"), "{msg}");
    let (code, msg) = push_req(&d, vec![series("rw", 0, &[(now - 1000, 7.0)])]).await;
    assert_eq!((code, msg.starts_with("duplicate sample for timestamp")), (400, true), "{msg}");
    let (code, msg) = push(&d, b"definitely not snappy".to_vec(), proto::CONTENT_TYPE).await;
    assert_eq!((code, msg.starts_with("snappy")), (400, true), "{msg}");
    let v2 = proto::encode(&WriteRequest::default());
    let (code, msg) = push(&d, v2, "application/x-protobuf;proto=io.prometheus.write.v2.Request").await;
    assert_eq!(code, 415, "{msg}");
    let s = stored(&d, "rw").await;
    assert_eq!(s.len(), 1, "series 1 of the rejected request was not stored: {s:?}");
    assert_eq!(s["0"], [now - 2000, now - 1000]);
}

#[tokio::test]
async fn every_acknowledged_sample_survives_sigkill() {
    let mut d = Daemon::start("master", CONFIG, &["--web.enable-remote-write-receiver"]).await;
    let base = cardinal_model::now_ms() - 600_000;
    let url = d.url("/api/v1/write");
    // Push in the background and kill the daemon while pushes are in flight.
    let pusher = tokio::spawn(async move {
        let client = reqwest::Client::new();
        let mut acked = 0i64;
        for n in 0..100_000i64 {
            let ts: Vec<TimeSeries> = (0..20).map(|i| series("durable", i, &[(base + n, n as f64)])).collect();
            let body = proto::encode(&WriteRequest { timeseries: ts, metadata: vec![] });
            match client.post(&url).body(body).send().await {
                Ok(r) if r.status() == 204 => acked = n + 1,
                _ => break,
            }
        }
        acked
    });
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    d.kill9();
    let acked = pusher.await.unwrap();
    assert!(acked > 50, "only {acked} requests acknowledged before the kill");
    d.restart().await;
    let s = stored(&d, "durable").await;
    assert_eq!(s.len(), 20);
    for (i, ts) in &s {
        assert!(ts.len() as i64 >= acked, "series {i}: {} samples back, {acked} acknowledged", ts.len());
        assert_eq!(ts[..acked as usize], (0..acked).map(|n| base + n).collect::<Vec<_>>()[..]);
    }
    // The restarted daemon takes writes again where the stream left off.
    let n = s["0"].len() as i64;
    assert_eq!(push_req(&d, vec![series("durable", 0, &[(base + n, 1.0)])]).await.0, 204);
}
