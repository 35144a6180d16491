//! Hostile input against the real master binary, as docs/security.md lists it: each
//! request an attacker (or a broken client) would send gets its documented status within
//! `--query.timeout` + 1 s, the daemon stays up, its memory stays under [`RSS_BOUND`], and
//! every sample stored before is still answered afterwards. TLS, basic auth and client
//! certificates are in `collector/tests/web_config.rs`; profile uploads in
//! `collector/tests/profiles.rs`.

use cardinal_remote::proto::{self, Label, Sample, TimeSeries, WriteRequest};
use e2e::{Daemon, TestTarget, wait_until};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const QUERY_TIMEOUT: Duration = Duration::from_secs(3);
/// Scrapes of the well-behaved series wait at most this long for a condition: a few
/// 1 s scrape intervals on a loaded machine.
const WAIT: Duration = Duration::from_secs(30);
/// The master's resident memory after everything below (a debug build scraping ~600
/// series): every refused request must have given back what it took.
const RSS_BOUND: u64 = 400 << 20;
const SERIES_LIMIT: usize = 600;
const TEN_YEARS_MS: i64 = 10 * 365 * 86_400_000;

fn good_body(extra: &str) -> String {
    let mut body: String = (0..50).map(|i| format!("good_metric{{i=\"{i}\"}} {i}\n")).collect();
    body.push_str(extra);
    body
}

fn now_ms() -> i64 {
    cardinal_model::now_ms()
}

/// Samples stored per good series over the last hour, as the query API answers them.
async fn stored(d: &Daemon) -> BTreeMap<String, f64> {
    let r = d.query("count_over_time(good_metric[1h])").await;
    r.iter()
        .map(|s| (s["metric"]["i"].as_str().unwrap().to_string(), s["value"][1].as_str().unwrap().parse().unwrap()))
        .collect()
}

/// Waits for every good series to have gained samples since `before`.
async fn still_stored_and_growing(d: &Daemon, before: &BTreeMap<String, f64>) {
    wait_until(WAIT, || async {
        let now = stored(d).await;
        now.len() == before.len() && before.iter().all(|(k, v)| now.get(k).is_some_and(|n| n > v))
    })
    .await;
}

async fn push(d: &Daemon, name: &str, samples: &[(i64, f64)]) -> (u16, String) {
    let ts = TimeSeries {
        labels: vec![Label { name: "__name__".into(), value: name.into() }],
        samples: samples.iter().map(|&(timestamp, value)| Sample { value, timestamp }).collect(),
        ..Default::default()
    };
    let body = proto::encode(&WriteRequest { timeseries: vec![ts], metadata: vec![] });
    let r = d.client().post(d.url("/api/v1/write")).body(body).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// A request's status and JSON `errorType`, checked to come back within the query
/// timeout and a second.
async fn timed(req: reqwest::RequestBuilder) -> (u16, String) {
    let started = Instant::now();
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let body = r.text().await.unwrap_or_default();
    assert!(started.elapsed() < QUERY_TIMEOUT + Duration::from_secs(1), "answered after {:?}", started.elapsed());
    let kind = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["errorType"].as_str().map(str::to_string))
        .unwrap_or(body);
    (status, kind)
}

async fn target_error(d: &Daemon) -> (String, String) {
    let (_, body) = d.get("/api/v1/targets").await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let t = &v["data"]["activeTargets"][0];
    (t["health"].as_str().unwrap().to_string(), t["lastError"].as_str().unwrap().to_string())
}

#[tokio::test]
async fn hostile_input_is_refused_and_costs_nothing_stored() {
    let target = TestTarget::start(&good_body("")).await;
    let cfg = format!(
        "global: {{scrape_interval: 1s}}\nscrape_configs:\n  - job_name: app\n    static_configs: [{{targets: ['{}']}}]\n",
        target.addr
    );
    let timeout = format!("--query.timeout={}s", QUERY_TIMEOUT.as_secs());
    let limit = format!("--storage.tsdb.head-series-limit={SERIES_LIMIT}");
    let flags = [timeout.as_str(), "--query.max-samples=100000", "--web.enable-remote-write-receiver", &limit];
    let d = Daemon::start("master", &cfg, &flags).await;
    wait_until(WAIT, || async { stored(&d).await.values().all(|n| *n >= 3.0) && stored(&d).await.len() == 50 }).await;
    let before = stored(&d).await;

    // A scraped sample ten years ahead: refused and named, the rest of the scrape stored.
    target.set_body(&good_body(&format!("evil_metric 1 {}\n", now_ms() + TEN_YEARS_MS)));
    wait_until(WAIT, || async { target_error(&d).await.1.contains("out of bounds") }).await;
    assert_eq!(target_error(&d).await.0, "up", "the target is up: only the one sample was refused");
    still_stored_and_growing(&d, &before).await;
    assert!(d.query("evil_metric").await.is_empty());
    target.set_body(&good_body(""));

    // The same through remote write, and one from 1970: 400 naming it, nothing stored.
    let (code, msg) = push(&d, "evil_push", &[(now_ms(), 1.0), (now_ms() + TEN_YEARS_MS, 1.0)]).await;
    assert_eq!(code, 400);
    assert!(msg.contains("too far in the future"), "{msg}");
    let (code, msg) = push(&d, "old_push", &[(1000, 1.0)]).await;
    assert_eq!((code, msg.starts_with("out of bounds")), (400, true), "{msg}");
    assert!(d.query(r#"{__name__=~"evil_push|old_push"}"#).await.is_empty());

    let q = |params: Vec<(&str, String)>| d.client().post(d.url("/api/v1/query")).form(&params);
    let qr = |params: Vec<(&str, String)>| d.client().post(d.url("/api/v1/query_range")).form(&params);
    let deep = format!("{}good_metric{}", "(".repeat(10_000), ")".repeat(10_000));
    let chain = format!("good_metric{}", " + good_metric".repeat(20_000));
    let huge = format!("good_metric{{i=\"{}\"}}", "x".repeat(400_000));
    for (what, req, want) in [
        ("deep nesting", q(vec![("query", deep.clone())]), (400, "bad_data")),
        ("a 20,000-term sum", q(vec![("query", chain)]), (400, "bad_data")),
        ("a 400 KB query", q(vec![("query", huge)]), (400, "bad_data")),
        ("a 300-year range", q(vec![("query", "rate(good_metric[300y])".into())]), (400, "bad_data")),
        ("time=NaN", q(vec![("query", "1".into()), ("time", "NaN".into())]), (400, "bad_data")),
        ("time=1e300", q(vec![("query", "1".into()), ("time", "1e300".into())]), (400, "bad_data")),
        (
            "a subquery of 3e10 empty steps",
            q(vec![("query", "max_over_time(nothing_here[1y:1ms])".into())]),
            (503, "timeout"),
        ),
        (
            "a subquery of 3e10 steps holding a sample each",
            q(vec![("query", "max_over_time(vector(1)[1y:1ms])".into())]),
            (422, "execution"),
        ),
        (
            "2e5 samples held at once",
            q(vec![("query", "count_over_time(vector(1)[2d:1s])".into())]),
            (422, "execution"),
        ),
        (
            "a range of ±9e15 s",
            qr(vec![("query", "1".into()), ("start", "-9e15".into()), ("end", "9e15".into()), ("step", "1".into())]),
            (400, "bad_data"),
        ),
        (
            "step=1e308",
            qr(vec![("query", "1".into()), ("start", "0".into()), ("end", "1".into()), ("step", "1e308".into())]),
            (400, "bad_data"),
        ),
        (
            "a range query of 11,000 steps of a day's subquery each",
            qr(vec![
                ("query", "max_over_time(vector(1)[1d:1s])".into()),
                ("start", "0".into()),
                ("end", "10999".into()),
                ("step", "1".into()),
            ]),
            (503, "timeout"),
        ),
    ] {
        assert_eq!(timed(req).await, (want.0, want.1.to_string()), "{what}");
    }

    let many: Vec<(&str, String)> = (0..1001).map(|i| ("match[]", format!("m{{i=\"{i}\"}}"))).collect();
    for (what, path, params, want) in [
        ("1001 match[]", "/api/v1/series", many.clone(), 400),
        ("a deep match[]", "/api/v1/series", vec![("match[]", deep.clone())], 400),
        (
            "a deep match[] on /federate",
            "/federate",
            vec![("match[]", format!("{}up{}", "(".repeat(300), ")".repeat(300)))],
            400,
        ),
        ("1001 match[] on /federate", "/federate", many, 400),
        ("match[] that is not a selector", "/api/v1/labels", vec![("match[]", "sum(x)".into())], 400),
    ] {
        let req = if path == "/federate" {
            d.client().get(d.url(path)).query(&params)
        } else {
            d.client().post(d.url(path)).form(&params)
        };
        assert_eq!(timed(req).await.0, want, "{what}");
    }

    // State-changing endpoints are off: the config is not reloaded, the daemon not stopped.
    for (method, path, want) in
        [("POST", "/-/reload", 403), ("POST", "/-/quit", 403), ("PUT", "/-/quit", 403), ("GET", "/-/reload", 405)]
    {
        let req = d.client().request(method.parse().unwrap(), d.url(path));
        assert_eq!(timed(req).await.0, want, "{method} {path}");
    }

    // Ten times the series: past the limit the new ones are refused with the reason, the
    // known ones keep flowing, and a push of a new series is refused naming the limit.
    let boom: String = (0..5000).map(|i| format!("boom{{i=\"{i}\"}} 1\n")).collect();
    target.set_body(&good_body(&boom));
    wait_until(WAIT, || async {
        let (health, err) = target_error(&d).await;
        health == "down" && err.contains("head series limit of 600 reached")
    })
    .await;
    still_stored_and_growing(&d, &stored(&d).await).await;
    let (code, msg) = push(&d, "new_series", &[(now_ms(), 1.0)]).await;
    assert_eq!(code, 400);
    assert!(msg.contains("head series limit"), "{msg}");
    let (_, metrics) = d.get("/metrics").await;
    let head_series: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("cardinal_head_series "))
        .map(|v| v.parse().unwrap())
        .unwrap_or(f64::NAN);
    assert!(head_series <= SERIES_LIMIT as f64, "{head_series} series in the head");
    target.set_body(&good_body(""));

    // Still up, nothing lost, memory bounded.
    assert_eq!(d.get("/-/healthy").await.0, 200);
    let after = stored(&d).await;
    for (k, v) in &before {
        assert!(after[k] >= *v, "series {k}: {v} samples before, {} after", after[k]);
    }
    let rss = d.rss_bytes();
    assert!(rss < RSS_BOUND, "RSS {} MiB over the {} MiB bound", rss >> 20, RSS_BOUND >> 20);
}
