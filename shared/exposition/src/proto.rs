//! The protobuf-delimited exposition format (`io.prometheus.client.MetricFamily`), which
//! `/federate` serves when asked for it. Hand-written prost structs: no protoc needed.

use prost::Message;

/// Content-Type of the delimited protobuf format.
pub const CONTENT_TYPE: &str =
    "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited";

/// `MetricType.UNTYPED` in metrics.proto.
pub const TYPE_UNTYPED: i32 = 3;

#[derive(Clone, PartialEq, Message)]
pub struct LabelPair {
    #[prost(string, optional, tag = "1")]
    pub name: Option<String>,
    #[prost(string, optional, tag = "2")]
    pub value: Option<String>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Untyped {
    #[prost(double, optional, tag = "1")]
    pub value: Option<f64>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Metric {
    #[prost(message, repeated, tag = "1")]
    pub label: Vec<LabelPair>,
    #[prost(message, optional, tag = "5")]
    pub untyped: Option<Untyped>,
    #[prost(int64, optional, tag = "6")]
    pub timestamp_ms: Option<i64>,
}

#[derive(Clone, PartialEq, Message)]
pub struct MetricFamily {
    #[prost(string, optional, tag = "1")]
    pub name: Option<String>,
    #[prost(string, optional, tag = "2")]
    pub help: Option<String>,
    #[prost(int32, optional, tag = "3")]
    pub r#type: Option<i32>,
    #[prost(message, repeated, tag = "4")]
    pub metric: Vec<Metric>,
}

impl Metric {
    /// An untyped sample with its labels and timestamp.
    pub fn untyped<'a>(labels: impl IntoIterator<Item = (&'a str, &'a str)>, value: f64, ts: i64) -> Metric {
        Metric {
            label: labels
                .into_iter()
                .map(|(n, v)| LabelPair { name: Some(n.to_string()), value: Some(v.to_string()) })
                .collect(),
            untyped: Some(Untyped { value: Some(value) }),
            timestamp_ms: Some(ts),
        }
    }
}

/// Appends one family, varint-length-delimited.
pub fn write_delimited(out: &mut Vec<u8>, family: &MetricFamily) {
    // Encoding into a Vec cannot fail: it grows as needed.
    let _ = family.encode_length_delimited(out);
}

/// Reads back every family of a delimited stream (tests and the scraper's future
/// protobuf support use this).
pub fn read_delimited(mut buf: &[u8]) -> Result<Vec<MetricFamily>, prost::DecodeError> {
    let mut out = Vec::new();
    while !buf.is_empty() {
        out.push(MetricFamily::decode_length_delimited(&mut buf)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delimited_round_trip() {
        let fam = MetricFamily {
            name: Some("up".into()),
            help: None,
            r#type: Some(TYPE_UNTYPED),
            metric: vec![Metric::untyped([("job", "a"), ("instance", "")], 1.0, 42)],
        };
        let mut buf = Vec::new();
        write_delimited(&mut buf, &fam);
        write_delimited(&mut buf, &fam);
        let back = read_delimited(&buf).unwrap();
        assert_eq!(back, vec![fam.clone(), fam]);
    }
}
