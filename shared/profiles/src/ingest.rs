//! Pyroscope's legacy `POST /ingest`: the profile's metadata in the query string
//! (`name=app.cpu{k=v}`, `from`, `until`, `format`, `sampleRate`, `spyName`, `units`,
//! `aggregationType`), the profile in the body or in a multipart `profile` field.

use crate::pprof::{self, Context};
use crate::profile::split_app_name;
use crate::recorder::Upload;
use crate::text::{self, TextParams};
use crate::{Rejection, gunzip_if_gzip};
use bytes::Bytes;
use std::collections::BTreeMap;

/// The parsed query string of an `/ingest` request.
#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    /// `name` as sent: part of an upload's identity.
    pub name: String,
    /// The application name without labels or kind suffix.
    pub app: String,
    /// The kind suffix (`cpu` of `app.cpu`), if the name has a known one.
    pub suffix: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub from: i64,
    pub until: i64,
    pub format: Format,
    /// `sampleRate` if sent (text formats default to 100 Hz; JFR uses the recording's own
    /// period).
    pub sample_rate: Option<u32>,
    pub spy_name: Option<String>,
    pub units: String,
    pub aggregation: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Pprof,
    Folded,
    Lines,
    Jfr,
}

/// An `/ingest` body: the raw body, or the parts of a multipart form.
#[derive(Debug, Default, Clone)]
pub struct Body {
    /// The raw body, or the `profile` field.
    pub profile: Option<Bytes>,
    pub sample_type_config: Option<Bytes>,
    /// pyroscope-java's `jfr` field.
    pub jfr: Option<Bytes>,
    /// pyroscope-java's `labels` field: a `LabelsSnapshot` protobuf.
    pub labels: Option<Bytes>,
}

fn bad(msg: impl Into<String>) -> Rejection {
    Rejection::BadRequest("invalid_parameter", msg.into())
}

impl Params {
    pub fn parse(query: &str) -> Result<Params, Rejection> {
        let mut q: BTreeMap<String, String> = BTreeMap::new();
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            q.insert(k.into_owned(), v.into_owned());
        }
        let get = |k: &str| q.get(k).map(String::as_str).filter(|v| !v.is_empty());
        let name = get("name").ok_or_else(|| bad("missing parameter \"name\""))?;
        let (full_app, labels) = parse_name(name)?;
        let (app, suffix) = split_app_name(&full_app);
        let time = |k: &str| -> Result<i64, Rejection> {
            let v = get(k).ok_or_else(|| bad(format!("missing parameter {k:?}")))?;
            v.parse::<i64>().map_err(|_| bad(format!("parameter {k:?} is not a unix time in seconds: {v:?}")))
        };
        let (from, until) = (time("from")?, time("until")?);
        if until < from {
            return Err(bad(format!("until ({until}) is before from ({from})")));
        }
        let format = match get("format").unwrap_or("folded") {
            "pprof" => Format::Pprof,
            "folded" | "collapsed" => Format::Folded,
            "lines" => Format::Lines,
            "jfr" => Format::Jfr,
            other => return Err(Rejection::bad("unknown_format", format!("unknown or unsupported format {other:?}"))),
        };
        let sample_rate = match get("sampleRate") {
            None => None,
            Some(v) => {
                Some(v.parse::<u32>().ok().filter(|r| *r > 0).ok_or_else(|| bad(format!("invalid sampleRate {v:?}")))?)
            }
        };
        let aggregation = get("aggregationType").unwrap_or("sum").to_string();
        if aggregation != "sum" && aggregation != "average" {
            return Err(bad(format!("invalid aggregationType {aggregation:?} (sum or average)")));
        }
        Ok(Params {
            name: name.to_string(),
            app: app.to_string(),
            suffix: suffix.map(str::to_string),
            labels,
            from,
            until,
            format,
            sample_rate,
            spy_name: get("spyName").map(str::to_string),
            units: get("units").unwrap_or("samples").to_string(),
            aggregation,
        })
    }

    /// Labels for every series of the profile, Pyroscope's way (`service_name` from the
    /// labels or else the application name) and under Prometheus names
    /// ([`crate::labels`]).
    pub fn profile_labels(&self) -> Result<Vec<(String, String)>, Rejection> {
        let mut labels = self.labels.clone();
        labels.entry("service_name".into()).or_insert_with(|| self.app.clone());
        if let Some(spy) = &self.spy_name {
            labels.insert("pyroscope_spy".into(), spy.clone());
        }
        crate::labels::series_labels(labels.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    }

    /// What a retry of this request has in common with the original.
    fn identity(&self, body: &[u8]) -> u64 {
        let meta = format!("{}\0{}\0{}\0{:?}", self.name, self.from, self.until, self.format);
        cardinal_model::stable_hash(meta.as_bytes()) ^ cardinal_model::stable_hash(body).rotate_left(17)
    }
}

/// `app.name{k=v,k2=v2}` → the name and its labels, as sent. Label names may hold what
/// Pyroscope's take (`[A-Za-z0-9_.]`: `otel.scope.name` is fine).
pub fn parse_name(name: &str) -> Result<(String, BTreeMap<String, String>), Rejection> {
    let mut labels = BTreeMap::new();
    let Some((app, rest)) = name.split_once('{') else { return Ok((name.trim().to_string(), labels)) };
    let body = rest.strip_suffix('}').ok_or_else(|| bad(format!("name {name:?}: labels must end with '}}'")))?;
    for pair in body.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').ok_or_else(|| bad(format!("name {name:?}: label {pair:?} is not k=v")))?;
        let (k, v) = (k.trim(), v.trim().trim_matches('"'));
        if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.') {
            return Err(bad(format!("name {name:?}: invalid label name {k:?}")));
        }
        labels.insert(k.to_string(), v.to_string());
    }
    let app = app.trim();
    if app.is_empty() {
        return Err(bad(format!("name {name:?} has no application name")));
    }
    Ok((app.to_string(), labels))
}

/// Pyroscope's per-sample-type overrides sent beside a pprof (`sample_type_config`);
/// `display-name` renames a sample type.
#[derive(serde::Deserialize)]
struct SampleTypeConfig {
    #[serde(rename = "display-name")]
    display_name: Option<String>,
}

/// Decodes one `/ingest` request into an upload.
pub fn decode(query: &str, body: Body, max_bytes: usize) -> Result<Upload, Rejection> {
    let params = Params::parse(query)?;
    let end_ms = params.until.saturating_mul(1000);
    if params.format == Format::Jfr {
        return decode_jfr(&params, body, max_bytes, end_ms);
    }
    let profile = body.profile.ok_or_else(|| bad("multipart form has no \"profile\" field"))?;
    let identity = params.identity(&profile);
    let body_bytes = gunzip_if_gzip(profile, max_bytes)?;
    let sample_type_config = body.sample_type_config;
    let body = body_bytes;
    let mut profile = match params.format {
        Format::Pprof => {
            let ctx = Context {
                app_suffix: params.suffix.as_deref(),
                labels: params.profile_labels()?,
                fallback_end_ms: end_ms,
            };
            pprof::decode(body, ctx)?
        }
        f => {
            let tp = TextParams {
                units: &params.units,
                sample_rate: params.sample_rate.unwrap_or(100),
                aggregation: &params.aggregation,
                app_suffix: params.suffix.as_deref(),
            };
            text::decode(&body, f == Format::Folded, &tp, params.profile_labels()?, end_ms)?
        }
    };
    if let Some(cfg) = sample_type_config {
        rename_sample_types(&mut profile, &cfg)?;
    }
    Ok(Upload { identity, profiles: vec![profile] })
}

/// A JFR upload, as pyroscope-java sends it: the recording raw or as the `jfr` field, with
/// the `labels` field beside it; either may be gzip'd. The whole name before `{` is the
/// service name (`app_name` if the labels hold one), as Pyroscope takes it for JFR.
fn decode_jfr(params: &Params, body: Body, max_bytes: usize, end_ms: i64) -> Result<Upload, Rejection> {
    let raw = body.jfr.or(body.profile).ok_or_else(|| bad("jfr field is required"))?;
    let identity = params.identity(&raw);
    let jfr = gunzip_if_gzip(raw, max_bytes)?;
    let snapshot = match body.labels {
        None => None,
        Some(l) => {
            let l = gunzip_if_gzip(l, max_bytes)?;
            Some(prost::Message::decode(l).map_err(|e| Rejection::bad("invalid_jfr", format!("invalid labels: {e}")))?)
        }
    };
    let mut labels = params.labels.clone();
    let app = params.name.split('{').next().unwrap_or("").trim().to_string();
    let key = if labels.contains_key("service_name") { "app_name" } else { "service_name" };
    labels.insert(key.into(), app);
    if let Some(spy) = &params.spy_name {
        labels.insert("pyroscope_spy".into(), spy.clone());
    }
    let labels = crate::labels::series_labels(labels.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
    let ctx = crate::jfr::Context { labels, sample_rate: params.sample_rate, fallback_end_ms: end_ms };
    Ok(Upload { identity, profiles: vec![crate::jfr::decode(jfr, snapshot, ctx)?] })
}

fn rename_sample_types(profile: &mut crate::Profile, cfg: &[u8]) -> Result<(), Rejection> {
    let cfg: BTreeMap<String, SampleTypeConfig> = serde_json::from_slice(cfg)
        .map_err(|e| Rejection::bad("invalid_parameter", format!("invalid sample_type_config: {e}")))?;
    for t in &mut profile.types {
        if let Some(name) = cfg.get(&t.sample_type).and_then(|c| c.display_name.clone()) {
            t.sample_type = name;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_with_labels_parse() {
        let (app, labels) = parse_name("checkout.cpu{env=staging, region=\"us-west-1\"}").unwrap();
        assert_eq!(app, "checkout.cpu");
        assert_eq!(labels.get("region").map(String::as_str), Some("us-west-1"));
        assert!(parse_name("a{env=x").is_err());
        assert!(parse_name("a{x-y=z}").is_err());
        let (_, labels) = parse_name("a{otel.scope.name=x,__name__=y}").unwrap();
        assert_eq!(labels.len(), 2, "kept as sent; reserved ones are dropped when they become series labels");
        assert!(parse_name("{a=b}").is_err());
    }

    #[test]
    fn params_default_and_refuse_like_pyroscope() {
        let p = Params::parse("name=app.cpu{region=eu}&from=10&until=20").unwrap();
        assert_eq!((p.app.as_str(), p.suffix.as_deref()), ("app", Some("cpu")));
        assert_eq!((p.format, p.sample_rate, p.units.as_str()), (Format::Folded, None, "samples"));
        assert_eq!(p.profile_labels(), Ok(vec![("region".into(), "eu".into()), ("service_name".into(), "app".into())]));
        for q in [
            "from=1&until=2",
            "name=a&until=2",
            "name=a&from=x&until=2",
            "name=a&from=3&until=2",
            "name=a&from=1&until=2&format=speedscope",
            "name=a&from=1&until=2&sampleRate=0",
            "name=a&from=1&until=2&aggregationType=median",
        ] {
            assert!(matches!(Params::parse(q), Err(Rejection::BadRequest(..))), "{q}");
        }
    }
}
