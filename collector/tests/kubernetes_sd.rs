//! Kubernetes discovery against a stand-in API server (`e2e::kube`; no cluster installs
//! here), and against vmagent for its targets and labels: pods listed then watched, the Istio-style annotations driving relabelling,
//! pods added and removed taking effect within seconds, an API server outage keeping
//! the targets, and a watch told `410 Gone` listing again.

mod common;
use common::*;
use e2e::kube::{FakeKube, endpoint_slice, endpoints, ingress, node, pod, service};
use e2e::{TestTarget, wait_until};
use serde_json::json;

/// The `kubernetes-pods` job of Prometheus's example config, as Istio's docs use it.
fn config(api: &FakeKube, extra: &str) -> String {
    format!(
        r#"global: {{scrape_interval: 1s}}
scrape_configs:
  - job_name: kubernetes-pods
    kubernetes_sd_configs: [{{role: pod, api_server: 'http://{}'{extra}}}]
    relabel_configs:
      - {{source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_scrape], action: keep, regex: 'true'}}
      - {{action: labelmap, regex: __meta_kubernetes_pod_label_(.+)}}
      - {{source_labels: [__meta_kubernetes_namespace], target_label: namespace}}
      - {{source_labels: [__meta_kubernetes_pod_name], target_label: pod}}
"#,
        api.addr
    )
}

fn scraped_pod(ns: &str, name: &str, t: &TestTarget, app: &str) -> serde_json::Value {
    pod(ns, name, &[("http-metrics", t.addr.port())], json!({"app": app}), json!({"prometheus.io/scrape": "true"}))
}

#[tokio::test]
async fn pods_are_discovered_followed_and_kept_through_an_outage() {
    let (a, b, c) =
        (TestTarget::start("up_a 1\n").await, TestTarget::start("up_b 1\n").await, TestTarget::start("up_c 1\n").await);
    let api = FakeKube::start().await;
    api.put(scraped_pod("shop", "a-1", &a, "cart"));
    // Not annotated for scraping: discovered, then dropped by the keep rule.
    api.put(pod("shop", "quiet", &[("http", 1)], json!({"app": "quiet"}), json!({})));
    let d = collector(&config(&api, "")).await;
    let sel = [r#"{__name__=~"up_.*"}"#];
    wait_until(WAIT, || async { d.federate(&sel).await.contains(r#"up_a{app="cart",instance=""#) }).await;
    let t = scraped(&d, "kubernetes-pods").await;
    assert_eq!(t.len(), 1, "the unannotated pod is dropped: {t:?}");
    assert_eq!(t[0]["labels"]["namespace"], "shop");
    assert_eq!(t[0]["labels"]["pod"], "a-1");
    let found = &t[0]["discoveredLabels"];
    assert_eq!(found["__meta_kubernetes_pod_container_port_name"], "http-metrics");
    assert_eq!(found["__meta_kubernetes_pod_ready"], "true");
    assert_eq!(found["__meta_kubernetes_pod_annotationpresent_prometheus_io_scrape"], "true");

    // A pod added and one removed, through the watch.
    api.put(scraped_pod("shop", "b-1", &b, "cart"));
    wait_until(WAIT, || async { d.federate(&sel).await.contains("up_b{") }).await;
    api.delete("shop", "a-1");
    wait_until(WAIT, || async { !d.federate(&sel).await.contains("up_a{") }).await;
    assert!(api.requests().iter().any(|r| r.contains("watch=1") && r.contains("allowWatchBookmarks=true")));

    // The API server goes away: its targets stay, and are scraped on.
    api.set_down(true);
    let seen = api.requests().len();
    wait_until(WAIT, || async { api.requests().len() >= seen + 2 }).await;
    assert_eq!(targets(&d).await.len(), 1, "the last known target stays");
    assert_eq!(scraped(&d, "kubernetes-pods").await[0]["health"], "up");

    // Back, with its history gone: the watch is told 410 and lists again, finding the
    // pod added meanwhile.
    api.expire_history();
    api.put(scraped_pod("shop", "c-1", &c, "checkout"));
    api.set_down(false);
    wait_until(WAIT, || async { d.federate(&sel).await.contains(r#"up_c{app="checkout""#) }).await;
    assert!(d.federate(&sel).await.contains("up_b{"));
}

#[tokio::test]
async fn namespaces_and_selectors_narrow_what_is_listed_and_watched() {
    let (a, b) = (TestTarget::start("in_ns 1\n").await, TestTarget::start("other_ns 1\n").await);
    let api = FakeKube::start().await;
    api.put(scraped_pod("shop", "a-1", &a, "cart"));
    api.put(scraped_pod("ops", "b-1", &b, "cart"));
    let extra = ", namespaces: {names: [shop]}, selectors: [{role: pod, label: 'app=cart'}]";
    let d = collector(&config(&api, extra)).await;
    wait_until(WAIT, || async { d.federate(&["in_ns"]).await.contains("in_ns{") }).await;
    assert!(api.requests().iter().all(|r| r.starts_with("/api/v1/namespaces/shop/pods?")), "{:?}", api.requests());
    assert!(api.requests().iter().all(|r| r.contains("labelSelector=app%3Dcart")), "{:?}", api.requests());
    assert_eq!(targets(&d).await.len(), 1);
}

#[tokio::test]
async fn a_kubeconfig_file_names_the_api_server_and_credentials() {
    let t = TestTarget::start("up_k 1\n").await;
    let api = FakeKube::start().await;
    api.put(scraped_pod("shop", "k-1", &t, "cart"));
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    let text = format!(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\ncontexts: [{{name: c, context: {{cluster: k, user: u}}}}]\n\
         clusters: [{{name: k, cluster: {{server: 'http://{}'}}}}]\nusers: [{{name: u, user: {{token: t0ken}}}}]\n",
        api.addr
    );
    std::fs::write(&kubeconfig, text).unwrap();
    let cfg = config(&api, "").replace(
        &format!("api_server: 'http://{}'", api.addr),
        &format!("kubeconfig_file: '{}'", kubeconfig.display()),
    );
    let d = collector(&cfg).await;
    wait_until(WAIT, || async { d.federate(&["up_k"]).await.contains("up_k{") }).await;
}

#[tokio::test]
async fn attach_metadata_puts_each_pods_node_and_namespace_on_its_targets_and_follows_them() {
    let t = TestTarget::start("up_a 1\n").await;
    let api = FakeKube::start().await;
    api.put(scraped_pod("shop", "a-1", &t, "cart"));
    api.put(node("node-1", "127.0.0.1", json!({"topology.kubernetes.io/zone": "a"})));
    let namespace = |injection: &str| json!({"kind": "Namespace", "apiVersion": "v1", "metadata": {"name": "shop", "labels": {"istio-injection": injection}}});
    api.put(namespace("enabled"));
    let d = collector(&config(&api, ", attach_metadata: {node: true, namespace: true}")).await;
    let attached = |zone: &'static str, injection: &'static str| {
        let d = &d;
        move || async move {
            let t = targets(d).await;
            let l = t.first().map(|t| t["discoveredLabels"].clone()).unwrap_or_default();
            l["__meta_kubernetes_node_label_topology_kubernetes_io_zone"] == zone
                && l["__meta_kubernetes_node_name"] == "node-1"
                && l["__meta_kubernetes_namespace_label_istio_injection"] == injection
        }
    };
    wait_until(WAIT, attached("a", "enabled")).await;
    // The node and the namespace relabelled: the pod's target follows, the pod unchanged.
    api.put(node("node-1", "127.0.0.1", json!({"topology.kubernetes.io/zone": "b"})));
    api.put(namespace("disabled"));
    wait_until(WAIT, attached("b", "disabled")).await;
    let requests = api.requests();
    assert!(requests.iter().any(|r| r.starts_with("/api/v1/nodes?")), "nodes watched cluster-wide");
    assert!(requests.iter().any(|r| r.starts_with("/api/v1/namespaces?")), "namespaces watched");
}

/// What vmagent 1.79 (Debian's) does not have of Prometheus 2.42's labels, added to
/// Prometheus after vmagent followed it: the container's image (2.38) and ID (2.42), the
/// service port's number (2.38), a load balancer's IP (2.40), an endpoint slice
/// endpoint's serving and terminating conditions (2.39). The unit tests of `pod.rs`,
/// `service.rs` and `endpointslice.rs` check them as Prometheus 2.42's source sets them.
const NEWER_THAN_VMAGENT: [&str; 6] = [
    "__meta_kubernetes_pod_container_image",
    "__meta_kubernetes_pod_container_id",
    "__meta_kubernetes_service_port_number",
    "__meta_kubernetes_service_loadbalancer_ip",
    "__meta_kubernetes_endpointslice_endpoint_conditions_serving",
    "__meta_kubernetes_endpointslice_endpoint_conditions_terminating",
];

/// What vmagent 1.79 adds that Prometheus 2.42 does not have: an endpoint slice's own
/// labels (Prometheus has them from 2.47).
const NOT_IN_PROMETHEUS: [&str; 2] =
    ["__meta_kubernetes_endpointslice_label_", "__meta_kubernetes_endpointslice_labelpresent_"];

/// Each active target's address and `__meta_kubernetes_*` labels (what discovery makes;
/// the scrape job's defaults are written differently by vmagent, `1m0s` for `1m`). Of the
/// `endpoints` and `endpointslice` roles', their addresses' and the pods' labels: vmagent
/// adds the service's cluster IP and type to them and leaves the Endpoints' (or slice's)
/// own labels off the targets of a pod's other ports, where Prometheus 2.42 does neither
/// (the unit tests of `endpoints.rs` and `endpointslice.rs` check those).
fn discovered(targets: &[serde_json::Value]) -> Vec<String> {
    let of = |t: &serde_json::Value| {
        let labels = t["discoveredLabels"].as_object().cloned().unwrap_or_default();
        let joined = t["scrapePool"] == "endpoints" || t["scrapePool"] == "endpointslice";
        let of_group = ["__meta_kubernetes_endpointslice_name", "__meta_kubernetes_endpointslice_address_type"];
        let shared = |k: &String| {
            !joined
                || [
                    "__address__",
                    "__meta_kubernetes_endpoint_",
                    "__meta_kubernetes_endpointslice_",
                    "__meta_kubernetes_pod_",
                ]
                .iter()
                .any(|p| k.starts_with(p))
                    && !of_group.contains(&k.as_str())
        };
        let keep = |k: &String| {
            (k == "__address__" || k.starts_with("__meta_"))
                && !NEWER_THAN_VMAGENT.contains(&k.as_str())
                && !NOT_IN_PROMETHEUS.iter().any(|p| k.starts_with(p))
                && shared(k)
        };
        labels.into_iter().filter(|(k, _)| keep(k)).map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
    };
    let mut sets: Vec<String> = targets.iter().map(of).collect();
    sets.sort();
    sets
}

#[tokio::test]
async fn pod_service_and_endpoints_targets_and_labels_match_vmagent() {
    let api = FakeKube::start().await;
    let mut istio = pod(
        "bookinfo",
        "reviews-v1-7f9c",
        &[("http", 9080), ("http-envoy-prom", 15090)],
        json!({"app": "reviews", "app.kubernetes.io/version": "v1", "security.istio.io/tlsMode": "istio"}),
        json!({"prometheus.io/scrape": "true", "prometheus.io/port": "15020", "sidecar.istio.io/status": "{\"a\":1}"}),
    );
    istio["metadata"]["ownerReferences"] =
        json!([{"kind": "ReplicaSet", "name": "reviews-v1-7f9c", "controller": true}]);
    istio["spec"]["containers"].as_array_mut().unwrap().push(json!({"name": "logger", "image": "busybox"}));
    istio["status"]["containerStatuses"] = json!([{"name": "app", "containerID": "containerd://abc"}]);
    api.put(istio);
    let mut pending = pod("ops", "starting", &[("http", 8080)], json!({}), json!({}));
    pending["status"] = json!({"phase": "Pending"});
    api.put(pending);
    let mut unready = pod("ops", "unready", &[("metrics", 9100)], json!({"tier": "db"}), json!({}));
    unready["status"]["conditions"] = json!([{"type": "Ready", "status": "False"}]);
    api.put(unready);
    api.put(service("bookinfo", "reviews", &[("http", 9080), ("grpc", 9090)], json!({"app": "reviews"})));
    let mut external = service("ops", "db", &[("pg", 5432)], json!({}));
    external["spec"] = json!({"type": "ExternalName", "externalName": "db.example.org", "ports": [{"name": "pg", "port": 5432, "protocol": "TCP"}]});
    api.put(external);
    let mut balanced = service("ops", "edge", &[("https", 443)], json!({"tier": "edge"}));
    balanced["spec"]["type"] = json!("LoadBalancer");
    balanced["spec"]["loadBalancerIP"] = json!("203.0.113.7");
    balanced["metadata"]["annotations"] = json!({"prometheus.io/probe": "true"});
    api.put(balanced);
    // The reviews service's endpoints: the pod above ready on 9080 (its 15090 port
    // becomes a target of its own), an address without a known pod not ready.
    api.put(endpoints(
        "bookinfo",
        "reviews",
        &[("127.0.0.1", "reviews-v1-7f9c")],
        &[("10.0.0.9", "gone-1")],
        &[("http", 9080)],
    ));
    let cfg = format!(
        "global: {{scrape_interval: 1m}}\nscrape_configs:\n  - job_name: pods\n    kubernetes_sd_configs: [{{role: pod, api_server: 'http://{0}'}}]\n  - job_name: services\n    kubernetes_sd_configs: [{{role: service, api_server: 'http://{0}'}}]\n  - job_name: endpoints\n    kubernetes_sd_configs: [{{role: endpoints, api_server: 'http://{0}'}}]\n",
        api.addr
    );
    let Some(vm) = e2e::vmagent::Vmagent::start(&cfg).await else { return };
    let ours = collector(&cfg).await;
    let (mine, theirs) = both(&vm, &ours, 11).await;
    // Pods: two ports and a portless container of one, one port of another; services:
    // two ports of one, one each of an ExternalName and a LoadBalancer service;
    // endpoints: two addresses and the pod's other port.
    assert_eq!(mine.len(), 11, "{mine:?}");
    assert_eq!(mine, theirs, "the same targets and labels as vmagent");
    assert!(mine.iter().any(|t| t.contains("__meta_kubernetes_pod_label_security_istio_io_tlsMode")));
    assert!(mine.iter().any(|t| t.contains("__meta_kubernetes_service_type=\"LoadBalancer\"")));
    // Ours, unfiltered: the ready pod's target carries the Endpoints' and the service's
    // labels and the pod's.
    let unfiltered = targets(&ours).await;
    let pod_target = unfiltered
        .iter()
        .map(|t| &t["discoveredLabels"])
        .find(|l| l["__address__"] == "127.0.0.1:9080" && l["__meta_kubernetes_endpoints_name"] == "reviews");
    let l = pod_target.expect("the endpoints' pod target");
    assert_eq!(l["__meta_kubernetes_endpoints_label_app"], "reviews");
    assert_eq!(l["__meta_kubernetes_service_label_app"], "reviews");
    assert_eq!(l["__meta_kubernetes_pod_container_port_name"], "http");

    // Pods come and go: a second reviews pod, ready behind the service, the unready pod
    // deleted, the ExternalName service gone. (vmagent joins endpoints with the pods it
    // knows when the endpoints change, so the endpoints change once it has the pod.)
    let mut v2 =
        pod("bookinfo", "reviews-v2-1", &[("http", 9080)], json!({"app": "reviews", "version": "v2"}), json!({}));
    v2["status"]["podIP"] = json!("10.0.0.12");
    api.put(v2);
    api.delete("ops", "unready");
    api.delete_object("services", "ops", "db");
    wait_until(WAIT, || async {
        vm.targets().await.iter().any(|t| t["discoveredLabels"]["__meta_kubernetes_pod_name"] == "reviews-v2-1")
    })
    .await;
    let ready = [("127.0.0.1", "reviews-v1-7f9c"), ("10.0.0.12", "reviews-v2-1")];
    api.put(endpoints("bookinfo", "reviews", &ready, &[], &[("http", 9080)]));
    // Pods: three of the first, one of the second; services: three ports; endpoints: two
    // addresses and the first pod's other port.
    let (mine, theirs) = both(&vm, &ours, 4 + 3 + 3).await;
    assert_eq!(mine, theirs, "after the changes, the same as vmagent");
    assert!(mine.iter().any(|t| t.contains("__meta_kubernetes_pod_label_version=\"v2\"")), "{mine:?}");
    assert!(!mine.iter().any(|t| t.contains("unready") || t.contains("db.example.org")), "{mine:?}");
}

/// One job per role over `api`, each target scraped at a closed loopback port (ingress
/// hosts are names that must not be looked up) with its discovered address and any
/// ingress path as its instance, so that no two targets are one; discovered labels keep
/// the discovered address.
fn roles_config(api: &FakeKube, roles: &[&str]) -> String {
    let mut cfg = "global: {scrape_interval: 1m}\nscrape_configs:\n".to_string();
    for role in roles {
        cfg += &format!(
            r#"  - job_name: {role}
    kubernetes_sd_configs: [{{role: {role}, api_server: 'http://{}'}}]
    relabel_configs:
      - {{source_labels: [__address__, __meta_kubernetes_ingress_path], separator: '', target_label: instance}}
      - {{target_label: __address__, replacement: '127.0.0.1:1'}}
"#,
            api.addr
        );
    }
    cfg
}

/// vmagent's and our active targets as [`discovered`] writes them, once both have `n` and
/// agree (or `WAIT` has passed: the caller's comparison then shows the difference).
async fn both(vm: &e2e::vmagent::Vmagent, ours: &e2e::Daemon, n: usize) -> (Vec<String>, Vec<String>) {
    let start = std::time::Instant::now();
    loop {
        let (mine, theirs) = (discovered(&targets(ours).await), discovered(&vm.targets().await));
        if (mine.len() == n && mine == theirs) || start.elapsed() > WAIT {
            return (mine, theirs);
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn endpointslice_node_and_ingress_targets_and_labels_match_vmagent_as_pods_come_and_go() {
    let api = FakeKube::start().await;
    let mesh_pod = |name: &str| {
        let mut p =
            pod("bookinfo", name, &[("http", 9080), ("http-envoy-prom", 15090)], json!({"app": "ratings"}), json!({}));
        p["status"]["podIP"] = json!(format!("10.1.0.{}", name.len()));
        p
    };
    api.put(mesh_pod("ratings-1"));
    api.put(service("bookinfo", "ratings", &[("http", 9080)], json!({"app": "ratings"})));
    api.put(endpoint_slice(
        "bookinfo",
        "ratings-abc",
        "ratings",
        &[("10.1.0.9", "ratings-1", true), ("10.1.0.50", "gone", false)],
        &[("http", 9080)],
    ));
    api.put(node(
        "node-1",
        "127.0.0.1",
        json!({"kubernetes.io/hostname": "node-1", "topology.kubernetes.io/zone": "a"}),
    ));
    api.put(node("node-2", "127.0.0.2", json!({"kubernetes.io/os": "linux"})));
    api.put(ingress("shop", "web", &["shop.example.org", "api.example.org"], &["/", "/cart"], &["*.example.org"]));
    // Without TLS: `http`. (A TLS entry covering none of an ingress's hosts is left out:
    // vmagent 1.79 then calls every rule `https`, Prometheus 2.42 only those a TLS host
    // covers, as `ingress.rs`'s unit test checks.)
    api.put(ingress("shop", "plain", &["plain.example.net"], &["/"], &[]));
    let cfg = roles_config(&api, &["endpointslice", "node", "ingress"]);
    let Some(vm) = e2e::vmagent::Vmagent::start(&cfg).await else { return };
    let ours = collector(&cfg).await;
    // The slice: two addresses and the pod's other port; two nodes; two hosts by two paths.
    let (mine, theirs) = both(&vm, &ours, 3 + 2 + 5).await;
    assert_eq!(mine, theirs, "the same targets and labels as vmagent");
    assert!(
        mine.iter().any(|t| t.contains("__meta_kubernetes_endpointslice_endpoint_conditions_ready=\"false\"")),
        "{mine:?}"
    );
    assert!(mine.iter().any(|t| t.contains("__meta_kubernetes_node_address_InternalIP=\"127.0.0.2\"")), "{mine:?}");
    assert!(mine.iter().any(|t| t.contains("__meta_kubernetes_ingress_scheme=\"https\"")), "{mine:?}");
    assert!(mine.iter().any(|t| t.contains("__meta_kubernetes_ingress_scheme=\"http\"")), "{mine:?}");

    // Pods come and go: a second pod joins the slice, the first leaves it and is deleted;
    // a node goes; an ingress goes and the other loses a host. (vmagent joins a slice with
    // the pods it knows when the slice changes, so the new pod is given a moment first.)
    api.put(mesh_pod("ratings-22"));
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    api.put(endpoint_slice(
        "bookinfo",
        "ratings-abc",
        "ratings",
        &[("10.1.0.10", "ratings-22", true)],
        &[("http", 9080)],
    ));
    api.delete("bookinfo", "ratings-1");
    api.delete_object("nodes", "", "node-2");
    api.delete_object("ingresses", "shop", "plain");
    api.put(ingress("shop", "web", &["shop.example.org"], &["/"], &["*.example.org"]));
    let (mine, theirs) = both(&vm, &ours, 2 + 1 + 1).await;
    assert_eq!(mine, theirs, "after the changes, the same as vmagent");
    assert!(mine.iter().any(|t| t.contains("__meta_kubernetes_pod_name=\"ratings-22\"")), "{mine:?}");
    assert!(!mine.iter().any(|t| t.contains("\"ratings-1\"") || t.contains("node-2")), "{mine:?}");
}

/// Resident memory a collector gains discovering `pods` pods that its job drops.
async fn memory_for(pods: usize) -> (u64, usize) {
    let api = FakeKube::start().await;
    for i in 0..pods {
        let labels = json!({"app": format!("app-{}", i % 50), "pod-template-hash": format!("{i:x}"), "version": "v1"});
        let notes = json!({"sidecar.istio.io/status": "{\"initContainers\":[\"istio-init\"]}", "kubectl.kubernetes.io/default-container": "app"});
        api.put(pod("mesh", &format!("pod-{i}"), &[("http", 8080), ("http-envoy-prom", 15090)], labels, notes));
    }
    let d = collector(&config(&api, "")).await;
    // Prometheus's gauge, not /api/v1/targets: 20,000 dropped targets' labels as JSON
    // would cost more than discovery itself.
    let found = format!("prometheus_sd_discovered_targets{{config=\"kubernetes-pods\",name=\"scrape\"}} {}", 2 * pods);
    wait_until(WAIT, || async { d.get("/metrics").await.1.contains(&found) }).await;
    let pages = api.requests().iter().filter(|r| r.contains("limit=500")).count();
    (d.rss_bytes(), pages)
}

#[tokio::test]
async fn ten_thousand_pods_cost_a_bounded_memory_per_pod() {
    let (empty, _) = memory_for(0).await;
    let (full, pages) = memory_for(10_000).await;
    assert!(pages >= 20, "listed in pages of 500: {pages}");
    let per_pod = full.saturating_sub(empty) / 10_000;
    println!(
        "10,000 pods (two ports each, dropped by relabelling, kept for droppedTargets): {} MiB more, {per_pod} bytes a pod",
        (full - empty) >> 20
    );
    // 7.1 KB measured (debug build; 6.9 KB in release): the groups, held once and shared
    // by discovery, the merge and the job, and the dropped targets kept for
    // droppedTargets as where they were found, their labels built only when asked for
    // (15.4 KB when each kept its ~40 labels built; 33 KB when every stage held its own
    // copy). A pod's API object is ~1 KB of JSON here; a page of 500 at a time is read.
    assert!(per_pod < 11 << 10, "{per_pod} bytes a pod");
}
