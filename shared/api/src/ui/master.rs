//! The master's page: the collectors it federates from, what its storage holds and costs,
//! and a query box that draws a graph from `/api/v1/query_range`.

use super::widgets::{self, count};
use crate::ApiState;
use cardinal_model::number::group_thousands;
use maud::{Markup, PreEscaped, html};

const GRAPH_JS: &str = include_str!("graph.js");

pub fn sections(st: &ApiState, expr: &str) -> Markup {
    html! {
        (query(expr))
        (widgets::targets("Federation sources", "series taken", st.scrape.active_targets(), 50))
        (storage(st))
        (widgets::rule_groups(st))
        (widgets::top_metrics(&st.db.status.cardinality(10), 10))
    }
}

fn storage(st: &ApiState) -> Markup {
    let blocks = st.db.status.blocks();
    let (samples, bytes) = cardinal_storage::BlockInfo::totals(&blocks);
    let per_sample = if samples > 0 { bytes as f64 / samples as f64 } else { 0.0 };
    let wal = st.db.status.wal_bytes();
    html! {
        section #storage {
            h2 { "Storage" }
            div.figures {
                div.figure { span.value #head-series { (count(st.db.status.head_series())) } span.label { "series in the head" } }
                div.figure { span.value #block-count { (blocks.len()) } span.label { "blocks on disk" } }
                div.figure { span.value #block-bytes { (mib(bytes)) } span.label { "in blocks" } }
                div.figure { span.value #wal-bytes { (mib(wal)) } span.label { "in the WAL" } }
                div.figure.good { span.value #bytes-per-sample { (format!("{per_sample:.2}")) } span.label { "bytes per sample in blocks" } }
                div.figure { span.value #retention { (cardinal_model::format_duration(st.retention)) } span.label { "retention" } }
            }
            @if !blocks.is_empty() {
                table {
                    tr { th { "from" } th { "to" } th.num { "level" } th.num { "series" } th.num { "samples" } th.num { "bytes" } th.num { "bytes/sample" } }
                    @for b in &blocks {
                        tr.block { td { (utc(b.min_time)) } td { (utc(b.max_time)) } td.num { (b.level) }
                            td.num { (group_thousands(b.num_series)) } td.num { (group_thousands(b.num_samples)) }
                            td.num { (mib(b.bytes)) } td.num { (format!("{:.2}", b.bytes as f64 / b.num_samples.max(1) as f64)) } }
                    }
                }
            }
        }
    }
}

/// The query box. The graph is drawn in the browser from the JSON API, so what it shows
/// is what Grafana would get.
fn query(expr: &str) -> Markup {
    html! {
        section #query {
            h2 { "Query" }
            form #query-form method="get" action="/" {
                input #expr name="expr" type="text" value=(expr) placeholder="sum by (destination_workload) (rate(istio_requests_total[5m]))" autocomplete="off";
                select #range name="range" { @for r in ["15m", "1h", "6h", "1d", "7d"] { option value=(r) selected[r == "1h"] { (r) } } }
                button type="submit" { "Graph" }
            }
            p #graph-info {}
            p #graph-error.error {}
            svg #graph viewBox="0 0 960 300" preserveAspectRatio="none" {}
            ul #legend {}
            script { (PreEscaped(GRAPH_JS)) }
        }
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
}

fn utc(ms: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_seconds(t).to_string()
}
