//! `role: endpointslice`: an EndpointSlice (`discovery.k8s.io/v1`) becomes one target
//! group with a target per endpoint address and port, joined, as `endpoints` is, with
//! its service (named by the slice's `kubernetes.io/service-name` label) and the pods
//! behind its addresses, whose other container ports become targets too. Prometheus
//! 2.42's targets and labels, name for name.

use super::endpoints::{Behind, Reference, SeenPods};
use super::pod::{self, Pod};
use super::{Meta, Object, PRESENT, join_host_port, service};
use crate::{Target, TargetGroup};
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct EndpointSlice {
    metadata: Meta,
    address_type: String,
    endpoints: Vec<Endpoint>,
    ports: Vec<Port>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Endpoint {
    addresses: Vec<String>,
    conditions: Conditions,
    hostname: Option<String>,
    node_name: Option<String>,
    target_ref: Option<Reference>,
    deprecated_topology: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Conditions {
    ready: Option<bool>,
    serving: Option<bool>,
    terminating: Option<bool>,
}

/// Every field optional, as in the API: a port without a number targets the address alone.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Port {
    name: Option<String>,
    protocol: Option<String>,
    port: Option<u16>,
    app_protocol: Option<String>,
}

const S: &str = "__meta_kubernetes_endpointslice_";

/// The label naming a slice's service, Kubernetes' convention.
const SERVICE_NAME: &str = "kubernetes.io/service-name";

impl Object for EndpointSlice {
    const RESOURCE: &'static str = "endpointslices";
    const ROLE: &'static str = "endpointslice";
    const API: &'static str = "/apis/discovery.k8s.io/v1";

    fn meta(&self) -> &Meta {
        &self.metadata
    }
}

/// The group of `slice`, with what is `behind` it.
pub(super) fn group(slice: &EndpointSlice, behind: &Behind) -> TargetGroup {
    let m = &slice.metadata;
    let mut labels = BTreeMap::from([
        ("__meta_kubernetes_namespace".to_string(), m.namespace.clone()),
        (format!("{S}name"), m.name.clone()),
        (format!("{S}address_type"), slice.address_type.clone()),
    ]);
    let service = m.labels.get(SERVICE_NAME).map(|name| format!("{}/{name}", m.namespace));
    if let Some(svc) = service.and_then(|key| behind.services.get(&key)) {
        labels.extend(service::labels(svc));
    }
    behind.metadata.namespace(&m.namespace, &mut labels);
    let mut targets = Vec::new();
    let mut seen = SeenPods::default();
    for ep in &slice.endpoints {
        for port in &slice.ports {
            for addr in &ep.addresses {
                let mut t = address_target(addr, ep, port);
                behind.metadata.node(ep.node_name.as_deref(), &mut t.labels);
                if let Some(pod) = behind.pod(ep.target_ref.as_ref()) {
                    t.labels.extend(pod::labels(pod));
                    container_port(pod, port, &mut t.labels);
                    seen.note(pod, port.port);
                }
                targets.push(t);
            }
        }
    }
    targets.extend(seen.other_ports());
    TargetGroup { targets, labels, source: format!("endpointslice/{}/{}", m.namespace, m.name) }
}

fn address_target(addr: &str, ep: &Endpoint, port: &Port) -> Target {
    let mut labels = BTreeMap::new();
    let mut put = |name: &str, value: Option<String>| {
        if let Some(v) = value {
            labels.insert(format!("{S}{name}"), v);
        }
    };
    put("port_name", port.name.clone());
    put("port_protocol", port.protocol.clone());
    put("port", port.port.map(|p| p.to_string()));
    put("port_app_protocol", port.app_protocol.clone());
    let c = &ep.conditions;
    put("endpoint_conditions_ready", c.ready.map(|b| b.to_string()));
    put("endpoint_conditions_serving", c.serving.map(|b| b.to_string()));
    put("endpoint_conditions_terminating", c.terminating.map(|b| b.to_string()));
    put("endpoint_hostname", ep.hostname.clone());
    put("address_target_kind", ep.target_ref.as_ref().map(|r| r.kind.clone()));
    put("address_target_name", ep.target_ref.as_ref().map(|r| r.name.clone()));
    for (k, v) in &ep.deprecated_topology {
        let name = cardinal_model::labels::sanitize_label_chars(k);
        labels.insert(format!("{S}endpoint_topology_{name}"), v.clone());
        labels.insert(format!("{S}endpoint_topology_present_{name}"), PRESENT.into());
    }
    let address = match port.port {
        Some(p) => join_host_port(addr, &p.to_string()),
        None => addr.to_string(),
    };
    Target { address, labels }
}

/// The pod's container port the slice's port is: with the container port's own protocol
/// (the `endpoints` role takes the endpoint port's).
fn container_port(pod: &Pod, port: &Port, labels: &mut BTreeMap<String, String>) {
    if let Some((c, p)) = port.port.and_then(|n| pod::container_with_port(pod, n)) {
        labels.extend(pod::container_labels(c, p, &p.protocol));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_slice_joins_its_service_and_pods_as_prometheus_does() {
        let slice: EndpointSlice = serde_json::from_str(
            r#"{"metadata": {"name": "istiod-x7k2", "namespace": "istio-system",
                 "labels": {"kubernetes.io/service-name": "istiod", "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"}},
                "addressType": "IPv4",
                "endpoints": [
                  {"addresses": ["10.0.0.5"], "conditions": {"ready": true, "serving": true, "terminating": false},
                   "nodeName": "n1", "targetRef": {"kind": "Pod", "name": "istiod-1", "namespace": "istio-system"},
                   "deprecatedTopology": {"topology.kubernetes.io/zone": "a"}},
                  {"addresses": ["10.0.0.6"], "conditions": {"ready": false}, "hostname": "h"}],
                "ports": [{"name": "http-monitoring", "port": 15014, "protocol": "TCP", "appProtocol": "http"}]}"#,
        )
        .unwrap();
        let svc = serde_json::from_str(
            r#"{"metadata": {"name": "istiod", "namespace": "istio-system"}, "spec": {"type": "ClusterIP"}}"#,
        )
        .unwrap();
        let pod = serde_json::from_str(
            r#"{"metadata": {"name": "istiod-1", "namespace": "istio-system"},
                "spec": {"containers": [{"name": "discovery", "image": "pilot:1.20", "ports": [
                  {"name": "http-monitoring", "containerPort": 15014, "protocol": "UDP"},
                  {"name": "grpc-xds", "containerPort": 15010, "protocol": "TCP"}]}]},
                "status": {"podIP": "10.0.0.5", "phase": "Running"}}"#,
        )
        .unwrap();
        let behind = Behind {
            services: BTreeMap::from([("istio-system/istiod".to_string(), Arc::new(svc))]),
            pods: BTreeMap::from([("istio-system/istiod-1".to_string(), Arc::new(pod))]),
            metadata: Default::default(),
        };
        let g = group(&slice, &behind);
        assert_eq!(g.source, "endpointslice/istio-system/istiod-x7k2");
        assert_eq!(g.labels["__meta_kubernetes_endpointslice_address_type"], "IPv4");
        assert_eq!(g.labels["__meta_kubernetes_service_name"], "istiod");
        assert!(
            !g.labels.keys().any(|k| k.contains("endpointslice_label")),
            "2.42 has no slice labels: {:?}",
            g.labels
        );
        let addresses: Vec<&str> = g.targets.iter().map(|t| t.address.as_str()).collect();
        assert_eq!(addresses, ["10.0.0.5:15014", "10.0.0.6:15014", "10.0.0.5:15010"]);
        let ready = &g.targets[0].labels;
        for (name, value) in [
            ("port", "15014"),
            ("port_name", "http-monitoring"),
            ("port_protocol", "TCP"),
            ("port_app_protocol", "http"),
            ("endpoint_conditions_ready", "true"),
            ("endpoint_conditions_serving", "true"),
            ("endpoint_conditions_terminating", "false"),
            ("address_target_kind", "Pod"),
            ("address_target_name", "istiod-1"),
            ("endpoint_topology_topology_kubernetes_io_zone", "a"),
            ("endpoint_topology_present_topology_kubernetes_io_zone", "true"),
        ] {
            assert_eq!(ready.get(&format!("{S}{name}")).map(String::as_str), Some(value), "{name}");
        }
        assert_eq!(ready["__meta_kubernetes_pod_container_port_protocol"], "UDP", "the container port's");
        let not_ready = &g.targets[1].labels;
        assert_eq!(not_ready[&format!("{S}endpoint_conditions_ready")], "false");
        assert_eq!(not_ready[&format!("{S}endpoint_hostname")], "h");
        assert!(!not_ready.contains_key(&format!("{S}endpoint_conditions_serving")), "absent, not false");
        assert!(!not_ready.contains_key("__meta_kubernetes_pod_name"));
        let other = &g.targets[2].labels;
        assert_eq!(other["__meta_kubernetes_pod_container_port_name"], "grpc-xds");
        assert!(!other.keys().any(|k| k.starts_with(S)), "not a slice endpoint's: {other:?}");
    }
}
