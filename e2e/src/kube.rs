//! A stand-in Kubernetes API server for discovery tests (no cluster installs here): pods,
//! services, endpoints and nodes (`/api/v1/…`), endpoint slices and ingresses
//! (`/apis/<group>/<version>/…`) listed and watched as the real server serves them, all
//! or per namespace, in pages of `limit` with `continue` tokens,
//! `labelSelector` equality, `watch=1` from a resourceVersion as lines of JSON events,
//! `ERROR` 410 for a resourceVersion older than its history), and an outage switch.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use parking_lot::Mutex;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::mpsc;

#[derive(Default)]
struct Cluster {
    /// `(resource, namespace/name)` → the object as served.
    objects: BTreeMap<(String, String), Value>,
    version: u64,
    /// Every event so far: its resourceVersion, resource, namespace and JSON line.
    history: Vec<(u64, String, String, String)>,
    /// Watches from before this resourceVersion are told 410 Gone.
    oldest: u64,
    down: bool,
    watchers: Vec<Watcher>,
    requests: Vec<String>,
}

/// An open watch: its resource, its namespace (all when `None`), its label selector
/// (`name=value`) and where its events go.
type Watcher = (String, Option<String>, Option<(String, String)>, mpsc::UnboundedSender<String>);

/// The stand-in API server on 127.0.0.1.
#[derive(Clone)]
pub struct FakeKube {
    pub addr: SocketAddr,
    cluster: Arc<Mutex<Cluster>>,
}

/// A service as the API server returns it: a ClusterIP service with `ports` (name, number).
pub fn service(ns: &str, name: &str, ports: &[(&str, u16)], labels: Value) -> Value {
    let ports: Vec<Value> = ports.iter().map(|(n, p)| json!({"name": n, "port": p, "protocol": "TCP"})).collect();
    json!({
        "kind": "Service", "apiVersion": "v1",
        "metadata": {"name": name, "namespace": ns, "uid": format!("uid-{name}"), "labels": labels},
        "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.10", "ports": ports}
    })
}

/// Endpoints as the API server returns them: `ready` and not-ready addresses of the
/// pods named (each `(ip, pod name)`, in `ns`), on `ports` (name, number).
pub fn endpoints(
    ns: &str,
    name: &str,
    ready: &[(&str, &str)],
    not_ready: &[(&str, &str)],
    ports: &[(&str, u16)],
) -> Value {
    let address = |(ip, pod): &(&str, &str)| json!({"ip": ip, "nodeName": "node-1", "targetRef": {"kind": "Pod", "name": pod, "namespace": ns}});
    let ports: Vec<Value> = ports.iter().map(|(n, p)| json!({"name": n, "port": p, "protocol": "TCP"})).collect();
    json!({
        "kind": "Endpoints", "apiVersion": "v1",
        "metadata": {"name": name, "namespace": ns, "labels": {"app": name}},
        "subsets": [{"addresses": ready.iter().map(address).collect::<Vec<_>>(),
                     "notReadyAddresses": not_ready.iter().map(address).collect::<Vec<_>>(), "ports": ports}]
    })
}

/// An EndpointSlice of service `service` as the API server returns it: an endpoint per
/// `(ip, pod name)` (ready as given, in `ns`, on node-1), on `ports` (name, number).
pub fn endpoint_slice(
    ns: &str,
    name: &str,
    service: &str,
    endpoints: &[(&str, &str, bool)],
    ports: &[(&str, u16)],
) -> Value {
    let endpoint = |(ip, pod, ready): &(&str, &str, bool)| {
        json!({"addresses": [ip], "conditions": {"ready": ready, "serving": ready, "terminating": false}, "nodeName": "node-1",
               "targetRef": {"kind": "Pod", "name": pod, "namespace": ns}})
    };
    let ports: Vec<Value> = ports.iter().map(|(n, p)| json!({"name": n, "port": p, "protocol": "TCP"})).collect();
    json!({
        "kind": "EndpointSlice", "apiVersion": "discovery.k8s.io/v1",
        "metadata": {"name": name, "namespace": ns, "labels": {"kubernetes.io/service-name": service}},
        "addressType": "IPv4", "endpoints": endpoints.iter().map(endpoint).collect::<Vec<_>>(), "ports": ports
    })
}

/// A node as the API server returns it: its kubelet on `ip`:10250, labels as given.
pub fn node(name: &str, ip: &str, labels: Value) -> Value {
    json!({
        "kind": "Node", "apiVersion": "v1",
        "metadata": {"name": name, "uid": format!("uid-{name}"), "labels": labels},
        "spec": {"providerID": format!("kind://docker/{name}")},
        "status": {"addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}],
                   "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}}}
    })
}

/// An Ingress as the API server returns it: a rule per host with `paths`, a TLS entry
/// for `tls_hosts` when there are any.
pub fn ingress(ns: &str, name: &str, hosts: &[&str], paths: &[&str], tls_hosts: &[&str]) -> Value {
    let paths: Vec<Value> = paths.iter().map(|p| json!({"path": p, "pathType": "Prefix"})).collect();
    let rules: Vec<Value> = hosts.iter().map(|h| json!({"host": h, "http": {"paths": paths}})).collect();
    json!({
        "kind": "Ingress", "apiVersion": "networking.k8s.io/v1",
        "metadata": {"name": name, "namespace": ns, "labels": {"app": name}},
        "spec": {"ingressClassName": "nginx", "rules": rules,
                 "tls": if tls_hosts.is_empty() { json!([]) } else { json!([{"hosts": tls_hosts}]) }}
    })
}

/// A pod as the API server returns it: running on 127.0.0.1 with one container whose
/// ports are `ports` (name, number), labels and annotations as given.
pub fn pod(ns: &str, name: &str, ports: &[(&str, u16)], labels: Value, annotations: Value) -> Value {
    let ports: Vec<Value> =
        ports.iter().map(|(n, p)| json!({"name": n, "containerPort": p, "protocol": "TCP"})).collect();
    json!({
        "kind": "Pod", "apiVersion": "v1",
        "metadata": {"name": name, "namespace": ns, "uid": format!("uid-{name}"), "labels": labels, "annotations": annotations},
        "spec": {"nodeName": "node-1", "containers": [{"name": "app", "image": "app:1", "ports": ports}]},
        "status": {"phase": "Running", "podIP": "127.0.0.1", "hostIP": "127.0.0.1",
                   "conditions": [{"type": "Ready", "status": "True"}]}
    })
}

impl FakeKube {
    pub async fn start() -> FakeKube {
        let cluster = Arc::new(Mutex::new(Cluster { version: 1, ..Cluster::default() }));
        let app = axum::Router::new()
            .route("/api/v1/{resource}", axum::routing::get(handle))
            .route("/api/v1/namespaces/{ns}/{resource}", axum::routing::get(handle))
            .route("/apis/{group}/{version}/{resource}", axum::routing::get(handle))
            .route("/apis/{group}/{version}/namespaces/{ns}/{resource}", axum::routing::get(handle))
            .with_state(cluster.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await.ok() });
        FakeKube { addr, cluster }
    }

    /// Adds or replaces an object (an `ADDED` or `MODIFIED` event for watchers).
    pub fn put(&self, mut object: Value) {
        let mut c = self.cluster.lock();
        c.version += 1;
        object["metadata"]["resourceVersion"] = json!(c.version.to_string());
        let meta = &object["metadata"];
        let name = format!("{}/{}", meta["namespace"].as_str().unwrap_or(""), meta["name"].as_str().unwrap());
        let key = (resource(&object), name);
        let kind = if c.objects.contains_key(&key) { "MODIFIED" } else { "ADDED" };
        c.objects.insert(key, object.clone());
        event(&mut c, kind, object);
    }

    /// Deletes a pod.
    pub fn delete(&self, ns: &str, name: &str) {
        self.delete_object("pods", ns, name);
    }

    /// Deletes an object of `resource` (`pods`, `endpointslices`; `ns` empty for nodes).
    pub fn delete_object(&self, resource: &str, ns: &str, name: &str) {
        let mut c = self.cluster.lock();
        c.version += 1;
        let mut object = c.objects.remove(&(resource.into(), format!("{ns}/{name}"))).expect("an object that exists");
        object["metadata"]["resourceVersion"] = json!(c.version.to_string());
        event(&mut c, "DELETED", object);
    }

    /// While down every request is answered 503 and open watches end.
    pub fn set_down(&self, down: bool) {
        let mut c = self.cluster.lock();
        c.down = down;
        if down {
            c.watchers.clear();
        }
    }

    /// Forgets the history: a watch resuming from before now is told 410 Gone.
    pub fn expire_history(&self) {
        let mut c = self.cluster.lock();
        c.oldest = c.version + 1;
        c.history.clear();
    }

    /// The path and query of every request so far.
    pub fn requests(&self) -> Vec<String> {
        self.cluster.lock().requests.clone()
    }
}

/// The API resource of an object by its kind.
fn resource(object: &Value) -> String {
    match object["kind"].as_str().expect("kind").to_lowercase() {
        kind if kind == "endpoints" => kind,
        kind if kind.ends_with('s') => format!("{kind}es"),
        kind => format!("{kind}s"),
    }
}

fn event(c: &mut Cluster, kind: &str, object: Value) {
    let (res, ns) = (resource(&object), object["metadata"]["namespace"].as_str().unwrap_or("").to_string());
    let line = format!("{}\n", json!({"type": kind, "object": object}));
    c.history.push((c.version, res.clone(), ns, line.clone()));
    c.watchers.retain(|(want, want_ns, selector, tx)| {
        *want != res || !matches(want_ns, selector, &object) || tx.send(line.clone()).is_ok()
    });
}

fn matches(ns: &Option<String>, selector: &Option<(String, String)>, object: &Value) -> bool {
    let in_ns = ns.as_ref().is_none_or(|ns| object["metadata"]["namespace"] == ns.as_str());
    in_ns && selector.as_ref().is_none_or(|(k, v)| object["metadata"]["labels"][k] == v.as_str())
}

/// Any of the routes: a resource, in a namespace or all, of the core API or a group.
async fn handle(
    State(c): State<Arc<Mutex<Cluster>>>,
    uri: Uri,
    Path(mut path): Path<HashMap<String, String>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let resource = path.remove("resource").expect("routes name the resource");
    serve(c, uri, resource, path.remove("ns"), q)
}

fn serve(
    cluster: Arc<Mutex<Cluster>>,
    uri: Uri,
    res: String,
    ns: Option<String>,
    q: HashMap<String, String>,
) -> Response {
    let mut c = cluster.lock();
    c.requests.push(uri.to_string());
    if c.down {
        return (StatusCode::SERVICE_UNAVAILABLE, "down").into_response();
    }
    let selector = q.get("labelSelector").and_then(|s| s.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string()));
    if !q.contains_key("watch") {
        // Pages of `limit`, the next one's start as the `continue` token.
        let start: usize = q.get("continue").and_then(|c| c.parse().ok()).unwrap_or(0);
        let limit: usize = q.get("limit").and_then(|l| l.parse().ok()).unwrap_or(usize::MAX);
        let of_kind = c.objects.iter().filter(|((r, _), _)| *r == res).map(|(_, o)| o);
        let all: Vec<&Value> = of_kind.filter(|o| matches(&ns, &selector, o)).collect();
        let page: Vec<&Value> = all.iter().skip(start).take(limit).copied().collect();
        let next = if start + page.len() < all.len() { (start + page.len()).to_string() } else { String::new() };
        let meta = json!({"resourceVersion": c.version.to_string(), "continue": next});
        return axum::Json(json!({"kind": "List", "metadata": meta, "items": page})).into_response();
    }
    let from: u64 = q.get("resourceVersion").and_then(|v| v.parse().ok()).unwrap_or(0);
    let (tx, rx) = mpsc::unbounded_channel();
    if from < c.oldest {
        let gone = json!({"type": "ERROR", "object": {"kind": "Status", "code": 410, "reason": "Expired", "message": "too old resource version"}});
        tx.send(format!("{gone}\n")).ok();
    } else {
        let mine = |(v, r, n, _): &&(u64, String, String, String)| {
            *v > from && *r == res && ns.as_ref().is_none_or(|ns| ns == n)
        };
        c.history.iter().filter(mine).for_each(|(_, _, _, line)| drop(tx.send(line.clone())));
        c.watchers.push((res, ns, selector, tx));
    }
    let lines = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|line| (Ok::<_, std::io::Error>(line), rx))
    });
    Response::builder().header("content-type", "application/json").body(Body::from_stream(lines)).expect("response")
}
