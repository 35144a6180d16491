//! Exemplars from an OpenMetrics target, stored and answered on `/api/v1/query_exemplars`
//! beside a real Prometheus 2.42 with its exemplar storage on (`storage.exemplars` in the
//! config, as both read it): the same series, exemplar labels, values and timestamps, for
//! plain and range selectors, and the same 400 for a query that does not parse;
//! exemplars pushed by remote write, stored by both alike; all of them still there after
//! a crash (from the WAL).

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

async fn instant(base: &str, query: &str) -> Value {
    let r = reqwest::Client::new().get(format!("{base}/api/v1/query")).query(&[("query", query)]).send().await;
    let v: Value = r.expect("query").json().await.expect("json");
    v["data"]["result"].clone()
}

/// Waits until both servers answer the target's two `http_requests_total` series with
/// exemplars in `[start, end]`.
async fn both_hold_the_target_exemplars(bases: [&str; 2], start: f64, end: f64) {
    for base in bases {
        wait_until(Duration::from_secs(60), || async {
            let (_, v) = exemplars(base, "http_requests_total", start, end).await;
            v["data"].as_array().is_some_and(|d| d.len() == 2)
        })
        .await;
    }
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
    let mut collector = Daemon::start("collector", &cfg, &[RECEIVER]).await;
    let ours = collector.url("");
    let (start, end) = (now - 60.0, now + 60.0);
    both_hold_the_target_exemplars([&ours, &theirs], start, end).await;
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

    // A crash and restart keeps them, as Prometheus's WAL replay does: the target no
    // longer shows any, so only the WAL can give them back.
    let (_, before) = exemplars(&ours, "{__name__=~\".+\"}", start, end).await;
    target.set_body("# TYPE temperature gauge\ntemperature 21\n# EOF\n");
    collector.restart().await;
    let (_, after) = exemplars(&ours, "{__name__=~\".+\"}", start, end).await;
    assert_eq!(after, before, "exemplars after a kill -9 and restart");
    assert_eq!(after["data"].as_array().map(Vec::len), Some(3), "scraped and pushed: {after}");
}

/// Where Prometheus's `/federate` drops exemplars, ours passes them on: a collector storing
/// the target's exemplars serves them in OpenMetrics to the scrapers that ask for it, and
/// a real Prometheus 2.42 federating it stores the same exemplars our master does (same
/// labels, values, timestamps), the gauge beside them unharmed. Without exemplar storage
/// the collector answers the same scrape in the text format, as Prometheus does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exemplars_pass_through_federation() {
    let now = e2e::small_mesh::now();
    let target = TestTarget::start(&body(now)).await;
    target.set_content_type("application/openmetrics-text; version=1.0.0; charset=utf-8");
    let collector = Daemon::start("collector", &config(&target.addr.to_string()), &[]).await;
    let federating = format!(
        "global: {{scrape_interval: 1s}}\nstorage: {{exemplars: {{max_exemplars: 1000}}}}\n\
         scrape_configs:\n  - job_name: federate\n    honor_labels: true\n    metrics_path: /federate\n\
         \x20   params: {{'match[]': ['{{__name__=~\"http_requests_total|temperature\"}}']}}\n\
         \x20   static_configs: [{{targets: ['{}']}}]\n",
        collector.addr
    );
    let Some((_prometheus, theirs)) =
        Tool::start("prometheus", &federating, "storage.tsdb.path", &["--enable-feature=exemplar-storage"])
    else {
        return;
    };
    let theirs = format!("http://{theirs}");
    let master = Daemon::start("master", &federating, &[]).await;
    let ours = master.url("");
    let (start, end) = (now - 60.0, now + 60.0);
    both_hold_the_target_exemplars([&ours, &theirs], start, end).await;
    let (ours_v, theirs_v) = (
        exemplars(&ours, "http_requests_total", start, end).await,
        exemplars(&theirs, "http_requests_total", start, end).await,
    );
    assert_eq!(ours_v, theirs_v, "federated exemplars: our master's, then Prometheus's");
    let first = &ours_v.1["data"][0];
    assert_eq!(first["seriesLabels"]["job"], "app", "the collector's series, honoured");
    assert_eq!(first["exemplars"][0]["labels"]["trace_id"], "abc");
    assert_eq!(first["exemplars"][0]["timestamp"].as_f64().unwrap(), ((now - 30.0) * 1000.0).round() / 1000.0);
    for base in [&ours, &theirs] {
        let up = instant(base, "up{job=\"federate\"}").await;
        assert_eq!(up[0]["value"][1], "1", "{base}: the OpenMetrics /federate scrape succeeds");
        assert_eq!(instant(base, "temperature").await[0]["value"][1], "21", "{base}: the gauge beside them");
    }

    let plain = Daemon::start(
        "collector",
        &config(&target.addr.to_string()).replace("max_exemplars: 1000", "max_exemplars: 0"),
        &[],
    )
    .await;
    let r = reqwest::Client::new()
        .get(plain.url("/federate?match[]=temperature"))
        .header("Accept", "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5")
        .send()
        .await
        .unwrap();
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/plain"), "no exemplars, no OpenMetrics");
}

/// `send_exemplars`: a sender passes each new exemplar on with the samples, as
/// Prometheus's does. Our collector and a real Prometheus 2.42 scrape the same target and
/// remote-write to a Prometheus receiver each: both receivers end up with the same
/// exemplars. A second remote of ours without `send_exemplars` gets the samples and no
/// exemplar.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_write_sends_exemplars_as_prometheus_does() {
    let now = e2e::small_mesh::now();
    let target = TestTarget::start(&body(now)).await;
    target.set_content_type("application/openmetrics-text; version=1.0.0; charset=utf-8");
    let receiving = &["--enable-feature=exemplar-storage", RECEIVER];
    let receiver_cfg = "storage: {exemplars: {max_exemplars: 1000}}\n";
    let Some((_ours_receiver, ours_receiver)) = Tool::start("prometheus", receiver_cfg, "storage.tsdb.path", receiving)
    else {
        return;
    };
    let (_their_receiver, their_receiver) =
        Tool::start("prometheus", receiver_cfg, "storage.tsdb.path", receiving).expect("prometheus, started once");
    let without = Daemon::start("master", receiver_cfg, &[RECEIVER]).await;
    let remote = |addr: &str, send: bool| {
        format!(
            "  - {{url: 'http://{addr}/api/v1/write', send_exemplars: {send}, queue_config: {{batch_send_deadline: 1s}}}}\n"
        )
    };
    let sending = |to: &str, also: &str| format!("{}remote_write:\n{to}{also}", config(&target.addr.to_string()));
    let without_addr = without.addr.to_string();
    let ours =
        Daemon::start("collector", &sending(&remote(&ours_receiver, true), &remote(&without_addr, false)), &[]).await;
    let (_prometheus, _) = Tool::start(
        "prometheus",
        &sending(&remote(&their_receiver, true), ""),
        "storage.tsdb.path",
        &["--enable-feature=exemplar-storage"],
    )
    .expect("prometheus, started once");
    let (ours_receiver, their_receiver) = (format!("http://{ours_receiver}"), format!("http://{their_receiver}"));
    let (start, end) = (now - 60.0, now + 60.0);
    both_hold_the_target_exemplars([&ours_receiver, &their_receiver], start, end).await;
    let (got, want) = (
        exemplars(&ours_receiver, "{__name__=~\".+\"}", start, end).await,
        exemplars(&their_receiver, "{__name__=~\".+\"}", start, end).await,
    );
    assert_eq!(got, want, "exemplars received from our sender, then from Prometheus's");
    assert_eq!(got.1["data"][0]["exemplars"][0]["labels"]["trace_id"], "abc");
    let (_, metrics) = ours.get("/metrics").await;
    let sent = metrics
        .lines()
        .find(|l| l.starts_with("prometheus_remote_storage_exemplars_total{") && l.contains(&ours_receiver[7..]));
    assert!(sent.is_some_and(|l| !l.ends_with(" 0")), "exemplars counted as sent: {sent:?}");

    wait_until(Duration::from_secs(30), || async { !without.query("http_requests_total").await.is_empty() }).await;
    let (_, none) = exemplars(&without.url(""), "http_requests_total", start, end).await;
    assert_eq!(none["data"], serde_json::json!([]), "no exemplars without send_exemplars");
}
