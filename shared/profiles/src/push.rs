//! Pyroscope's Push API, `POST /push.v1.PusherService/Push` over the Connect protocol:
//! a `PushRequest` in protobuf (`application/proto`) or JSON (`application/json`), each
//! series a label set with raw pprof samples. Every sample is one upload, identified by
//! its `ID` where the client sets one, so a retried push is recognised.

use crate::pprof::{self, Context};
use crate::proto::{LabelPair, PushRequest, RawProfileSeries, RawSample};
use crate::recorder::Upload;
use crate::{Rejection, gunzip_if_gzip};
use base64::Engine;
use bytes::Bytes;
use prost::Message;

/// Decodes a push body (already decompressed) by its content type. Raw profiles stay
/// slices of `body`: nothing is copied before they are decompressed.
pub fn decode(content_type: &str, body: Bytes, max_bytes: usize, now_ms: i64) -> Result<Vec<Upload>, Rejection> {
    let ct = content_type.split(';').next().unwrap_or("").trim();
    let req = match ct {
        "application/proto" | "application/protobuf" | "application/x-protobuf" => PushRequest::decode(body.clone())
            .map_err(|e| Rejection::BadRequest("invalid_profile", format!("invalid PushRequest: {e}")))?,
        "application/json" => from_json(&body)?,
        other => {
            return Err(Rejection::BadRequest(
                "invalid_parameter",
                format!("unsupported content type {other:?} (application/proto or application/json)"),
            ));
        }
    };
    let mut uploads = Vec::new();
    for series in &req.series {
        for sample in &series.samples {
            uploads.push(upload(series, sample, max_bytes, now_ms)?);
        }
    }
    Ok(uploads)
}

fn upload(series: &RawProfileSeries, sample: &RawSample, max_bytes: usize, now_ms: i64) -> Result<Upload, Rejection> {
    let get = |n: &str| series.labels.iter().find(|l| l.name == n).map(|l| l.value.as_str());
    let service = get("service_name").is_none().then_some(("service_name", "unknown_service"));
    let pairs = series.labels.iter().map(|l| (l.name.as_str(), l.value.as_str())).chain(service);
    let labels = crate::labels::series_labels(pairs)?;
    let mut identity_src = format!("{:?}", series.labels);
    if sample.id.is_empty() {
        identity_src.push_str(&cardinal_model::stable_hash(&sample.raw_profile).to_string());
    } else {
        identity_src.push_str(&sample.id);
    }
    let bytes = gunzip_if_gzip(sample.raw_profile.clone(), max_bytes)?;
    let mut profile = pprof::decode(bytes, Context { app_suffix: None, labels, fallback_end_ms: now_ms })?;
    // The client names the profile (`__name__="process_cpu"`); that name wins over ours.
    if let Some(name) = get("__name__").filter(|n| !n.is_empty()) {
        profile.types.iter_mut().for_each(|t| t.name = name.to_string());
    }
    Ok(Upload { identity: cardinal_model::stable_hash(identity_src.as_bytes()), profiles: vec![profile] })
}

/// The Connect JSON form: proto3 JSON names, `rawProfile` in base64.
fn from_json(body: &[u8]) -> Result<PushRequest, Rejection> {
    #[derive(serde::Deserialize)]
    struct Req {
        #[serde(default)]
        series: Vec<Series>,
    }
    #[derive(serde::Deserialize)]
    struct Series {
        #[serde(default)]
        labels: Vec<Pair>,
        #[serde(default)]
        samples: Vec<Sample>,
    }
    #[derive(serde::Deserialize)]
    struct Pair {
        name: String,
        value: String,
    }
    #[derive(serde::Deserialize)]
    struct Sample {
        #[serde(rename = "rawProfile", alias = "raw_profile")]
        raw_profile: String,
        #[serde(rename = "ID", default)]
        id: String,
    }
    let bad = |m: String| Rejection::BadRequest("invalid_profile", m);
    let req: Req = serde_json::from_slice(body).map_err(|e| bad(format!("invalid PushRequest JSON: {e}")))?;
    let mut out = PushRequest::default();
    for s in req.series {
        let mut samples = Vec::new();
        for x in s.samples {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(x.raw_profile.as_bytes())
                .map_err(|e| bad(format!("rawProfile is not base64: {e}")))?;
            samples.push(RawSample { raw_profile: raw.into(), id: x.id });
        }
        let labels = s.labels.into_iter().map(|p| LabelPair { name: p.name, value: p.value }).collect();
        out.series.push(RawProfileSeries { labels, samples });
    }
    Ok(out)
}
