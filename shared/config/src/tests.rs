use super::*;

const FULL: &str = r#"
global:
  scrape_interval: 15s
  evaluation_interval: 10s
  external_labels: {collector: c1, region: eu}
rule_files: [rules/*.yml]
alerting:
  alertmanagers:
    - static_configs: [{targets: ['127.0.0.1:9093']}]
scrape_configs:
  - job_name: envoy
    scrape_interval: 5s
    honor_labels: true
    params:
      'match[]': ['{__name__=~"federate:.+"}']
    static_configs:
      - targets: ['127.0.0.1:9100']
        labels: {team: core, port: 8080}
    file_sd_configs: [{files: ['targets/*.json'], refresh_interval: 1m}]
    dns_sd_configs: [{names: [envoy], type: A, port: 15090}]
    http_sd_configs: [{url: 'https://sd.example:8443/targets', tls_config: {ca_file: sd-ca.pem}}]
    metric_relabel_configs:
      - {source_labels: [__name__], regex: 'federate:(.+)', target_label: __name__}
    sample_limit: 1000
    body_size_limit: 10MB
    basic_auth: {username: u, password_file: secret}
  - job_name: other
"#;

#[test]
fn parses_a_full_prometheus_config() {
    let c = Config::parse(FULL, "c.yml").unwrap();
    assert_eq!(c.global.external_labels["region"], "eu");
    let envoy = &c.scrape_configs[0];
    assert_eq!(envoy.interval(), Duration::from_secs(5));
    assert_eq!(envoy.timeout(), Duration::from_secs(5), "timeout defaults to the interval when that is shorter");
    assert!(envoy.honor_labels && envoy.honor_timestamps);
    assert_eq!(envoy.params["match[]"], vec!["{__name__=~\"federate:.+\"}".to_string()]);
    assert_eq!(envoy.static_configs[0].labels["port"], "8080");
    assert_eq!(envoy.http_sd_configs[0].refresh_interval.0, Duration::from_secs(60), "Prometheus's default");
    assert_eq!(envoy.body_size_limit.0, 10 << 20);
    assert_eq!(envoy.metric_relabel_configs.len(), 1);
    let other = &c.scrape_configs[1];
    assert_eq!(other.interval(), Duration::from_secs(15));
    assert_eq!(other.timeout(), Duration::from_secs(10));
    assert_eq!(other.metrics_path, "/metrics");
    assert_eq!(c.alerting.alertmanagers[0].api_version, "v2");
}

#[test]
fn unknown_field_names_file_line_and_column() {
    let e = Config::parse(
        "global:\n  scrape_interval: 15s\nscrape_configs:\n  - job_name: a\n    scrape_intervall: 5s\n",
        "c.yml",
    )
    .unwrap_err();
    assert!(e.0.starts_with("c.yml:5:5: "), "{e}");
    assert!(e.0.contains("unknown field `scrape_intervall`"), "{e}");
}

#[test]
fn bad_duration_names_the_line() {
    let e = Config::parse("global:\n  scrape_interval: 1.5h\n", "c.yml").unwrap_err();
    assert!(e.0.starts_with("c.yml:2:"), "{e}");
    assert!(e.0.contains("not a valid duration string"), "{e}");
}

#[test]
fn relabel_errors_name_the_line() {
    let e = Config::parse(
        "scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - action: hashmod\n        target_label: x\n",
        "c.yml",
    )
    .unwrap_err();
    assert!(e.0.starts_with("c.yml:4:"), "{e}");
    assert!(e.0.contains("non-zero modulus"), "{e}");
}

#[test]
fn cross_field_errors() {
    let cases = [
        ("scrape_configs: [{job_name: a}, {job_name: a}]", "found multiple scrape configs with job name \"a\""),
        (
            "scrape_configs: [{job_name: a, scrape_interval: 5s, scrape_timeout: 10s}]",
            "scrape timeout greater than scrape interval",
        ),
        ("global: {scrape_interval: 5s, scrape_timeout: 10s}", "global scrape timeout greater than scrape interval"),
        ("scrape_configs: [{job_name: a, dns_sd_configs: [{names: [x]}]}]", "\"SRV\" is not supported"),
        ("scrape_configs: [{job_name: a, dns_sd_configs: [{names: [x], type: A}]}]", "a port is required"),
        ("scrape_configs: [{job_name: a, bearer_token: x, basic_auth: {username: u}}]", "at most one of basic_auth"),
        ("scrape_configs: [{job_name: a, scheme: ftp}]", "invalid scheme"),
        ("global: {external_labels: {1x: y}}", "is not a valid label name"),
        ("scrape_configs: [{job_name: a, http_sd_configs: [{url: ''}]}]", "URL is missing"),
        (
            "scrape_configs: [{job_name: a, http_sd_configs: [{url: 'ftp://x/sd'}]}]",
            "URL scheme must be 'http' or 'https'",
        ),
        ("scrape_configs: [{job_name: a, http_sd_configs: [{url: 'http://'}]}]", "host is missing in URL"),
        (
            "scrape_configs: [{job_name: a, http_sd_configs: [{url: 'http://x', refresh_intervall: 1m}]}]",
            "unknown field",
        ),
        (
            "alerting: {alertmanagers: [{http_sd_configs: [{url: 'http://x', bearer_token: t, basic_auth: {username: u}}]}]}",
            "at most one of basic_auth",
        ),
        ("alerting: {alertmanagers: [{dns_sd_configs: [{names: [x]}]}]}", "\"SRV\" is not supported"),
        (
            "scrape_configs: [{job_name: a, kubernetes_sd_configs: [{api_server: 'http://k'}]}]",
            "role missing (one of: pod,",
        ),
        (
            "scrape_configs: [{job_name: a, kubernetes_sd_configs: [{role: pods}]}]",
            "unknown Kubernetes SD role \"pods\"",
        ),
        (
            "scrape_configs: [{job_name: a, kubernetes_sd_configs: [{role: pod, api_server: 'http://k', kubeconfig_file: k}]}]",
            "cannot use 'kubeconfig_file' and 'api_server' simultaneously",
        ),
        (
            "scrape_configs: [{job_name: a, kubernetes_sd_configs: [{role: pod, bearer_token: t}]}]",
            "please provide the 'api_server' URL explicitly",
        ),
        (
            "scrape_configs: [{job_name: a, kubernetes_sd_configs: [{role: pod, api_server: 'http://k', namespaces: {own_namespace: true}}]}]",
            "cannot use 'api_server' and 'namespaces.own_namespace' simultaneously",
        ),
        (
            "scrape_configs: [{job_name: a, kubernetes_sd_configs: [{role: pod, selectors: [{role: node, label: a=b}]}]}]",
            "pod role supports only pod selectors",
        ),
        (
            "scrape_configs: [{job_name: a, kubernetes_sd_configs: [{role: pod, selectors: [{role: pod}, {role: pod}]}]}]",
            "duplicated selector role: pod",
        ),
        (
            "scrape_configs: [{job_name: a, kubernetes_sd_configs: [{role: node, selectors: [{role: pod}]}]}]",
            "node role supports only node selectors",
        ),
        (
            "scrape_configs: [{job_name: a, kubernetes_sd_configs: [{role: ingress, attach_metadata: {node: true, nodes: true}}]}]",
            "unknown field",
        ),
    ];
    for (yaml, want) in cases {
        let e = Config::parse(yaml, "c.yml").unwrap_err();
        assert!(e.0.contains(want), "{yaml}: got {e}");
    }
}

#[test]
fn load_resolves_relative_paths() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.yml");
    std::fs::write(&path, FULL).unwrap();
    let c = Config::load(&path).unwrap();
    assert_eq!(c.rule_files[0], dir.path().join("rules/*.yml").display().to_string());
    assert_eq!(
        c.scrape_configs[0].file_sd_configs[0].files[0],
        dir.path().join("targets/*.json").display().to_string()
    );
    let sd_ca = c.scrape_configs[0].http_sd_configs[0].http.tls_config.ca_file.as_deref();
    assert_eq!(sd_ca, Some(dir.path().join("sd-ca.pem").display().to_string().as_str()));
    let pw = c.scrape_configs[0].http.basic_auth.as_ref().unwrap().password_file.as_deref().unwrap();
    assert_eq!(pw, dir.path().join("secret").display().to_string());
}

#[test]
fn global_timeout_defaults_to_a_short_interval() {
    let c = Config::parse("global: {scrape_interval: 1s}\nscrape_configs: [{job_name: a}]", "c.yml").unwrap();
    assert_eq!(c.global.scrape_timeout(), Duration::from_secs(1));
    assert_eq!(c.scrape_configs[0].timeout(), Duration::from_secs(1));
}

#[test]
fn empty_file_is_a_valid_config() {
    let c = Config::parse("", "c.yml").unwrap();
    assert!(c.scrape_configs.is_empty());
    assert_eq!(c.global.scrape_interval.0, Duration::from_secs(60));
}

#[test]
fn rollup_rules_fill_their_defaults_from_global() {
    let cfg = Config::parse(
        "global: {evaluation_interval: 30s, scrape_timeout: 5s, scrape_interval: 15s}\n\
         rollup_rules:\n\
         - record: federate:istio_requests_total\n\
         \x20 match: 'istio_requests_total{reporter=\"source\"}'\n\
         \x20 without: [pod_name, instance]\n\
         \x20 output: total\n\
         - record: federate:cx_active\n\
         \x20 match: envoy_cluster_upstream_cx_active\n\
         \x20 by: [cluster_name]\n\
         \x20 output: sum\n\
         \x20 interval: 1m\n\
         \x20 labels: {tier: rollup}\n",
        "c.yml",
    )
    .unwrap();
    let [total, sum] = &cfg.rollups[..] else { panic!("two rules: {:?}", cfg.rollups) };
    assert_eq!(total.output, RollupOutput::Total);
    assert_eq!(total.interval, Duration::from_secs(30));
    assert_eq!(total.flush_delay, Duration::from_secs(5));
    assert_eq!(total.staleness_interval, Duration::from_secs(3600));
    assert_eq!(total.grouping, Grouping::Without(vec!["pod_name".into(), "instance".into()]));
    assert_eq!(total.selector.matchers.len(), 2);
    assert_eq!(sum.grouping, Grouping::By(vec!["cluster_name".into()]));
    assert_eq!(sum.interval, Duration::from_secs(60));
    assert_eq!(sum.labels.get("tier").map(String::as_str), Some("rollup"));
}

#[test]
fn rollup_rule_errors_name_the_line() {
    let rule = |body: &str| format!("rollup_rules:\n- record: r\n  output: total\n{body}");
    let cases = [
        (rule("  match: 'x{'\n"), "c.yml:4:"),
        (rule("  match: x\n  output2: sum\n"), "c.yml:5:3: unknown field `output2`"),
        (rule("  match: x\n  without: ['1a']\n"), "c.yml:5:"),
        (
            rule("  match: '{a=~\".*\"}'\n"),
            "c.yml:4:10: parse error: vector selector must contain at least one non-empty matcher",
        ),
        ("rollup_rules:\n- {record: r, match: x, output: median}\n".to_string(), "c.yml:2:"),
        (rule("  match: x\n  by: [a]\n  without: [b]\n"), "mutually exclusive"),
        (rule("  match: x\n- {record: r, match: y, output: sum}\n"), "already records \"r\""),
    ];
    for (text, want) in cases {
        let err = Config::parse(&text, "c.yml").unwrap_err().0;
        assert!(err.contains(want), "{text}\n→ {err}\nwanted {want}");
    }
}

#[test]
fn profile_rules_keep_the_filters_equalities_as_labels() {
    let text = r#"
profile_rules:
  - record: cpu_usage_compress_workers
    matchers: ['{__profile_type__="process_cpu:cpu:nanoseconds:cpu:nanoseconds", service_name="worker"}', '{job="batch_compress", region=~"eu|us"}']
    group_by: [region]
    labels: {team: infra}
"#;
    let rules = Config::parse(text, "c.yml").unwrap().profiles;
    let r = &rules[0];
    assert_eq!(r.profile_type, "process_cpu:cpu:nanoseconds:cpu:nanoseconds");
    assert_eq!(r.matchers.len(), 4, "all selectors' matchers apply");
    let fixed: Vec<(&str, &str)> = r.fixed_labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(fixed, [("job", "batch_compress"), ("service_name", "worker"), ("team", "infra")]);
    assert_eq!(r.group_by, ["region"]);
}

/// SDK labels are dotted (`otel.scope.name`); profiles carry them as Prometheus names, and
/// a rule may write either.
#[test]
fn profile_rules_may_name_sdk_labels_as_sent() {
    let text = r#"
profile_rules:
  - record: node_cpu
    matchers: ['{__profile_type__="wall:wall:nanoseconds:wall:nanoseconds", "process.runtime.name"="nodejs"}']
    group_by: [otel.scope.version, region]
"#;
    let r = &Config::parse(text, "c.yml").unwrap().profiles[0];
    assert!(r.matchers.iter().any(|m| m.name == "process_runtime_name" && m.matches("nodejs")));
    assert_eq!(r.group_by, ["otel_scope_version", "region"]);
    assert_eq!(r.fixed_labels.get("process_runtime_name").map(String::as_str), Some("nodejs"));
}

#[test]
fn profile_rule_errors_are_clear() {
    let rule = |matchers: &str, rest: &str| format!("profile_rules:\n- record: r\n  matchers: [{matchers}]\n{rest}");
    let cpu = r#"'{__profile_type__="process_cpu:cpu:nanoseconds:cpu:nanoseconds"}'"#;
    let cases = [
        (rule(r#"'{service_name="a"}'"#, ""), "need an equality on __profile_type__"),
        (rule(r#"'{__profile_type__=~"process_cpu.*"}'"#, ""), "need an equality on __profile_type__"),
        (rule(r#"'{__profile_type__="cpu"}'"#, ""), "is not of the form name:type:unit:period_type:period_unit"),
        (
            rule(r#"'{__profile_type__="memory:inuse_space:bytes:space:bytes"}'"#, ""),
            "measures a point in time (inuse_space); summing it over profiles gives no meaningful value",
        ),
        (rule(r#"'{__profile_type__="goroutines:goroutine:count:goroutine:count"}'"#, ""), "point in time"),
        (rule("'{a='", ""), "c.yml:3:"),
        (rule(cpu, "  group_by: ['1a']\n"), "c.yml:4:"),
        (rule(cpu, "  group_by: [__name__]\n"), "reserved"),
        (rule(cpu, "  function: main\n"), "c.yml:4:3: unknown field `function`"),
        (rule(cpu, "  function_name: ''\n"), "must not be empty"),
        (format!("{}- {{record: r, matchers: [{cpu}]}}\n", rule(cpu, "")), "already records \"r\""),
    ];
    for (text, want) in cases {
        let err = Config::parse(&text, "c.yml").unwrap_err().0;
        assert!(err.contains(want), "{text}\n→ {err}\nwanted {want}");
    }
}

#[test]
fn ha_tracker_takes_mimirs_defaults_and_refuses_what_cannot_work() {
    let cfg = Config::parse("ha_tracker: {}\n", "t.yml").unwrap();
    let ha = cfg.ha_tracker.expect("set");
    assert_eq!((ha.cluster_label.as_str(), ha.replica_label.as_str()), ("cluster", "__replica__"));
    assert_eq!(ha.failover_timeout.0, Duration::from_secs(30));
    assert!(ha.counter_names.re.is_match("istio_requests_total") && !ha.counter_names.re.is_match("x:rate1m"));
    assert!(Config::parse("", "t.yml").unwrap().ha_tracker.is_none(), "off unless set");
    for (text, want) in [
        ("ha_tracker: {replica_label: cluster}\n", "must differ"),
        ("ha_tracker: {cluster_label: 'a-b'}\n", "not a valid label name"),
        ("ha_tracker: {failover_timeout: 0s}\n", "greater than 0"),
        ("ha_tracker: {counter_names: '('}\n", "invalid regex"),
        ("ha_tracker: {replicas: 2}\n", "t.yml:1"),
    ] {
        let err = Config::parse(text, "t.yml").unwrap_err().to_string();
        assert!(err.contains(want), "{text}: {err}");
    }
}

#[test]
fn the_shipped_ha_master_config_loads() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/master-ha.yml");
    let cfg = Config::load(&path).unwrap();
    assert_eq!(cfg.ha_tracker.expect("set").replica_label, "replica");
}
