//! The master's `remote_write` to another system: retries while the remote fails, no
//! loss across an outage or a SIGKILL of the master, and 4xx batches dropped and counted.

use axum::response::IntoResponse;
mod common;

use cardinal_remote::proto::WriteRequest;
use e2e::{Daemon, wait_until};
use parking_lot::Mutex;
use prost::Message;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// A remote-write endpoint recording what it accepts, answering with a settable status.
#[derive(Clone, Default)]
struct Remote {
    status: Arc<AtomicU16>,
    got: Arc<Mutex<Received>>,
    metadata: Arc<Mutex<Vec<Meta>>>,
    /// How long each request takes to answer, and the most requests seen at once.
    delay_ms: Arc<AtomicU64>,
    in_flight: Arc<AtomicU64>,
    most_in_flight: Arc<AtomicU64>,
}

/// A metadata entry received: family, type, help, unit.
type Meta = (String, i32, String, String);

/// Samples received, by series (`name=value,…`).
type Received = BTreeMap<String, Vec<(i64, f64)>>;

impl Remote {
    async fn start(status: u16) -> (Remote, String) {
        let r = Remote::default();
        r.status.store(status, Relaxed);
        let state = r.clone();
        let app = axum::Router::new().route(
            "/receive",
            axum::routing::post(move |body: axum::body::Bytes| {
                let state = state.clone();
                async move {
                    let now = state.in_flight.fetch_add(1, Relaxed) + 1;
                    state.most_in_flight.fetch_max(now, Relaxed);
                    tokio::time::sleep(Duration::from_millis(state.delay_ms.load(Relaxed))).await;
                    state.in_flight.fetch_sub(1, Relaxed);
                    let status = state.status.load(Relaxed);
                    if status == 204 {
                        let raw = snap::raw::Decoder::new().decompress_vec(&body).unwrap();
                        let req = WriteRequest::decode(raw.as_slice()).unwrap();
                        let meta = req.metadata.into_iter().map(|m| (m.metric_family_name, m.r#type, m.help, m.unit));
                        state.metadata.lock().extend(meta);
                        for ts in req.timeseries {
                            let key: Vec<String> =
                                ts.labels.iter().map(|l| format!("{}={}", l.name, l.value)).collect();
                            let mut got = state.got.lock();
                            got.entry(key.join(","))
                                .or_default()
                                .extend(ts.samples.iter().map(|s| (s.timestamp, s.value)));
                        }
                    }
                    axum::http::StatusCode::from_u16(status).unwrap()
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/receive", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.ok() });
        (r, url)
    }

    fn samples(&self, series: &str) -> Vec<(i64, f64)> {
        self.got.lock().get(series).cloned().unwrap_or_default()
    }
}

async fn push(d: &Daemon, name: &str, t: i64, v: f64) {
    common::push_samples(d, name, &[(t, v)]).await;
}

fn config(url: &str) -> String {
    format!(
        "global: {{external_labels: {{replica: a}}}}\nremote_write:\n  - url: {url}\n    queue_config: {{batch_send_deadline: 200ms, min_backoff: 50ms, max_backoff: 200ms}}\n    write_relabel_configs: [{{source_labels: [__name__], regex: dropme, action: drop}}]\n"
    )
}

#[tokio::test]
async fn nothing_is_lost_while_the_remote_is_down_nor_across_a_sigkill() {
    let (remote, url) = Remote::start(503).await;
    let mut master = Daemon::start("master", &config(&url), &["--web.enable-remote-write-receiver"]).await;
    let base = cardinal_model::now_ms() - 60_000;
    for i in 0..20 {
        push(&master, "fwd", base + i, i as f64).await;
        push(&master, "dropme", base + i, 0.0).await;
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(remote.samples("__name__=fwd,replica=a").is_empty(), "the remote is down");
    master.kill9();
    master.restart().await;
    for i in 20..30 {
        push(&master, "fwd", base + i, i as f64).await;
    }
    remote.status.store(204, Relaxed);
    let want: Vec<(i64, f64)> = (0..30).map(|i| (base + i, i as f64)).collect();
    wait_until(Duration::from_secs(20), || async { remote.samples("__name__=fwd,replica=a").len() >= 30 }).await;
    assert_eq!(remote.samples("__name__=fwd,replica=a"), want, "every sample once, in order, with external labels");
    assert!(remote.got.lock().keys().all(|k| !k.contains("dropme")), "write_relabel_configs applied");
}

#[tokio::test]
async fn a_4xx_drops_the_batch_and_the_sender_carries_on() {
    let (remote, url) = Remote::start(400).await;
    let master = Daemon::start("master", &config(&url), &["--web.enable-remote-write-receiver"]).await;
    let base = cardinal_model::now_ms() - 60_000;
    push(&master, "fwd", base, 1.0).await;
    let dropped = || async {
        let (_, metrics) = master.get("/metrics").await;
        metrics.lines().any(|l| l.starts_with("cardinal_remote_storage_samples_dropped_total{") && !l.ends_with(" 0"))
    };
    wait_until(Duration::from_secs(10), dropped).await;
    remote.status.store(204, Relaxed);
    push(&master, "fwd", base + 1, 2.0).await;
    wait_until(Duration::from_secs(10), || async { !remote.samples("__name__=fwd,replica=a").is_empty() }).await;
    assert_eq!(remote.samples("__name__=fwd,replica=a"), [(base + 1, 2.0)], "the refused batch is not retried");
}

/// A remote slower than the samples come: the sender adds shards (Prometheus's rule, every
/// 10 s), sends on them at once, and still delivers every series' samples once and in order.
#[tokio::test]
async fn a_slow_remote_gets_more_shards_and_every_sample_once_in_order() {
    let (remote, url) = Remote::start(204).await;
    remote.delay_ms.store(50, Relaxed);
    let cfg = config(&url).replace(
        "batch_send_deadline:",
        "max_samples_per_send: 100, capacity: 200, max_shards: 8, batch_send_deadline:",
    );
    let master = Daemon::start("master", &cfg, &["--web.enable-remote-write-receiver"]).await;
    // 200 series scraped every 2 s for the last 10 minutes: 600 requests, 30 s on one
    // shard, and the sender soon minutes behind.
    let base = cardinal_model::now_ms() - 600_000;
    let series: Vec<(i64, f64)> = (0..300).map(|i| (base + i * 2000, i as f64)).collect();
    let names: Vec<String> = (0..200).map(|s| format!("s{s}")).collect();
    for sample in &series {
        let one = [*sample];
        let batch: Vec<(&str, &[(i64, f64)])> = names.iter().map(|n| (n.as_str(), &one[..])).collect();
        common::push_series(&master, &batch).await;
    }
    let shards = || async {
        let (_, m) = master.get("/metrics").await;
        let line = m.lines().find(|l| l.starts_with("prometheus_remote_storage_shards{"))?.to_string();
        line.rsplit(' ').next()?.parse::<f64>().ok()
    };
    wait_until(Duration::from_secs(30), || async { shards().await.is_some_and(|n| n > 1.0) }).await;
    let all = || async { (0..200).all(|s| remote.samples(&format!("__name__=s{s},replica=a")).len() >= 300) };
    wait_until(Duration::from_secs(60), all).await;
    for s in 0..200 {
        assert_eq!(remote.samples(&format!("__name__=s{s},replica=a")), series, "series s{s}: once each, in order");
    }
    assert!(remote.most_in_flight.load(Relaxed) > 1, "shards send at once");
    let (_, m) = master.get("/metrics").await;
    for family in ["shards_desired", "shards_max", "shard_capacity", "samples_pending", "samples_total"] {
        assert!(m.contains(&format!("prometheus_remote_storage_{family}{{")), "{family} exported");
    }
}

/// With `metadata_config.send`, what the scrape targets say of their families goes to the
/// remote every `send_interval`, typed as the protocol's enum; without, nothing does.
#[tokio::test]
async fn metadata_goes_onward_every_send_interval_unless_turned_off() {
    let target = e2e::TestTarget::start(
        "# HELP req_total Requests served.\n# TYPE req_total counter\n# UNIT req_total requests\nreq_total 1\n# TYPE temp gauge\ntemp 3\n",
    )
    .await;
    let scrape = format!(
        "scrape_configs: [{{job_name: t, scrape_interval: 1s, static_configs: [{{targets: ['{}']}}]}}]\n",
        target.addr
    );
    let meta_cfg = |url: &str, send: bool| {
        let setting = format!("    metadata_config: {{send: {send}, send_interval: 1s}}\n    write_relabel");
        config(url).replace("    write_relabel", &setting) + &scrape
    };
    let (remote, url) = Remote::start(204).await;
    let master = Daemon::start("master", &meta_cfg(&url, true), &[]).await;
    wait_until(Duration::from_secs(20), || async { remote.metadata.lock().len() >= 2 }).await;
    let got: std::collections::BTreeSet<_> = remote.metadata.lock().iter().cloned().collect();
    assert!(got.contains(&("req_total".into(), 1, "Requests served.".into(), "requests".into())), "{got:?}");
    assert!(got.contains(&("temp".into(), 2, String::new(), String::new())), "{got:?}");
    let (_, m) = master.get("/metrics").await;
    let counted = m.lines().any(|l| l.starts_with("prometheus_remote_storage_metadata_total{") && !l.ends_with(" 0"));
    assert!(counted, "metadata counted");
    drop(master);

    let (quiet, url) = Remote::start(204).await;
    let _master = Daemon::start("master", &meta_cfg(&url, false), &[]).await;
    wait_until(Duration::from_secs(20), || async { quiet.got.lock().keys().any(|k| k.contains("__name__=temp")) })
        .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(quiet.metadata.lock().is_empty(), "send: false sends none");
}

/// `cardinal_remote_storage_samples_sent_total` of the sender to `url`.
async fn sent_to(d: &Daemon, url: &str) -> Option<f64> {
    let (_, metrics) = d.get("/metrics").await;
    let line =
        metrics.lines().find(|l| l.starts_with("cardinal_remote_storage_samples_sent_total{") && l.contains(url))?;
    line.rsplit_once(' ')?.1.parse().ok()
}

#[tokio::test]
async fn a_reload_keeps_unchanged_senders_and_replaces_changed_ones() {
    let ((first, url_a), (second, url_b)) = (Remote::start(204).await, Remote::start(204).await);
    let flags = ["--web.enable-remote-write-receiver", "--web.enable-lifecycle"];
    let master = Daemon::start("master", &config(&url_a), &flags).await;
    let base = cardinal_model::now_ms() - 60_000;
    for i in 0..5 {
        push(&master, "fwd", base + i, i as f64).await;
    }
    wait_until(Duration::from_secs(20), || async { sent_to(&master, &url_a).await == Some(5.0) }).await;
    // The same config again: the sender runs on, its count kept (a new one starts at 0).
    assert_eq!(master.reload(&config(&url_a)).await.0, 200);
    assert_eq!(sent_to(&master, &url_a).await, Some(5.0), "an unchanged sender is not restarted");
    // Its write_relabel_configs changed: replaced, the new sender resuming where the old
    // one stopped in the WAL.
    let changed = config(&url_a).replace("regex: dropme", "regex: dropme2");
    assert_eq!(master.reload(&changed).await.0, 200);
    assert_eq!(sent_to(&master, &url_a).await, Some(0.0), "a changed sender starts afresh");
    // Another remote: the old sender goes, the new one forwards what comes next.
    assert_eq!(master.reload(&config(&url_b)).await.0, 200);
    assert_eq!(sent_to(&master, &url_a).await, None);
    push(&master, "fwd", base + 5, 5.0).await;
    wait_until(Duration::from_secs(20), || async {
        second.samples("__name__=fwd,replica=a").contains(&(base + 5, 5.0))
    })
    .await;
    assert_eq!(first.samples("__name__=fwd,replica=a").len(), 5, "each sample once to the first remote");
}

/// A remote that rate-limits the first request (429, `Retry-After: 2`) and takes the rest,
/// noting when each request came.
async fn rate_limiting_remote() -> (Arc<Mutex<Vec<std::time::Instant>>>, String) {
    let seen: Arc<Mutex<Vec<std::time::Instant>>> = Arc::default();
    let log = seen.clone();
    let app = axum::Router::new().route(
        "/receive",
        axum::routing::post(move || {
            let log = log.clone();
            async move {
                let mut log = log.lock();
                log.push(std::time::Instant::now());
                match log.len() {
                    1 => (axum::http::StatusCode::TOO_MANY_REQUESTS, [("Retry-After", "2")]).into_response(),
                    _ => axum::http::StatusCode::NO_CONTENT.into_response(),
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/receive", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.ok() });
    (seen, url)
}

#[tokio::test]
async fn a_rate_limited_batch_is_retried_after_retry_after() {
    let (seen, url) = rate_limiting_remote().await;
    let cfg = config(&url).replace("max_backoff: 200ms}", "max_backoff: 200ms, retry_on_http_429: true}");
    let master = Daemon::start("master", &cfg, &["--web.enable-remote-write-receiver"]).await;
    push(&master, "fwd", cardinal_model::now_ms() - 1000, 1.0).await;
    wait_until(Duration::from_secs(20), || async { seen.lock().len() >= 2 }).await;
    let seen = seen.lock();
    // The backoff alone (50 ms, at most 200 ms) would have retried at once.
    assert!(seen[1] - seen[0] >= Duration::from_millis(1900), "retried after {:?}", seen[1] - seen[0]);
}

/// A sender replaced by a reload while its batch is being retried must not mark that
/// batch done: the sender after it resumes from the WAL position saved when it started,
/// and a crash before that one delivers must not find the old sender's position, past
/// the batch, in the file.
#[tokio::test]
async fn a_batch_in_retry_at_a_reload_is_not_skipped_even_across_a_crash() {
    let (remote, url) = Remote::start(503).await;
    let flags = ["--web.enable-remote-write-receiver", "--web.enable-lifecycle"];
    let mut master = Daemon::start("master", &config(&url), &flags).await;
    let base = cardinal_model::now_ms() - 60_000;
    for i in 0..10 {
        push(&master, "fwd", base + i, i as f64).await;
    }
    let failed = || async {
        let (_, m) = master.get("/metrics").await;
        m.lines().any(|l| l.starts_with("cardinal_remote_storage_failed_requests_total{") && !l.ends_with(" 0"))
    };
    wait_until(Duration::from_secs(20), failed).await;
    let changed = config(&url).replace("regex: dropme", "regex: dropme2");
    assert_eq!(master.reload(&changed).await.0, 200);
    // The old sender wakes from its backoff (at most 200 ms), sees it is stopped, and
    // gives up its batch; then the master dies before the remote is back.
    tokio::time::sleep(Duration::from_secs(1)).await;
    master.kill9();
    master.restart().await;
    remote.status.store(204, Relaxed);
    let want: Vec<(i64, f64)> = (0..10).map(|i| (base + i, i as f64)).collect();
    wait_until(Duration::from_secs(20), || async { remote.samples("__name__=fwd,replica=a").len() >= 10 }).await;
    assert_eq!(remote.samples("__name__=fwd,replica=a"), want, "the batch in retry, once");
}
