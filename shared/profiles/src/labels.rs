//! An upload's labels as series labels: what Pyroscope takes from its clients, under
//! Prometheus label names. SDKs tag every profile with OpenTelemetry-style dotted names
//! (`otel.scope.name`, `process.runtime.version`); Pyroscope accepts them, so must we.
//!
//! - Names are translated with [`to_label_name`] (`otel.scope.name` → `otel_scope_name`),
//!   as Pyroscope ≤ 1.18 and OpenTelemetry's Prometheus exporter do. A rule may name a
//!   label either way: its matchers and `group_by` are translated the same way.
//! - Names starting with `__` are reserved and dropped, except `__session_id__`, as
//!   Pyroscope's validation does; empty values are dropped (an empty label is no label).
//! - Two names that translate to the same one with different values are refused, naming
//!   both (Pyroscope 1.19's rule where it sanitizes); with the same value they are one.

use crate::Rejection;
use cardinal_model::labels::to_label_name;

/// The one reserved name Pyroscope keeps.
const SESSION_ID: &str = "__session_id__";

/// `pairs` as series labels, sorted by name.
pub fn series_labels<'a>(
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<Vec<(String, String)>, Rejection> {
    // (translated name, value, name as sent)
    let mut out: Vec<(String, String, &str)> = Vec::new();
    for (name, value) in pairs {
        if value.is_empty() || (name.starts_with("__") && name != SESSION_ID) {
            continue;
        }
        let translated = to_label_name(name).into_owned();
        match out.iter().find(|(t, _, _)| *t == translated) {
            Some((_, v, _)) if v == value => continue,
            Some((_, _, first)) => {
                return Err(Rejection::bad(
                    "invalid_labels",
                    format!("labels {first:?} and {name:?} both become {translated:?}, with different values"),
                ));
            }
            None => out.push((translated, value.to_string(), name)),
        }
    }
    out.sort_unstable();
    Ok(out.into_iter().map(|(n, v, _)| (n, v)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sdk_labels_become_prometheus_labels() {
        let got = series_labels([
            ("otel.scope.name", "com.grafana.pyroscope/nodejs"),
            ("region", "eu"),
            ("__name__", "process_cpu"),
            ("__session_id__", "abc"),
            ("empty", ""),
            ("process.runtime.name", "nodejs"),
        ])
        .unwrap();
        let want = [
            ("__session_id__", "abc"),
            ("otel_scope_name", "com.grafana.pyroscope/nodejs"),
            ("process_runtime_name", "nodejs"),
            ("region", "eu"),
        ];
        assert_eq!(got, want.map(|(a, b)| (a.to_string(), b.to_string())));
    }

    #[test]
    fn names_that_collide_with_different_values_are_refused_naming_both() {
        assert_eq!(series_labels([("a.b", "1"), ("a_b", "1")]).unwrap().len(), 1);
        let Err(Rejection::BadRequest(reason, msg)) = series_labels([("a.b", "1"), ("a_b", "2")]) else { panic!() };
        assert_eq!(reason, "invalid_labels");
        assert_eq!(msg, r#"labels "a.b" and "a_b" both become "a_b", with different values"#);
    }
}
