//! The collector's page: the reduction it exists for, then its targets, its rule groups
//! and where its series come from.

use super::widgets::{self, count};
use crate::ApiState;
use cardinal_model::number::group_thousands;
use cardinal_storage::Cardinality;
use maud::{Markup, html};
use std::sync::atomic::Ordering::Relaxed;

/// The naming convention the master's federation job selects on.
const FEDERATED_PREFIX: &str = "federate:";

pub fn sections(st: &ApiState) -> Markup {
    let card = st.db.status.cardinality(usize::MAX);
    html! {
        (reduction(st, &card))
        (widgets::targets("Targets", "samples", st.scrape.active_targets(), 20))
        (widgets::rule_groups(st))
        (widgets::top_metrics(&card, 10))
    }
}

/// Series in the head against the `federate:` series the master takes: the cardinality cut.
fn reduction(st: &ApiState, card: &Cardinality) -> Markup {
    let series_in = card.num_series;
    let series_out: usize =
        card.series_by_metric.iter().filter(|(name, _)| name.starts_with(FEDERATED_PREFIX)).map(|(_, n)| n).sum();
    let cut = if series_in > 0 { 100.0 * (1.0 - series_out as f64 / series_in as f64) } else { 0.0 };
    let fed = &st.federate_stats;
    html! {
        section #reduction-section {
            h2 { "Series in → out" }
            div.figures {
                div.figure { span.value #series-in { (count(series_in)) } span.label { "series in the head" } }
                div.figure { span.value #series-out { (count(series_out)) } span.label { "series named " code { (FEDERATED_PREFIX) "…" } " (federated)" } }
                div.figure.good { span.value #reduction { "−" (format!("{cut:.1}")) "%" } span.label { "reduction" } }
            }
            p.note {
                @match fed.requests.load(Relaxed) {
                    0 => { "No " code { "/federate" } " request yet." }
                    n => {
                        "The last " code { "/federate" } " request served " span #federate-last-series { (group_thousands(fed.last_series.load(Relaxed))) }
                        " series in " (format!("{:.1}", fed.last_micros.load(Relaxed) as f64 / 1e3)) " ms (" (group_thousands(n)) " requests so far)."
                    }
                }
            }
        }
    }
}
