//! Certificates for TLS: a CA, a server certificate for the given hosts, and a client
//! certificate the CA signed, written as PEM files. What TLS tests serve and present, and
//! what `demo certs` writes for the docker-compose stack.

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use std::path::{Path, PathBuf};

/// PEM files in one directory: `ca.crt`, `server.crt`/`server.key`, `client.crt`/`client.key`.
pub struct Pki {
    pub dir: PathBuf,
}

impl Pki {
    /// Writes a fresh CA and certificates into `dir`; the server certificate names `hosts`
    /// (DNS names or IP addresses).
    pub fn write(dir: &Path, hosts: &[&str]) -> Result<Pki, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let e = |e: rcgen::Error| e.to_string();
        let ca_key = KeyPair::generate().map_err(e)?;
        let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(e)?;
        ca.distinguished_name.push(DnType::CommonName, "Cardinal test CA");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_cert = ca.self_signed(&ca_key).map_err(e)?;
        let issuer = Issuer::new(ca, ca_key);
        let pki = Pki { dir: dir.to_path_buf() };
        pki.put("ca.crt", &ca_cert.pem())?;
        for (name, sans) in
            [("server", hosts.iter().map(|h| h.to_string()).collect()), ("client", vec!["client".into()])]
        {
            let key = KeyPair::generate().map_err(e)?;
            let mut params = CertificateParams::new(sans).map_err(e)?;
            params.distinguished_name.push(DnType::CommonName, name);
            let cert = params.signed_by(&key, &issuer).map_err(e)?;
            pki.put(&format!("{name}.crt"), &cert.pem())?;
            pki.put(&format!("{name}.key"), &key.serialize_pem())?;
        }
        Ok(pki)
    }

    fn put(&self, name: &str, pem: &str) -> Result<(), String> {
        std::fs::write(self.dir.join(name), pem).map_err(|e| format!("{name}: {e}"))
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    /// A client that trusts the CA, presenting the client certificate if `with_cert`.
    pub fn client(&self, with_cert: bool) -> reqwest::ClientBuilder {
        let ca = reqwest::Certificate::from_pem(&self.read("ca.crt")).expect("CA certificate");
        let b = reqwest::Client::builder().no_proxy().add_root_certificate(ca);
        if !with_cert {
            return b;
        }
        let mut pem = self.read("client.crt");
        pem.extend(self.read("client.key"));
        b.identity(reqwest::Identity::from_pem(&pem).expect("client identity"))
    }
}
