//! Helpers shared by the master's integration tests.

use cardinal_remote::proto::{self, Label, Sample, TimeSeries, WriteRequest};
use e2e::Daemon;

/// Pushes `samples` (ms, value) of the series `name` to `d`'s remote-write receiver,
/// which must take them (204).
pub async fn push_samples(d: &Daemon, name: &str, samples: &[(i64, f64)]) {
    let ts = TimeSeries {
        labels: vec![Label { name: "__name__".into(), value: name.into() }],
        samples: samples.iter().map(|&(timestamp, value)| Sample { value, timestamp }).collect(),
        ..Default::default()
    };
    let body = proto::encode(&WriteRequest { timeseries: vec![ts], metadata: vec![] });
    let r = reqwest::Client::new().post(d.url("/api/v1/write")).body(body).send().await.unwrap();
    assert_eq!(r.status(), 204);
}
