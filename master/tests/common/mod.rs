//! Helpers shared by the master's integration tests.

use cardinal_remote::proto::{self, Label, Sample, TimeSeries, WriteRequest};
use e2e::Daemon;

/// Pushes `samples` (ms, value) of the series `name` to `d`'s remote-write receiver,
/// which must take them (204).
pub async fn push_samples(d: &Daemon, name: &str, samples: &[(i64, f64)]) {
    push_series(d, &[(name, samples)]).await;
}

/// Pushes several series (name, samples) in one request, which `d` must take (204).
pub async fn push_series(d: &Daemon, series: &[(&str, &[(i64, f64)])]) {
    let timeseries = series.iter().map(|(name, samples)| TimeSeries {
        labels: vec![Label { name: "__name__".into(), value: name.to_string() }],
        samples: samples.iter().map(|&(timestamp, value)| Sample { value, timestamp }).collect(),
        ..Default::default()
    });
    let body = proto::encode(&WriteRequest { timeseries: timeseries.collect(), metadata: vec![] });
    let r = reqwest::Client::new().post(d.url("/api/v1/write")).body(body).send().await.unwrap();
    assert_eq!(r.status(), 204);
}
