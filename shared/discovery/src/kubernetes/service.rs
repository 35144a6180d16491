//! `role: service`: a service becomes one target group (its name, namespace, labels and
//! annotations) with a target per port at `<name>.<namespace>.svc:<port>`, as Prometheus
//! 2.42 makes them (for blackbox probing of services, say).

use super::{Meta, NamedPort, Object, OwnGroup, join_host_port, labels_and_annotations};
use crate::{Target, TargetGroup};
use serde::Deserialize;
use std::collections::BTreeMap;

/// The fields of a service that discovery reads.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Service {
    metadata: Meta,
    spec: Spec,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Spec {
    ports: Vec<NamedPort>,
    #[serde(rename = "type")]
    kind: String,
    #[serde(rename = "clusterIP")]
    cluster_ip: String,
    external_name: String,
    #[serde(rename = "loadBalancerIP")]
    load_balancer_ip: String,
}

const S: &str = "__meta_kubernetes_service_";

impl Object for Service {
    const RESOURCE: &'static str = "services";
    const ROLE: &'static str = "service";

    fn meta(&self) -> &Meta {
        &self.metadata
    }
}

/// The service's name, namespace, labels and annotations (the `endpoints` role adds them
/// to its groups too).
pub(super) fn labels(svc: &Service) -> BTreeMap<String, String> {
    let m = &svc.metadata;
    let mut labels = BTreeMap::from([
        (format!("{S}name"), m.name.clone()),
        ("__meta_kubernetes_namespace".into(), m.namespace.clone()),
    ]);
    labels_and_annotations(S, m, &mut labels);
    labels
}

impl OwnGroup for Service {
    fn group(&self) -> TargetGroup {
        let (m, spec) = (&self.metadata, &self.spec);
        let host = format!("{}.{}.svc", m.name, m.namespace);
        let target = |p: &NamedPort| {
            let number = p.port.to_string();
            let mut labels = BTreeMap::from([
                (format!("{S}port_name"), p.name.clone()),
                (format!("{S}port_number"), number.clone()),
                (format!("{S}port_protocol"), p.protocol.clone()),
                (format!("{S}type"), spec.kind.clone()),
            ]);
            match spec.kind.as_str() {
                "ExternalName" => labels.insert(format!("{S}external_name"), spec.external_name.clone()),
                _ => labels.insert(format!("{S}cluster_ip"), spec.cluster_ip.clone()),
            };
            if spec.kind == "LoadBalancer" {
                labels.insert(format!("{S}loadbalancer_ip"), spec.load_balancer_ip.clone());
            }
            Target { address: join_host_port(&host, &number), labels }
        };
        let source = format!("svc/{}/{}", m.namespace, m.name);
        TargetGroup { targets: spec.ports.iter().map(target).collect(), labels: labels(self), source }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_is_a_group_with_a_target_per_port() {
        let svc: Service = serde_json::from_str(
            r#"{"metadata": {"name": "istiod", "namespace": "istio-system", "labels": {"app": "istiod"},
                "annotations": {"networking.istio.io/exportTo": "*"}},
                "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.10", "ports": [
                  {"name": "grpc-xds", "port": 15010, "protocol": "TCP"},
                  {"name": "http-monitoring", "port": 15014, "protocol": "TCP"}]}}"#,
        )
        .unwrap();
        let g = svc.group();
        assert_eq!(g.source, "svc/istio-system/istiod");
        assert_eq!(g.targets[1].address, "istiod.istio-system.svc:15014");
        let t = &g.targets[1].labels;
        assert_eq!(t["__meta_kubernetes_service_port_name"], "http-monitoring");
        assert_eq!(t["__meta_kubernetes_service_cluster_ip"], "10.96.0.10");
        assert_eq!(t["__meta_kubernetes_service_type"], "ClusterIP");
        assert_eq!(t.len(), 5, "{t:?}");
        assert_eq!(g.labels["__meta_kubernetes_service_annotation_networking_istio_io_exportTo"], "*");
        assert_eq!(g.labels.len(), 6, "{:?}", g.labels);
        let mut edge = svc;
        edge.spec.kind = "LoadBalancer".into();
        edge.spec.load_balancer_ip = "203.0.113.7".into();
        let t = &edge.group().targets[0].labels;
        assert_eq!(t["__meta_kubernetes_service_loadbalancer_ip"], "203.0.113.7");
        edge.spec.kind = "ExternalName".into();
        edge.spec.external_name = "db.example.org".into();
        let t = &edge.group().targets[0].labels;
        assert_eq!(t["__meta_kubernetes_service_external_name"], "db.example.org");
        assert!(!t.contains_key("__meta_kubernetes_service_cluster_ip"));
    }
}
