//! The collector takes Prometheus remote-write 1.0 pushes (the master's receiver, shared):
//! pushed samples are served by `/federate` like scraped ones.

use cardinal_remote::proto::{Label, Sample, TimeSeries, WriteRequest};
use e2e::Daemon;

#[tokio::test]
async fn pushed_samples_reach_federate() {
    let d = Daemon::start(
        "collector",
        "global: {external_labels: {collector: c1}}\n",
        &["--web.enable-remote-write-receiver"],
    )
    .await;
    let now = cardinal_model::now_ms();
    let ts = TimeSeries {
        labels: vec![
            Label { name: "__name__".into(), value: "federate:pushed".into() },
            Label { name: "pod".into(), value: "p1".into() },
        ],
        samples: vec![Sample { value: 42.0, timestamp: now }],
        ..Default::default()
    };
    let r = e2e::remote_write::post(&d.url(""), &WriteRequest { timeseries: vec![ts], metadata: vec![] }).await;
    assert_eq!(r.status(), 204, "{}", r.text().await.unwrap());
    let text = d.federate(&["{__name__=~\"federate:.+\"}"]).await;
    let want = format!("federate:pushed{{pod=\"p1\",collector=\"c1\",instance=\"\"}} 42 {now}");
    assert!(text.lines().any(|l| l == want), "{text}");
}

/// Writes and lifecycle calls are off unless asked for, answered as Prometheus answers
/// them; with `--web.enable-lifecycle`, `POST /-/quit` stops the daemon.
#[tokio::test]
async fn writes_and_lifecycle_calls_are_off_unless_asked_for() {
    let d = Daemon::start("collector", "global: {}\n", &[]).await;
    let client = reqwest::Client::new();
    let r = client.post(d.url("/api/v1/write")).body(Vec::new()).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(
        r.text().await.unwrap(),
        "remote write receiver needs to be enabled with --web.enable-remote-write-receiver\n"
    );
    let r = client.post(d.url("/-/quit")).send().await.unwrap();
    assert_eq!((r.status().as_u16(), r.text().await.unwrap()), (403, "Lifecycle API is not enabled.\n".to_string()));
    assert_eq!(d.get("/-/healthy").await.0, 200, "still running");

    let mut d = Daemon::start("collector", "global: {}\n", &["--web.enable-lifecycle"]).await;
    let r = client.post(d.url("/-/quit")).send().await.unwrap();
    assert_eq!((r.status().as_u16(), r.text().await.unwrap()), (200, "Requesting termination... Goodbye!".to_string()));
    let exited = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        while client.get(d.url("/-/healthy")).send().await.is_ok() {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    })
    .await;
    assert!(exited.is_ok(), "the daemon stopped");
    d.kill9();
}
