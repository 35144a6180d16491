//! Outgoing HTTP as a Prometheus `http_config` describes it: the client (TLS settings,
//! redirects), the credentials on each request, and errors worded with their causes.
//! Scrapes, Alertmanager notifications and remote write all go through it.

use cardinal_config::{Credentials, HttpClientConfig};

/// What our requests call themselves.
pub const USER_AGENT: &str = concat!("Cardinal/", env!("CARGO_PKG_VERSION"));

/// Adds the configured credentials (read afresh, so rotated files are picked up).
pub fn authorize(req: reqwest::RequestBuilder, http: &HttpClientConfig) -> Result<reqwest::RequestBuilder, String> {
    Ok(match http.credentials()? {
        Some(Credentials::Basic { username, password }) => req.basic_auth(username, Some(password)),
        Some(Credentials::Header(h)) => req.header("Authorization", h),
        None => req,
    })
}

/// A client honouring the TLS and redirect settings of an HTTP client config.
pub fn build_client(http: &HttpClientConfig) -> Result<reqwest::Client, String> {
    let tls = &http.tls_config;
    let read = |path: &String| std::fs::read(path).map_err(|e| format!("unable to read {path}: {e}"));
    let ca = tls.ca_file.as_ref().map(|ca| std::fs::read(ca).map_err(|e| format!("unable to read CA file {ca}: {e}")));
    let identity = match (&tls.cert_file, &tls.key_file) {
        (Some(cert), Some(key)) => Some([read(cert)?, read(key)?].concat()),
        _ => None,
    };
    client_with(http, Pem { ca: ca.transpose()?, identity })
}

/// TLS material in PEM, read from files or held inline (a kubeconfig's `…-data` fields).
#[derive(Default)]
pub struct Pem {
    /// CA certificates to trust besides the system's.
    pub ca: Option<Vec<u8>>,
    /// The client certificate followed by its key.
    pub identity: Option<Vec<u8>>,
}

/// A client with the redirect and TLS settings of `http`, its certificates from `pem`.
pub fn client_with(http: &HttpClientConfig, pem: Pem) -> Result<reqwest::Client, String> {
    let tls = &http.tls_config;
    if tls.server_name.is_some() {
        return Err("tls_config.server_name is not supported yet".into());
    }
    let mut b = reqwest::Client::builder().no_proxy();
    if !http.follow_redirects.unwrap_or(true) {
        b = b.redirect(reqwest::redirect::Policy::none());
    }
    if let Some(ca) = pem.ca {
        let cert = reqwest::Certificate::from_pem(&ca).map_err(|e| format!("invalid CA certificate: {e}"))?;
        b = b.add_root_certificate(cert);
    }
    if let Some(id) = pem.identity {
        let id = reqwest::Identity::from_pem(&id).map_err(|e| format!("invalid client certificate: {e}"))?;
        b = b.identity(id);
    }
    if tls.insecure_skip_verify {
        b = b.danger_accept_invalid_certs(true);
    }
    b.build().map_err(|e| e.to_string())
}

/// A response's whole body, refused once it passes `max` bytes (an answer gone wrong
/// must not exhaust the daemon reading it).
pub async fn read_bounded(mut resp: reqwest::Response, max: usize) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| error_chain(&e))? {
        if body.len() + chunk.len() > max {
            return Err(format!("answer larger than {} MiB", max >> 20));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The error with its causes, which is where reqwest keeps the useful part
/// ("connection refused").
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(bytes: usize) -> reqwest::Response {
        reqwest::Response::from(http::Response::new(vec![b'x'; bytes]))
    }

    #[tokio::test]
    async fn a_body_past_the_bound_is_refused() {
        assert_eq!(read_bounded(answer(2 << 20), 2 << 20).await.unwrap().len(), 2 << 20);
        let refused = read_bounded(answer((2 << 20) + 1), 2 << 20).await.unwrap_err();
        assert_eq!(refused, "answer larger than 2 MiB");
    }
}
