//! Serving TLS as exporter-toolkit does: the settings of `tls_server_config` turned into
//! rustls's, rebuilt for a new connection whenever the web config file or a file it names
//! has changed (so a renewed certificate is served without a restart), and plain HTTP on
//! the TLS port answered with Go's `400 Client sent an HTTP request to an HTTPS server`.

use crate::config::{ClientAuth, TlsServerConfig, WebConfig};
use parking_lot::Mutex;
use rustls::crypto::{CryptoProvider, aws_lc_rs};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ServerConfig, WebPkiClientVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, RootCertStore, SignatureScheme};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::server::TlsStream;

/// Builds the rustls settings for `c`, reading the certificate, key and client CAs now.
pub fn server_config(c: &TlsServerConfig, http2: bool) -> Result<Arc<ServerConfig>, String> {
    if c.cert_file.is_empty() && c.cert.is_empty() {
        return Err("missing one of cert or cert_file".into());
    }
    if c.key_file.is_empty() && c.key.is_empty() {
        return Err("missing one of key or key_file".into());
    }
    let cert_pem = read_or_inline(&c.cert_file, &c.cert, "cert_file")?;
    let key_pem = read_or_inline(&c.key_file, &c.key, "key_file")?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("failed to load X509KeyPair: {e}"))?;
    if chain.is_empty() {
        return Err("failed to load X509KeyPair: tls: failed to find any PEM data in certificate input".into());
    }
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| format!("failed to load X509KeyPair: {e}"))?;
    let provider = Arc::new(provider(c)?);
    let versions = versions(c)?;
    let verifier = client_verifier(c, &provider)?;
    let mut cfg = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&versions)
        .map_err(|e| e.to_string())?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| format!("failed to load X509KeyPair: {e}"))?;
    cfg.alpn_protocols = if http2 { vec![b"h2".to_vec(), b"http/1.1".to_vec()] } else { vec![b"http/1.1".to_vec()] };
    Ok(Arc::new(cfg))
}

fn read_or_inline(path: &str, inline: &str, field: &str) -> Result<Vec<u8>, String> {
    if path.is_empty() {
        return Ok(inline.as_bytes().to_vec());
    }
    std::fs::read(path).map_err(|e| format!("failed to read {field} ({path}): {e}"))
}

/// Go's cipher suite names (`tls.CipherSuites()` and the insecure list) that rustls does
/// not offer: accepted, and left out of what is negotiated.
const GO_ONLY_CIPHERS: [&str; 10] = [
    "TLS_RSA_WITH_AES_128_CBC_SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA",
    "TLS_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
];

/// The crypto provider with `cipher_suites` (TLS 1.2 only, as in Go: TLS 1.3's suites
/// are not configurable) and `curve_preferences` applied.
fn provider(c: &TlsServerConfig) -> Result<CryptoProvider, String> {
    let mut p = aws_lc_rs::default_provider();
    if !c.cipher_suites.is_empty() {
        let name = |s: &rustls::SupportedCipherSuite| format!("{:?}", s.suite());
        for wanted in &c.cipher_suites {
            let known =
                p.cipher_suites.iter().any(|s| &name(s) == wanted) || GO_ONLY_CIPHERS.contains(&wanted.as_str());
            if !known {
                return Err(format!("unknown cipher: {wanted}"));
            }
        }
        p.cipher_suites.retain(|s| s.tls13().is_some() || c.cipher_suites.contains(&name(s)));
        if !p.cipher_suites.iter().any(|s| s.tls13().is_none()) && allows_tls12(c)? {
            return Err(format!(
                "none of cipher_suites {:?} is offered by this server (TLS 1.2 here: ECDHE with AES-GCM or \
                 ChaCha20-Poly1305)",
                c.cipher_suites
            ));
        }
    }
    if !c.curve_preferences.is_empty() {
        let mut groups = Vec::new();
        for curve in &c.curve_preferences {
            match curve.as_str() {
                "X25519" => groups.push(aws_lc_rs::kx_group::X25519),
                "CurveP256" => groups.push(aws_lc_rs::kx_group::SECP256R1),
                "CurveP384" => groups.push(aws_lc_rs::kx_group::SECP384R1),
                "CurveP521" => {}
                other => return Err(format!("unknown curve: {other}")),
            }
        }
        if groups.is_empty() {
            return Err("curve_preferences: CurveP521 alone is not offered by this server".into());
        }
        p.kx_groups = groups;
    }
    Ok(p)
}

/// Go's version names as numbers (TLS 1.0 = 10 … 1.3 = 13).
fn version(name: &str) -> Result<u8, String> {
    match name {
        "TLS10" => Ok(10),
        "TLS11" => Ok(11),
        "TLS12" => Ok(12),
        "TLS13" => Ok(13),
        other => Err(format!("unknown TLS version: {other}")),
    }
}

fn version_range(c: &TlsServerConfig) -> Result<(u8, u8), String> {
    let min = c.min_version.as_deref().map_or(Ok(12), version)?;
    let max = c.max_version.as_deref().map_or(Ok(13), version)?;
    Ok((min, max))
}

fn allows_tls12(c: &TlsServerConfig) -> Result<bool, String> {
    let (min, max) = version_range(c)?;
    Ok(min <= 12 && max >= 12)
}

/// The versions between `min_version` and `max_version` that rustls speaks (TLS 1.2 and
/// 1.3; a minimum of 1.0 or 1.1 allows what is left).
fn versions(c: &TlsServerConfig) -> Result<Vec<&'static rustls::SupportedProtocolVersion>, String> {
    let (min, max) = version_range(c)?;
    let out: Vec<_> = [(12, &rustls::version::TLS12), (13, &rustls::version::TLS13)]
        .into_iter()
        .filter(|(v, _)| (min..=max).contains(v))
        .map(|(_, v)| v)
        .collect();
    if out.is_empty() {
        return Err(format!(
            "min_version {:?} to max_version {:?} leaves no TLS version this server speaks (TLS12, TLS13)",
            c.min_version, c.max_version
        ));
    }
    Ok(out)
}

fn client_verifier(c: &TlsServerConfig, provider: &Arc<CryptoProvider>) -> Result<Arc<dyn ClientCertVerifier>, String> {
    let auth = c.client_auth()?;
    let has_ca = !c.client_ca_file.is_empty() || !c.client_ca.is_empty();
    if has_ca && auth == ClientAuth::None {
        return Err("client CA's have been configured without a Client Auth Policy".into());
    }
    if c.client_allowed_sans.is_some() && !matches!(auth, ClientAuth::RequireAny | ClientAuth::RequireAndVerify) {
        return Err("client_allowed_sans requires client_auth_type to be one of RequireAnyClientCert or \
                    RequireAndVerifyClientCert"
            .into());
    }
    let inner: Arc<dyn ClientCertVerifier> = match auth {
        ClientAuth::None => return Ok(WebPkiClientVerifier::no_client_auth()),
        ClientAuth::Request | ClientAuth::RequireAny => {
            Arc::new(AnyClientCert { mandatory: auth == ClientAuth::RequireAny, provider: provider.clone() })
        }
        ClientAuth::VerifyIfGiven | ClientAuth::RequireAndVerify => {
            if !has_ca {
                return Err(format!("client_auth_type {} needs client_ca_file to verify against", c.client_auth_type));
            }
            let pem = read_or_inline(&c.client_ca_file, &c.client_ca, "client_ca_file")?;
            let mut roots = RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(&pem) {
                let cert = cert.map_err(|e| format!("client_ca_file: {e}"))?;
                roots.add(cert).map_err(|e| format!("client_ca_file: {e}"))?;
            }
            let b = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
            let b = if auth == ClientAuth::VerifyIfGiven { b.allow_unauthenticated() } else { b };
            b.build().map_err(|e| format!("client_ca_file: {e}"))?
        }
    };
    match &c.client_allowed_sans {
        None => Ok(inner),
        Some(sans) => {
            let allowed = sans
                .iter()
                .map(|s| {
                    ServerName::try_from(s.clone()).map_err(|_| {
                        format!("client_allowed_sans: {s:?}: only DNS names and IP addresses can be matched here")
                    })
                })
                .collect::<Result<_, _>>()?;
            Ok(Arc::new(AllowedSans { inner, allowed }))
        }
    }
}

/// `RequestClientCert` / `RequireAnyClientCert`: a certificate is asked for (and for the
/// latter required) but not verified, as in Go; its signature over the handshake still is.
#[derive(Debug)]
struct AnyClientCert {
    mandatory: bool,
    provider: Arc<CryptoProvider>,
}

impl ClientCertVerifier for AnyClientCert {
    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

/// `client_allowed_sans`: the client certificate must name one of these.
#[derive(Debug)]
struct AllowedSans {
    inner: Arc<dyn ClientCertVerifier>,
    allowed: Vec<ServerName<'static>>,
}

impl ClientCertVerifier for AllowedSans {
    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verified = self.inner.verify_client_cert(end_entity, intermediates, now)?;
        let cert = webpki::EndEntityCert::try_from(end_entity)
            .map_err(|_| rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding))?;
        if self.allowed.iter().any(|name| cert.verify_is_valid_for_subject_name(name).is_ok()) {
            return Ok(verified);
        }
        Err(rustls::Error::General(format!(
            "could not find allowed SANs in client cert, found: {:?}",
            self.allowed.iter().map(|n| n.to_str()).collect::<Vec<_>>()
        )))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// A file's modification time and length: what says it changed.
pub type Stamp = Option<(SystemTime, u64)>;

pub fn stamp(path: &Path) -> Stamp {
    std::fs::metadata(path).ok().map(|m| (m.modified().unwrap_or(SystemTime::UNIX_EPOCH), m.len()))
}

/// Settings built from files, with each file's stamp when it was read.
type Built = (Vec<(PathBuf, Stamp)>, Arc<ServerConfig>);

/// The TLS settings of the web config file, rebuilt when it or a file it names changes.
pub struct TlsReloader {
    path: PathBuf,
    cached: Mutex<Option<Built>>,
}

impl TlsReloader {
    pub fn new(path: &Path) -> Self {
        TlsReloader { path: path.to_path_buf(), cached: Mutex::new(None) }
    }

    /// The settings for a new connection.
    pub fn current(&self) -> Result<Arc<ServerConfig>, String> {
        let mut cached = self.cached.lock();
        if let Some((stamps, cfg)) = &*cached
            && stamps.iter().all(|(p, s)| stamp(p) == *s)
        {
            return Ok(cfg.clone());
        }
        let before = stamp(&self.path);
        let web = WebConfig::parse_file(&self.path).map_err(|e| e.to_string())?;
        let cfg = server_config(&web.tls_server_config, web.http_server_config.http2)?;
        let mut stamps = vec![(self.path.clone(), before)];
        stamps.extend(web.tls_server_config.files().into_iter().map(|p| {
            let s = stamp(&p);
            (p, s)
        }));
        *cached = Some((stamps, cfg.clone()));
        Ok(cfg)
    }
}

/// How long a client has to complete the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshakes under way at once; more connections wait to be accepted, so a flood of
/// half-open connections costs a bounded number of tasks and buffers.
const MAX_HANDSHAKES: usize = 512;

/// A listener for `axum::serve` that hands over connections once their TLS handshake is
/// done; handshakes run in their own tasks so a slow client holds up no one else.
pub struct TlsListener {
    rx: tokio::sync::mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl TlsListener {
    pub fn new(listener: TcpListener, tls: Arc<TlsReloader>) -> std::io::Result<TlsListener> {
        let local = listener.local_addr()?;
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        tokio::spawn(accept_loop(listener, tls, tx));
        Ok(TlsListener { rx, local })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(conn) => conn,
            // The accept loop ended: only a failed listener does that; serve no more.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

async fn accept_loop(
    listener: TcpListener,
    tls: Arc<TlsReloader>,
    tx: tokio::sync::mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
) {
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_HANDSHAKES));
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else { return };
        let (tcp, addr) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                // Out of file descriptors, most likely: wait rather than spin.
                tracing::warn!(error = %e, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let (tls, tx) = (tls.clone(), tx.clone());
        tokio::spawn(async move {
            let _slot = slot;
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake(tcp, &tls)).await {
                Ok(Ok(stream)) => {
                    let _ = tx.send((stream, addr)).await;
                }
                Ok(Err(e)) => tracing::debug!(%addr, error = %e, "TLS handshake failed"),
                Err(_) => tracing::debug!(%addr, "TLS handshake timed out"),
            }
        });
    }
}

/// What Go's TLS server answers a plain HTTP request with.
const PLAIN_HTTP_ANSWER: &[u8] = b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n";

async fn handshake(mut tcp: TcpStream, tls: &TlsReloader) -> Result<TlsStream<TcpStream>, String> {
    let mut first = [0u8; 5];
    let n = tcp.peek(&mut first).await.map_err(|e| e.to_string())?;
    if looks_like_http(&first[..n]) {
        let _ = tcp.write_all(PLAIN_HTTP_ANSWER).await;
        let _ = tcp.shutdown().await;
        return Err("plain HTTP request on the TLS port".into());
    }
    let cfg = tls.current().inspect_err(|e| tracing::error!(error = %e, "web config: TLS settings unusable"))?;
    tokio_rustls::TlsAcceptor::from(cfg).accept(tcp).await.map_err(|e| e.to_string())
}

/// As Go's `tlsRecordHeaderLooksLikeHTTP`.
fn looks_like_http(head: &[u8]) -> bool {
    [&b"GET /"[..], b"HEAD ", b"POST ", b"PUT /", b"OPTIO"].iter().any(|m| head.starts_with(m) && head.len() == 5)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed certificate and key as PEM files in `dir`.
    fn cert(dir: &Path) -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let c = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap().self_signed(&key).unwrap();
        let (crt, k) = (dir.join("s.crt"), dir.join("s.key"));
        std::fs::write(&crt, c.pem()).unwrap();
        std::fs::write(&k, key.serialize_pem()).unwrap();
        (crt.display().to_string(), k.display().to_string())
    }

    fn config(dir: &Path, f: impl FnOnce(&mut TlsServerConfig)) -> Result<Arc<ServerConfig>, String> {
        let (cert_file, key_file) = cert(dir);
        let mut c = TlsServerConfig { cert_file, key_file, ..TlsServerConfig::default() };
        f(&mut c);
        server_config(&c, true)
    }

    #[test]
    fn the_toolkits_checks_and_what_rustls_cannot_offer() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let err = |f: fn(&mut TlsServerConfig)| config(d, f).err().unwrap_or_default();
        assert!(config(d, |_| {}).is_ok());
        assert_eq!(err(|c| c.key_file.clear()), "missing one of key or key_file");
        assert_eq!(err(|c| c.client_auth_type = "Sometimes".into()), "invalid ClientAuth: Sometimes");
        assert_eq!(
            err(|c| c.client_ca_file = "ca.crt".into()),
            "client CA's have been configured without a Client Auth Policy"
        );
        assert!(err(|c| c.client_allowed_sans = Some(vec!["x".into()])).starts_with("client_allowed_sans requires"));
        assert_eq!(err(|c| c.cipher_suites = vec!["TLS_NULL".into()]), "unknown cipher: TLS_NULL");
        assert!(err(|c| c.cipher_suites = vec!["TLS_RSA_WITH_AES_128_CBC_SHA".into()]).starts_with("none of"));
        assert!(err(|c| c.max_version = Some("TLS11".into())).contains("leaves no TLS version"));
        assert_eq!(err(|c| c.curve_preferences = vec!["Curve25".into()]), "unknown curve: Curve25");
        assert!(err(|c| c.cert_file = "/nonexistent.crt".into()).starts_with("failed to read cert_file"));
        // Accepted: a minimum below TLS 1.2, Go-only suites beside supported ones, P-521.
        assert!(
            config(d, |c| {
                c.min_version = Some("TLS10".into());
                c.cipher_suites =
                    vec!["TLS_RSA_WITH_AES_128_CBC_SHA".into(), "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256".into()];
                c.curve_preferences = vec!["CurveP521".into(), "X25519".into()];
            })
            .is_ok()
        );
    }

    #[test]
    fn http_requests_are_told_apart_from_tls_handshakes() {
        assert!(looks_like_http(b"GET /"));
        assert!(looks_like_http(b"POST "));
        assert!(!looks_like_http(&[0x16, 0x03, 0x01, 0x02, 0x00]));
        assert!(!looks_like_http(b"GET"));
    }
}
