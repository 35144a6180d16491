//! `deploy/kubernetes/`: valid Kubernetes objects (kubernetes-validate from PyPI, strict,
//! against Kubernetes 1.37's schemas), configs that pass `check config` with the shipped
//! rules the image holds, a ClusterRole granting what discovery reads, and the
//! collector's config (`config/istio-kubernetes.yml`, the ConfigMap's) finding and
//! scraping an Istio-injected pod, a sidecar publishing `*-envoy-prom` and istiod
//! (through its service's endpoints) from a stand-in API server, and a 100-pod mesh found
//! there cut by the shipped rules as the reference scenario is.

use e2e::istio::{EXTRA_GAUGES, Mesh, SERIES_PER_POD};
use e2e::kube::{FakeKube, endpoints, pod, service};
use e2e::shipped::repo_file;
use e2e::{Daemon, TestTarget, Workload, wait_until};
use serde_json::{Value, json};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const FILES: [&str; 3] = ["namespace.yaml", "collector.yaml", "master.yaml"];

fn dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/kubernetes")
}

/// Every object of the manifests.
fn objects() -> Vec<Value> {
    let docs = FILES.iter().flat_map(|f| {
        let text = repo_file(&format!("deploy/kubernetes/{f}"));
        text.split("\n---\n")
            .map(|d| serde_saphyr::from_str::<Value>(d).unwrap_or_else(|e| panic!("{f}: {e}")))
            .collect::<Vec<_>>()
    });
    docs.collect()
}

fn object<'a>(all: &'a [Value], kind: &str, name: &str) -> &'a Value {
    all.iter().find(|o| o["kind"] == kind && o["metadata"]["name"] == name).unwrap_or_else(|| panic!("{kind} {name}"))
}

/// A daemon's config from its ConfigMap, the image's `/etc/cardinal` (this repository's
/// `config/`) where the repository has it.
fn config(all: &[Value], role: &str) -> String {
    let text = object(all, "ConfigMap", &format!("cardinal-{role}"))["data"][format!("{role}.yml")]
        .as_str()
        .unwrap()
        .to_string();
    text.replace("/etc/cardinal/", &format!("{}/../config/", env!("CARGO_MANIFEST_DIR")))
}

#[test]
fn the_manifests_are_valid_kubernetes_objects() {
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let Some(site) = e2e::sdk::python_package(cache, "kubernetes-validate==1.37.0") else { return };
    let out = Command::new("python3")
        .env("PYTHONPATH", site)
        .args(["-m", "kubernetes_validate", "--strict", "--kubernetes-version", "1.37.0"])
        .args(FILES.iter().map(|f| dir().join(f)))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert_eq!(text.matches(" passed for resource ").count(), objects().len(), "every object checked: {text}");
}

#[test]
fn the_daemons_configs_pass_check_config_with_the_shipped_rules() {
    let all = objects();
    for (role, want) in
        [("collector", "4 scrape configs, 6 rule groups, 1 rollup rules"), ("master", "1 scrape configs")]
    {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), config(&all, role)).unwrap();
        let out = Command::new(e2e::bin_path(role)).args(["check", "config"]).arg(file.path()).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success() && text.contains(want), "{role}: {text}");
    }
    // The daemons run the config the ConfigMap mounts.
    for (kind, name, mount) in
        [("Deployment", "cardinal-collector", "collector.yml"), ("StatefulSet", "cardinal-master", "master.yml")]
    {
        let spec = &object(&all, kind, name)["spec"]["template"]["spec"];
        let args = spec["containers"][0]["args"].to_string();
        assert!(args.contains(&format!("--config.file=/etc/cardinal/k8s/{mount}")), "{name}: {args}");
        assert_eq!(spec["volumes"][0]["configMap"]["name"], name);
    }
    assert!(
        object(&all, "StatefulSet", "cardinal-master")["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]
            .is_object()
    );
}

#[test]
fn the_collector_may_list_and_watch_what_discovery_reads() {
    let all = objects();
    let rules = object(&all, "ClusterRole", "cardinal-collector")["rules"].as_array().unwrap().clone();
    for resource in ["pods", "services", "endpoints", "nodes", "namespaces", "endpointslices", "ingresses"] {
        let grant = rules.iter().find(|r| r["resources"].as_array().unwrap().iter().any(|x| x == resource));
        let verbs = grant.unwrap_or_else(|| panic!("{resource}"))["verbs"].to_string();
        assert!(["get", "list", "watch"].iter().all(|v| verbs.contains(v)), "{resource}: {verbs}");
    }
    let binding = object(&all, "ClusterRoleBinding", "cardinal-collector");
    assert_eq!(
        binding["subjects"][0]["name"],
        object(&all, "Deployment", "cardinal-collector")["spec"]["template"]["spec"]["serviceAccountName"]
    );
}

/// The collector's config, its API server the stand-in (in a cluster the service account
/// reaches the real one).
fn collector_config(api: &FakeKube) -> String {
    let server = format!("\n        api_server: 'http://{}'", api.addr);
    config(&objects(), "collector")
        .replace("- role: pod", &format!("- role: pod{server}"))
        .replace("- role: endpoints", &format!("- role: endpoints{server}"))
}

#[test]
fn the_config_map_holds_config_istio_kubernetes_yml() {
    let all = objects();
    let held = object(&all, "ConfigMap", "cardinal-collector")["data"]["collector.yml"].as_str().unwrap().to_string();
    assert_eq!(held, repo_file("config/istio-kubernetes.yml"), "the ConfigMap and config/istio-kubernetes.yml differ");
}

/// The reference mesh at a tenth of its scale, found through the API server: every pod
/// an Istio-injected one, half with merged metrics (the `prometheus.io/*` annotations,
/// the `kubernetes-pods` job), half publishing Envoy's port alone (`envoy-stats`), each
/// its own sidecar on 127.0.0.1; scraped every 2 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_istio_jobs_find_a_mesh_through_the_api_server_and_the_shipped_rules_cut_it() {
    let mesh = Mesh { pods: 100, workloads: 10 };
    let workload = Workload::start(mesh, "127.0.0.1:0").await.unwrap();
    let sidecars = workload.listen_per_pod().await.unwrap();
    let api = FakeKube::start().await;
    for (i, port) in sidecars.iter().enumerate() {
        let app = format!("workload-{}", mesh.workload_of(i));
        let labels = json!({"app": app, "pod-template-hash": "7f9c", "security.istio.io/tlsMode": "istio"});
        let merged = json!({"prometheus.io/scrape": "true", "prometheus.io/port": port.to_string(), "prometheus.io/path": "/stats/prometheus"});
        let (ports, notes) = match i % 2 {
            0 => (vec![("http", 9080)], merged),
            _ => (vec![("http", 9080), ("http-envoy-prom", *port)], json!({})),
        };
        api.put(pod("mesh", &format!("{app}-{i}"), &ports, labels, notes));
    }
    let cfg = collector_config(&api)
        .replace("scrape_interval: 15s", "scrape_interval: 2s")
        .replace("evaluation_interval: 15s", "evaluation_interval: 2s")
        .replace("interval: 15s", "interval: 2s");
    let d = Daemon::start("collector", &cfg, &[]).await;
    // Every series of the merged pods, the `istio_*` ones of Envoy's (its job keeps only those).
    let scraped = mesh.pods / 2 * SERIES_PER_POD + mesh.pods / 2 * (SERIES_PER_POD - EXTRA_GAUGES);
    let wait = Duration::from_secs(90);
    let head_series = || async {
        let (_, body) = d.get("/api/v1/status/tsdb").await;
        serde_json::from_str::<Value>(&body).unwrap()["data"]["headStats"]["numSeries"].as_u64().unwrap() as usize
    };
    wait_until(wait, || async { head_series().await >= scraped }).await;
    let rules = ["federate:istio_requests_total:rate1m", "federate:istio_request_duration_milliseconds:p99"];
    let all_rules_ran = || async {
        let body = d.federate(&[r#"{__name__=~"federate:.+"}"#]).await;
        rules.iter().all(|r| body.contains(&format!("{r}{{"))) && body.contains("federate:istio_requests_total{")
    };
    wait_until(wait, all_rules_ran).await;
    let federated = d.federate(&[r#"{__name__=~"federate:.+"}"#]).await.lines().filter(|l| !l.starts_with('#')).count();
    let collected = head_series().await;
    let cut = 1.0 - federated as f64 / collected as f64;
    println!(
        "{collected} series collected from {} discovered sidecars → {federated} federated (−{:.1}%)",
        mesh.pods,
        cut * 100.0
    );
    // 1000 pods over 30 workloads give −97%, the reference's figure; 100 over 10 give less
    // (as in e2e/tests/reference.rs).
    assert!(cut > 0.85, "collected {collected} → federated {federated}");
    let (_, targets) = d.get("/api/v1/targets").await;
    for job in ["kubernetes-pods", "envoy-stats"] {
        let up = targets.matches(&format!(r#""scrapePool":"{job}""#)).count();
        assert_eq!(up, mesh.pods / 2, "{job}: half the pods each");
    }
}

/// An Istio metric line, as a sidecar serves it.
const ISTIO: &str = "istio_requests_total{reporter=\"source\",source_workload=\"reviews\",destination_workload=\"ratings\",response_code=\"200\"} 42\n";

#[tokio::test]
async fn the_collector_config_scrapes_istio_pods_through_the_api_server() {
    let (merged, envoy, istiod) =
        (TestTarget::start(ISTIO).await, TestTarget::start(ISTIO).await, TestTarget::start("pilot_xds 3\n").await);
    let api = FakeKube::start().await;
    let annotations = json!({"prometheus.io/scrape": "true", "prometheus.io/port": merged.addr.port().to_string(), "prometheus.io/path": "/stats/prometheus"});
    api.put(pod(
        "bookinfo",
        "reviews-v1-1",
        &[("http", 9080)],
        json!({"app": "reviews", "pod-template-hash": "7f9c"}),
        annotations,
    ));
    api.put(pod(
        "legacy",
        "ratings-1",
        &[("http-envoy-prom", envoy.addr.port())],
        json!({"app": "ratings"}),
        json!({}),
    ));
    api.put(pod(
        "istio-system",
        "istiod-1",
        &[("http-monitoring", istiod.addr.port())],
        json!({"app": "istiod"}),
        json!({}),
    ));
    let port = [("http-monitoring", istiod.addr.port())];
    api.put(service("istio-system", "istiod", &port, json!({"app": "istiod"})));
    api.put(endpoints("istio-system", "istiod", &[("127.0.0.1", "istiod-1")], &[], &port));
    // Another service on the same port: not istiod's.
    api.put(service("istio-system", "other", &port, json!({})));
    api.put(endpoints("istio-system", "other", &[("127.0.0.1", "istiod-1")], &[], &port));
    let d = Daemon::start("collector", &collector_config(&api), &[]).await;
    let up = |job: &'static str| {
        let d = &d;
        async move {
            let (_, body) = d.get("/api/v1/targets").await;
            let v: Value = serde_json::from_str(&body).unwrap();
            let all = v["data"]["activeTargets"].as_array().cloned().unwrap_or_default();
            all.into_iter().filter(|t| t["scrapePool"] == job && t["health"] == "up").collect::<Vec<_>>()
        }
    };
    // Four scrapes at 15 s would be slow; the first happens within one interval.
    let wait = Duration::from_secs(40);
    for job in ["kubernetes-pods", "envoy-stats", "istiod"] {
        wait_until(wait, || async { up(job).await.len() == 1 }).await;
    }
    let pods = up("kubernetes-pods").await;
    assert_eq!(pods[0]["labels"]["app"], "reviews", "pod labels mapped");
    assert_eq!(pods[0]["labels"]["pod"], "reviews-v1-1");
    assert_eq!(
        pods[0]["scrapeUrl"],
        format!("http://127.0.0.1:{}/stats/prometheus", merged.addr.port()),
        "the annotations' port and path"
    );
    assert_eq!(up("istiod").await[0]["labels"]["pod"], "istiod-1", "istiod alone, by its service's endpoints");
    wait_until(wait, || async {
        d.federate(&["federate:istio_requests_total"]).await.contains("federate:istio_requests_total{")
    })
    .await;
}
