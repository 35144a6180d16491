//! `/federate` protocol details: selectors, encodings, errors.

mod common;
use common::*;
use e2e::TestTarget;

async fn setup() -> (e2e::Daemon, TestTarget) {
    let t = TestTarget::start("a{x=\"1\"} 1\na{x=\"2\"} 2\nb 3\n").await;
    let cfg = config(
        "  external_labels: {region: eu}\n",
        &[job("j", &[&t], "    metric_relabel_configs: [{regex: instance, action: labeldrop}]\n")],
    );
    let d = collector(&cfg).await;
    scraped(&d, "j").await;
    (d, t)
}

#[tokio::test]
async fn selectors_union_and_dedupe_and_instance_is_added() {
    let (d, _t) = setup().await;
    let text = without_timestamps(&d.federate(&["a", r#"a{x="1"}"#, r#"{__name__="b"}"#]).await);
    assert_eq!(
        text,
        "# TYPE a untyped\na{job=\"j\",x=\"1\",instance=\"\",region=\"eu\"} 1\na{job=\"j\",x=\"2\",instance=\"\",region=\"eu\"} 2\n# TYPE b untyped\nb{job=\"j\",instance=\"\",region=\"eu\"} 3"
    );
    let (status, body) = d.get("/federate").await;
    assert_eq!((status, body.as_str()), (200, ""), "no match[] is an empty 200, as in Prometheus");
}

#[tokio::test]
async fn bad_selectors_and_methods() {
    let (d, _t) = setup().await;
    let r = reqwest::Client::new().get(d.url("/federate")).query(&[("match[]", "up{")]).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    assert!(r.text().await.unwrap().contains("parse error"));
    let r = reqwest::Client::new().get(d.url("/federate")).query(&[("match[]", "rate(x[5m])")]).send().await.unwrap();
    assert_eq!(r.status(), 400);
    let r = reqwest::Client::new().post(d.url("/federate")).send().await.unwrap();
    assert_eq!(r.status(), 405);
}

#[tokio::test]
async fn gzip_and_protobuf_encodings() {
    let (d, _t) = setup().await;
    let r = reqwest::Client::new()
        .get(d.url("/federate"))
        .query(&[("match[]", "a")])
        .header("Accept-Encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-encoding"], "gzip");
    let raw = r.bytes().await.unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&raw[..]), &mut text).unwrap();
    assert!(text.starts_with("# TYPE a untyped\na{job=\"j\",x=\"1\""), "{text}");

    let r = reqwest::Client::new()
        .get(d.url("/federate"))
        .query(&[("match[]", "{job=\"j\"}")])
        .header("Accept", "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited")
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()["content-type"],
        "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"
    );
    let fams = cardinal_exposition::proto::read_delimited(&r.bytes().await.unwrap()).unwrap();
    let a = fams.iter().find(|f| f.name.as_deref() == Some("a")).expect("family a");
    assert_eq!(a.metric.len(), 2);
    assert_eq!(a.metric[1].untyped.as_ref().unwrap().value, Some(2.0));
    let labels: Vec<_> =
        a.metric[0].label.iter().map(|l| (l.name.clone().unwrap(), l.value.clone().unwrap())).collect();
    assert_eq!(
        labels,
        [("job", "j"), ("x", "1"), ("instance", ""), ("region", "eu")].map(|(a, b)| (a.to_string(), b.to_string()))
    );
    assert!(a.metric[0].timestamp_ms.unwrap() > 0);
}

#[tokio::test]
async fn metadata_comes_from_the_targets() {
    let t = TestTarget::start(
        "# HELP req_total Requests \\ served.\n# TYPE req_total counter\nreq_total 1\n# TYPE temp gauge\ntemp 3\n",
    )
    .await;
    let d = collector(&config("", &[job("m", &[&t], "")])).await;
    scraped(&d, "m").await;
    let (_, body) = d.get("/api/v1/metadata").await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        v["data"]["req_total"],
        serde_json::json!([{"type": "counter", "help": "Requests \\ served.", "unit": ""}])
    );
    assert_eq!(v["data"]["temp"][0]["type"], "gauge");
    let (_, body) = d.get("/api/v1/metadata?metric=temp").await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["data"].as_object().unwrap().len(), 1);
}

#[tokio::test]
async fn operational_endpoints() {
    let (d, _t) = setup().await;
    assert_eq!(d.get("/-/healthy").await.0, 200);
    assert_eq!(d.get("/-/ready").await.0, 200);
    let (_, metrics) = d.get("/metrics").await;
    let value = |name: &str| -> f64 {
        metrics
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .and_then(|l| l.split(' ').nth(1)?.parse().ok())
            .unwrap_or(-1.0)
    };
    assert!(value("cardinal_head_series") >= 8.0, "{metrics}");
    assert!(value("cardinal_scrapes_total") >= 1.0);
    assert!(value("cardinal_federate_requests_total") >= 0.0);
    let (_, tsdb) = d.get("/api/v1/status/tsdb").await;
    let v: serde_json::Value = serde_json::from_str(&tsdb).unwrap();
    assert_eq!(v["data"]["seriesCountByMetricName"][0]["name"], "a");
    assert_eq!(v["data"]["seriesCountByMetricName"][0]["value"], 2);
    assert!(v["data"]["headStats"]["numSeries"].as_u64().unwrap() >= 8);
}
