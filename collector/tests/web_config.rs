//! `--web.config.file`: TLS, client certificates, basic auth and headers, answered as
//! Prometheus answers them (checked against a real Prometheus 2.42 with the same file),
//! re-read when the file changes, and Prometheus 2.42 as a master federating from a
//! collector that serves TLS and asks for a password.

mod common;
use common::*;
use e2e::tls::Pki;
use e2e::{Access, Daemon, TestTarget, wait_until};
use std::io::{Read, Write};
use std::path::Path;

const USER: &str = "alice";
const PASSWORD: &str = "s3cr3t-pw";

/// A web config serving TLS with the test PKI's server certificate, asking for `alice`'s
/// password and setting a header; `extra` goes under `tls_server_config`.
fn web_config(pki: &Pki, extra: &str) -> String {
    let hash = bcrypt::hash(PASSWORD, 6).unwrap();
    format!(
        "tls_server_config:\n  cert_file: {}\n  key_file: {}\n{extra}basic_auth_users:\n  {USER}: {hash}\n\
         http_server_config:\n  headers:\n    X-Frame-Options: deny\n",
        pki.path("server.crt").display(),
        pki.path("server.key").display(),
    )
}

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// Reaches a daemon behind `web`: TLS trusting the test CA, with `alice`'s password.
fn access(pki: &Pki, with_cert: bool) -> Access {
    let auth = format!("Basic {}", base64_of(&format!("{USER}:{PASSWORD}")));
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(reqwest::header::AUTHORIZATION, auth.parse().unwrap());
    Access { scheme: "https", client: pki.client(with_cert).default_headers(headers).build().unwrap() }
}

fn base64_of(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// Status and `WWW-Authenticate` of a GET with no credentials, a wrong password, the right one.
async fn answers(client: &reqwest::Client, url: &str) -> Vec<(u16, Option<String>)> {
    let mut out = Vec::new();
    for creds in [None, Some("wrong"), Some(PASSWORD)] {
        let mut req = client.get(url);
        if let Some(pw) = creds {
            req = req.basic_auth(USER, Some(pw));
        }
        let r = req.send().await.unwrap();
        let www = r.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_string());
        out.push((r.status().as_u16(), www));
    }
    out
}

#[tokio::test]
async fn tls_and_basic_auth_answer_as_prometheus_does() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::write(&tmp.path().join("pki"), &["127.0.0.1", "localhost"]).unwrap();
    let web = write(tmp.path(), "web.yml", &web_config(&pki, ""));
    let flag = format!("--web.config.file={}", web.display());
    let d =
        Daemon::start_with_access("collector", "global: {scrape_interval: 1s}\n", &[], &[&flag], access(&pki, false))
            .await;
    let bare = pki.client(false).build().unwrap();

    let ours = answers(&bare, &d.url("/-/healthy")).await;
    let basic = Some("Basic".to_string());
    assert_eq!(ours, vec![(401, basic.clone()), (401, basic), (200, None)]);
    let r = bare.get(d.url("/api/v1/query?query=1")).send().await.unwrap();
    assert_eq!(r.headers()["x-frame-options"], "deny", "configured headers go on 401s too");
    assert_eq!(r.text().await.unwrap(), "Unauthorized\n");

    // Plain HTTP to the TLS port gets Go's answer, not a hang or a reset.
    let mut tcp = std::net::TcpStream::connect(d.addr).unwrap();
    tcp.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut reply = String::new();
    tcp.read_to_string(&mut reply).unwrap();
    assert_eq!(reply, "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n");

    let Some(prom) =
        e2e::prometheus::Tool::start("prometheus", "global: {scrape_interval: 15s}\n", "storage.tsdb.path", &[&flag])
    else {
        return;
    };
    let (_prom, addr) = prom;
    wait_until(WAIT, || async { bare.get(format!("https://{addr}/-/healthy")).send().await.is_ok() }).await;
    for path in ["/-/healthy", "/metrics", "/api/v1/query?query=1", "/federate?match[]=up", "/api/v1/status/buildinfo"]
    {
        let theirs = answers(&bare, &format!("https://{addr}{path}")).await;
        let ours = answers(&bare, &d.url(path)).await;
        assert_eq!(ours, theirs, "{path}: ours against Prometheus 2.42's");
    }
}

#[tokio::test]
async fn client_certificates_are_required_verified_and_the_file_is_re_read() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::write(&tmp.path().join("pki"), &["127.0.0.1"]).unwrap();
    let other = Pki::write(&tmp.path().join("other"), &["127.0.0.1"]).unwrap();
    let require =
        format!("  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {}\n", pki.path("ca.crt").display());
    let web = write(tmp.path(), "web.yml", &web_config(&pki, &require));
    let flag = format!("--web.config.file={}", web.display());
    let d =
        Daemon::start_with_access("collector", "global: {scrape_interval: 1s}\n", &[], &[&flag], access(&pki, true))
            .await;

    let without = access(&pki, false).client;
    let err = without.get(d.url("/-/healthy")).send().await.expect_err("no client certificate");
    assert!(err.is_connect() || err.is_request(), "{err:?}");
    // A certificate from a CA the server does not trust is refused too.
    let mut pem = std::fs::read(other.path("client.crt")).unwrap();
    pem.extend(std::fs::read(other.path("client.key")).unwrap());
    let stranger = pki.client(false).identity(reqwest::Identity::from_pem(&pem).unwrap()).build().unwrap();
    assert!(stranger.get(d.url("/-/healthy")).basic_auth(USER, Some(PASSWORD)).send().await.is_err());
    assert_eq!(d.get("/-/healthy").await.0, 200);

    // A change to the file applies to the next request, no restart: a new password.
    let changed = web_config(&pki, &require).replace(USER, "bob");
    std::fs::write(&web, changed).unwrap();
    wait_until(WAIT, || async { d.get("/-/healthy").await.0 == 401 }).await;
    let bob = d.client().get(d.url("/-/healthy")).basic_auth("bob", Some(PASSWORD)).send().await.unwrap();
    assert_eq!(bob.status(), 200);
    // A broken file answers 500 until it is fixed, as Prometheus does.
    std::fs::write(&web, "basic_auth_users: [").unwrap();
    wait_until(WAIT, || async { d.get("/-/healthy").await.0 == 500 }).await;
}

#[tokio::test]
async fn a_bad_web_config_stops_the_start_and_check_web_config_says_why() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = write(tmp.path(), "web.yml", "basic_auth_users:\n  alice: not-a-hash\n");
    let good = write(tmp.path(), "good.yml", "http_server_config:\n  headers:\n    X-Content-Type-Options: nosniff\n");
    let check = |f: &Path| {
        let out = std::process::Command::new(e2e::bin_path("collector"))
            .args(["check", "web-config"])
            .arg(f)
            .output()
            .unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (code, err) = check(&bad);
    assert_eq!(code, Some(1));
    assert!(err.starts_with(&format!("{} FAILED: ", bad.display())) && err.contains("alice"), "{err}");
    assert_eq!(check(&good), (Some(0), format!("{} SUCCESS\n", good.display())));

    let cfg = write(tmp.path(), "c.yml", "global: {}\n");
    let out = std::process::Command::new(e2e::bin_path("collector"))
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!("--web.config.file={}", bad.display()))
        .arg("--web.listen-address=127.0.0.1:0")
        .arg(format!("--storage.tsdb.path={}", tmp.path().join("data").display()))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&bad.display().to_string()), "the path is named: {err}");
}

/// Prometheus 2.42 as the master: it federates from our collector over TLS with basic
/// auth, as its own federation job would from another Prometheus.
#[tokio::test]
async fn prometheus_federates_from_a_tls_basic_auth_collector() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::write(&tmp.path().join("pki"), &["127.0.0.1"]).unwrap();
    let web = write(tmp.path(), "web.yml", &web_config(&pki, ""));
    let target = TestTarget::start("secured_metric 42\n").await;
    let flag = format!("--web.config.file={}", web.display());
    let cfg = config("", &[job("app", &[&target], "")]);
    let collector = Daemon::start_with_access("collector", &cfg, &[], &[&flag], access(&pki, false)).await;
    let master = format!(
        "global: {{scrape_interval: 1s}}\nscrape_configs:\n  - job_name: federate\n    honor_labels: true\n    \
         metrics_path: /federate\n    params: {{'match[]': ['{{job=\"app\"}}']}}\n    scheme: https\n    \
         tls_config: {{ca_file: {}}}\n    basic_auth: {{username: {USER}, password: {PASSWORD}}}\n    \
         static_configs: [{{targets: ['{}']}}]\n",
        pki.path("ca.crt").display(),
        collector.addr
    );
    let Some(prom) = e2e::prometheus::Prometheus::start(&master).await else { return };
    let federated = || async { !prom.query(r#"secured_metric{job="app"}"#).await.is_empty() };
    if tokio::time::timeout(WAIT, async {
        while !federated().await {
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    })
    .await
    .is_err()
    {
        panic!("Prometheus did not federate: {:?}", prom.targets().await);
    }
    let up = prom.query(r#"up{job="federate"}"#).await;
    assert_eq!(up[0]["value"][1], "1", "{up:?}");
}
