//! What both pages are built of: the frame, the targets table, the rule groups, the
//! metrics with the most series, and small formatters.

use crate::ApiState;
use cardinal_model::number::group_thousands;
use cardinal_scrape::manager::TargetStatus;
use cardinal_storage::Cardinality;
use maud::{DOCTYPE, Markup, PreEscaped, html};
use std::time::{Duration, SystemTime};

const STYLE: &str = include_str!("style.css");

pub fn layout(st: &ApiState, name: &str, sections: Markup) -> Markup {
    let uptime = SystemTime::now().duration_since(st.started).unwrap_or_default();
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { "Cardinal " (name) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header {
                    h1 { "Cardinal " span.role { (name) } }
                    p.meta {
                        "version " (env!("CARGO_PKG_VERSION")) " · up " (age(uptime))
                        " · retention " (cardinal_model::format_duration(st.retention))
                    }
                    nav {
                        @for (href, label) in LINKS { a href=(href) { (label) } }
                    }
                }
                main { (sections) }
            }
        }
    }
}

const LINKS: [(&str, &str); 6] = [
    ("/metrics", "/metrics"),
    ("/api/v1/targets", "targets"),
    ("/api/v1/rules", "rules"),
    ("/api/v1/alerts", "alerts"),
    ("/api/v1/status/tsdb", "tsdb status"),
    ("/federate?match[]={__name__=~\"federate:.%2B\"}", "/federate"),
];

pub fn count(n: usize) -> String {
    group_thousands(n as u64)
}

/// "3.2s", "4m 10s", "2h 5m": how long, to the precision a reader wants.
pub fn age(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{:.1}s", d.as_secs_f64()),
        60..3600 => format!("{}m {}s", s / 60, s % 60),
        3600..86400 => format!("{}h {}m", s / 3600, s / 60 % 60),
        _ => format!("{}d {}h", s / 86400, s / 3600 % 24),
    }
}

pub fn ago(t: Option<SystemTime>) -> String {
    match t {
        Some(t) => format!("{} ago", age(SystemTime::now().duration_since(t).unwrap_or_default())),
        None => "never".into(),
    }
}

pub fn millis(secs: f64) -> String {
    format!("{:.1} ms", secs * 1e3)
}

/// A horizontal bar, full at `fraction` 1 and red beyond it.
pub fn bar(fraction: f64) -> Markup {
    let width = (fraction.clamp(0.0, 1.0) * 100.0).max(0.5);
    html! { span.bar.over[fraction > 1.0] { span style=(format!("width:{width:.1}%")) {} } }
}

/// Targets grouped by job, the failing ones first. A collector has a thousand targets, so
/// healthy ones beyond `shown_per_job` are only counted.
pub fn targets(heading: &str, samples_label: &str, mut all: Vec<TargetStatus>, shown_per_job: usize) -> Markup {
    all.sort_by(|a, b| {
        (&a.job, a.health.up == Some(true), &a.target.url).cmp(&(&b.job, b.health.up == Some(true), &b.target.url))
    });
    let up = all.iter().filter(|t| t.health.up == Some(true)).count();
    let jobs = all.chunk_by(|a, b| a.job == b.job);
    html! {
        section #targets {
            h2 { (heading) " " small #targets-up { (count(up)) " of " (count(all.len())) " up" } }
            @if all.is_empty() { p.empty { "No targets configured." } }
            @for job in jobs {
                h3 { (job[0].job) }
                table {
                    tr { th { "endpoint" } th { "state" } th.num { (samples_label) } th { "last scrape" } th.num { "duration" } th { "error" } }
                    @for t in job.iter().take(shown_per_job) {
                        tr.target { td { a href=(t.target.url) { (t.target.url) } } td.(t.health.state()) { (t.health.state()) }
                            td.num { (group_thousands(t.health.samples)) } td { (ago(t.health.last_scrape)) }
                            td.num { (millis(t.health.last_duration)) } td.error { (t.health.last_error) } }
                    }
                    @if job.len() > shown_per_job {
                        tr { td colspan="6" .more { "… and " (count(job.len() - shown_per_job)) " more, all up" } }
                    }
                }
            }
        }
    }
}

/// Rule groups: how long the last evaluation took against the interval it must fit in.
pub fn rule_groups(st: &ApiState) -> Markup {
    let groups = st.rules.status();
    html! {
        section #rule-groups {
            h2 { "Rule groups" }
            @if groups.is_empty() { p.empty { "No rule files loaded." } } @else {
                table {
                    tr { th { "group" } th { "file" } th.num { "rules" } th.num { "last duration" } th.num { "interval" } th { "of interval" }
                         th { "last evaluation" } th.num { "missed" } th.num { "failures" } }
                    @for g in &groups {
                        @let share = g.last_duration / g.interval.as_secs_f64().max(1e-9);
                        tr.rule-group { td { (g.name) } td { (g.file) } td.num { (g.rules.len()) }
                            td.num.duration { (millis(g.last_duration)) } td.num { (cardinal_model::format_duration(g.interval)) }
                            td { (bar(share)) " " (format!("{:.1}%", share * 100.0)) } td { (ago(g.last_evaluation)) }
                            td.num { (g.missed) } td.num.(if g.failures > 0 { "down" } else { "" }) { (g.failures) } }
                    }
                }
            }
        }
    }
}

/// The metric names holding the most series, as the cardinality explorer lists them.
pub fn top_metrics(c: &Cardinality, top: usize) -> Markup {
    let most = c.series_by_metric.first().map_or(1, |m| m.1.max(1));
    html! {
        section #top-metrics {
            h2 { "Metrics by series count" }
            table {
                tr { th { "metric" } th.num { "series" } th {} }
                @for (name, n) in c.series_by_metric.iter().take(top) {
                    tr.metric { td { code { (name) } } td.num { (count(*n)) } td { (bar(*n as f64 / most as f64)) } }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_at_the_right_precision() {
        assert_eq!(age(Duration::from_millis(3_250)), "3.2s");
        assert_eq!(age(Duration::from_secs(250)), "4m 10s");
        assert_eq!(age(Duration::from_secs(2 * 3600 + 300)), "2h 5m");
        assert_eq!(age(Duration::from_secs(3 * 86400 + 7200)), "3d 2h");
        assert_eq!(ago(None), "never");
    }

    #[test]
    fn bars_are_bounded_and_flag_overruns() {
        assert!(bar(0.5).into_string().contains("width:50.0%"));
        let over = bar(2.0).into_string();
        assert!(over.contains("over") && over.contains("width:100.0%"), "{over}");
    }
}
