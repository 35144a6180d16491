//! Grafana Alloy forwarding profiles to the collector. Alloy cannot be installed here
//! (no registry this machine reaches carries it), so its requests are built as its
//! `pyroscope.write` builds them (`internal/component/pyroscope/write/write.go`): one
//! Connect unary `Push` per append (`Content-Type: application/proto`, the body not
//! compressed, each raw profile a gzip'd pprof), the labels sorted, the reserved ones
//! dropped but `__name__` and `__delta__`, the component's `external_labels` added. The
//! label sets are what reaches it: from `pyroscope.ebpf` behind `discovery.relabel` on
//! Kubernetes (`service_name` as `namespace/container`, no `__meta_*`), and from an SDK
//! through `pyroscope.receive_http` (dotted `otel.*` names, a `__session_id__`).

use cardinal_profiles::proto::{LabelPair, PushRequest, RawProfileSeries, RawSample};
use cardinal_profiles::synthetic::single_sample;
use e2e::Daemon;
use prost::Message;
use std::collections::BTreeMap;
use std::io::Write;

const CONFIG: &str = r#"
global: {external_labels: {collector: c1}}
profile_rules:
  - record: pod_cpu_nanoseconds_total
    matchers: ['{__profile_type__="process_cpu:cpu:nanoseconds:cpu:nanoseconds", namespace="shop"}']
    group_by: [cluster, namespace, pod, service_name]
  - record: sdk_cpu_nanoseconds_total
    matchers: ['{__profile_type__="process_cpu:cpu:nanoseconds:cpu:nanoseconds", "otel.scope.name"=~".+"}']
    group_by: [service_name, otel.scope.name, process.runtime.name]
"#;

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

/// What `pyroscope.write`'s `Append` sends for `labels` and one CPU profile of `ns`
/// nanoseconds, with `external` labels.
fn alloy_push(labels: &[(&str, &str)], external: &[(&str, &str)], ns: i64) -> Vec<u8> {
    let mut kept: BTreeMap<&str, &str> =
        labels.iter().copied().filter(|(n, _)| !n.starts_with("__") || *n == "__name__" || *n == "__delta__").collect();
    kept.extend(external.iter().copied());
    let labels = kept.into_iter().map(|(n, v)| LabelPair { name: n.into(), value: v.into() }).collect();
    let raw_profile = gzip(&single_sample("cpu", ns).encode_to_vec()).into();
    PushRequest {
        series: vec![RawProfileSeries { labels, samples: vec![RawSample { raw_profile, id: String::new() }] }],
    }
    .encode_to_vec()
}

async fn push(d: &Daemon, body: Vec<u8>) {
    let r = reqwest::Client::new()
        .post(d.url("/push.v1.PusherService/Push"))
        .header("content-type", "application/proto")
        .header("connect-protocol-version", "1")
        .header("user-agent", "Alloy/v1.5.0 (linux; docker)")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

#[tokio::test]
async fn alloy_pushes_from_ebpf_and_from_sdks_record_as_expected() {
    let d = Daemon::start("collector", CONFIG, &[]).await;
    let external = [("cluster", "prod-eu")];
    for (pod, ns) in [("checkout-7f9c-1", 3_000_000_000), ("checkout-7f9c-2", 5_000_000_000)] {
        let ebpf = [
            ("__name__", "process_cpu"),
            ("__delta__", "false"),
            ("__container_id__", "3f4e"),
            ("service_name", "shop/checkout"),
            ("namespace", "shop"),
            ("pod", pod),
            ("container", "checkout"),
            ("node", "node-1"),
        ];
        push(&d, alloy_push(&ebpf, &external, ns)).await;
    }
    let sdk = [
        ("__name__", "process_cpu"),
        ("__session_id__", "9c1e"),
        ("service_name", "py-app"),
        ("otel.scope.name", "com.grafana.pyroscope/python"),
        ("process.runtime.name", "cpython"),
    ];
    push(&d, alloy_push(&sdk, &external, 7_000_000)).await;

    let pods = d.query("pod_cpu_nanoseconds_total").await;
    let by_pod: BTreeMap<&str, (&str, f64)> = pods
        .iter()
        .map(|s| {
            let m = &s["metric"];
            let v = s["value"][1].as_str().unwrap().parse().unwrap();
            (m["pod"].as_str().unwrap(), (m["cluster"].as_str().unwrap(), v))
        })
        .collect();
    assert_eq!(by_pod["checkout-7f9c-1"], ("prod-eu", 3e9), "{pods:?}");
    assert_eq!(by_pod["checkout-7f9c-2"], ("prod-eu", 5e9));
    assert_eq!(pods[0]["metric"]["service_name"], "shop/checkout");

    let sdk = d.query("sdk_cpu_nanoseconds_total").await;
    assert_eq!(sdk.len(), 1, "{sdk:?}");
    let m = &sdk[0]["metric"];
    assert_eq!(
        (m["otel_scope_name"].as_str(), m["process_runtime_name"].as_str()),
        (Some("com.grafana.pyroscope/python"), Some("cpython"))
    );
    assert_eq!(sdk[0]["value"][1], "7000000");
}
