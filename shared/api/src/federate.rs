//! `GET /federate?match[]=…`: the newest sample of every matching series within the
//! lookback (`--query.lookback-delta`), with its own timestamp, as Prometheus serves it —
//! but streamed: series are encoded a batch at a time, so a million matching series never
//! exist twice in memory. A response takes a `--query.max-concurrency` slot for as long
//! as it streams, and is cut off (the connection aborted, never a short body that would
//! parse as a smaller scrape) once it has run for `--query.timeout`.

use crate::query::{match_params, slot};
use crate::{ApiState, query_values};
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cardinal_exposition::{proto, text};
use cardinal_model::{Labels, Timestamp, is_stale_nan, now_ms};
use cardinal_storage::Latest;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Instant;
use tokio::sync::OwnedSemaphorePermit;

/// Series encoded per chunk of the response body.
const BATCH: usize = 1000;

#[derive(Default)]
pub struct FederateStats {
    pub requests: AtomicU64,
    pub errors: AtomicU64,
    pub series: AtomicU64,
    pub bytes: AtomicU64,
    pub duration_micros: AtomicU64,
    /// The last completed request: series served and how long it took.
    pub last_series: AtomicU64,
    pub last_micros: AtomicU64,
}

pub async fn handler(State(st): State<Arc<ApiState>>, RawQuery(q): RawQuery, headers: HeaderMap) -> Response {
    st.federate_stats.requests.fetch_add(1, Relaxed);
    let params = query_values(q.as_deref(), "match[]");
    let matcher_sets = match match_params(&params.iter().map(String::as_str).collect::<Vec<_>>()) {
        Ok(sets) => sets,
        Err(e) => {
            st.federate_stats.errors.fetch_add(1, Relaxed);
            return (StatusCode::BAD_REQUEST, e.message().to_string()).into_response();
        }
    };
    let (permit, left) = match slot(&st, st.engine.timeout).await {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    let deadline = Instant::now() + left;
    let proto = wants_protobuf(&headers);
    // The selection holds its view while the response streams: each scrape is served
    // whole or not at all, however long the stream takes.
    let (latest, sets) = (st.db.latest.clone(), matcher_sets);
    let Ok(series) = tokio::task::spawn_blocking(move || latest.select_latest(&sets)).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let externals = external_labels(&st.external_labels.read());
    let content_type = if proto { proto::CONTENT_TYPE } else { text::CONTENT_TYPE };
    let lookback = i64::try_from(st.engine.lookback.as_millis()).unwrap_or(i64::MAX);
    let batch = Batch { externals, now: now_ms(), lookback, proto };
    let body = stream(st.clone(), series, batch, (permit, deadline));
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

/// Prometheus negotiates only between the text format and delimited protobuf here.
fn wants_protobuf(headers: &HeaderMap) -> bool {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    accept.split(',').any(|part| {
        let p = part.replace(' ', "");
        p.starts_with("application/vnd.google.protobuf")
            && p.contains("proto=io.prometheus.client.MetricFamily")
            && p.contains("encoding=delimited")
    })
}

/// External labels to append, sorted by name, with `instance=""` unless configured.
fn external_labels(configured: &Labels) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = configured.iter().map(|l| (l.name.to_string(), l.value.to_string())).collect();
    if configured.get("instance").is_none() {
        out.push(("instance".into(), String::new()));
    }
    out.sort();
    out
}

/// How each batch of a `/federate` response is encoded.
pub struct Batch {
    /// Appended to each series' labels, sorted by name.
    pub externals: Vec<(String, String)>,
    /// The evaluation time: each series' last sample at or before it, within the lookback.
    pub now: Timestamp,
    /// `--query.lookback-delta` in ms.
    pub lookback: i64,
    /// Delimited protobuf instead of the text format.
    pub proto: bool,
}

/// The response body, encoded a batch at a time while `slot` (the concurrency permit and
/// the deadline) is held.
fn stream(st: Arc<ApiState>, series: Box<dyn Latest>, batch: Batch, slot: (OwnedSemaphorePermit, Instant)) -> Body {
    let started = std::time::Instant::now();
    let (series, batch, slot) = (Arc::<dyn Latest>::from(series), Arc::new(batch), Arc::new(slot));
    let state = (0usize, String::new(), 0u64);
    let chunks = futures_util::stream::unfold(state, move |(pos, last_name, served)| {
        let (st, series, batch, slot) = (st.clone(), series.clone(), batch.clone(), slot.clone());
        async move {
            if Instant::now() > slot.1 && pos < series.len() {
                st.federate_stats.errors.fetch_add(1, Relaxed);
                let e = std::io::Error::other("federation response cut off at --query.timeout");
                return Some((Err(e), (series.len(), last_name, served)));
            }
            if pos >= series.len() {
                let us = started.elapsed().as_micros() as u64;
                st.federate_stats.duration_micros.fetch_add(us, Relaxed);
                st.federate_stats.last_series.store(served, Relaxed);
                st.federate_stats.last_micros.store(us, Relaxed);
                return None;
            }
            let end = (pos + BATCH).min(series.len());
            let mut last_name = last_name;
            let (bytes, n) = encode_batch(series.as_ref(), pos..end, &batch, &mut last_name);
            st.federate_stats.series.fetch_add(n, Relaxed);
            st.federate_stats.bytes.fetch_add(bytes.len() as u64, Relaxed);
            Some((Ok::<_, std::io::Error>(bytes::Bytes::from(bytes)), (end, last_name, served + n)))
        }
    });
    // Fused: the compression layer polls once more after the end, which a bare
    // `unfold` answers with a panic.
    Body::from_stream(futures_util::StreamExt::fuse(chunks))
}

/// Encodes one batch. `last_name` carries the current family across batches so that a
/// family split by a batch boundary gets no second TYPE line.
pub fn encode_batch(series: &dyn Latest, range: Range<usize>, how: &Batch, last_name: &mut String) -> (Vec<u8>, u64) {
    let &Batch { ref externals, now, lookback, proto } = how;
    let mint = now.saturating_sub(lookback);
    let mut out = String::new();
    let mut pb = Vec::new();
    let mut family: Option<proto::MetricFamily> = None;
    let mut count = 0;
    series.visit(range, mint, now, &mut |labels, t, v| {
        if is_stale_nan(v) {
            return;
        }
        count += 1;
        let mut name = "";
        // The strings borrow the symbol table only for this call, so this buffer cannot
        // outlive it; the labels plus external labels are chained, not copied again.
        let mut own: Vec<(&str, &str)> = Vec::with_capacity(32);
        for (n, val) in labels {
            if n == cardinal_model::labels::METRIC_NAME {
                name = val;
            } else {
                own.push((n, val));
            }
        }
        let missing = externals.iter().filter(|(n, _)| !own.iter().any(|(o, _)| o == n));
        let all = own.iter().copied().chain(missing.map(|(n, v)| (n.as_str(), v.as_str())));
        if proto {
            if family.as_ref().is_some_and(|f| f.name.as_deref() != Some(name)) {
                proto::write_delimited(&mut pb, &family.take().expect("checked"));
            }
            let f = family.get_or_insert_with(|| proto::MetricFamily {
                name: Some(name.to_string()),
                help: None,
                r#type: Some(proto::TYPE_UNTYPED),
                metric: Vec::new(),
            });
            f.metric.push(proto::Metric::untyped(all, v, t));
        } else {
            if name != last_name.as_str() {
                text::write_type(&mut out, name, "untyped");
                *last_name = name.to_string();
            }
            text::write_sample(&mut out, name, all, v, Some(t));
        }
    });
    if let Some(f) = family {
        proto::write_delimited(&mut pb, &f);
    }
    (if proto { pb } else { out.into_bytes() }, count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cardinal_model::{MatchOp, Matcher};
    use cardinal_storage::LatestSamples;
    use cardinal_tsdb::Head;

    fn all(head: &Arc<Head>) -> Box<dyn Latest> {
        head.clone().select_latest(&[vec![Matcher::new(MatchOp::Regex, "__name__", ".+").unwrap()]])
    }

    #[test]
    fn a_scrape_still_being_appended_is_not_federated() {
        let head = Arc::new(Head::new());
        let series = |pod: &str| head.get_or_create(&Labels::from_pairs([("__name__", "up"), ("pod", pod)])).0;
        let both = [series("a"), series("b")];
        let how = Batch { externals: Vec::new(), now: 2000, lookback: 300_000, proto: false };
        let served = |sel: &dyn Latest| encode_batch(sel, 0..sel.len(), &how, &mut String::new()).1;
        let mut scrape = head.appender();
        scrape.append(&both[0], 1000, 1.0).unwrap();
        let during = all(&head);
        scrape.append(&both[1], 1000, 1.0).unwrap();
        scrape.commit();
        assert_eq!(served(during.as_ref()), 0, "a response begun mid-scrape serves none of it");
        assert_eq!(served(all(&head).as_ref()), 2);
    }

    /// `--query.lookback-delta` decides what is still current, as in Prometheus's
    /// `/federate`: a series last sampled 2 minutes ago is served under the default 5
    /// minutes and not under 1.
    #[test]
    fn the_lookback_delta_decides_what_is_current() {
        let head = Arc::new(Head::new());
        let (s, _) = head.get_or_create(&Labels::from_pairs([("__name__", "up")]));
        head.append(&s, 0, 1.0).unwrap();
        let served = |lookback| {
            let how = Batch { externals: Vec::new(), now: 120_000, lookback, proto: false };
            encode_batch(all(&head).as_ref(), 0..1, &how, &mut String::new()).1
        };
        assert_eq!(served(300_000), 1);
        assert_eq!(served(60_000), 0);
    }
}
