//! The collector takes Prometheus remote-write 1.0 pushes (the master's receiver, shared):
//! pushed samples are served by `/federate` like scraped ones.

use cardinal_remote::proto::{self, Label, Sample, TimeSeries, WriteRequest};
use e2e::Daemon;

#[tokio::test]
async fn pushed_samples_reach_federate() {
    let d = Daemon::start("collector", "global: {external_labels: {collector: c1}}\n", &[]).await;
    let now = cardinal_model::now_ms();
    let ts = TimeSeries {
        labels: vec![
            Label { name: "__name__".into(), value: "federate:pushed".into() },
            Label { name: "pod".into(), value: "p1".into() },
        ],
        samples: vec![Sample { value: 42.0, timestamp: now }],
        ..Default::default()
    };
    let r = reqwest::Client::new()
        .post(d.url("/api/v1/write"))
        .header("Content-Encoding", "snappy")
        .header("Content-Type", proto::CONTENT_TYPE)
        .header(proto::VERSION_HEADER, proto::VERSION)
        .body(proto::encode(&WriteRequest { timeseries: vec![ts], metadata: vec![] }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204, "{}", r.text().await.unwrap());
    let text = d.federate(&["{__name__=~\"federate:.+\"}"]).await;
    let want = format!("federate:pushed{{pod=\"p1\",collector=\"c1\",instance=\"\"}} 42 {now}");
    assert!(text.lines().any(|l| l == want), "{text}");
}
