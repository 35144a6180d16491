//! `role: ingress`: an Ingress (`networking.k8s.io/v1`) becomes one target group (its
//! name, namespace, class, labels and annotations) with a target per rule and path, at
//! the rule's host, `https` where a TLS entry covers the host: Prometheus 2.42's targets
//! and labels (for blackbox probing of what an ingress serves).

use super::{Meta, Object, OwnGroup, labels_and_annotations};
use crate::{Target, TargetGroup};
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Ingress {
    metadata: Meta,
    spec: Spec,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Spec {
    ingress_class_name: Option<String>,
    rules: Vec<Rule>,
    tls: Vec<Tls>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Rule {
    host: String,
    http: Option<Http>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Http {
    paths: Vec<Path>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Path {
    path: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Tls {
    hosts: Vec<String>,
}

const I: &str = "__meta_kubernetes_ingress_";

impl Object for Ingress {
    const RESOURCE: &'static str = "ingresses";
    const ROLE: &'static str = "ingress";
    const API: &'static str = "/apis/networking.k8s.io/v1";

    fn meta(&self) -> &Meta {
        &self.metadata
    }
}

impl OwnGroup for Ingress {
    fn group(&self) -> TargetGroup {
        let m = &self.metadata;
        let mut labels = BTreeMap::from([
            (format!("{I}name"), m.name.clone()),
            ("__meta_kubernetes_namespace".into(), m.namespace.clone()),
        ]);
        if let Some(class) = &self.spec.ingress_class_name {
            labels.insert(format!("{I}class_name"), class.clone());
        }
        labels_and_annotations(I, m, &mut labels);
        let mut targets = Vec::new();
        for rule in &self.spec.rules {
            let tls = self.spec.tls.iter().flat_map(|t| &t.hosts).any(|pattern| host_matches(pattern, &rule.host));
            let scheme = if tls { "https" } else { "http" };
            // No `http` section: the host's root; an empty path is the root too.
            let paths = match &rule.http {
                None => vec!["/"],
                Some(h) => h.paths.iter().map(|p| if p.path.is_empty() { "/" } else { p.path.as_str() }).collect(),
            };
            for path in paths {
                let labels = BTreeMap::from([
                    (format!("{I}scheme"), scheme.to_string()),
                    (format!("{I}host"), rule.host.clone()),
                    (format!("{I}path"), path.to_string()),
                ]);
                targets.push(Target { address: rule.host.clone(), labels });
            }
        }
        TargetGroup { targets, labels, source: format!("ingress/{}/{}", m.namespace, m.name) }
    }
}

/// Whether a TLS host (`shop.example.org`, or `*.example.org` for exactly one more
/// label) covers `host`.
fn host_matches(pattern: &str, host: &str) -> bool {
    if pattern == host {
        return true;
    }
    let (pattern, host): (Vec<&str>, Vec<&str>) = (pattern.split('.').collect(), host.split('.').collect());
    pattern[0] == "*" && pattern.len() == host.len() && pattern[1..] == host[1..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ingress_is_a_target_per_rule_and_path() {
        let ing: Ingress = serde_json::from_str(
            r#"{"metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web"}, "annotations": {"kubernetes.io/ingress.class": "nginx"}},
                "spec": {"ingressClassName": "nginx",
                  "tls": [{"hosts": ["*.example.org"]}],
                  "rules": [{"host": "shop.example.org", "http": {"paths": [{"path": "/cart"}, {"path": ""}]}},
                            {"host": "example.com"},
                            {"host": "a.b.example.org", "http": {"paths": [{"path": "/"}]}}]}}"#,
        )
        .unwrap();
        let g = ing.group();
        assert_eq!(g.source, "ingress/shop/web");
        let seen: Vec<String> = g
            .targets
            .iter()
            .map(|t| {
                format!(
                    "{} {}{}",
                    t.labels["__meta_kubernetes_ingress_scheme"], t.address, t.labels["__meta_kubernetes_ingress_path"]
                )
            })
            .collect();
        assert_eq!(
            seen,
            ["https shop.example.org/cart", "https shop.example.org/", "http example.com/", "http a.b.example.org/"]
        );
        assert_eq!(g.targets[0].labels["__meta_kubernetes_ingress_host"], "shop.example.org");
        let l = &g.labels;
        assert_eq!(l["__meta_kubernetes_ingress_name"], "web");
        assert_eq!(l["__meta_kubernetes_namespace"], "shop");
        assert_eq!(l["__meta_kubernetes_ingress_class_name"], "nginx");
        assert_eq!(l["__meta_kubernetes_ingress_annotation_kubernetes_io_ingress_class"], "nginx");
        assert_eq!(l.len(), 7, "{l:?}");
    }
}
