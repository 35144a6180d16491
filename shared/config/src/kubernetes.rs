//! `kubernetes_sd_configs`, with Prometheus's schema and checks (its words in the errors).

use crate::http::HttpClientConfig;
use serde::Deserialize;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KubernetesSdConfig {
    /// Without it (and without `kubeconfig_file`): the in-cluster service account.
    pub api_server: Option<String>,
    #[serde(default)]
    pub role: String,
    pub kubeconfig_file: Option<String>,
    #[serde(default)]
    pub namespaces: Namespaces,
    #[serde(default)]
    pub selectors: Vec<Selector>,
    #[serde(default)]
    pub attach_metadata: AttachMetadata,
    #[serde(flatten)]
    pub http: HttpClientConfig,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Namespaces {
    #[serde(default)]
    pub own_namespace: bool,
    #[serde(default)]
    pub names: Vec<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Selector {
    #[serde(default)]
    pub role: String,
    pub label: Option<String>,
    pub field: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttachMetadata {
    #[serde(default)]
    pub node: bool,
    /// Prometheus 3.6's: the namespace's labels and annotations on every namespaced role.
    #[serde(default)]
    pub namespace: bool,
}

const ROLES: [&str; 6] = ["pod", "service", "endpoints", "endpointslice", "node", "ingress"];

/// The roles whose selectors a role may use (Prometheus's table).
fn selector_roles(role: &str) -> &'static [&'static str] {
    match role {
        "endpoints" => &["pod", "service", "endpoints"],
        "endpointslice" => &["pod", "service", "endpointslice"],
        "pod" => &["pod"],
        "service" => &["service"],
        "node" => &["node"],
        _ => &["ingress"],
    }
}

impl KubernetesSdConfig {
    pub(crate) fn validate(&self) -> Result<(), String> {
        let role = self.role.as_str();
        if role.is_empty() {
            return Err("role missing (one of: pod, service, endpoints, endpointslice, node, ingress)".into());
        }
        if !ROLES.contains(&role) {
            return Err(format!("unknown Kubernetes SD role {role:?}"));
        }
        self.http.validate()?;
        self.check_connection()?;
        let mut seen = std::collections::HashSet::new();
        for s in &self.selectors {
            if !seen.insert(s.role.as_str()) {
                return Err(format!("duplicated selector role: {}", s.role));
            }
            let allowed = selector_roles(role);
            if !allowed.contains(&s.role.as_str()) {
                return Err(format!("{role} role supports only {} selectors", allowed.join(", ")));
            }
        }
        Ok(())
    }

    /// How the API server is reached: one way at a time, as Prometheus requires.
    fn check_connection(&self) -> Result<(), String> {
        let custom_http = self.http != HttpClientConfig::default();
        let own = self.namespaces.own_namespace;
        match (&self.api_server, &self.kubeconfig_file) {
            (Some(_), Some(_)) => Err("cannot use 'kubeconfig_file' and 'api_server' simultaneously".into()),
            (None, Some(_)) if custom_http => {
                Err("cannot use a custom HTTP client configuration together with 'kubeconfig_file'".into())
            }
            (None, None) if custom_http => {
                Err("to use custom HTTP client configuration please provide the 'api_server' URL explicitly".into())
            }
            (Some(_), None) if own => {
                Err("cannot use 'api_server' and 'namespaces.own_namespace' simultaneously".into())
            }
            (None, Some(_)) if own => {
                Err("cannot use 'kubeconfig_file' and 'namespaces.own_namespace' simultaneously".into())
            }
            (Some(url), None) if !(url.starts_with("http://") || url.starts_with("https://")) => {
                Err(format!("kubernetes_sd_configs api_server {url:?} must be an http or https URL"))
            }
            _ => Ok(()),
        }
    }
}

impl KubernetesSdConfig {
    pub(crate) fn resolve_paths(&mut self, join: &impl Fn(&mut String)) {
        self.http.resolve_paths(join);
        self.kubeconfig_file.iter_mut().for_each(join);
    }
}
