//! `role: endpoints`: an Endpoints object becomes one target group with a target per
//! address and port (ready or not), joined with its service's labels and, where an
//! address is a pod's, that pod's labels and matching container port; the pod's other
//! container ports become targets too. Prometheus 2.42's targets and labels, name for
//! name. Endpoints, services and pods are each watched; a change to any rebuilds the
//! groups, as Prometheus re-queues endpoints when their service or pods change. What is
//! behind endpoints ([`Behind`], [`SeenPods`]) serves `endpointslice.rs` too.

use super::metadata::Metadata;
use super::pod::{self, Pod};
use super::service::{self, Service};
use super::{Follow, Meta, NamedPort, Object, join_host_port, with_presence};
use crate::{Target, TargetGroup};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Endpoints {
    metadata: Meta,
    subsets: Vec<Subset>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Subset {
    addresses: Vec<Address>,
    not_ready_addresses: Vec<Address>,
    ports: Vec<NamedPort>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Address {
    ip: String,
    hostname: String,
    node_name: Option<String>,
    target_ref: Option<Reference>,
}

/// The object an address is (a pod, mostly).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct Reference {
    pub kind: String,
    pub name: String,
    namespace: String,
}

impl Object for Endpoints {
    const RESOURCE: &'static str = "endpoints";
    const ROLE: &'static str = "endpoints";

    fn meta(&self) -> &Meta {
        &self.metadata
    }
}

/// What the endpoints roles join their objects with: services and pods by
/// `namespace/name`, and what `attach_metadata` asks for.
pub(super) struct Behind {
    pub services: BTreeMap<String, Arc<Service>>,
    pub pods: BTreeMap<String, Arc<Pod>>,
    pub metadata: Metadata,
}

impl Behind {
    /// Watches what is behind endpoints; the function returns what is known now.
    pub fn follow(follow: &mut Follow<'_>) -> impl Fn() -> Behind + Send + use<> {
        let services = follow.kind::<Service, Arc<Service>>(|s| Some(Arc::new(s)));
        let pods = follow.kind::<Pod, Arc<Pod>>(|p| Some(Arc::new(p)));
        let metadata = Metadata::follow(follow);
        move || Behind { services: services.by_key(), pods: pods.by_key(), metadata: metadata() }
    }

    /// The pod an address refers to, if it is a pod discovery knows.
    pub fn pod(&self, r: Option<&Reference>) -> Option<&Pod> {
        let r = r.filter(|r| r.kind == "Pod")?;
        self.pods.get(&format!("{}/{}", r.namespace, r.name)).map(|p| &**p)
    }
}

/// The pods an endpoints object's addresses are, each with the ports the object gave it
/// a target for: their other container ports become targets of their own.
#[derive(Default)]
pub(super) struct SeenPods<'a>(BTreeMap<String, (&'a Pod, Vec<u16>)>);

impl<'a> SeenPods<'a> {
    pub fn note(&mut self, pod: &'a Pod, port: Option<u16>) {
        let key = format!("{}/{}", pod.metadata.namespace, pod.metadata.name);
        self.0.entry(key).or_insert((pod, Vec::new())).1.extend(port);
    }

    pub fn other_ports(&self) -> impl Iterator<Item = Target> + '_ {
        self.0.values().flat_map(|(pod, covered)| pod::other_ports(pod, covered))
    }
}

const E: &str = "__meta_kubernetes_endpoint_";

/// The group of `eps`, with what is `behind` it.
pub(super) fn group(eps: &Endpoints, behind: &Behind) -> TargetGroup {
    let m = &eps.metadata;
    let mut labels = BTreeMap::from([
        ("__meta_kubernetes_namespace".to_string(), m.namespace.clone()),
        ("__meta_kubernetes_endpoints_name".to_string(), m.name.clone()),
    ]);
    if let Some(svc) = behind.services.get(&m.key()) {
        labels.extend(service::labels(svc));
    }
    // Their labels, not their annotations, as in Prometheus.
    with_presence("__meta_kubernetes_endpoints_label", &m.labels, &mut labels);
    behind.metadata.namespace(&m.namespace, &mut labels);
    let mut targets = Vec::new();
    let mut seen = SeenPods::default();
    for subset in &eps.subsets {
        for port in &subset.ports {
            let ready = subset.addresses.iter().map(|a| (a, "true"));
            for (addr, ready) in ready.chain(subset.not_ready_addresses.iter().map(|a| (a, "false"))) {
                let mut t = address_target(addr, port, ready);
                behind.metadata.node(addr.node_name.as_deref(), &mut t.labels);
                if let Some(pod) = behind.pod(addr.target_ref.as_ref()) {
                    t.labels.extend(pod::labels(pod));
                    // The endpoint port's protocol, where `endpointslice` takes the container's.
                    if let Some((c, p)) = pod::container_with_port(pod, port.port) {
                        t.labels.extend(pod::container_labels(c, p, &port.protocol));
                    }
                    seen.note(pod, Some(port.port));
                }
                targets.push(t);
            }
        }
    }
    targets.extend(seen.other_ports());
    TargetGroup { targets, labels, source: format!("endpoints/{}/{}", m.namespace, m.name) }
}

fn address_target(addr: &Address, port: &NamedPort, ready: &str) -> Target {
    let mut labels = BTreeMap::from([
        (format!("{E}port_name"), port.name.clone()),
        (format!("{E}port_protocol"), port.protocol.clone()),
        (format!("{E}ready"), ready.to_string()),
    ]);
    if let Some(r) = &addr.target_ref {
        labels.insert(format!("{E}address_target_kind"), r.kind.clone());
        labels.insert(format!("{E}address_target_name"), r.name.clone());
    }
    if let Some(node) = &addr.node_name {
        labels.insert(format!("{E}node_name"), node.clone());
    }
    if !addr.hostname.is_empty() {
        labels.insert(format!("{E}hostname"), addr.hostname.clone());
    }
    Target { address: join_host_port(&addr.ip, &port.port.to_string()), labels }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse<T: serde::de::DeserializeOwned>(json: &str) -> T {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn endpoints_join_their_service_and_pods_as_prometheus_does() {
        let eps: Endpoints = parse(
            r#"{"metadata": {"name": "istiod", "namespace": "istio-system", "labels": {"app": "istiod"}, "annotations": {"a": "b"}},
                "subsets": [{"addresses": [{"ip": "10.0.0.5", "nodeName": "n1", "targetRef": {"kind": "Pod", "name": "istiod-1", "namespace": "istio-system"}}],
                             "notReadyAddresses": [{"ip": "10.0.0.6", "hostname": "h"}],
                             "ports": [{"name": "http-monitoring", "port": 15014, "protocol": "TCP"}]}]}"#,
        );
        let svc: Service = parse(
            r#"{"metadata": {"name": "istiod", "namespace": "istio-system", "annotations": {"x.io/y": "z"}},
                "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.1", "ports": [{"name": "http-monitoring", "port": 15014}]}}"#,
        );
        let pod: Pod = parse(
            r#"{"metadata": {"name": "istiod-1", "namespace": "istio-system", "labels": {"app": "istiod"}},
                "spec": {"containers": [{"name": "discovery", "image": "pilot:1.20", "ports": [
                  {"name": "http-monitoring", "containerPort": 15014, "protocol": "TCP"},
                  {"name": "grpc-xds", "containerPort": 15010, "protocol": "TCP"}]}]},
                "status": {"podIP": "10.0.0.5", "phase": "Running"}}"#,
        );
        let behind = Behind {
            services: BTreeMap::from([("istio-system/istiod".to_string(), Arc::new(svc))]),
            pods: BTreeMap::from([("istio-system/istiod-1".to_string(), Arc::new(pod))]),
            metadata: Metadata::default(),
        };
        let g = group(&eps, &behind);
        assert_eq!(g.source, "endpoints/istio-system/istiod");
        let l = &g.labels;
        assert_eq!(l["__meta_kubernetes_endpoints_name"], "istiod");
        assert_eq!(l["__meta_kubernetes_endpoints_label_app"], "istiod");
        assert_eq!(l["__meta_kubernetes_service_name"], "istiod");
        assert_eq!(l["__meta_kubernetes_service_annotation_x_io_y"], "z");
        assert!(!l.keys().any(|k| k.contains("endpoints_annotation") || k.contains("cluster_ip")), "{l:?}");
        let addresses: Vec<&str> = g.targets.iter().map(|t| t.address.as_str()).collect();
        assert_eq!(addresses, ["10.0.0.5:15014", "10.0.0.6:15014", "10.0.0.5:15010"]);
        let ready = &g.targets[0].labels;
        assert_eq!(ready["__meta_kubernetes_endpoint_ready"], "true");
        assert_eq!(ready["__meta_kubernetes_endpoint_node_name"], "n1");
        assert_eq!(ready["__meta_kubernetes_pod_name"], "istiod-1");
        assert_eq!(ready["__meta_kubernetes_pod_container_port_name"], "http-monitoring");
        let not_ready = &g.targets[1].labels;
        assert_eq!(not_ready["__meta_kubernetes_endpoint_ready"], "false");
        assert_eq!(not_ready["__meta_kubernetes_endpoint_hostname"], "h");
        assert!(!not_ready.contains_key("__meta_kubernetes_pod_name"), "no pod behind it");
        let other = &g.targets[2].labels;
        assert_eq!(other["__meta_kubernetes_pod_container_port_name"], "grpc-xds");
        assert!(!other.keys().any(|k| k.starts_with(E)), "not an endpoint's: {other:?}");
    }
}
