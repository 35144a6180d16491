//! `role: node`: a node becomes one target group (its name, provider ID, labels and
//! annotations) with one target, its kubelet at the node's preferred address, `instance`
//! set to the node's name: Prometheus 2.42's target and labels. `attach_metadata.node`
//! adds a node's name and labels to the targets of the pods on it ([`attach`]).

use super::{Meta, Object, OwnGroup, PRESENT, join_host_port, labels_and_annotations};
use crate::{Target, TargetGroup};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The fields of a node that discovery reads.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Node {
    metadata: Meta,
    spec: Spec,
    status: Status,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Spec {
    #[serde(rename = "providerID")]
    provider_id: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Status {
    addresses: Vec<Address>,
    daemon_endpoints: DaemonEndpoints,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Address {
    #[serde(rename = "type")]
    kind: String,
    address: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct DaemonEndpoints {
    kubelet_endpoint: KubeletEndpoint,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
struct KubeletEndpoint {
    port: u16,
}

const N: &str = "__meta_kubernetes_node_";

/// Which address a node is scraped at: the first of the first type present, in
/// Prometheus's order of preference.
const PREFERRED: [&str; 6] = ["InternalIP", "InternalDNS", "ExternalIP", "ExternalDNS", "LegacyHostIP", "Hostname"];

impl Object for Node {
    const RESOURCE: &'static str = "nodes";
    const ROLE: &'static str = "node";
    const NAMESPACED: bool = false;

    fn meta(&self) -> &Meta {
        &self.metadata
    }
}

impl OwnGroup for Node {
    /// Without an address the node has no target (Prometheus keeps its last one, with a
    /// warning; a node that lost its addresses cannot be scraped there either).
    fn group(&self) -> TargetGroup {
        let m = &self.metadata;
        let mut labels = BTreeMap::from([
            (format!("{N}name"), m.name.clone()),
            (format!("{N}provider_id"), self.spec.provider_id.clone()),
        ]);
        labels_and_annotations(N, m, &mut labels);
        let source = format!("node/{}", m.name);
        let Some(host) = self.address() else { return TargetGroup { source, ..TargetGroup::default() } };
        let port = self.status.daemon_endpoints.kubelet_endpoint.port.to_string();
        let mut target = BTreeMap::from([("instance".to_string(), m.name.clone())]);
        for a in &self.status.addresses {
            let name = cardinal_model::labels::sanitize_label_chars(&format!("{N}address_{}", a.kind));
            target.entry(name).or_insert_with(|| a.address.clone());
        }
        let target = Target { address: join_host_port(host, &port), labels: target };
        TargetGroup { targets: vec![target], labels, source }
    }
}

impl Node {
    fn address(&self) -> Option<&str> {
        let first = |kind: &str| self.status.addresses.iter().find(|a| a.kind == kind);
        PREFERRED.iter().find_map(|kind| first(kind)).map(|a| a.address.as_str())
    }
}

/// `attach_metadata.node`: the name and labels of the node `name`, when it is known.
pub(super) fn attach(nodes: &BTreeMap<String, Arc<Node>>, name: Option<&str>, out: &mut BTreeMap<String, String>) {
    let Some(node) = name.and_then(|n| nodes.get(n)) else { return };
    out.insert(format!("{N}name"), node.metadata.name.clone());
    for (k, v) in &node.metadata.labels {
        let name = cardinal_model::labels::sanitize_label_chars(k);
        out.insert(format!("{N}label_{name}"), v.clone());
        out.insert(format!("{N}labelpresent_{name}"), PRESENT.into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NODE: &str = r#"{"kind": "Node", "apiVersion": "v1",
      "metadata": {"name": "node-1", "labels": {"kubernetes.io/hostname": "node-1", "topology.kubernetes.io/zone": "a"},
                   "annotations": {"node.alpha.kubernetes.io/ttl": "0"}},
      "spec": {"providerID": "gce://p/z/node-1"},
      "status": {"addresses": [{"type": "Hostname", "address": "node-1"}, {"type": "ExternalIP", "address": "203.0.113.1"},
                               {"type": "InternalIP", "address": "10.128.0.2"}, {"type": "InternalIP", "address": "10.128.0.3"}],
                 "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}}}}"#;

    #[test]
    fn a_node_is_its_kubelet_at_the_preferred_address() {
        let node: Node = serde_json::from_str(NODE).unwrap();
        let g = node.group();
        assert_eq!(g.source, "node/node-1");
        assert_eq!(g.targets.len(), 1);
        let t = &g.targets[0];
        assert_eq!(t.address, "10.128.0.2:10250", "the first internal IP");
        assert_eq!(t.labels["instance"], "node-1");
        assert_eq!(t.labels["__meta_kubernetes_node_address_InternalIP"], "10.128.0.2");
        assert_eq!(t.labels["__meta_kubernetes_node_address_ExternalIP"], "203.0.113.1");
        assert_eq!(t.labels["__meta_kubernetes_node_address_Hostname"], "node-1");
        assert_eq!(t.labels.len(), 4, "{:?}", t.labels);
        let l = &g.labels;
        assert_eq!(l["__meta_kubernetes_node_name"], "node-1");
        assert_eq!(l["__meta_kubernetes_node_provider_id"], "gce://p/z/node-1");
        assert_eq!(l["__meta_kubernetes_node_label_topology_kubernetes_io_zone"], "a");
        assert_eq!(l["__meta_kubernetes_node_annotationpresent_node_alpha_kubernetes_io_ttl"], "true");
        assert_eq!(l.len(), 8, "{l:?}");
    }

    #[test]
    fn a_node_without_addresses_has_no_target_and_attached_metadata_is_its_labels() {
        let bare = NODE.replace(r#""addresses": ["#, r#""ignored": ["#);
        assert!(serde_json::from_str::<Node>(&bare).unwrap().group().targets.is_empty());
        let nodes = BTreeMap::from([("node-1".to_string(), Arc::new(serde_json::from_str::<Node>(NODE).unwrap()))]);
        let mut out = BTreeMap::new();
        attach(&nodes, Some("node-2"), &mut out);
        assert!(out.is_empty(), "an unknown node adds nothing");
        attach(&nodes, Some("node-1"), &mut out);
        assert_eq!(out["__meta_kubernetes_node_name"], "node-1");
        assert_eq!(out["__meta_kubernetes_node_label_kubernetes_io_hostname"], "node-1");
        assert_eq!(out["__meta_kubernetes_node_labelpresent_topology_kubernetes_io_zone"], "true");
        assert_eq!(out.len(), 5, "no annotations: {out:?}");
    }
}
