//! `attach_metadata`: the nodes (`node: true`) and namespaces (`namespace: true`, as in
//! Prometheus 3.6) watched beside a role's own objects, and the labels they add: a node's
//! name and labels to the targets of the roles with pods, a namespace's labels and
//! annotations to every namespaced role's groups. Any change to them rebuilds the groups.

use super::node::{self, Node};
use super::{Follow, Meta, Object, labels_and_annotations};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Namespace {
    metadata: Meta,
}

impl Object for Namespace {
    const RESOURCE: &'static str = "namespaces";
    const ROLE: &'static str = "namespace";
    const NAMESPACED: bool = false;

    fn meta(&self) -> &Meta {
        &self.metadata
    }
}

/// The nodes and namespaces known at one time (`None`: not asked for).
#[derive(Default)]
pub struct Metadata {
    pub nodes: Option<BTreeMap<String, Arc<Node>>>,
    pub namespaces: Option<BTreeMap<String, Arc<Namespace>>>,
}

impl Metadata {
    /// Which of nodes and namespaces the config asks for that the role uses, as in
    /// Prometheus: nodes for the roles with pods, namespaces for the namespaced roles.
    fn asked(follow: &Follow<'_>) -> (bool, bool) {
        let (a, role) = (&follow.cfg.attach_metadata, follow.cfg.role.as_str());
        (a.node && ["pod", "endpoints", "endpointslice"].contains(&role), a.namespace && role != "node")
    }

    /// Whether the role attaches any: it then keeps its objects and rebuilds its groups
    /// as these change.
    pub fn wanted(follow: &Follow<'_>) -> bool {
        Self::asked(follow) != (false, false)
    }

    /// Watches what the config asks for; the function returns what is known now.
    pub fn follow(follow: &mut Follow<'_>) -> impl Fn() -> Metadata + Send + use<> {
        let (node, namespace) = Self::asked(follow);
        let nodes = node.then(|| follow.kind::<Node, _>(|n| Some(Arc::new(n))));
        let namespaces = namespace.then(|| follow.kind::<Namespace, _>(|n| Some(Arc::new(n))));
        move || Metadata {
            nodes: nodes.as_ref().map(|n| n.by_key()),
            namespaces: namespaces.as_ref().map(|n| n.by_key()),
        }
    }

    /// The node `name`'s name and labels, when nodes are attached and it is known.
    pub fn node(&self, name: Option<&str>, labels: &mut BTreeMap<String, String>) {
        if let Some(nodes) = &self.nodes {
            node::attach(nodes, name, labels);
        }
    }

    /// The namespace's labels and annotations, when namespaces are attached and it is known.
    pub fn namespace(&self, name: &str, labels: &mut BTreeMap<String, String>) {
        if let Some(ns) = self.namespaces.as_ref().and_then(|all| all.get(name)) {
            labels_and_annotations("__meta_kubernetes_namespace_", &ns.metadata, labels);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_namespace_adds_its_labels_and_annotations_when_attached() {
        let ns: Namespace = serde_json::from_str(
            r#"{"metadata": {"name": "shop", "labels": {"istio-injection": "enabled"}, "annotations": {"owner": "team-a"}}}"#,
        )
        .unwrap();
        let mut m = Metadata::default();
        let mut labels = BTreeMap::new();
        m.namespace("shop", &mut labels);
        assert!(labels.is_empty(), "not asked for");
        m.namespaces = Some(BTreeMap::from([("shop".to_string(), Arc::new(ns))]));
        m.namespace("other", &mut labels);
        assert!(labels.is_empty(), "an unknown namespace adds nothing");
        m.namespace("shop", &mut labels);
        assert_eq!(labels["__meta_kubernetes_namespace_label_istio_injection"], "enabled");
        assert_eq!(labels["__meta_kubernetes_namespace_labelpresent_istio_injection"], "true");
        assert_eq!(labels["__meta_kubernetes_namespace_annotation_owner"], "team-a");
        assert_eq!(labels["__meta_kubernetes_namespace_annotationpresent_owner"], "true");
        assert_eq!(labels.len(), 4);
    }
}
