//! HTTP client settings shared by scrape configs and alertmanager configs (and, later,
//! remote_write): Prometheus's `HTTPClientConfig`, written inline in those sections.

use serde::Deserialize;

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpClientConfig {
    pub basic_auth: Option<BasicAuth>,
    pub authorization: Option<Authorization>,
    pub bearer_token: Option<String>,
    pub bearer_token_file: Option<String>,
    #[serde(default)]
    pub tls_config: TlsConfig,
    pub follow_redirects: Option<bool>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    #[serde(default)]
    pub username: String,
    pub password: Option<String>,
    pub password_file: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Authorization {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub credentials: Option<String>,
    pub credentials_file: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    pub ca_file: Option<String>,
    pub cert_file: Option<String>,
    pub key_file: Option<String>,
    pub server_name: Option<String>,
    #[serde(default)]
    pub insecure_skip_verify: bool,
}

impl HttpClientConfig {
    /// The checks Prometheus's `HTTPClientConfig.Validate` makes.
    pub fn validate(&self) -> Result<(), String> {
        let bearer = self.bearer_token.is_some() || self.bearer_token_file.is_some();
        if self.bearer_token.is_some() && self.bearer_token_file.is_some() {
            return Err("at most one of bearer_token & bearer_token_file must be configured".into());
        }
        if bearer && (self.basic_auth.is_some() || self.authorization.is_some()) {
            return Err("at most one of basic_auth, bearer_token & bearer_token_file must be configured".into());
        }
        if self.basic_auth.is_some() && self.authorization.is_some() {
            return Err("at most one of basic_auth & authorization must be configured".into());
        }
        if let Some(b) = &self.basic_auth
            && b.password.is_some()
            && b.password_file.is_some()
        {
            return Err("at most one of basic_auth password & password_file must be configured".into());
        }
        if let Some(a) = &self.authorization {
            if a.credentials.is_some() && a.credentials_file.is_some() {
                return Err("at most one of authorization credentials & credentials_file must be configured".into());
            }
            if a.kind.as_deref().is_some_and(|k| k.eq_ignore_ascii_case("basic")) {
                return Err("authorization type cannot be set to \"basic\", use \"basic_auth\" instead".into());
            }
        }
        if self.tls_config.cert_file.is_some() != self.tls_config.key_file.is_some() {
            return Err("exactly one of cert_file and key_file is configured; both or neither are needed".into());
        }
        Ok(())
    }

    pub(crate) fn resolve_paths(&mut self, join: &impl Fn(&mut String)) {
        let t = &mut self.tls_config;
        for p in [&mut t.ca_file, &mut t.cert_file, &mut t.key_file, &mut self.bearer_token_file] {
            p.iter_mut().for_each(join);
        }
        if let Some(b) = &mut self.basic_auth {
            b.password_file.iter_mut().for_each(join);
        }
        if let Some(a) = &mut self.authorization {
            a.credentials_file.iter_mut().for_each(join);
        }
    }

    /// The credentials to send, reading credential files now so that a rotated token is
    /// picked up on the next request, as Prometheus does.
    pub fn credentials(&self) -> Result<Option<Credentials>, String> {
        let read = |p: &str| {
            std::fs::read_to_string(p).map(|s| s.trim().to_string()).map_err(|e| format!("unable to read {p}: {e}"))
        };
        if let Some(b) = &self.basic_auth {
            let password = match (&b.password, &b.password_file) {
                (_, Some(f)) => read(f)?,
                (Some(p), None) => p.clone(),
                (None, None) => String::new(),
            };
            return Ok(Some(Credentials::Basic { username: b.username.clone(), password }));
        }
        let (kind, token) = if let Some(a) = &self.authorization {
            let token = match (&a.credentials, &a.credentials_file) {
                (_, Some(f)) => read(f)?,
                (Some(c), None) => c.clone(),
                (None, None) => return Ok(None),
            };
            (a.kind.clone().unwrap_or_else(|| "Bearer".into()), token)
        } else if let Some(f) = &self.bearer_token_file {
            ("Bearer".into(), read(f)?)
        } else if let Some(t) = &self.bearer_token {
            ("Bearer".into(), t.clone())
        } else {
            return Ok(None);
        };
        Ok(Some(Credentials::Header(format!("{kind} {token}"))))
    }
}

/// What goes into a request's `Authorization`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credentials {
    Basic {
        username: String,
        password: String,
    },
    /// A complete header value such as `Bearer abc`.
    Header(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_headers() {
        let c = HttpClientConfig { bearer_token: Some("t".into()), ..Default::default() };
        assert_eq!(c.credentials().unwrap(), Some(Credentials::Header("Bearer t".into())));
        let c = HttpClientConfig {
            basic_auth: Some(BasicAuth { username: "user".into(), password: Some("pass".into()), password_file: None }),
            ..Default::default()
        };
        assert_eq!(
            c.credentials().unwrap(),
            Some(Credentials::Basic { username: "user".into(), password: "pass".into() })
        );
        let c = HttpClientConfig {
            authorization: Some(Authorization {
                kind: Some("Token".into()),
                credentials: Some("x".into()),
                credentials_file: None,
            }),
            ..Default::default()
        };
        assert_eq!(c.credentials().unwrap(), Some(Credentials::Header("Token x".into())));
    }
}
