//! Pushing to a remote-write receiver as Prometheus's sender does: snappy-compressed
//! protobuf with the 1.0 headers.

use cardinal_remote::proto::{self, WriteRequest};

/// POSTs `req` to `base`'s `/api/v1/write`.
pub async fn post(base: &str, req: &WriteRequest) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{base}/api/v1/write"))
        .header("Content-Encoding", "snappy")
        .header("Content-Type", proto::CONTENT_TYPE)
        .header(proto::VERSION_HEADER, proto::VERSION)
        .body(proto::encode(req))
        .send()
        .await
        .expect("remote write")
}
