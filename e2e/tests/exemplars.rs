//! Exemplars from an OpenMetrics target, stored and answered on `/api/v1/query_exemplars`
//! beside a real Prometheus 2.42 with its exemplar storage on (`storage.exemplars` in the
//! config, as both read it): the same series, exemplar labels, values and timestamps, for
//! plain and range selectors, and the same 400 for a query that does not parse; and
//! exemplars pushed by remote write, stored by both alike.

use cardinal_remote::proto::{self, Label, Sample, TimeSeries, WriteRequest};
use e2e::prometheus::Tool;
use e2e::{Daemon, TestTarget, wait_until};
use serde_json::Value;
use std::time::Duration;

fn body(now: f64) -> String {
    format!(
        "# TYPE http_requests counter\n\
         http_requests_total{{path=\"/a\"}} 10 # {{trace_id=\"abc\"}} 0.5 {:.3}\n\
         http_requests_total{{path=\"/b\"}} 3 # {{trace_id=\"def\",span_id=\"1\"}} 1.25 {:.3}\n\
         # TYPE temperature gauge\ntemperature 21\n# EOF\n",
        now - 30.0,
        now - 20.0
    )
}

fn config(target: &str) -> String {
    format!(
        "global: {{scrape_interval: 1s}}\nstorage: {{exemplars: {{max_exemplars: 1000}}}}\n\
         scrape_configs:\n  - job_name: app\n    static_configs: [{{targets: ['{target}']}}]\n"
    )
}

const RECEIVER: &str = "--web.enable-remote-write-receiver";

/// A pushed sample with an exemplar.
async fn push(base: &str, now: f64) {
    let t = (now * 1000.0) as i64 - 5_000;
    let label = |n: &str, v: &str| Label { name: n.into(), value: v.into() };
    let ts = TimeSeries {
        labels: vec![label("__name__", "pushed_total"), label("job", "push")],
        samples: vec![Sample { value: 7.0, timestamp: t }],
        exemplars: vec![proto::Exemplar { labels: vec![label("trace_id", "pushed")], value: 2.0, timestamp: t }],
        ..Default::default()
    };
    let r = e2e::remote_write::post(base, &WriteRequest { timeseries: vec![ts], metadata: vec![] }).await;
    assert_eq!(r.status(), 204, "{base}");
}

async fn exemplars(base: &str, query: &str, start: f64, end: f64) -> (u16, Value) {
    let r = reqwest::Client::new()
        .get(format!("{base}/api/v1/query_exemplars"))
        .query(&[("query", query), ("start", &format!("{start:.3}")), ("end", &format!("{end:.3}"))])
        .send()
        .await
        .expect("query_exemplars");
    let status = r.status().as_u16();
    let mut v: Value = r.json().await.expect("json");
    if let Some(list) = v["data"].as_array_mut() {
        list.sort_by_key(|s| s["seriesLabels"].to_string());
    }
    (status, v)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scraped_exemplars_are_answered_as_prometheus_answers_them() {
    let now = e2e::small_mesh::now();
    let target = TestTarget::start(&body(now)).await;
    target.set_content_type("application/openmetrics-text; version=1.0.0; charset=utf-8");
    let cfg = config(&target.addr.to_string());
    let Some((_prometheus, theirs)) =
        Tool::start("prometheus", &cfg, "storage.tsdb.path", &["--enable-feature=exemplar-storage", RECEIVER])
    else {
        return;
    };
    let theirs = format!("http://{theirs}");
    let ours = Daemon::start("collector", &cfg, &[RECEIVER]).await;
    let ours = ours.url("");
    let (start, end) = (now - 60.0, now + 60.0);
    for base in [&ours, &theirs] {
        wait_until(Duration::from_secs(60), || async {
            let (_, v) = exemplars(base, "http_requests_total", start, end).await;
            v["data"].as_array().is_some_and(|d| d.len() == 2)
        })
        .await;
    }
    for query in
        ["http_requests_total", "http_requests_total{path=\"/b\"}", "sum(rate(http_requests_total[5m])) / temperature"]
    {
        let (ours_status, ours_v) = exemplars(&ours, query, start, end).await;
        let (their_status, their_v) = exemplars(&theirs, query, start, end).await;
        assert_eq!((ours_status, &ours_v), (their_status, &their_v), "{query}: ours, then Prometheus's");
    }
    let (_, one) = exemplars(&ours, "http_requests_total{path=\"/b\"}", start, end).await;
    assert_eq!(one["data"][0]["exemplars"][0]["labels"], serde_json::json!({"span_id": "1", "trace_id": "def"}));
    let (_, none) = exemplars(&ours, "http_requests_total", now + 1.0, end).await;
    assert_eq!(none["data"], serde_json::json!([]), "none in a window after them");
    for base in [&ours, &theirs] {
        push(base, now).await;
    }
    let (ours_pushed, theirs_pushed) =
        (exemplars(&ours, "pushed_total", start, end).await, exemplars(&theirs, "pushed_total", start, end).await);
    assert_eq!(ours_pushed, theirs_pushed, "pushed exemplars: ours, then Prometheus's");
    assert_eq!(ours_pushed.1["data"][0]["exemplars"][0]["labels"]["trace_id"], "pushed");
    let (ours_status, _) = exemplars(&ours, "sum(", start, end).await;
    let (their_status, _) = exemplars(&theirs, "sum(", start, end).await;
    assert_eq!((ours_status, their_status), (400, 400));
}
