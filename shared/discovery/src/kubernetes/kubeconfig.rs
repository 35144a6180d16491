//! `kubeconfig_file`: the API server, its CA and the user's credentials from a kubeconfig
//! (its `current-context`), as `kubectl` reads them. Paths in it are relative to the
//! file; `…-data` fields hold the PEM inline, base64-encoded. Credential plugins (`exec`,
//! `auth-provider`) are refused with that said.

use super::api::Api;
use base64::Engine;
use cardinal_client::Pem;
use cardinal_config::{Authorization, BasicAuth, HttpClientConfig};
use serde::Deserialize;
use std::path::Path;

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct KubeConfig {
    #[serde(default)]
    current_context: String,
    #[serde(default)]
    contexts: Vec<Named<Context>>,
    #[serde(default)]
    clusters: Vec<Named<Cluster>>,
    #[serde(default)]
    users: Vec<Named<User>>,
}

#[derive(Deserialize)]
struct Named<T> {
    name: String,
    #[serde(alias = "context", alias = "cluster", alias = "user")]
    value: T,
}

#[derive(Deserialize)]
struct Context {
    cluster: String,
    #[serde(default)]
    user: String,
}

#[derive(Default, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
struct Cluster {
    server: String,
    certificate_authority: Option<String>,
    certificate_authority_data: Option<String>,
    insecure_skip_tls_verify: bool,
}

#[derive(Default, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
struct User {
    token: Option<String>,
    #[serde(rename = "tokenFile")]
    token_file: Option<String>,
    client_certificate: Option<String>,
    client_certificate_data: Option<String>,
    client_key: Option<String>,
    client_key_data: Option<String>,
    username: Option<String>,
    password: Option<String>,
    exec: Option<serde::de::IgnoredAny>,
    auth_provider: Option<serde::de::IgnoredAny>,
}

/// How to reach the API server the kubeconfig at `path` names in its current context.
pub fn load(path: &str) -> Result<Api, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("kubeconfig_file {path}: {e}"))?;
    let cfg: KubeConfig = serde_saphyr::from_str(&text).map_err(|e| format!("kubeconfig_file {path}: {e}"))?;
    let dir = Path::new(path).parent().unwrap_or(Path::new("."));
    connect(&cfg, dir).map_err(|e| format!("kubeconfig_file {path}: {e}"))
}

fn connect(cfg: &KubeConfig, dir: &Path) -> Result<Api, String> {
    let find = |what: &str, name: &str| format!("{what} {name:?} not found");
    let ctx =
        cfg.contexts.iter().find(|c| c.name == cfg.current_context).ok_or(find("context", &cfg.current_context))?;
    let cluster =
        &cfg.clusters.iter().find(|c| c.name == ctx.value.cluster).ok_or(find("cluster", &ctx.value.cluster))?.value;
    let user = match ctx.value.user.as_str() {
        "" => &User::default(),
        name => &cfg.users.iter().find(|u| u.name == name).ok_or(find("user", name))?.value,
    };
    if user.exec.is_some() || user.auth_provider.is_some() {
        return Err(
            "credential plugins (exec, auth-provider) are not supported: use a token or client certificate".into()
        );
    }
    let mut http = HttpClientConfig::default();
    http.tls_config.insecure_skip_verify = cluster.insecure_skip_tls_verify;
    if let Some(token) = &user.token {
        http.authorization = Some(Authorization { credentials: Some(token.clone()), ..Authorization::default() });
    } else if let Some(file) = &user.token_file {
        http.authorization =
            Some(Authorization { credentials_file: Some(relative(dir, file)), ..Authorization::default() });
    } else if let Some(username) = &user.username {
        http.basic_auth =
            Some(BasicAuth { username: username.clone(), password: user.password.clone(), password_file: None });
    }
    let ca = pem(dir, &cluster.certificate_authority_data, &cluster.certificate_authority)?;
    let identity = match (
        pem(dir, &user.client_certificate_data, &user.client_certificate)?,
        pem(dir, &user.client_key_data, &user.client_key)?,
    ) {
        (Some(cert), Some(key)) => Some([cert, key].concat()),
        _ => None,
    };
    let client = cardinal_client::client_with(&http, Pem { ca, identity })?;
    Ok(Api::with_client(cluster.server.trim_end_matches('/').to_string(), client, http))
}

/// A PEM held inline (base64) or in a file (relative to the kubeconfig's directory).
fn pem(dir: &Path, data: &Option<String>, file: &Option<String>) -> Result<Option<Vec<u8>>, String> {
    if let Some(data) = data {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(data.trim())
            .map_err(|e| format!("invalid base64 data: {e}"))?;
        return Ok(Some(bytes));
    }
    file.as_ref().map(|f| std::fs::read(relative(dir, f)).map_err(|e| format!("unable to read {f}: {e}"))).transpose()
}

fn relative(dir: &Path, file: &str) -> String {
    dir.join(file).display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_current_context_gives_the_server_its_ca_and_the_users_credentials() {
        let dir = tempfile::tempdir().unwrap();
        let pki = testbed::tls::Pki::write(dir.path(), &["127.0.0.1"]).unwrap();
        let ca = base64::engine::general_purpose::STANDARD.encode(std::fs::read(pki.path("ca.crt")).unwrap());
        std::fs::write(dir.path().join("token"), "t0ken\n").unwrap();
        let kubeconfig = format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: prod\npreferences: {{}}\n\
             contexts:\n- name: dev\n  context: {{cluster: nowhere, user: nobody}}\n\
             - name: prod\n  context: {{cluster: prod, user: admin, namespace: mesh}}\n\
             clusters:\n- name: prod\n  cluster: {{server: 'https://127.0.0.1:6443/', certificate-authority-data: {ca}}}\n\
             users:\n- name: admin\n  user: {{tokenFile: token}}\n"
        );
        let path = dir.path().join("config");
        std::fs::write(&path, &kubeconfig).unwrap();
        let api = load(path.to_str().unwrap()).unwrap();
        assert_eq!(api.base, "https://127.0.0.1:6443");
        let creds = api.http.credentials().unwrap();
        assert_eq!(creds, Some(cardinal_config::Credentials::Header("Bearer t0ken".into())), "tokenFile beside it");

        let other = kubeconfig.replace("current-context: prod", "current-context: dev");
        std::fs::write(&path, other).unwrap();
        assert!(load(path.to_str().unwrap()).err().unwrap().ends_with("cluster \"nowhere\" not found"));
        let plugin = kubeconfig.replace("{tokenFile: token}", "{exec: {command: aws}}");
        std::fs::write(&path, plugin).unwrap();
        assert!(
            load(path.to_str().unwrap())
                .err()
                .unwrap()
                .contains("credential plugins (exec, auth-provider) are not supported")
        );
    }
}
