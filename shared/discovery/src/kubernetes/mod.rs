//! `kubernetes_sd_configs`: targets from a Kubernetes API server, as Prometheus 2.42
//! finds them. Each kind of object a role needs is listed and watched per namespace
//! (`watch.rs`) from the API server (`api.rs`); events arriving together are sent as one
//! update.
//!
//! Roles: `pod` (`pod.rs`), `service` (`service.rs`), `node` (`node.rs`) and `ingress`
//! (`ingress.rs`), whose objects are target groups by themselves, and `endpoints`
//! (`endpoints.rs`) and `endpointslice` (`endpointslice.rs`), which join their objects
//! with the service and pods behind them. `attach_metadata` adds nodes' and namespaces'
//! labels (`metadata.rs`).

mod api;
mod endpoints;
mod endpointslice;
mod ingress;
mod kubeconfig;
mod metadata;
mod node;
mod pod;
mod service;
mod watch;

use crate::{Discoverer, Groups, TargetGroup, Updates};
use api::Api;
use cardinal_config::KubernetesSdConfig;
use endpoints::Behind;
use futures_util::future::BoxFuture;
use metadata::Metadata;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use watch::{Keep, Known};

pub struct KubernetesSd(pub KubernetesSdConfig);

impl Discoverer for KubernetesSd {
    fn run(self: Box<Self>, out: Updates) -> BoxFuture<'static, ()> {
        Box::pin(run(self.0, out))
    }
}

/// How long events are gathered before the groups are sent: a rollout changes many pods
/// within a second, and every update makes each scrape job recompute its targets.
const GATHER: Duration = Duration::from_millis(500);

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

/// A port of a service or of endpoints.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct NamedPort {
    name: String,
    port: u16,
    protocol: String,
}

impl Meta {
    /// `namespace/name`, which names an object of a kind (the name alone for kinds
    /// outside namespaces, as nodes are).
    fn key(&self) -> String {
        match self.namespace.is_empty() {
            true => self.name.clone(),
            false => format!("{}/{}", self.namespace, self.name),
        }
    }
}

/// A kind of Kubernetes object discovery reads.
trait Object: serde::de::DeserializeOwned + Send + 'static {
    /// Its resource in API paths (`pods`).
    const RESOURCE: &'static str;
    /// The role its `selectors` entries name (`pod`).
    const ROLE: &'static str;
    /// Its API group's path: `/api/v1` for the core kinds.
    const API: &'static str = "/api/v1";
    /// Whether its objects live in namespaces (nodes do not).
    const NAMESPACED: bool = true;

    fn meta(&self) -> &Meta;
}

/// An object that is a target group by itself.
trait OwnGroup: Object + Sync {
    /// Its group; one without targets removes the object's targets.
    fn group(&self) -> TargetGroup;

    /// The node its targets run on, for `attach_metadata.node` (a pod's).
    fn node_name(&self) -> Option<&str> {
        None
    }
}

/// What a role sends: every group it knows now.
type Snapshot = Box<dyn Fn() -> Groups + Send>;

async fn run(cfg: KubernetesSdConfig, out: Updates) {
    let (api, own) = match Api::connect(&cfg) {
        Ok(c) => c,
        Err(e) => return tracing::error!(error = e, "Kubernetes SD: cannot reach the API server"),
    };
    let mut namespaces = cfg.namespaces.names.clone();
    namespaces.extend(own);
    let follow = Follow { api, cfg: &cfg, namespaces, changed: Arc::new(Notify::new()), watchers: JoinSet::new() };
    // The watchers are aborted with `follow` when this task is aborted on reload.
    let (follow, groups) = match cfg.role.as_str() {
        "service" => follow.own_groups::<service::Service>(),
        "node" => follow.own_groups::<node::Node>(),
        "ingress" => follow.own_groups::<ingress::Ingress>(),
        "endpoints" => follow.rebuilt(Behind::follow, endpoints::group),
        "endpointslice" => follow.rebuilt(Behind::follow, endpointslice::group),
        _ => follow.own_groups::<pod::Pod>(),
    };
    loop {
        follow.changed.notified().await;
        tokio::time::sleep(GATHER).await;
        if !out.send(groups()).await {
            return;
        }
    }
}

/// The watchers of a role, each kind in every namespace it covers.
struct Follow<'a> {
    api: Api,
    cfg: &'a KubernetesSdConfig,
    namespaces: Vec<String>,
    changed: Arc<Notify>,
    watchers: JoinSet<()>,
}

impl Follow<'_> {
    /// Watches `T`s in every namespace, keeping what `keep` makes of each.
    fn kind<T: Object, V: Clone + Send + 'static>(&mut self, keep: Keep<T, V>) -> Arc<Known<V>> {
        let (api, resource) = (T::API, T::RESOURCE);
        let paths: Vec<String> = match self.namespaces.is_empty() || !T::NAMESPACED {
            true => vec![format!("{api}/{resource}")],
            false => self.namespaces.iter().map(|ns| format!("{api}/namespaces/{ns}/{resource}")).collect(),
        };
        let known = Known::new(paths.len(), self.changed.clone());
        let query = selectors(self.cfg, T::ROLE);
        for (slot, path) in paths.into_iter().enumerate() {
            self.watchers.spawn(watch::follow(self.api.clone(), path, query.clone(), slot, known.clone(), keep));
        }
        known
    }

    /// A role whose objects are its groups, each built once as it arrives.
    fn own_groups<T: OwnGroup>(mut self) -> (Self, Snapshot) {
        if Metadata::wanted(&self) {
            return self.own_groups_with_metadata::<T>();
        }
        let known = self.kind::<T, Arc<TargetGroup>>(|o| {
            let g = o.group();
            (!g.targets.is_empty()).then(|| Arc::new(g))
        });
        (self, Box::new(move || known.values()))
    }

    /// A role whose objects are its groups with `attach_metadata`'s labels: the objects
    /// are kept and the groups rebuilt, as a node or namespace may change under them.
    fn own_groups_with_metadata<T: OwnGroup>(self) -> (Self, Snapshot) {
        self.rebuilt(Metadata::follow, |o: &T, m: &Metadata| {
            let mut g = o.group();
            m.node(o.node_name(), &mut g.labels);
            m.namespace(&o.meta().namespace, &mut g.labels);
            g
        })
    }

    /// A role whose groups are rebuilt on every change from its objects and what
    /// `context` watches beside them (services and pods, nodes, namespaces).
    fn rebuilt<T, C, F>(
        mut self,
        context: impl FnOnce(&mut Self) -> F,
        group: fn(&T, &C) -> TargetGroup,
    ) -> (Self, Snapshot)
    where
        T: Object + Sync,
        C: 'static,
        F: Fn() -> C + Send + 'static,
    {
        let objects = self.kind::<T, Arc<T>>(|o| Some(Arc::new(o)));
        let context = context(&mut self);
        let snapshot = move || {
            let c = context();
            let groups = objects.values().into_iter().map(|o| group(&o, &c));
            groups.filter(|g| !g.targets.is_empty()).map(Arc::new).collect()
        };
        (self, Box::new(snapshot))
    }
}

/// The label and field selectors of `role`'s entries, as list and watch take them.
fn selectors(cfg: &KubernetesSdConfig, role: &str) -> Vec<(&'static str, String)> {
    let mut q = Vec::new();
    for s in cfg.selectors.iter().filter(|s| s.role == role) {
        q.extend(s.label.clone().map(|l| ("labelSelector", l)));
        q.extend(s.field.clone().map(|f| ("fieldSelector", f)));
    }
    q
}

/// An object's labels and annotations as `<prefix>label_<name>` and
/// `<prefix>labelpresent_<name>` (and likewise `annotation`), names sanitised.
fn labels_and_annotations(prefix: &str, meta: &Meta, out: &mut BTreeMap<String, String>) {
    with_presence(&format!("{prefix}label"), &meta.labels, out);
    with_presence(&format!("{prefix}annotation"), &meta.annotations, out);
}

/// Each entry of `map` as `<prefix>_<name>` and `<prefix>present_<name>`.
fn with_presence(prefix: &str, map: &BTreeMap<String, String>, out: &mut BTreeMap<String, String>) {
    for (k, v) in map {
        let name = cardinal_model::labels::sanitize_label_chars(k);
        out.insert(format!("{prefix}_{name}"), v.clone());
        out.insert(format!("{prefix}present_{name}"), PRESENT.into());
    }
}

/// Go's `net.JoinHostPort`: IPv6 addresses in brackets.
fn join_host_port(host: &str, port: &str) -> String {
    if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_names_are_sanitised_as_prometheus_does() {
        let mut out = BTreeMap::new();
        let meta = Meta { labels: BTreeMap::from([("app.kubernetes.io/name".into(), "x".into())]), ..Meta::default() };
        labels_and_annotations("p_", &meta, &mut out);
        assert_eq!(out["p_label_app_kubernetes_io_name"], "x");
        assert_eq!(out["p_labelpresent_app_kubernetes_io_name"], "true");
    }
}
