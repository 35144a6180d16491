//! `kubernetes_sd_configs`: targets from a Kubernetes API server, as Prometheus finds
//! them. Each namespace is listed once, then watched from the list's resourceVersion
//! (with bookmarks); a `410 Gone` re-lists, any other failure retries the watch with
//! backoff, and the targets last known stay meanwhile, so an API server outage never
//! empties a job. Events arriving together are sent as one update.
//!
//! Roles: `pod` (`pod.rs`) and `service` (`service.rs`), each an [`Object`] kind. The API server is `api_server` with the HTTP client settings
//! beside it, or, without it, the pod's own service account (in-cluster config).

mod pod;
mod service;

use crate::{Discoverer, Groups, TargetGroup, Updates};
use cardinal_config::{Authorization, HttpClientConfig, KubernetesSdConfig};
use futures_util::future::BoxFuture;
use parking_lot::Mutex;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

pub struct KubernetesSd(pub KubernetesSdConfig);

impl Discoverer for KubernetesSd {
    fn run(self: Box<Self>, out: Updates) -> BoxFuture<'static, ()> {
        Box::pin(run(self.0, out))
    }
}

/// Where a pod finds its service account's credentials, Kubernetes' convention.
const SERVICE_ACCOUNT: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// How long events are gathered before the groups are sent: a rollout changes many pods
/// within a second, and every update makes each scrape job recompute its targets.
const GATHER: Duration = Duration::from_millis(500);

/// Retry delays after a failed list or watch: 1 s doubling to this.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// The server ends a watch after this; it is resumed from the last resourceVersion.
const WATCH_SECONDS: u64 = 300;

/// A watch that sends nothing (not even a bookmark, which servers send every minute)
/// for this long is presumed dead and resumed.
const SILENCE: Duration = Duration::from_secs(WATCH_SECONDS + 30);

/// The largest list page or watch event read (pages are of 500 objects).
const MAX_READ: usize = 64 << 20;

/// Prometheus's value for the `…present_…` labels.
const PRESENT: &str = "true";

/// Object metadata, the fields discovery reads.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Meta {
    name: String,
    namespace: String,
    uid: String,
    resource_version: String,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
    owner_references: Vec<OwnerReference>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct OwnerReference {
    kind: String,
    name: String,
    controller: bool,
}

/// A kind of Kubernetes object a role turns into target groups.
trait Object: serde::de::DeserializeOwned + Send + 'static {
    /// Its resource in API paths (`pods`).
    const RESOURCE: &'static str;

    fn meta(&self) -> &Meta;

    /// Its group; one without targets removes the object's targets.
    fn group(&self) -> TargetGroup;

    /// The group's source, which names it across updates (`pod/<namespace>/<name>`).
    fn source(&self) -> String;
}

/// An object's labels and annotations as `<prefix>label_<name>` and
/// `<prefix>labelpresent_<name>` (and likewise `annotation`), names sanitised.
fn labels_and_annotations(prefix: &str, meta: &Meta, out: &mut BTreeMap<String, String>) {
    for (kind, map) in [("label", &meta.labels), ("annotation", &meta.annotations)] {
        for (k, v) in map {
            let name = sanitize(k);
            out.insert(format!("{prefix}{kind}_{name}"), v.clone());
            out.insert(format!("{prefix}{kind}present_{name}"), PRESENT.into());
        }
    }
}

/// Prometheus's `strutil.SanitizeLabelName`: every character outside `[a-zA-Z0-9_]`
/// becomes `_` (`app.kubernetes.io/name` → `app_kubernetes_io_name`).
fn sanitize(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect()
}

/// How to reach the API server.
#[derive(Clone)]
struct Api {
    base: String,
    client: reqwest::Client,
    http: HttpClientConfig,
}

impl Api {
    /// `api_server` as configured, or the in-cluster service account; with the pod's own
    /// namespace when `namespaces.own_namespace` asks for it.
    fn connect(cfg: &KubernetesSdConfig) -> Result<(Api, Option<String>), String> {
        match &cfg.api_server {
            Some(url) => Ok((Api::new(url.trim_end_matches('/').to_string(), cfg.http.clone())?, None)),
            None => {
                let env = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
                let host_port = env("KUBERNETES_SERVICE_HOST").zip(env("KUBERNETES_SERVICE_PORT"));
                in_cluster(Path::new(SERVICE_ACCOUNT), host_port, cfg.namespaces.own_namespace)
            }
        }
    }

    fn new(base: String, http: HttpClientConfig) -> Result<Api, String> {
        Ok(Api { base, client: cardinal_client::build_client(&http)?, http })
    }

    async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<reqwest::Response, Failure> {
        let req = self.client.get(format!("{}{path}", self.base)).query(query);
        let req = cardinal_client::authorize(req.header("User-Agent", cardinal_client::USER_AGENT), &self.http)
            .map_err(Failure::Other)?;
        let resp = req.send().await.map_err(|e| Failure::Other(cardinal_client::error_chain(&e)))?;
        match resp.status().as_u16() {
            200 => Ok(resp),
            410 => Err(Failure::Gone),
            _ => Err(Failure::Other(format!("{} answered {}", path, resp.status()))),
        }
    }
}

/// The in-cluster configuration: the service's address from the environment, the
/// account's token (read afresh for each request, as Kubernetes rotates it) and CA.
fn in_cluster(dir: &Path, host_port: Option<(String, String)>, own: bool) -> Result<(Api, Option<String>), String> {
    let (host, port) = host_port.ok_or(
        "unable to load in-cluster configuration, KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be defined",
    )?;
    let file = |name: &str| dir.join(name).display().to_string();
    let mut http = HttpClientConfig {
        authorization: Some(Authorization { kind: None, credentials: None, credentials_file: Some(file("token")) }),
        ..HttpClientConfig::default()
    };
    http.tls_config.ca_file = Some(file("ca.crt"));
    let own = if own { Some(own_namespace(dir)?) } else { None };
    Ok((Api::new(format!("https://{}", join_host_port(&host, &port)), http)?, own))
}

fn own_namespace(dir: &Path) -> Result<String, String> {
    let ns = std::fs::read_to_string(dir.join("namespace"))
        .map_err(|e| format!("could not determine the pod's namespace: {e}"))?;
    match ns.trim() {
        "" => Err("could not read own namespace name (empty file)".into()),
        ns => Ok(ns.to_string()),
    }
}

/// Go's `net.JoinHostPort`: IPv6 addresses in brackets.
fn join_host_port(host: &str, port: &str) -> String {
    if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") }
}

/// Why a list or watch stopped.
#[derive(Debug)]
enum Failure {
    /// The resourceVersion is too old: list again.
    Gone,
    Other(String),
}

/// The groups every watcher knows, one map per watched namespace, keyed by source.
struct Known {
    groups: Mutex<Vec<BTreeMap<String, Arc<TargetGroup>>>>,
    changed: Notify,
}

impl Known {
    fn set(&self, slot: usize, group: TargetGroup) {
        let mut all = self.groups.lock();
        if group.targets.is_empty() {
            all[slot].remove(&group.source);
        } else {
            all[slot].insert(group.source.clone(), Arc::new(group));
        }
        self.changed.notify_one();
    }

    fn replace(&self, slot: usize, groups: BTreeMap<String, Arc<TargetGroup>>) {
        self.groups.lock()[slot] = groups;
        self.changed.notify_one();
    }

    fn all(&self) -> Groups {
        self.groups.lock().iter().flat_map(|m| m.values().cloned()).collect()
    }
}

async fn run(cfg: KubernetesSdConfig, out: Updates) {
    let (api, own) = match Api::connect(&cfg) {
        Ok(c) => c,
        Err(e) => return tracing::error!(error = e, "Kubernetes SD: cannot reach the API server"),
    };
    let mut namespaces = cfg.namespaces.names.clone();
    namespaces.extend(own);
    let slots = namespaces.len().max(1);
    let known = Arc::new(Known { groups: Mutex::new(vec![BTreeMap::new(); slots]), changed: Notify::new() });
    // Dropped (aborting every watcher) when this task is aborted on reload.
    let _watchers = match cfg.role.as_str() {
        "service" => watch_all::<service::Service>(&api, &cfg, &namespaces, &known),
        _ => watch_all::<pod::Pod>(&api, &cfg, &namespaces, &known),
    };
    loop {
        known.changed.notified().await;
        tokio::time::sleep(GATHER).await;
        if !out.send(known.all()).await {
            return;
        }
    }
}

/// A watcher of `T`s per namespace (one of them all without namespaces).
fn watch_all<T: Object>(
    api: &Api,
    cfg: &KubernetesSdConfig,
    namespaces: &[String],
    known: &Arc<Known>,
) -> tokio::task::JoinSet<()> {
    let paths: Vec<String> = match namespaces.is_empty() {
        true => vec![format!("/api/v1/{}", T::RESOURCE)],
        false => namespaces.iter().map(|ns| format!("/api/v1/namespaces/{ns}/{}", T::RESOURCE)).collect(),
    };
    let query = selectors(cfg);
    let mut watchers = tokio::task::JoinSet::new();
    for (slot, path) in paths.into_iter().enumerate() {
        watchers.spawn(follow::<T>(api.clone(), path, query.clone(), slot, known.clone()));
    }
    watchers
}

/// The label and field selectors of the role's own resource, as list and watch take them.
fn selectors(cfg: &KubernetesSdConfig) -> Vec<(&'static str, String)> {
    let mine = cfg.selectors.iter().filter(|s| s.role == cfg.role);
    let mut q = Vec::new();
    for s in mine {
        q.extend(s.label.clone().map(|l| ("labelSelector", l)));
        q.extend(s.field.clone().map(|f| ("fieldSelector", f)));
    }
    q
}

/// Lists `path`, then follows it, for as long as the discovery runs.
async fn follow<T: Object>(api: Api, path: String, query: Vec<(&'static str, String)>, slot: usize, known: Arc<Known>) {
    let mut backoff = Backoff::default();
    loop {
        let mut version = match list::<T>(&api, &path, &query).await {
            Ok((groups, version)) => {
                known.replace(slot, groups);
                version
            }
            Err(e) => {
                tracing::error!(path, error = ?e, "Kubernetes SD: list failed; keeping the last known targets");
                backoff.wait().await;
                continue;
            }
        };
        loop {
            match watch::<T>(&api, &path, &query, &mut version, slot, &known).await {
                Ok(()) => backoff = Backoff::default(),
                Err(Failure::Gone) => break,
                Err(Failure::Other(e)) => {
                    tracing::warn!(path, error = e, "Kubernetes SD: watch failed; resuming");
                    backoff.wait().await;
                }
            }
        }
    }
}

#[derive(Deserialize)]
struct List<T> {
    metadata: ListMeta,
    #[serde(default = "Vec::new")]
    items: Vec<T>,
}

#[derive(Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct ListMeta {
    resource_version: String,
    #[serde(rename = "continue")]
    next: String,
}

/// The groups of every object at `path`, read a page of 500 at a time (the objects of one
/// page in memory at once), and the list's resourceVersion.
async fn list<T: Object>(
    api: &Api,
    path: &str,
    query: &[(&str, String)],
) -> Result<(BTreeMap<String, Arc<TargetGroup>>, String), Failure> {
    let mut groups = BTreeMap::new();
    let mut next = String::new();
    loop {
        let mut q = query.to_vec();
        q.push(("limit", "500".into()));
        if !next.is_empty() {
            q.push(("continue", next.clone()));
        }
        let body = read_all(api.get(path, &q).await?).await?;
        let page: List<T> = serde_json::from_slice(&body).map_err(|e| Failure::Other(format!("{path}: {e}")))?;
        let page_groups = page.items.iter().map(T::group).filter(|g| !g.targets.is_empty());
        groups.extend(page_groups.map(|g| (g.source.clone(), Arc::new(g))));
        if page.metadata.next.is_empty() {
            return Ok((groups, page.metadata.resource_version));
        }
        next = page.metadata.next;
    }
}

async fn read_all(mut resp: reqwest::Response) -> Result<Vec<u8>, Failure> {
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| Failure::Other(cardinal_client::error_chain(&e)))? {
        if body.len() + chunk.len() > MAX_READ {
            return Err(Failure::Other(format!("answer larger than {} MiB", MAX_READ >> 20)));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[derive(Deserialize)]
struct Event {
    #[serde(rename = "type")]
    kind: String,
    object: serde_json::Value,
}

/// Follows the changes at `path` after `version`, until the server ends the watch.
async fn watch<T: Object>(
    api: &Api,
    path: &str,
    query: &[(&str, String)],
    version: &mut String,
    slot: usize,
    known: &Known,
) -> Result<(), Failure> {
    let mut q = query.to_vec();
    q.extend([
        ("watch", "1".to_string()),
        ("resourceVersion", version.clone()),
        ("allowWatchBookmarks", "true".into()),
        ("timeoutSeconds", WATCH_SECONDS.to_string()),
    ]);
    let mut resp = api.get(path, &q).await?;
    let mut line = Vec::new();
    loop {
        let chunk =
            tokio::time::timeout(SILENCE, resp.chunk()).await.map_err(|_| Failure::Other("silent watch".into()))?;
        let Some(chunk) = chunk.map_err(|e| Failure::Other(cardinal_client::error_chain(&e)))? else { return Ok(()) };
        for part in chunk.split_inclusive(|&b| b == b'\n') {
            line.extend_from_slice(part);
            if line.len() > MAX_READ {
                return Err(Failure::Other(format!("a watch event larger than {} MiB", MAX_READ >> 20)));
            }
            if line.ends_with(b"\n") {
                apply::<T>(&std::mem::take(&mut line), version, slot, known)?;
            }
        }
    }
}

/// One watch event into the known groups.
fn apply<T: Object>(line: &[u8], version: &mut String, slot: usize, known: &Known) -> Result<(), Failure> {
    let event: Event = serde_json::from_slice(line).map_err(|e| Failure::Other(format!("watch event: {e}")))?;
    if event.kind == "ERROR" {
        // A Status object; 410 means our resourceVersion is too old.
        return match event.object["code"].as_u64() {
            Some(410) => Err(Failure::Gone),
            _ => Err(Failure::Other(format!("watch error: {}", event.object["message"]))),
        };
    }
    let object: T = serde_json::from_value(event.object).map_err(|e| Failure::Other(format!("watch event: {e}")))?;
    *version = object.meta().resource_version.clone();
    match event.kind.as_str() {
        "ADDED" | "MODIFIED" => known.set(slot, object.group()),
        "DELETED" => known.set(slot, TargetGroup { source: object.source(), ..TargetGroup::default() }),
        _ => {} // BOOKMARK: only the resourceVersion moves on.
    }
    Ok(())
}

/// 1 s, doubling to [`MAX_BACKOFF`].
#[derive(Default)]
struct Backoff(Option<Duration>);

impl Backoff {
    async fn wait(&mut self) {
        let d = self.0.map_or(Duration::from_secs(1), |d| (d * 2).min(MAX_BACKOFF));
        self.0 = Some(d);
        tokio::time::sleep(d).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_cluster_uses_the_service_account_and_its_namespace() {
        let dir = tempfile::tempdir().unwrap();
        let pki = testbed::tls::Pki::write(dir.path(), &["127.0.0.1"]).unwrap();
        std::fs::write(pki.path("token"), "t0ken\n").unwrap();
        std::fs::write(pki.path("namespace"), "istio-system").unwrap();
        let env = Some(("fd00::1".to_string(), "443".to_string()));
        let (api, own) = in_cluster(dir.path(), env.clone(), true).unwrap();
        assert_eq!(api.base, "https://[fd00::1]:443");
        assert_eq!(own.as_deref(), Some("istio-system"));
        assert_eq!(api.http.credentials().unwrap(), Some(cardinal_config::Credentials::Header("Bearer t0ken".into())));
        assert_eq!(api.http.tls_config.ca_file, Some(pki.path("ca.crt").display().to_string()));

        let (_, own) = in_cluster(dir.path(), env.clone(), false).unwrap();
        assert_eq!(own, None, "read only when asked for");
        let missing = in_cluster(dir.path(), None, false).err().unwrap();
        assert!(missing.contains("KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be defined"), "{missing}");
        std::fs::write(pki.path("namespace"), "").unwrap();
        assert_eq!(in_cluster(dir.path(), env, true).err().unwrap(), "could not read own namespace name (empty file)");
    }

    #[test]
    fn label_names_are_sanitised_as_prometheus_does() {
        assert_eq!(sanitize("app.kubernetes.io/name"), "app_kubernetes_io_name");
        assert_eq!(sanitize("sidecar.istio.io/inject"), "sidecar_istio_io_inject");
        assert_eq!(sanitize("ünïcode-1"), "_n_code_1");
    }
}
