//! Reaching the API server: `api_server` with the HTTP client settings beside it, a
//! kubeconfig (`kubeconfig.rs`), or, without either, the pod's own service account
//! (in-cluster config); and reading its answers within bounds.

use super::join_host_port;
use cardinal_config::{Authorization, HttpClientConfig, KubernetesSdConfig};
use std::path::Path;

/// Where a pod finds its service account's credentials, Kubernetes' convention.
const SERVICE_ACCOUNT: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// The largest list page or watch event read (pages are of 500 objects).
pub const MAX_READ: usize = 64 << 20;

/// How to reach the API server.
#[derive(Clone)]
pub struct Api {
    pub(super) base: String,
    client: reqwest::Client,
    /// The credentials, added to each request (files read afresh).
    pub(super) http: HttpClientConfig,
}

impl Api {
    /// `api_server` as configured, a kubeconfig's current context, or the in-cluster
    /// service account; with the pod's own namespace when `namespaces.own_namespace` asks
    /// for it.
    pub fn connect(cfg: &KubernetesSdConfig) -> Result<(Api, Option<String>), String> {
        match (&cfg.api_server, &cfg.kubeconfig_file) {
            (Some(url), _) => Ok((Api::new(url.trim_end_matches('/').to_string(), cfg.http.clone())?, None)),
            (None, Some(file)) => Ok((super::kubeconfig::load(file)?, None)),
            (None, None) => {
                let env = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
                let host_port = env("KUBERNETES_SERVICE_HOST").zip(env("KUBERNETES_SERVICE_PORT"));
                in_cluster(Path::new(SERVICE_ACCOUNT), host_port, cfg.namespaces.own_namespace)
            }
        }
    }

    fn new(base: String, http: HttpClientConfig) -> Result<Api, String> {
        Ok(Api { base, client: cardinal_client::build_client(&http)?, http })
    }

    /// An API server reached with `client`, `http`'s credentials on each request.
    pub fn with_client(base: String, client: reqwest::Client, http: HttpClientConfig) -> Api {
        Api { base, client, http }
    }

    pub async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<reqwest::Response, Failure> {
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

/// Why a list or watch stopped.
#[derive(Debug)]
pub enum Failure {
    /// The resourceVersion is too old: list again.
    Gone,
    Other(String),
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
}
