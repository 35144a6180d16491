//! The receiving side: decode, validate, and check that every sample can be appended
//! before any is, so a request lands whole or not at all (Prometheus rolls back its
//! appender on the first error; we refuse before writing).

use crate::proto::WriteRequest;
use cardinal_model::{Labels, Timestamp};
use cardinal_storage::{SeriesStore, follows};
use prost::Message;
use std::collections::HashMap;

#[derive(Debug, PartialEq, Eq)]
pub enum Rejection {
    /// 400: the request is wrong and will stay wrong.
    BadRequest(String),
    /// 413: bigger than the limit.
    TooLarge(String),
    /// 415: a content type this receiver does not speak.
    Unsupported(String),
    /// 503: storage cannot take writes now; the sender should retry.
    Unavailable(String),
}

/// Counts of what an accepted request carried.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Written {
    pub series: usize,
    pub samples: usize,
}

/// Refuses remote-write 2.0 (and anything but 1.0's protobuf) with the 415 the spec asks for.
pub fn check_content_type(content_type: Option<&str>) -> Result<(), Rejection> {
    let Some(ct) = content_type else { return Ok(()) };
    let mut parts = ct.split(';').map(str::trim);
    let media = parts.next().unwrap_or("");
    let proto = parts.find_map(|p| p.strip_prefix("proto=")).unwrap_or("prometheus.WriteRequest");
    if !media.eq_ignore_ascii_case(crate::proto::CONTENT_TYPE) {
        return Err(Rejection::Unsupported(format!(
            "unsupported content type {ct:?}; expected application/x-protobuf"
        )));
    }
    if proto != "prometheus.WriteRequest" {
        return Err(Rejection::Unsupported(format!(
            "remote write protobuf message {proto} is not supported; send prometheus.WriteRequest (remote write 1.0)"
        )));
    }
    Ok(())
}

pub fn decode(body: &[u8], max_bytes: usize) -> Result<WriteRequest, Rejection> {
    let n = snap::raw::decompress_len(body).map_err(|e| Rejection::BadRequest(format!("snappy: {e}")))?;
    if n > max_bytes {
        return Err(Rejection::TooLarge(format!("decompressed body of {n} bytes exceeds the limit of {max_bytes}")));
    }
    let raw =
        snap::raw::Decoder::new().decompress_vec(body).map_err(|e| Rejection::BadRequest(format!("snappy: {e}")))?;
    WriteRequest::decode(raw.as_slice()).map_err(|e| Rejection::BadRequest(format!("protobuf: {e}")))
}

/// Validates the request against the store and appends it whole, returning what it held.
/// Nothing is created before every sample has passed: a refused request leaves no trace.
/// Requests are validated and appended one at a time, so two pushes cannot both pass the
/// check against the same newest sample; only another ingestion path writing the same
/// series in between (a scrape or rule, a misconfiguration) can make an append fail after
/// the check, and that is answered as the error it is, never as a 204.
pub fn append(store: &dyn SeriesStore, req: &WriteRequest) -> Result<Written, Rejection> {
    static ONE_AT_A_TIME: parking_lot::Mutex<()> = parking_lot::Mutex::new(());
    if let Some(e) = store.write_error() {
        return Err(Rejection::Unavailable(e));
    }
    let _serial = ONE_AT_A_TIME.lock();
    let (planned, written) = plan(store, req)?;
    let mut app = store.batch();
    for (labels, samples) in planned {
        let (series, _) = store.get_or_create(&labels);
        for s in samples {
            app.append(&series, s.timestamp, s.value).map_err(|e| {
                Rejection::BadRequest(format!(
                    "{e} for series {labels} (written by another ingestion path while this request was \
                     being stored; the samples before it were kept)"
                ))
            })?;
        }
    }
    app.commit();
    Ok(written)
}

type Plan<'r> = Vec<(Labels, &'r [crate::proto::Sample])>;

/// Checks every sample against the store (order, time bounds) and the request's new
/// series against its series limit, creating nothing.
fn plan<'r>(store: &dyn SeriesStore, req: &'r WriteRequest) -> Result<(Plan<'r>, Written), Rejection> {
    let mut planned: Plan = Vec::with_capacity(req.timeseries.len());
    // The newest sample of each series so far: the store's, then the request's own.
    let mut newest: HashMap<Labels, Option<(Timestamp, f64)>> = HashMap::new();
    let mut written = Written::default();
    let mut new_series = 0;
    let bounds = store.bounds();
    for ts in &req.timeseries {
        if !ts.histograms.is_empty() {
            return Err(Rejection::BadRequest("native histograms are not supported".into()));
        }
        let labels = labels_of(ts)?;
        if ts.samples.is_empty() {
            continue;
        }
        let last = newest.entry(labels.clone()).or_insert_with(|| {
            let existing = store.get(&labels);
            new_series += usize::from(existing.is_none());
            existing.and_then(|s| store.last_sample(&s))
        });
        for s in &ts.samples {
            let checked =
                bounds.check(s.timestamp).and_then(|()| last.map_or(Ok(true), |l| follows(l, s.timestamp, s.value)));
            checked.map_err(|e| Rejection::BadRequest(format!("{e} for series {labels} at {}", s.timestamp)))?;
            *last = Some((s.timestamp, s.value));
        }
        written.series += 1;
        written.samples += ts.samples.len();
        planned.push((labels, &ts.samples));
    }
    store.check_room(new_series).map_err(|e| Rejection::BadRequest(format!("{e}: {new_series} new series refused")))?;
    Ok((planned, written))
}

/// The request's exemplars with their series, for the exemplar store: those whose series
/// and labels are valid (the rest are left out, as Prometheus logs and skips them).
pub fn exemplars_of(req: &WriteRequest) -> Vec<(Labels, cardinal_storage::exemplars::Exemplar)> {
    let mut out = Vec::new();
    for ts in req.timeseries.iter().filter(|ts| !ts.exemplars.is_empty()) {
        let Ok(series) = labels_of(ts) else { continue };
        for e in &ts.exemplars {
            let pairs = e.labels.iter().map(|l| (l.name.as_str(), l.value.as_str()));
            if e.labels.iter().any(|l| !cardinal_model::labels::is_valid_label_name(&l.name)) {
                continue;
            }
            let labels = Labels::from_pairs(pairs.filter(|(_, v)| !v.is_empty()));
            out.push((
                series.clone(),
                cardinal_storage::exemplars::Exemplar { labels, value: e.value, t: e.timestamp },
            ));
        }
    }
    out
}

/// The spec's rules for labels: valid names, no duplicates, `__name__` present. Empty
/// values are dropped, as an empty label is the same as none.
fn labels_of(ts: &crate::proto::TimeSeries) -> Result<Labels, Rejection> {
    let mut pairs: Vec<(&str, &str)> = ts.labels.iter().map(|l| (l.name.as_str(), l.value.as_str())).collect();
    pairs.sort_unstable_by_key(|p| p.0);
    if let Some(w) = pairs.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(Rejection::BadRequest(format!("duplicate label name {:?}", w[0].0)));
    }
    if let Some((n, _)) = pairs.iter().find(|(n, _)| !cardinal_model::labels::is_valid_label_name(n)) {
        return Err(Rejection::BadRequest(format!("invalid label name {n:?}")));
    }
    let labels = Labels::from_pairs(pairs.into_iter().filter(|(_, v)| !v.is_empty()));
    if labels.get(cardinal_model::labels::METRIC_NAME).is_none() {
        return Err(Rejection::BadRequest(format!("series {labels} has no __name__ label")));
    }
    Ok(labels)
}

#[cfg(test)]
mod tests;
