//! The web configuration file (`--web.config.file`), in the schema of Prometheus's
//! exporter-toolkit: unknown keys are errors with `file:line:column`, paths are relative
//! to the file, and the checks and messages are the toolkit's.

use cardinal_config::{ConfigError, Dur, parse_yaml};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebConfig {
    #[serde(default)]
    pub tls_server_config: TlsServerConfig,
    #[serde(default)]
    pub http_server_config: HttpServerConfig,
    /// User name → bcrypt hash. None: no authentication.
    #[serde(default)]
    pub basic_auth_users: BTreeMap<String, String>,
    #[serde(default)]
    pub rate_limit: RateLimit,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsServerConfig {
    #[serde(default)]
    pub cert_file: String,
    #[serde(default)]
    pub key_file: String,
    /// Inline PEM, instead of `cert_file`.
    #[serde(default)]
    pub cert: String,
    /// Inline PEM, instead of `key_file`.
    #[serde(default)]
    pub key: String,
    #[serde(default)]
    pub client_auth_type: String,
    #[serde(default)]
    pub client_ca_file: String,
    /// Inline PEM, instead of `client_ca_file`.
    #[serde(default)]
    pub client_ca: String,
    pub client_allowed_sans: Option<Vec<String>>,
    pub min_version: Option<String>,
    pub max_version: Option<String>,
    #[serde(default)]
    pub cipher_suites: Vec<String>,
    #[serde(default)]
    pub curve_preferences: Vec<String>,
    /// Accepted for compatibility: the server's order is always preferred here.
    pub prefer_server_cipher_suites: Option<bool>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpServerConfig {
    #[serde(default = "yes")]
    pub http2: bool,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

fn yes() -> bool {
    true
}

impl Default for HttpServerConfig {
    fn default() -> Self {
        HttpServerConfig { http2: true, headers: BTreeMap::new() }
    }
}

/// At most `burst` requests at once, refilled one per `interval`; off when the interval
/// is zero (exporter-toolkit ≥ 0.15, Prometheus ≥ 3.8).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    #[serde(default)]
    pub burst: u32,
    #[serde(default)]
    pub interval: Option<Dur>,
}

/// Which client certificates a TLS server asks for and checks, as Go's `tls.ClientAuthType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuth {
    None,
    Request,
    RequireAny,
    VerifyIfGiven,
    RequireAndVerify,
}

/// The response headers an operator may set, with the values each may take (none listed:
/// any value), as the toolkit allows them.
const SETTABLE_HEADERS: [(&str, &[&str]); 5] = [
    ("Strict-Transport-Security", &[]),
    ("X-Content-Type-Options", &["nosniff"]),
    ("X-Frame-Options", &["deny", "sameorigin"]),
    ("X-XSS-Protection", &[]),
    ("Content-Security-Policy", &[]),
];

impl WebConfig {
    /// Reads and checks a file: its YAML, headers, password hashes and (when TLS is
    /// configured) that the certificate, key and client CAs load.
    pub fn load(path: &Path) -> Result<WebConfig, ConfigError> {
        let c = Self::parse_file(path)?;
        c.check().map_err(|e| ConfigError(format!("{}: {e}", path.display())))?;
        Ok(c)
    }

    /// Reads the file and checks what costs nothing (no certificate or hash is read): what
    /// each request does when the file has changed.
    pub fn parse_file(path: &Path) -> Result<WebConfig, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|e| ConfigError(format!("{}: cannot read: {e}", path.display())))?;
        let mut c: WebConfig = parse_yaml(&text, &path.display().to_string())?;
        c.check_headers().map_err(|e| ConfigError(format!("{}: {e}", path.display())))?;
        c.tls_server_config.resolve_paths(path.parent().unwrap_or(Path::new(".")));
        Ok(c)
    }

    fn check(&self) -> Result<(), String> {
        for (user, hash) in &self.basic_auth_users {
            bcrypt_cost(hash).map_err(|e| format!("basic_auth_users {user:?}: {e}"))?;
        }
        if self.tls_server_config.is_enabled() {
            crate::tls::server_config(&self.tls_server_config, self.http_server_config.http2)?;
        }
        Ok(())
    }

    fn check_headers(&self) -> Result<(), String> {
        for (name, value) in &self.http_server_config.headers {
            let Some((_, allowed)) = SETTABLE_HEADERS.iter().find(|(h, _)| h == name) else {
                return Err(format!("HTTP header {name:?} can not be configured"));
            };
            if !allowed.is_empty() && !allowed.contains(&value.as_str()) {
                return Err(format!("invalid value for {name}. Expected one of: {allowed:?}, but got: {value:?}"));
            }
        }
        Ok(())
    }

    /// Whether requests must authenticate.
    pub fn auth_enabled(&self) -> bool {
        !self.basic_auth_users.is_empty()
    }
}

impl TlsServerConfig {
    /// Any TLS setting makes the server speak TLS, as in the toolkit.
    pub fn is_enabled(&self) -> bool {
        [&self.cert_file, &self.cert, &self.key_file, &self.key, &self.client_ca_file, &self.client_ca]
            .iter()
            .any(|s| !s.is_empty())
            || !self.client_auth_type.is_empty()
    }

    fn resolve_paths(&mut self, dir: &Path) {
        for p in [&mut self.cert_file, &mut self.key_file, &mut self.client_ca_file] {
            if !p.is_empty() && Path::new(p.as_str()).is_relative() {
                *p = dir.join(&*p).display().to_string();
            }
        }
    }

    pub fn client_auth(&self) -> Result<ClientAuth, String> {
        Ok(match self.client_auth_type.as_str() {
            "" | "NoClientCert" => ClientAuth::None,
            "RequestClientCert" => ClientAuth::Request,
            "RequireAnyClientCert" | "RequireClientCert" => ClientAuth::RequireAny,
            "VerifyClientCertIfGiven" => ClientAuth::VerifyIfGiven,
            "RequireAndVerifyClientCert" => ClientAuth::RequireAndVerify,
            other => return Err(format!("invalid ClientAuth: {other}")),
        })
    }

    /// The files TLS reads: a change to any of them rebuilds the server's TLS settings.
    pub fn files(&self) -> Vec<PathBuf> {
        [&self.cert_file, &self.key_file, &self.client_ca_file]
            .into_iter()
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
            .collect()
    }
}

/// Checks that `hash` is a bcrypt hash, as the toolkit's `bcrypt.Cost` does.
fn bcrypt_cost(hash: &str) -> Result<u32, String> {
    let parts: Vec<&str> = hash.split('$').collect();
    let bad = || "crypto/bcrypt: hashedSecret too short to be a bcrypted password".to_string();
    let [empty, version, cost, rest] = parts.as_slice() else { return Err(bad()) };
    if !empty.is_empty() || !["2a", "2b", "2x", "2y"].contains(version) || rest.len() != 53 {
        return Err(bad());
    }
    let cost: u32 = cost.parse().map_err(|_| bad())?;
    if !(4..=31).contains(&cost) {
        return Err(format!("crypto/bcrypt: cost {cost} is outside allowed range (4,31)"));
    }
    Ok(cost)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<WebConfig, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("web.yml");
        std::fs::write(&path, text).unwrap();
        WebConfig::load(&path).map_err(|e| e.to_string())
    }

    const HASH: &str = "$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi";

    #[test]
    fn users_headers_and_defaults() {
        let c = parse(&format!(
            "basic_auth_users:\n  alice: {HASH}\nhttp_server_config:\n  headers:\n    X-Frame-Options: deny\n"
        ))
        .unwrap();
        assert!(c.auth_enabled());
        assert!(c.http_server_config.http2);
        assert!(!c.tls_server_config.is_enabled());
        assert_eq!(c.http_server_config.headers["X-Frame-Options"], "deny");
    }

    #[test]
    fn the_toolkits_errors() {
        let err = parse("basic_auth_users:\n  alice: plain\n").unwrap_err();
        assert!(err.contains("alice") && err.contains("bcrypt"), "{err}");
        let err = parse("http_server_config:\n  headers:\n    Server: x\n").unwrap_err();
        assert!(err.ends_with("HTTP header \"Server\" can not be configured"), "{err}");
        let err = parse("http_server_config:\n  headers:\n    X-Frame-Options: allow\n").unwrap_err();
        assert!(err.contains("invalid value for X-Frame-Options"), "{err}");
        let err = parse("tls_server_config:\n  cert_file: a.crt\n  kye_file: a.key\n").unwrap_err();
        assert!(err.contains("web.yml:3:3: unknown field `kye_file`"), "{err}");
        let err = parse("tls_server_config:\n  client_auth_type: Sometimes\n").unwrap_err();
        assert!(err.contains("missing one of cert or cert_file") || err.contains("invalid ClientAuth"), "{err}");
    }

    #[test]
    fn relative_paths_are_the_files_directory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("web.yml");
        std::fs::write(&path, "tls_server_config:\n  cert_file: tls/a.crt\n  key_file: /abs/a.key\n").unwrap();
        let c = WebConfig::parse_file(&path).unwrap();
        assert_eq!(c.tls_server_config.cert_file, dir.path().join("tls/a.crt").display().to_string());
        assert_eq!(c.tls_server_config.key_file, "/abs/a.key");
    }

    #[test]
    fn bcrypt_costs() {
        assert_eq!(bcrypt_cost(HASH), Ok(10));
        assert!(bcrypt_cost("$2y$99$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi").is_err());
        assert!(bcrypt_cost("$1$xx").is_err());
    }
}
