//! `GET /federate?match[]=…`: the newest sample of every matching series within the
//! lookback (`--query.lookback-delta`), with its own timestamp, as Prometheus serves it —
//! but streamed: series are encoded a batch at a time, so a million matching series never
//! exist twice in memory. A response takes a `--query.max-concurrency` slot for as long
//! as it streams, and is cut off (the connection aborted, never a short body that would
//! parse as a smaller scrape) once it has run for `--query.timeout`.
//!
//! Where Prometheus's `/federate` never passes exemplars on, ours does: while exemplars
//! are stored (`storage.exemplars`), a scraper asking for OpenMetrics — as Prometheus's
//! and our scrapers do — gets it, each counter or bucket sample with its series' newest
//! exemplar. Otherwise the text format (or protobuf when asked), exactly as Prometheus.

use crate::query::{match_params, slot};
use crate::{ApiState, query_values};
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cardinal_exposition::{openmetrics, proto, text};
use cardinal_model::{Labels, Timestamp, is_stale_nan, now_ms};
use cardinal_storage::Latest;
use cardinal_storage::exemplars::ExemplarStore;
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
    let encoding = negotiate(&headers, &st.exemplars);
    // The selection holds its view while the response streams: each scrape is served
    // whole or not at all, however long the stream takes.
    let (latest, sets) = (st.db.latest.clone(), matcher_sets);
    let Ok(series) = tokio::task::spawn_blocking(move || latest.select_latest(&sets)).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let externals = external_labels(&st.external_labels.read());
    let content_type = encoding.content_type();
    let lookback = i64::try_from(st.engine.lookback.as_millis()).unwrap_or(i64::MAX);
    let batch = Batch { externals, now: now_ms(), lookback, encoding };
    let body = stream(st.clone(), series, batch, (permit, deadline));
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

/// How a response is encoded.
pub enum Encoding {
    Text,
    /// Delimited protobuf `MetricFamily` messages.
    Protobuf,
    /// OpenMetrics text carrying the exemplars of this store.
    OpenMetrics(Arc<ExemplarStore>),
}

impl Encoding {
    fn content_type(&self) -> &'static str {
        match self {
            Encoding::Text => text::CONTENT_TYPE,
            Encoding::Protobuf => proto::CONTENT_TYPE,
            Encoding::OpenMetrics(_) => openmetrics::CONTENT_TYPE,
        }
    }
}

/// Delimited protobuf when asked for, as Prometheus; OpenMetrics when asked for and there
/// are exemplars to carry; the text format otherwise.
fn negotiate(headers: &HeaderMap, exemplars: &Arc<ExemplarStore>) -> Encoding {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    let offered = |media: &str| accept.split(',').any(|part| part.trim_start().starts_with(media));
    let protobuf = accept.split(',').any(|part| {
        let p = part.replace(' ', "");
        p.starts_with("application/vnd.google.protobuf")
            && p.contains("proto=io.prometheus.client.MetricFamily")
            && p.contains("encoding=delimited")
    });
    if protobuf {
        Encoding::Protobuf
    } else if offered("application/openmetrics-text") && exemplars.enabled() {
        Encoding::OpenMetrics(exemplars.clone())
    } else {
        Encoding::Text
    }
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
    pub encoding: Encoding,
}

/// Where a response's stream is: the next series, the family being written (so a family
/// split by a batch boundary gets no second TYPE line), series served, and whether it has
/// finished or been cut off.
struct Progress {
    pos: usize,
    last_name: String,
    served: u64,
    ended: bool,
}

/// The response body, encoded a batch at a time while `slot` (the concurrency permit and
/// the deadline) is held.
fn stream(st: Arc<ApiState>, series: Box<dyn Latest>, batch: Batch, slot: (OwnedSemaphorePermit, Instant)) -> Body {
    let started = std::time::Instant::now();
    let (series, batch, slot) = (Arc::<dyn Latest>::from(series), Arc::new(batch), Arc::new(slot));
    let state = Progress { pos: 0, last_name: String::new(), served: 0, ended: false };
    let chunks = futures_util::stream::unfold(state, move |mut at| {
        let (st, series, batch, slot) = (st.clone(), series.clone(), batch.clone(), slot.clone());
        async move {
            if at.ended {
                return None;
            }
            if Instant::now() > slot.1 && at.pos < series.len() {
                st.federate_stats.errors.fetch_add(1, Relaxed);
                let e = std::io::Error::other("federation response cut off at --query.timeout");
                at.ended = true;
                return Some((Err(e), at));
            }
            if at.pos >= series.len() {
                let us = started.elapsed().as_micros() as u64;
                st.federate_stats.duration_micros.fetch_add(us, Relaxed);
                st.federate_stats.last_series.store(at.served, Relaxed);
                st.federate_stats.last_micros.store(us, Relaxed);
                at.ended = true;
                let eof = matches!(batch.encoding, Encoding::OpenMetrics(_)).then_some(openmetrics::EOF);
                return eof.map(|eof| (Ok(bytes::Bytes::from_static(eof.as_bytes())), at));
            }
            let end = (at.pos + BATCH).min(series.len());
            let (bytes, n) = encode_batch(series.as_ref(), at.pos..end, &batch, &mut at.last_name);
            st.federate_stats.series.fetch_add(n, Relaxed);
            st.federate_stats.bytes.fetch_add(bytes.len() as u64, Relaxed);
            (at.pos, at.served) = (end, at.served + n);
            Some((Ok::<_, std::io::Error>(bytes::Bytes::from(bytes)), at))
        }
    });
    // Fused: the compression layer polls once more after the end, which a bare
    // `unfold` answers with a panic.
    Body::from_stream(futures_util::StreamExt::fuse(chunks))
}

/// Encodes one batch. `last_name` carries the current family across batches so that a
/// family split by a batch boundary gets no second TYPE line.
pub fn encode_batch(series: &dyn Latest, range: Range<usize>, how: &Batch, last_name: &mut String) -> (Vec<u8>, u64) {
    let &Batch { ref externals, now, lookback, ref encoding } = how;
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
        if let Encoding::Protobuf = encoding {
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
            return;
        }
        if name != last_name.as_str() {
            let kind = if let Encoding::OpenMetrics(_) = encoding { "unknown" } else { "untyped" };
            text::write_type(&mut out, name, kind);
            *last_name = name.to_string();
        }
        match encoding {
            Encoding::OpenMetrics(store) => {
                let newest = openmetrics::takes_exemplar(name).then(|| store.newest(&stored(name, &own))).flatten();
                let exemplar =
                    newest.as_ref().map(|e| openmetrics::Exemplar { labels: &e.labels, value: e.value, t: e.t });
                openmetrics::write_sample(&mut out, name, all, v, t, exemplar);
            }
            _ => text::write_sample(&mut out, name, all, v, Some(t)),
        }
    });
    if let Some(f) = family {
        proto::write_delimited(&mut pb, &f);
    }
    (if let Encoding::Protobuf = encoding { pb } else { out.into_bytes() }, count)
}

/// A series' labels as stored (the key its exemplars are kept under).
fn stored(name: &str, own: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(std::iter::once((cardinal_model::labels::METRIC_NAME, name)).chain(own.iter().copied()))
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
        let how = Batch { externals: Vec::new(), now: 2000, lookback: 300_000, encoding: Encoding::Text };
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
            let how = Batch { externals: Vec::new(), now: 120_000, lookback, encoding: Encoding::Text };
            encode_batch(all(&head).as_ref(), 0..1, &how, &mut String::new()).1
        };
        assert_eq!(served(300_000), 1);
        assert_eq!(served(60_000), 0);
    }

    /// OpenMetrics carries a series' newest exemplar on a counter's sample, none on a
    /// gauge's (Prometheus's parser would refuse the scrape), and is chosen only when the
    /// scraper offers it and exemplars are stored.
    #[test]
    fn openmetrics_carries_exemplars_on_counters_only() {
        let head = Arc::new(Head::new());
        let counter = Labels::from_pairs([("__name__", "req_total"), ("job", "a")]);
        let gauge = Labels::from_pairs([("__name__", "temp"), ("job", "a")]);
        let store = Arc::new(ExemplarStore::default());
        store.resize(10);
        for (labels, v) in [(&counter, 5.0), (&gauge, 20.0)] {
            let (s, _) = head.get_or_create(labels);
            head.append(&s, 1_500, v).unwrap();
            let e = cardinal_storage::exemplars::Exemplar {
                labels: Labels::from_pairs([("trace_id", "t")]),
                value: 1.0,
                t: 1_000,
            };
            store.add(labels, e);
        }
        let how = Batch {
            externals: Vec::new(),
            now: 2000,
            lookback: 300_000,
            encoding: Encoding::OpenMetrics(store.clone()),
        };
        let (body, n) = encode_batch(all(&head).as_ref(), 0..2, &how, &mut String::new());
        assert_eq!(n, 2);
        assert_eq!(
            String::from_utf8(body).unwrap(),
            "# TYPE req_total unknown\nreq_total{job=\"a\"} 5 1.500 # {trace_id=\"t\"} 1 1.000\n\
             # TYPE temp unknown\ntemp{job=\"a\"} 20 1.500\n"
        );

        let accept = |v: &str| HeaderMap::from_iter([(header::ACCEPT, v.parse().unwrap())]);
        let scraper = accept(cardinal_exposition::SCRAPE_ACCEPT);
        assert!(matches!(negotiate(&scraper, &store), Encoding::OpenMetrics(_)));
        assert!(matches!(negotiate(&accept("text/plain;version=0.0.4"), &store), Encoding::Text));
        store.resize(0);
        assert!(matches!(negotiate(&scraper, &store), Encoding::Text), "no exemplars stored: the text format");
        let protobuf = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited";
        assert!(matches!(negotiate(&accept(protobuf), &store), Encoding::Protobuf));
    }
}
