//! `/metrics`: the daemon's own counters in the text format, written with the same
//! writer `/federate` uses.

use crate::ApiState;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use cardinal_exposition::text::{self, counter, metric};
use cardinal_remote::send::RemoteWriter;
use cardinal_rules::manager::GroupStatus;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

/// One per-group metric family: our name, Prometheus's, type, help, and how to read it
/// off a group.
type GroupFamily = (&'static str, &'static str, &'static str, &'static str, fn(&GroupStatus) -> f64);

/// The per-group rule metrics, labelled `rule_group="<file>;<name>"`, under our names and
/// Prometheus's (which the mixin's rule alerts read).
const GROUP_FAMILIES: [GroupFamily; 6] = [
    (
        "cardinal_rule_group_last_duration_seconds",
        "prometheus_rule_group_last_duration_seconds",
        "gauge",
        "Duration of the last rule group evaluation.",
        |g| g.last_duration,
    ),
    (
        "cardinal_rule_group_interval_seconds",
        "prometheus_rule_group_interval_seconds",
        "gauge",
        "The interval of a rule group.",
        |g| g.interval.as_secs_f64(),
    ),
    (
        "cardinal_rule_group_iterations_total",
        "prometheus_rule_group_iterations_total",
        "counter",
        "Rule group evaluations.",
        |g| g.iterations as f64,
    ),
    (
        "cardinal_rule_group_iterations_missed_total",
        "prometheus_rule_group_iterations_missed_total",
        "counter",
        "Rule group evaluations skipped because the previous one overran.",
        |g| g.missed as f64,
    ),
    (
        "cardinal_rule_evaluation_failures_total",
        "prometheus_rule_evaluation_failures_total",
        "counter",
        "Rule evaluations that failed.",
        |g| g.failures as f64,
    ),
    (
        "cardinal_rule_group_last_evaluation_samples",
        "prometheus_rule_group_last_evaluation_samples",
        "gauge",
        "Samples the last evaluation of the group wrote.",
        |g| g.samples as f64,
    ),
];

/// A per-group family under one name: name, type, help, how to read it off a group.
type NamedGroupFamily = (&'static str, &'static str, &'static str, fn(&GroupStatus) -> f64);

/// Prometheus's per-group families we have no name of our own for.
const PROMETHEUS_GROUP_FAMILIES: [NamedGroupFamily; 3] = [
    ("prometheus_rule_group_rules", "gauge", "The number of rules.", |g| g.rules.len() as f64),
    ("prometheus_rule_evaluations_total", "counter", "The total number of rule evaluations.", |g| {
        (g.iterations * g.rules.len() as u64) as f64
    }),
    (
        "prometheus_rule_group_last_evaluation_timestamp_seconds",
        "gauge",
        "The timestamp of the last rule group evaluation in seconds.",
        |g| g.last_evaluation.map_or(0.0, |t| t.duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())),
    ),
];

fn rule_group_metrics(out: &mut String, st: &ApiState) {
    let groups = st.rules.status();
    let ours = GROUP_FAMILIES.iter().map(|(name, _, kind, help, value)| (*name, *kind, *help, *value));
    let prometheus = GROUP_FAMILIES.iter().map(|(_, name, kind, help, value)| (*name, *kind, *help, *value));
    for (name, kind, help, value) in ours.chain(prometheus).chain(PROMETHEUS_GROUP_FAMILIES) {
        text::write_help(out, name, help);
        text::write_type(out, name, kind);
        for g in &groups {
            let key = format!("{};{}", g.file, g.name);
            text::write_sample(out, name, [("rule_group", key.as_str())], value(g), None);
        }
    }
}

/// The remote-write receiver and senders.
fn remote_write_metrics(out: &mut String, st: &ApiState) {
    let r = &st.write_stats;
    counter(out, "cardinal_remote_write_requests_total", "Remote-write requests received.", &r.requests);
    counter(out, "cardinal_remote_write_samples_total", "Samples accepted by remote write.", &r.samples);
    counter(out, "cardinal_remote_write_rejected_total", "Remote-write requests refused.", &r.rejected);
    sender_metrics(out, st);
}

/// A metric family of the senders: name, type, help, and how to read it off a sender.
type SenderFamily = (&'static str, &'static str, &'static str, fn(&RemoteWriter) -> f64);

fn load(a: &std::sync::atomic::AtomicU64) -> f64 {
    a.load(Relaxed) as f64
}

/// Per `remote_write` entry (labelled `remote_name`, `url`): our own names, then
/// Prometheus's `prometheus_remote_storage_*` with its meaning, which the mixin's
/// remote-storage alerts read.
const SENDER_FAMILIES: [SenderFamily; 24] = [
    (
        "prometheus_remote_storage_enqueue_retries_total",
        "counter",
        "Total number of times enqueue has failed because a shards queue was full (never here: a sender reads the WAL as it can).",
        |_| 0.0,
    ),
    ("cardinal_remote_storage_samples_sent_total", "counter", "Samples delivered to the remote.", |w| {
        load(&w.stats.samples_sent)
    }),
    ("cardinal_remote_storage_samples_dropped_total", "counter", "Samples the remote refused for good (4xx).", |w| {
        load(&w.stats.samples.failed)
    }),
    ("cardinal_remote_storage_failed_requests_total", "counter", "Requests that failed.", |w| {
        load(&w.stats.requests_failed)
    }),
    ("cardinal_remote_storage_retries_total", "counter", "Requests retried.", |w| load(&w.stats.retries)),
    ("cardinal_remote_storage_highest_sent_timestamp_seconds", "gauge", "Newest sample delivered.", sent_seconds),
    ("prometheus_remote_storage_samples_total", "counter", "Total number of samples sent to remote storage.", |w| {
        load(&w.stats.samples.attempted)
    }),
    (
        "prometheus_remote_storage_samples_failed_total",
        "counter",
        "Total number of samples which failed on send to remote storage, non-recoverable errors.",
        |w| load(&w.stats.samples.failed),
    ),
    (
        "prometheus_remote_storage_samples_retried_total",
        "counter",
        "Total number of samples which failed on send to remote storage but were retried because the send error was recoverable.",
        |w| load(&w.stats.samples.retried),
    ),
    (
        "prometheus_remote_storage_samples_dropped_total",
        "counter",
        "Total number of samples which were dropped after being read from the WAL before being sent via remote write, either via relabelling or unintentionally because of an unknown reference ID.",
        |w| load(&w.stats.samples_dropped),
    ),
    (
        "prometheus_remote_storage_exemplars_total",
        "counter",
        "Total number of exemplars sent to remote storage.",
        |w| load(&w.stats.exemplars.attempted),
    ),
    (
        "prometheus_remote_storage_exemplars_failed_total",
        "counter",
        "Total number of exemplars which failed on send to remote storage, non-recoverable errors.",
        |w| load(&w.stats.exemplars.failed),
    ),
    (
        "prometheus_remote_storage_exemplars_retried_total",
        "counter",
        "Total number of exemplars which failed on send to remote storage but were retried because the send error was recoverable.",
        |w| load(&w.stats.exemplars.retried),
    ),
    (
        "prometheus_remote_storage_exemplars_dropped_total",
        "counter",
        "Total number of exemplars which were dropped after being read from the WAL before being sent via remote write, either via relabelling or unintentionally because of an unknown reference ID.",
        |w| load(&w.stats.exemplars_dropped),
    ),
    (
        "prometheus_remote_storage_exemplars_pending",
        "gauge",
        "The number of exemplars pending in the queues shards to be sent to the remote storage.",
        |w| load(&w.stats.exemplars_pending),
    ),
    (
        "prometheus_remote_storage_metadata_total",
        "counter",
        "Total number of metadata entries sent to remote storage.",
        |w| load(&w.stats.metadata.attempted),
    ),
    (
        "prometheus_remote_storage_metadata_failed_total",
        "counter",
        "Total number of metadata entries which failed on send to remote storage, non-recoverable errors.",
        |w| load(&w.stats.metadata.failed),
    ),
    (
        "prometheus_remote_storage_metadata_retried_total",
        "counter",
        "Total number of metadata entries which failed on send to remote storage but were retried because the send error was recoverable.",
        |w| load(&w.stats.metadata.retried),
    ),
    (
        "prometheus_remote_storage_samples_pending",
        "gauge",
        "The number of samples pending in the queues shards to be sent to the remote storage.",
        |w| load(&w.stats.samples_pending),
    ),
    (
        "prometheus_remote_storage_shards",
        "gauge",
        "The number of shards used for parallel sending to the remote storage.",
        |w| w.stats.shards.load(Relaxed) as f64,
    ),
    (
        "prometheus_remote_storage_shards_desired",
        "gauge",
        "The number of shards that the queues shard calculation wants to run based on the rate of samples in vs. samples out.",
        |w| f64::from_bits(w.stats.shards_desired.load(Relaxed)),
    ),
    (
        "prometheus_remote_storage_shards_min",
        "gauge",
        "The minimum number of shards that the queue is allowed to run.",
        |w| w.queue.min_shards as f64,
    ),
    (
        "prometheus_remote_storage_shards_max",
        "gauge",
        "The maximum number of shards that the queue is allowed to run.",
        |w| w.queue.max_shards as f64,
    ),
    (
        "prometheus_remote_storage_shard_capacity",
        "gauge",
        "The capacity of each shard of the queue used for parallel sending to the remote storage.",
        |w| w.queue.capacity as f64,
    ),
];

fn sent_seconds(w: &RemoteWriter) -> f64 {
    w.stats.highest_sent_ms.load(Relaxed).max(0) as f64 / 1000.0
}

fn sender_metrics(out: &mut String, st: &ApiState) {
    let writers = st.remote_writers.lock();
    let Some(first) = writers.first() else { return };
    for (name, kind, help, value) in SENDER_FAMILIES {
        text::write_help(out, name, help);
        text::write_type(out, name, kind);
        for w in writers.iter() {
            text::write_sample(out, name, [("remote_name", w.name.as_str()), ("url", w.url.as_str())], value(w), None);
        }
    }
    // Only once a sender has delivered something, as in Prometheus: the mixin's
    // "remote write behind" alert reads it against the newest sample, and would
    // otherwise count a remote that never answered as 56 years behind.
    let name = "prometheus_remote_storage_queue_highest_sent_timestamp_seconds";
    text::write_header(
        out,
        name,
        "gauge",
        "Timestamp from a WAL sample, the highest timestamp successfully sent by this queue, in seconds since epoch.",
    );
    for w in writers.iter().filter(|w| w.stats.highest_sent_ms.load(Relaxed) > 0) {
        text::write_sample(
            out,
            name,
            [("remote_name", w.name.as_str()), ("url", w.url.as_str())],
            sent_seconds(w),
            None,
        );
    }
    let name = "prometheus_wal_watcher_current_segment";
    text::write_header(out, name, "gauge", "Current segment the WAL watcher is reading records from.");
    for w in writers.iter() {
        text::write_sample(out, name, [("consumer", w.name.as_str())], load(&w.stats.reading_segment), None);
    }
    // Read by every sender from the one WAL: the furthest along's count.
    let samples_in = writers.iter().map(|w| load(&w.stats.samples_in)).fold(0.0, f64::max);
    let help = "Samples in to remote storage, compare to samples out for queue managers.";
    metric(out, "prometheus_remote_storage_samples_in_total", "counter", help, samples_in);
    let exemplars_in = writers.iter().map(|w| load(&w.stats.exemplars_in)).fold(0.0, f64::max);
    let help = "Exemplars in to remote storage, compare to exemplars out for queue managers.";
    metric(out, "prometheus_remote_storage_exemplars_in_total", "counter", help, exemplars_in);
    // One WAL feeds every sender: the newest sample in it, without a sender's labels.
    metric(
        out,
        "prometheus_remote_storage_highest_timestamp_in_seconds",
        "gauge",
        "Highest timestamp that has come into the remote storage via the Appender interface, in seconds since epoch.",
        first.newest_logged_ms().max(0) as f64 / 1000.0,
    );
}

/// A per-rule rollup metric family: name, type, help, and how to read it off a rule.
type RollupFamily = (&'static str, &'static str, &'static str, fn(&cardinal_rollup::rollups::RuleStatus) -> f64);

/// Per rollup rule (labelled `rule=<record>`): what it took in, and how big its state is.
fn rollup_metrics(out: &mut String, st: &ApiState) {
    let r = &st.rollups;
    let e = &r.stats;
    counter(out, "cardinal_rollup_flushes_total", "Rollup flushes that wrote samples.", &e.flushes);
    counter(
        out,
        "cardinal_rollup_checkpoint_failures_total",
        "Rollup state saves that failed.",
        &e.checkpoint_failures,
    );
    metric(out, "cardinal_rollup_checkpoint_bytes", "gauge", "Size of the last rollup state file.", {
        e.checkpoint_bytes.load(Relaxed) as f64
    });
    metric(out, "cardinal_rollup_last_flush_seconds", "gauge", "Duration of the last flush with its checkpoint.", {
        e.last_flush_nanos.load(Relaxed) as f64 / 1e9
    });
    let rules = r.status();
    let families: [RollupFamily; 6] = [
        ("cardinal_rollup_samples_matched_total", "counter", "Input samples the rule took.", |s| {
            s.stats.matched as f64
        }),
        ("cardinal_rollup_counter_resets_total", "counter", "Input counter resets the rule absorbed.", |s| {
            s.stats.counter_resets as f64
        }),
        ("cardinal_rollup_input_series", "gauge", "Input series the rule keeps state for.", |s| s.inputs as f64),
        ("cardinal_rollup_output_series", "gauge", "Output series the rule writes.", |s| s.outputs as f64),
        ("cardinal_rollup_state_bytes", "gauge", "Memory of the rule's per-input state.", |s| s.state_bytes as f64),
        ("cardinal_rollup_late_samples_total", "counter", "Samples whose window was already written.", |s| {
            (s.stats.late_shifted + s.stats.late_dropped) as f64
        }),
    ];
    for (name, kind, help, value) in families {
        text::write_help(out, name, help);
        text::write_type(out, name, kind);
        for s in &rules {
            text::write_sample(out, name, [("rule", s.record.as_str())], value(s), None);
        }
    }
    let name = "cardinal_rollup_samples_ignored_total";
    text::write_help(out, name, "Input samples not counted where they belong, by reason.");
    text::write_type(out, name, "counter");
    for s in &rules {
        let reasons = [
            ("late_counted_next_window", s.stats.late_shifted),
            ("late_dropped", s.stats.late_dropped),
            ("out_of_order", s.stats.out_of_order),
        ];
        for (reason, n) in reasons {
            text::write_sample(out, name, [("rule", s.record.as_str()), ("reason", reason)], n as f64, None);
        }
    }
}

/// Profile ingestion: uploads, rejections by reason, bytes, decode time, rule matches.
fn profile_metrics(out: &mut String, st: &ApiState) {
    let r = &st.profiles;
    let s = &r.stats;
    counter(out, "cardinal_profiles_received_total", "Profile uploads received, rejected ones included.", &s.received);
    counter(
        out,
        "cardinal_profiles_deduplicated_total",
        "Uploads already recorded (retries), not counted again.",
        &s.deduplicated,
    );
    counter(out, "cardinal_profile_bytes_total", "Bytes of profile request bodies received.", &s.bytes);
    counter(
        out,
        "cardinal_profile_samples_written_total",
        "Samples profile rules wrote to the head.",
        &s.samples_written,
    );
    metric(out, "cardinal_profile_decode_seconds_total", "counter", "Time spent decoding profile requests.", {
        s.decode_nanos.load(Relaxed) as f64 / 1e9
    });
    counter(out, "cardinal_profiles_decoded_total", "Profile uploads decoded.", &s.decoded);
    metric(out, "cardinal_profile_remembered_uploads", "gauge", "Uploads remembered to recognise retries.", {
        r.remembered_uploads() as f64
    });
    counter(
        out,
        "cardinal_profile_events_skipped_total",
        "Events of uploaded profiles the decoder could not read and stepped over.",
        &s.events_skipped,
    );
    let types = s.types_received.lock();
    let types = types.iter().map(|(t, n)| (t.as_str(), *n as f64));
    counters_by(
        out,
        "cardinal_profiles_by_type_total",
        "Profiles recorded, by __profile_type__.",
        "profile_type",
        types,
    );
    let rejected: Vec<(&str, f64)> = s.rejected.lock().iter().map(|(r, n)| (*r, *n as f64)).collect();
    counters_by(out, "cardinal_profiles_rejected_total", "Profile requests refused, by reason.", "reason", rejected);
    let rules = r.rule_status();
    let matches = rules.iter().map(|r| (r.record.as_str(), r.matches as f64));
    counters_by(out, "cardinal_profile_rule_matches_total", "Profile series that matched the rule.", "rule", matches);
}

/// A counter family with one label.
fn counters_by<'a>(
    out: &mut String,
    name: &str,
    help: &str,
    label: &str,
    values: impl IntoIterator<Item = (&'a str, f64)>,
) {
    text::write_help(out, name, help);
    text::write_type(out, name, "counter");
    for (v, n) in values {
        text::write_sample(out, name, [(label, v)], n, None);
    }
}

/// The notifier's metrics, per Alertmanager where Prometheus has them so, under our names
/// and Prometheus's (whose `sent` counts alerts attempted and `errors` failed requests).
fn notifier_metrics(out: &mut String, st: &ApiState) {
    let n = &st.notifier;
    let ams = n.alertmanagers().len() as f64;
    for prefix in ["cardinal", "prometheus"] {
        let name = |n: &str| format!("{prefix}_notifications_{n}");
        metric(out, &name("queue_length"), "gauge", "Alerts waiting to be sent.", n.queue_len() as f64);
        metric(out, &name("queue_capacity"), "gauge", "Alerts the queue holds.", n.capacity() as f64);
        counter(out, &name("dropped_total"), "Alerts dropped from a full queue.", &n.stats.dropped);
        metric(out, &name("alertmanagers_discovered"), "gauge", "Alertmanagers alerts go to.", ams);
    }
    let per_am = n.stats.per_am.read();
    type Get = fn(&cardinal_rules::notifier::AmStats) -> f64;
    let families: [(&str, &str, Get); 6] = [
        ("cardinal_notifications_sent_total", "Alerts sent.", |s| load(&s.sent)),
        ("cardinal_notifications_errors_total", "Alerts that failed to send.", |s| load(&s.errors)),
        ("cardinal_notifications_latency_seconds_total", "Time spent sending alerts.", |s| {
            s.latency_micros.load(Relaxed) as f64 / 1e6
        }),
        ("cardinal_notifications_requests_total", "Requests sending alerts.", |s| load(&s.requests)),
        ("prometheus_notifications_sent_total", "Total number of alerts sent.", |s| load(&s.sent) + load(&s.errors)),
        ("prometheus_notifications_errors_total", "Total number of errors sending alert notifications.", |s| {
            load(&s.failed_requests)
        }),
    ];
    for (name, help, value) in families {
        text::write_help(out, name, help);
        text::write_type(out, name, "counter");
        for (url, s) in per_am.iter() {
            text::write_sample(out, name, [("alertmanager", url.as_str())], value(s), None);
        }
    }
}

/// Prometheus's metrics of things we have no name of our own for: the configuration's
/// last reload, the query engine's slots, and the scrape pools' limits.
fn prometheus_only_metrics(out: &mut String, st: &ApiState) {
    let reloaded = st.reloads.successful.load(Relaxed);
    let last = st.reloads.last_success.lock().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
    let families = [
        (
            "prometheus_config_last_reload_successful",
            "Whether the last configuration reload attempt was successful.",
            f64::from(u8::from(reloaded)),
        ),
        (
            "prometheus_config_last_reload_success_timestamp_seconds",
            "Timestamp of the last successful configuration reload.",
            last,
        ),
        (
            "prometheus_engine_queries",
            "The current number of queries being executed or waiting.",
            st.query_slots.in_use() as f64,
        ),
        (
            "prometheus_engine_queries_concurrent_max",
            "The max number of concurrent queries.",
            st.query_slots.max as f64,
        ),
    ];
    for (name, help, value) in families {
        metric(out, name, "gauge", help, value);
    }
    let s = &st.scrape.stats;
    for (name, help, c) in [
        (
            "prometheus_target_scrape_pool_exceeded_target_limit_total",
            "Total number of times scrape pools hit the target limit, during sync or config reload.",
            &s.target_limit_exceeded,
        ),
        (
            "prometheus_target_scrape_pool_exceeded_label_limits_total",
            "Total number of times scrape pools hit the label limits, during sync or config reload.",
            &s.label_limits_exceeded,
        ),
        (
            "prometheus_target_scrapes_exceeded_body_size_limit_total",
            "Total number of scrapes that hit the body size limit",
            &s.body_size_limit_exceeded,
        ),
        (
            "prometheus_target_scrapes_exceeded_sample_limit_total",
            "Total number of scrapes that hit the sample limit and were rejected.",
            &s.sample_limit_exceeded,
        ),
    ] {
        counter(out, name, help, c);
    }
    let jobs = st.scrape.job_stats();
    let name = "prometheus_target_sync_failed_total";
    text::write_help(out, name, "Total number of target sync failures.");
    text::write_type(out, name, "counter");
    for j in &jobs {
        text::write_sample(out, name, [("scrape_job", j.job.as_str())], j.sync_failed as f64, None);
    }
    let name = "prometheus_target_metadata_cache_entries";
    text::write_help(out, name, "Total number of metric metadata entries in the cache");
    text::write_type(out, name, "gauge");
    for j in &jobs {
        text::write_sample(out, name, [("scrape_job", j.job.as_str())], j.metadata_entries as f64, None);
    }
    summaries_metrics(out, st, &jobs);
    exemplar_metrics(out, st);
    st.http_metrics.write(out);
}

/// Prometheus's exemplar-storage metrics.
fn exemplar_metrics(out: &mut String, st: &ApiState) {
    let e = &st.exemplars;
    let (stored, series) = e.sizes();
    counter(
        out,
        "prometheus_tsdb_exemplar_exemplars_appended_total",
        "Total number of appended exemplars.",
        &e.stats.appended,
    );
    counter(
        out,
        "prometheus_tsdb_exemplar_out_of_order_exemplars_total",
        "Total number of out of order exemplar ingestion failed attempts.",
        &e.stats.out_of_order,
    );
    for (name, help, value) in [
        (
            "prometheus_tsdb_exemplar_max_exemplars",
            "Total number of exemplars the exemplar storage can store, resizeable.",
            e.capacity(),
        ),
        ("prometheus_tsdb_exemplar_exemplars_in_storage", "Number of exemplars currently in circular storage.", stored),
        (
            "prometheus_tsdb_exemplar_series_with_exemplars_in_storage",
            "Number of series with exemplars currently in circular storage.",
            series,
        ),
    ] {
        metric(out, name, "gauge", help, value as f64);
    }
}

/// This machine's architecture as Go names it.
fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    }
}

/// Prometheus's quantiles for its scrape summaries.
const SCRAPE_QUANTILES: [f64; 5] = [0.01, 0.05, 0.5, 0.9, 0.99];

/// Prometheus's summaries of scrape intervals, target syncs and query durations, and its
/// build information (the API level we serve as its `version`).
fn summaries_metrics(out: &mut String, st: &ApiState, jobs: &[cardinal_scrape::manager::JobStats]) {
    let name = "prometheus_target_interval_length_seconds";
    text::write_header(out, name, "summary", "Actual intervals between scrapes.");
    for (interval, s) in st.scrape.stats.interval_lengths.lock().iter() {
        s.write(out, name, &[("interval", interval.as_str())], &SCRAPE_QUANTILES);
    }
    let name = "prometheus_target_sync_length_seconds";
    text::write_header(out, name, "summary", "Actual interval to sync the scrape pool.");
    for j in jobs {
        j.sync_length.write(out, name, &[("scrape_job", j.job.as_str())], &SCRAPE_QUANTILES);
    }
    let name = "prometheus_engine_query_duration_seconds";
    text::write_header(out, name, "summary", "Query timings");
    for (slice, s) in crate::QueryTimings::SLICES.iter().zip(st.query_timings.snapshot()) {
        s.write(out, name, &[("slice", slice)], &[0.5, 0.9, 0.99]);
    }
    let name = "prometheus_build_info";
    text::write_header(
        out,
        name,
        "gauge",
        "A metric with a constant '1' value labeled by version, revision, branch, goversion from which prometheus was built, and the goos and goarch for the build.",
    );
    let labels = [
        ("branch", ""),
        ("goarch", go_arch()),
        ("goos", std::env::consts::OS),
        ("goversion", ""),
        ("revision", ""),
        ("version", crate::status::PROMETHEUS_API_VERSION),
    ];
    text::write_sample(out, name, labels, 1.0, None);
}

pub async fn handler(State(st): State<Arc<ApiState>>) -> impl IntoResponse {
    let mut out = String::new();
    st.db.status.write_metrics(&mut out);
    if let Some(ha) = &st.ha {
        ha.write_metrics(&mut out);
    }
    let s = &st.scrape.stats;
    counter(&mut out, "cardinal_scrapes_total", "Scrapes attempted.", &s.scrapes);
    counter(&mut out, "cardinal_scrape_failures_total", "Scrapes that failed (up == 0).", &s.failures);
    counter(&mut out, "cardinal_scrape_samples_scraped_total", "Samples read from scraped bodies.", &s.samples_scraped);
    counter(
        &mut out,
        "cardinal_scrape_sample_limit_exceeded_total",
        "Scrapes failed by sample_limit.",
        &s.sample_limit_exceeded,
    );
    counter(
        &mut out,
        "prometheus_target_scrapes_sample_out_of_bounds_total",
        "Scraped samples refused as out of bounds (too old, or too far ahead of the clock).",
        &s.out_of_bounds,
    );
    counter(
        &mut out,
        "prometheus_target_scrapes_sample_out_of_order_total",
        "Scraped samples refused as out of order.",
        &s.out_of_order,
    );
    counter(
        &mut out,
        "prometheus_target_scrapes_sample_duplicate_timestamp_total",
        "Scraped samples refused for a duplicate timestamp with a different value.",
        &s.duplicates,
    );
    counter(
        &mut out,
        "cardinal_scrape_series_refused_total",
        "Scraped series not created at the head's series limit.",
        &s.series_refused,
    );
    let targets = st.scrape.active_targets().len();
    metric(&mut out, "cardinal_scrape_targets", "gauge", "Active scrape targets.", targets as f64);
    let name = "prometheus_sd_discovered_targets";
    text::write_help(&mut out, name, "Current number of discovered targets.");
    text::write_type(&mut out, name, "gauge");
    for (job, n) in st.scrape.discovered() {
        text::write_sample(&mut out, name, [("config", job.as_str()), ("name", "scrape")], n as f64, None);
    }
    let f = &st.federate_stats;
    counter(&mut out, "cardinal_federate_requests_total", "Requests to /federate.", &f.requests);
    counter(&mut out, "cardinal_federate_errors_total", "Requests to /federate refused for bad input.", &f.errors);
    counter(&mut out, "cardinal_federate_series_total", "Series written by /federate.", &f.series);
    counter(&mut out, "cardinal_federate_bytes_total", "Uncompressed bytes written by /federate.", &f.bytes);
    let secs = f.duration_micros.load(Relaxed) as f64 / 1e6;
    metric(&mut out, "cardinal_federate_duration_seconds_total", "counter", "Time spent answering /federate.", secs);
    rule_group_metrics(&mut out, &st);
    notifier_metrics(&mut out, &st);
    prometheus_only_metrics(&mut out, &st);
    rollup_metrics(&mut out, &st);
    profile_metrics(&mut out, &st);
    remote_write_metrics(&mut out, &st);
    crate::process_metrics::write(&mut out, st.started);
    ([(header::CONTENT_TYPE, text::CONTENT_TYPE)], out)
}
