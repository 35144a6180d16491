//! What a scraped sample's labels become: the target's labels merged in (honor_labels or
//! `exported_` renaming), metric_relabel_configs, then the label limits.

use cardinal_model::{Label, Labels, LabelsBuilder};
use cardinal_relabel::RelabelConfig;

/// The limits that fail a scrape when one series breaks them.
#[derive(Clone, Copy, Debug, Default)]
pub struct LabelLimits {
    pub label_limit: u64,
    pub name_length: u64,
    pub value_length: u64,
}

/// Merges target labels into exposed labels, as Prometheus's `mutateSampleLabels`.
/// `exposed` is sorted and may hold empty values (they count as present for
/// honor_labels). Returns `None` when metric relabeling drops the series.
pub fn sample_labels(
    exposed: Vec<Label>,
    target: &Labels,
    honor_labels: bool,
    metric_relabel: &[RelabelConfig],
) -> Option<Labels> {
    let mut exposed = exposed;
    if honor_labels {
        for t in target.iter() {
            if !exposed.iter().any(|l| l.name == t.name) {
                exposed.push(t.clone());
            }
        }
    } else {
        for t in target.iter() {
            if let Some(pos) = exposed.iter().position(|l| l.name == t.name && !l.value.is_empty()) {
                let mut name = format!("exported_{}", t.name);
                while exposed.iter().any(|l| *l.name == *name) || target.get(&name).is_some() {
                    name = format!("exported_{name}");
                }
                exposed[pos].name = name.into();
            }
            exposed.retain(|l| l.name != t.name);
            exposed.push(t.clone());
        }
    }
    let mut b = LabelsBuilder::new(Labels::empty());
    for l in exposed {
        b.set(l.name, l.value);
    }
    let merged = b.build();
    cardinal_relabel::process(&merged, metric_relabel)
}

/// Checks a series against the limits, with Prometheus's error messages.
pub fn check_limits(labels: &Labels, limits: &LabelLimits) -> Result<(), String> {
    let metric: String = labels.metric_name().chars().take(50).collect();
    if limits.label_limit > 0 && labels.len() as u64 > limits.label_limit {
        return Err(format!(
            "label_limit exceeded (metric: {metric}, number of labels: {}, limit: {})",
            labels.len(),
            limits.label_limit
        ));
    }
    for l in labels.iter() {
        if limits.name_length > 0 && l.name.len() as u64 > limits.name_length {
            return Err(format!(
                "label_name_length_limit exceeded (metric: {metric}, label name: {:.50}, length: {}, limit: {})",
                l.name,
                l.name.len(),
                limits.name_length
            ));
        }
        if limits.value_length > 0 && l.value.len() as u64 > limits.value_length {
            return Err(format!(
                "label_value_length_limit exceeded (metric: {metric}, label name: {:.50}, value: {:?}, length: {}, limit: {})",
                l.name,
                l.value.chars().take(50).collect::<String>(),
                l.value.len(),
                limits.value_length
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exposed(pairs: &[(&str, &str)]) -> Vec<Label> {
        let mut v: Vec<Label> = pairs.iter().map(|(n, x)| Label::new(*n, *x)).collect();
        v.sort();
        v
    }

    fn target() -> Labels {
        Labels::from_pairs([("instance", "127.0.0.1:9100"), ("job", "demo"), ("team", "core")])
    }

    #[test]
    fn conflicts_become_exported_without_honor_labels() {
        let got = sample_labels(
            exposed(&[("__name__", "x"), ("job", "exported-job"), ("instance", "exported-inst"), ("path", "/a")]),
            &target(),
            false,
            &[],
        )
        .unwrap();
        let want = Labels::from_pairs([
            ("__name__", "x"),
            ("exported_instance", "exported-inst"),
            ("exported_job", "exported-job"),
            ("instance", "127.0.0.1:9100"),
            ("job", "demo"),
            ("path", "/a"),
            ("team", "core"),
        ]);
        assert_eq!(got, want);
    }

    #[test]
    fn exported_prefix_repeats_until_unique() {
        let got =
            sample_labels(exposed(&[("__name__", "x"), ("job", "a"), ("exported_job", "b")]), &target(), false, &[])
                .unwrap();
        assert_eq!(got.get("exported_job"), Some("b"));
        assert_eq!(got.get("exported_exported_job"), Some("a"));
        assert_eq!(got.get("job"), Some("demo"));
    }

    #[test]
    fn honor_labels_keeps_exposed_and_empty_counts_as_present() {
        let got = sample_labels(
            exposed(&[("__name__", "federate:x"), ("job", "upstream"), ("instance", "")]),
            &target(),
            true,
            &[],
        )
        .unwrap();
        assert_eq!(got, Labels::from_pairs([("__name__", "federate:x"), ("job", "upstream"), ("team", "core")]));
    }

    #[test]
    fn metric_relabel_runs_after_the_merge() {
        let strip: Vec<RelabelConfig> =
            vec![RelabelConfig::replace(&["__name__"], "federate:(.+)", "__name__", "$1").unwrap()];
        let got = sample_labels(exposed(&[("__name__", "federate:a:rate1m")]), &target(), true, &strip).unwrap();
        assert_eq!(got.metric_name(), "a:rate1m");
    }

    #[test]
    fn limits_use_prometheus_messages() {
        let l = Labels::from_pairs([
            ("__name__", "demo_requests_total"),
            ("a", "1"),
            ("b", "22"),
            ("c", "3"),
            ("d", "4"),
            ("e", "5"),
        ]);
        let e = check_limits(&l, &LabelLimits { label_limit: 3, ..Default::default() }).unwrap_err();
        assert_eq!(e, "label_limit exceeded (metric: demo_requests_total, number of labels: 6, limit: 3)");
        let e = check_limits(&l, &LabelLimits { value_length: 1, ..Default::default() }).unwrap_err();
        assert!(
            e.starts_with("label_value_length_limit exceeded (metric: demo_requests_total, label name: __name__"),
            "{e}"
        );
        let e = check_limits(&l, &LabelLimits { name_length: 7, ..Default::default() }).unwrap_err();
        assert!(e.starts_with("label_name_length_limit exceeded"), "{e}");
        assert!(check_limits(&l, &LabelLimits::default()).is_ok());
    }
}
