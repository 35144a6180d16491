//! OpenMetrics 1.0 text, as `/federate` serves it to a scraper that asks for it while
//! exemplars are stored: the text format's lines with timestamps in seconds, an exemplar
//! after a sample that may carry one, and `# EOF` at the end (so a response cut short
//! never parses as a complete, smaller one).

use crate::text::{escape_label_value, write_series};
use cardinal_model::Labels;
use cardinal_model::number::write_go_g;

pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The last line of every OpenMetrics exposition.
pub const EOF: &str = "# EOF\n";

/// An exemplar to write after a sample.
pub struct Exemplar<'a> {
    pub labels: &'a Labels,
    pub value: f64,
    pub t: i64,
}

/// Whether a sample of this name may carry an exemplar: counters' `_total` and
/// histograms' `_bucket`, the only ones Prometheus's OpenMetrics parser accepts one on
/// (any other fails the whole scrape).
pub fn takes_exemplar(name: &str) -> bool {
    name.ends_with("_total") || name.ends_with("_bucket")
}

/// One sample line: `name{…} value seconds [# {…} value seconds]`.
pub fn write_sample<'a>(
    out: &mut String,
    name: &str,
    labels: impl IntoIterator<Item = (&'a str, &'a str)>,
    value: f64,
    t: i64,
    exemplar: Option<Exemplar<'_>>,
) {
    write_series(out, name, labels);
    out.push(' ');
    write_go_g(out, value);
    out.push(' ');
    write_seconds(out, t);
    if let Some(e) = exemplar {
        out.push_str(" # {");
        for (i, l) in e.labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&l.name);
            out.push_str("=\"");
            escape_label_value(out, &l.value);
            out.push('"');
        }
        out.push_str("} ");
        write_go_g(out, e.value);
        out.push(' ');
        write_seconds(out, e.t);
    }
    out.push('\n');
}

/// Milliseconds as exact decimal seconds (`1520879607.789`), which a parser multiplying
/// by 1000 turns back into the same milliseconds.
fn write_seconds(out: &mut String, ms: i64) {
    use std::fmt::Write;
    let sign = if ms < 0 { "-" } else { "" };
    let abs = ms.unsigned_abs();
    let _ = write!(out, "{sign}{}.{:03}", abs / 1000, abs % 1000);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parser::{Entry, Format, Parser};

    #[test]
    fn lines_with_and_without_an_exemplar_read_back_by_our_parser() {
        let trace = Labels::from_pairs([("trace_id", "a\"b")]);
        let mut s = String::new();
        crate::text::write_type(&mut s, "req_total", "unknown");
        let e = Exemplar { labels: &trace, value: 0.5, t: 1_520_879_607_789 };
        write_sample(&mut s, "req_total", [("job", "x")], 3.0, 1_520_879_607_790, Some(e));
        write_sample(&mut s, "up", [], 1.0, -1_500, None);
        s.push_str(EOF);
        assert_eq!(
            s,
            "# TYPE req_total unknown\nreq_total{job=\"x\"} 3 1520879607.790 # {trace_id=\"a\\\"b\"} 0.5 1520879607.789\n\
             up 1 -1.500\n# EOF\n"
        );
        let mut p = Parser::new(s.as_bytes(), Format::OpenMetrics);
        let mut samples = Vec::new();
        while let Some(entry) = p.next().transpose() {
            if let Entry::Sample(x) = entry.unwrap() {
                samples.push((x.timestamp, x.exemplar.map(|e| (e.value, e.timestamp))));
            }
        }
        assert_eq!(samples, [(Some(1_520_879_607_790), Some((0.5, Some(1_520_879_607_789)))), (Some(-1_500), None)]);
    }

    #[test]
    fn only_counters_and_buckets_take_exemplars() {
        assert!(takes_exemplar("http_requests_total") && takes_exemplar("latency_seconds_bucket"));
        assert!(!takes_exemplar("up") && !takes_exemplar("federate:requests:rate5m"));
    }
}
