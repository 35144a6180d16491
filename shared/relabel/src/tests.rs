use super::*;

fn cfgs(yaml: &str) -> Vec<RelabelConfig> {
    serde_saphyr::from_str(yaml).unwrap()
}

fn err(yaml: &str) -> String {
    serde_saphyr::from_str::<Vec<RelabelConfig>>(yaml).expect_err("config should be rejected").to_string()
}

fn ls(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

#[test]
fn replace_defaults_and_expansion() {
    let c = cfgs(
        "- {source_labels: [a, b], target_label: c}\n- {source_labels: [a], regex: 'f(o+)', target_label: '${1}_x', replacement: 'v${1}x'}\n",
    );
    let out = process(&ls(&[("a", "foo"), ("b", "bar")]), &c).unwrap();
    assert_eq!(out, ls(&[("a", "foo"), ("b", "bar"), ("c", "foo;bar"), ("oo_x", "voox")]));
}

#[test]
fn replace_with_empty_result_deletes_target() {
    let c = cfgs("- {source_labels: [missing], target_label: a}\n");
    assert_eq!(process(&ls(&[("a", "1")]), &c).unwrap(), Labels::empty());
}

#[test]
fn replace_no_match_leaves_labels() {
    let c = cfgs("- {source_labels: [a], regex: 'x', target_label: b, replacement: y}\n");
    assert_eq!(process(&ls(&[("a", "xx")]), &c).unwrap(), ls(&[("a", "xx")]));
}

#[test]
fn regex_is_anchored() {
    let c = cfgs("- {source_labels: [a], regex: 'oo', action: keep}\n");
    assert!(process(&ls(&[("a", "foo")]), &c).is_none());
    let c = cfgs("- {source_labels: [a], regex: '.*oo', action: keep}\n");
    assert!(process(&ls(&[("a", "foo")]), &c).is_some());
}

#[test]
fn keep_and_drop() {
    let keep = cfgs("- {source_labels: [job], regex: 'api|web', action: keep}\n");
    let drop = cfgs("- {source_labels: [job], regex: 'api', action: DROP}\n");
    assert!(process(&ls(&[("job", "web")]), &keep).is_some());
    assert!(process(&ls(&[("job", "db")]), &keep).is_none());
    assert!(process(&ls(&[("job", "api")]), &drop).is_none());
    assert!(process(&ls(&[("job", "web")]), &drop).is_some());
}

#[test]
fn keepequal_and_dropequal() {
    let keep = cfgs("- {source_labels: [a], target_label: b, action: keepequal}\n");
    let drop = cfgs("- {source_labels: [a], target_label: b, action: dropequal}\n");
    let same = ls(&[("a", "1"), ("b", "1")]);
    let diff = ls(&[("a", "1"), ("b", "2")]);
    assert!(process(&same, &keep).is_some());
    assert!(process(&diff, &keep).is_none());
    assert!(process(&same, &drop).is_none());
    assert!(process(&diff, &drop).is_some());
}

#[test]
fn hashmod_matches_prometheus() {
    // Prometheus's own relabel_test.go expects 976 for "baz" modulo 1000.
    let c = cfgs("- {source_labels: [c], target_label: d, modulus: 1000, action: hashmod}\n");
    let out = process(&ls(&[("c", "baz")]), &c).unwrap();
    assert_eq!(out.get("d"), Some("976"));
}

#[test]
fn labelmap_labeldrop_labelkeep() {
    let c = cfgs("- {regex: '__meta_(.+)', action: labelmap}\n- {regex: '__meta_.*', action: labeldrop}\n");
    let out = process(&ls(&[("__meta_pod", "p1"), ("job", "x")]), &c).unwrap();
    assert_eq!(out, ls(&[("job", "x"), ("pod", "p1")]));
    let c = cfgs("- {regex: 'job|__name__', action: labelkeep}\n");
    let out = process(&ls(&[("__name__", "up"), ("job", "x"), ("pod", "p")]), &c).unwrap();
    assert_eq!(out, ls(&[("__name__", "up"), ("job", "x")]));
}

#[test]
fn lowercase_uppercase() {
    let c = cfgs(
        "- {source_labels: [a], target_label: lo, action: lowercase}\n- {source_labels: [a], target_label: up, action: uppercase}\n",
    );
    let out = process(&ls(&[("a", "MiXed")]), &c).unwrap();
    assert_eq!(out.get("lo"), Some("mixed"));
    assert_eq!(out.get("up"), Some("MIXED"));
}

#[test]
fn federate_prefix_strip() {
    let c = cfgs("- {source_labels: [__name__], regex: 'federate:(.+)', target_label: __name__}\n");
    let out = process(&ls(&[("__name__", "federate:istio:rate1m"), ("a", "1")]), &c).unwrap();
    assert_eq!(out.metric_name(), "istio:rate1m");
    let out = process(&ls(&[("__name__", "up")]), &c).unwrap();
    assert_eq!(out.metric_name(), "up");
}

#[test]
fn validation_messages_match_prometheus() {
    assert!(err("- {action: hashmod, target_label: a}\n").contains("requires non-zero modulus"));
    assert!(err("- {action: replace}\n").contains("requires 'target_label' value"));
    assert!(err("- {action: lowercase, target_label: a, replacement: x}\n").contains("'replacement' can not be set"));
    assert!(err("- {action: labeldrop, regex: a, target_label: b}\n").contains("requires only 'regex'"));
    assert!(err("- {action: keepequal, target_label: b, regex: x}\n").contains("requires only 'source_labels'"));
    assert!(err("- {action: explode}\n").contains("unknown relabel action"));
    assert!(err("- {regex: '(', target_label: a}\n").contains("invalid regex"));
    assert!(err("- {target_label: '1bad'}\n").contains("is invalid 'target_label'"));
    assert!(err("- {target_label: a, bogus: 1}\n").contains("unknown field"));
}
