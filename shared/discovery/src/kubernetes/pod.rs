//! `role: pod`: a pod becomes one target group (its labels, annotations, phase,
//! readiness, node, controller) with a target per container port, and one per container
//! without ports (the pod's IP alone), init containers included: Prometheus 2.42's
//! targets and `__meta_kubernetes_*` labels, name for name.

use super::{Meta, Object, OwnGroup, join_host_port, labels_and_annotations};
use crate::{Target, TargetGroup};
use serde::Deserialize;
use std::collections::BTreeMap;

/// The fields of a pod that discovery reads (the API server sends many more).
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Pod {
    pub(super) metadata: Meta,
    pub(super) spec: Spec,
    pub(super) status: Status,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct Spec {
    node_name: String,
    pub(super) containers: Vec<Container>,
    init_containers: Vec<Container>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct Container {
    pub(super) name: String,
    pub(super) image: String,
    pub(super) ports: Vec<Port>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct Port {
    pub(super) name: String,
    pub(super) container_port: u16,
    pub(super) protocol: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct Status {
    phase: String,
    #[serde(rename = "podIP")]
    pub(super) pod_ip: String,
    #[serde(rename = "hostIP")]
    host_ip: String,
    conditions: Vec<Condition>,
    container_statuses: Vec<ContainerStatus>,
    init_container_statuses: Vec<ContainerStatus>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Condition {
    #[serde(rename = "type")]
    kind: String,
    status: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct ContainerStatus {
    name: String,
    #[serde(rename = "containerID")]
    container_id: String,
}

const P: &str = "__meta_kubernetes_pod_";

impl Object for Pod {
    const RESOURCE: &'static str = "pods";
    const ROLE: &'static str = "pod";

    fn meta(&self) -> &Meta {
        &self.metadata
    }
}

impl OwnGroup for Pod {
    fn group(&self) -> TargetGroup {
        group(self)
    }

    fn node_name(&self) -> Option<&str> {
        Some(&self.spec.node_name)
    }
}

/// The pod's group; one without targets while it has no IP (starting, or evicted), as
/// in Prometheus, so its targets go away.
fn group(pod: &Pod) -> TargetGroup {
    let source = format!("pod/{}/{}", pod.metadata.namespace, pod.metadata.name);
    if pod.status.pod_ip.is_empty() {
        return TargetGroup { source, ..TargetGroup::default() };
    }
    let mut targets = Vec::new();
    let all = pod.spec.containers.iter().map(|c| (c, false)).chain(pod.spec.init_containers.iter().map(|c| (c, true)));
    for (c, init) in all {
        let statuses = if init { &pod.status.init_container_statuses } else { &pod.status.container_statuses };
        let id = statuses.iter().find(|s| s.name == c.name).map_or("", |s| &s.container_id);
        let container = |address: String| {
            let labels = BTreeMap::from([
                (format!("{P}container_name"), c.name.clone()),
                (format!("{P}container_id"), id.to_string()),
                (format!("{P}container_image"), c.image.clone()),
                (format!("{P}container_init"), init.to_string()),
            ]);
            Target { address, labels }
        };
        if c.ports.is_empty() {
            // No port to scrape: the pod's IP alone, for relabelling to complete.
            targets.push(container(pod.status.pod_ip.clone()));
        }
        for port in &c.ports {
            let number = port.container_port.to_string();
            let mut t = container(join_host_port(&pod.status.pod_ip, &number));
            t.labels.insert(format!("{P}container_port_number"), number);
            t.labels.insert(format!("{P}container_port_name"), port.name.clone());
            t.labels.insert(format!("{P}container_port_protocol"), port.protocol.clone());
            targets.push(t);
        }
    }
    let mut labels = labels(pod);
    labels.insert("__meta_kubernetes_namespace".into(), pod.metadata.namespace.clone());
    TargetGroup { targets, labels, source }
}

/// The container with port `number`, and that port (the first such).
pub(super) fn container_with_port(pod: &Pod, number: u16) -> Option<(&Container, &Port)> {
    let mut ports = pod.spec.containers.iter().flat_map(|c| c.ports.iter().map(move |p| (c, p)));
    ports.find(|(_, p)| p.container_port == number)
}

/// The labels of a container port targeted through endpoints.
pub(super) fn container_labels(c: &Container, p: &Port, protocol: &str) -> [(String, String); 5] {
    [
        (format!("{P}container_name"), c.name.clone()),
        (format!("{P}container_image"), c.image.clone()),
        (format!("{P}container_port_name"), p.name.clone()),
        (format!("{P}container_port_number"), p.container_port.to_string()),
        (format!("{P}container_port_protocol"), protocol.to_string()),
    ]
}

/// A target for each container port of `pod` its endpoints did not cover.
pub(super) fn other_ports(pod: &Pod, covered: &[u16]) -> Vec<Target> {
    let mut out = Vec::new();
    for c in &pod.spec.containers {
        for p in c.ports.iter().filter(|p| !covered.contains(&p.container_port)) {
            let mut labels: BTreeMap<String, String> = container_labels(c, p, &p.protocol).into_iter().collect();
            labels.extend(self::labels(pod));
            out.push(Target { address: join_host_port(&pod.status.pod_ip, &p.container_port.to_string()), labels });
        }
    }
    out
}

/// The pod's own labels (the `endpoints` role adds them to its targets too).
pub(super) fn labels(pod: &Pod) -> BTreeMap<String, String> {
    let (m, s) = (&pod.metadata, &pod.status);
    let ready = s.conditions.iter().find(|c| c.kind == "Ready").map_or("unknown".into(), |c| c.status.to_lowercase());
    let mut l = BTreeMap::from([
        (format!("{P}name"), m.name.clone()),
        (format!("{P}ip"), s.pod_ip.clone()),
        (format!("{P}ready"), ready),
        (format!("{P}phase"), s.phase.clone()),
        (format!("{P}node_name"), pod.spec.node_name.clone()),
        (format!("{P}host_ip"), s.host_ip.clone()),
        (format!("{P}uid"), m.uid.clone()),
    ]);
    if let Some(owner) = m.owner_references.iter().find(|o| o.controller) {
        if !owner.kind.is_empty() {
            l.insert(format!("{P}controller_kind"), owner.kind.clone());
        }
        if !owner.name.is_empty() {
            l.insert(format!("{P}controller_name"), owner.name.clone());
        }
    }
    labels_and_annotations(P, m, &mut l);
    l
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An Istio-injected pod as the API server returns it (fields discovery ignores
    /// trimmed, a few kept to show they are ignored).
    const POD: &str = r#"{
      "kind": "Pod", "apiVersion": "v1",
      "metadata": {"name": "reviews-v1-7f9c", "namespace": "bookinfo", "uid": "u-1", "resourceVersion": "42",
        "labels": {"app": "reviews", "app.kubernetes.io/version": "v1"},
        "annotations": {"prometheus.io/scrape": "true", "prometheus.io/port": "15020"},
        "ownerReferences": [{"kind": "ReplicaSet", "name": "reviews-v1-7f9c", "controller": true, "uid": "r"}],
        "managedFields": [{"manager": "kubelet"}]},
      "spec": {"nodeName": "node-1",
        "containers": [
          {"name": "reviews", "image": "reviews:1", "ports": [{"containerPort": 9080, "protocol": "TCP"}]},
          {"name": "istio-proxy", "image": "proxyv2:1.20", "ports": [
            {"name": "http-envoy-prom", "containerPort": 15090, "protocol": "TCP"}]},
          {"name": "sidecar", "image": "busybox"}],
        "initContainers": [{"name": "istio-init", "image": "proxyv2:1.20"}]},
      "status": {"phase": "Running", "podIP": "10.0.0.7", "hostIP": "192.168.1.2",
        "conditions": [{"type": "Initialized", "status": "True"}, {"type": "Ready", "status": "True"}],
        "containerStatuses": [{"name": "reviews", "containerID": "containerd://abc"}],
        "initContainerStatuses": [{"name": "istio-init", "containerID": "containerd://def"}]}
    }"#;

    fn pod(json: &str) -> Pod {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn a_pod_is_a_group_with_a_target_per_port_and_per_portless_container() {
        let g = group(&pod(POD));
        assert_eq!(g.source, "pod/bookinfo/reviews-v1-7f9c");
        let addresses: Vec<&str> = g.targets.iter().map(|t| t.address.as_str()).collect();
        assert_eq!(addresses, ["10.0.0.7:9080", "10.0.0.7:15090", "10.0.0.7", "10.0.0.7"]);
        let l = &g.labels;
        for (name, value) in [
            ("__meta_kubernetes_namespace", "bookinfo"),
            ("__meta_kubernetes_pod_name", "reviews-v1-7f9c"),
            ("__meta_kubernetes_pod_ip", "10.0.0.7"),
            ("__meta_kubernetes_pod_ready", "true"),
            ("__meta_kubernetes_pod_phase", "Running"),
            ("__meta_kubernetes_pod_node_name", "node-1"),
            ("__meta_kubernetes_pod_host_ip", "192.168.1.2"),
            ("__meta_kubernetes_pod_uid", "u-1"),
            ("__meta_kubernetes_pod_controller_kind", "ReplicaSet"),
            ("__meta_kubernetes_pod_controller_name", "reviews-v1-7f9c"),
            ("__meta_kubernetes_pod_label_app", "reviews"),
            ("__meta_kubernetes_pod_labelpresent_app", "true"),
            ("__meta_kubernetes_pod_label_app_kubernetes_io_version", "v1"),
            ("__meta_kubernetes_pod_annotation_prometheus_io_scrape", "true"),
            ("__meta_kubernetes_pod_annotationpresent_prometheus_io_port", "true"),
        ] {
            assert_eq!(l.get(name).map(String::as_str), Some(value), "{name}");
        }
        assert_eq!(l.len(), 18, "nothing else on the group: {l:?}");
        let envoy = &g.targets[1].labels;
        assert_eq!(envoy["__meta_kubernetes_pod_container_port_name"], "http-envoy-prom");
        assert_eq!(envoy["__meta_kubernetes_pod_container_port_number"], "15090");
        assert_eq!(envoy["__meta_kubernetes_pod_container_port_protocol"], "TCP");
        assert_eq!(envoy["__meta_kubernetes_pod_container_id"], "", "no status for it yet");
        assert_eq!(g.targets[0].labels["__meta_kubernetes_pod_container_id"], "containerd://abc");
        let portless = &g.targets[2].labels;
        assert_eq!(portless.len(), 4, "name, id, image, init only: {portless:?}");
        let init = &g.targets[3].labels;
        assert_eq!(init["__meta_kubernetes_pod_container_init"], "true");
        assert_eq!(init["__meta_kubernetes_pod_container_id"], "containerd://def");
        assert_eq!(g.targets[0].labels["__meta_kubernetes_pod_container_init"], "false");
    }

    #[test]
    fn a_pod_without_an_ip_has_no_targets_and_readiness_defaults_to_unknown() {
        let starting = POD.replace(r#""podIP": "10.0.0.7","#, "");
        let g = group(&pod(&starting));
        assert!(g.targets.is_empty() && g.labels.is_empty());
        assert_eq!(g.source, "pod/bookinfo/reviews-v1-7f9c");
        let unready =
            POD.replace(r#"{"type": "Ready", "status": "True"}"#, r#"{"type": "PodScheduled", "status": "True"}"#);
        assert_eq!(group(&pod(&unready)).labels["__meta_kubernetes_pod_ready"], "unknown");
        let v6 = POD.replace("10.0.0.7", "fd00::7");
        assert_eq!(group(&pod(&v6)).targets[0].address, "[fd00::7]:9080");
    }
}
