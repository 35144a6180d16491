//! The docker-compose stack's files, checked against the repository: what the Dockerfile
//! copies exists, every service has a healthcheck and its mounted files exist, the
//! configs the services run are valid, Grafana's data source is the master's service, and
//! every dashboard query parses and asks for series the master holds. `docker-compose
//! config` runs too where installed (CI installs it); building images needs a Docker
//! daemon, which CI does not have.

use e2e::shipped::repo_file;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;

fn repo_path(path: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

fn yaml(path: &str) -> Value {
    serde_saphyr::from_str(&repo_file(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn compose() -> Value {
    yaml("docker-compose.yml")
}

#[test]
fn the_dockerfile_copies_only_what_the_repository_has() {
    let dockerfile = repo_file("Dockerfile");
    let copies: Vec<&str> = dockerfile.lines().filter(|l| l.starts_with("COPY ") && !l.contains("--from=")).collect();
    assert!(copies.len() >= 5, "{copies:?}");
    for line in copies {
        let words: Vec<&str> = line.split_whitespace().skip(1).collect();
        for source in &words[..words.len() - 1] {
            assert!(repo_path(source).exists(), "Dockerfile: `{line}`: no {source} in the repository");
        }
    }
    // Every workspace member is copied: cargo refuses a workspace with one missing.
    let manifest = repo_file("Cargo.toml");
    let members = manifest.split("members = [").nth(1).and_then(|m| m.split(']').next()).expect("members");
    let tops: BTreeSet<&str> = members.split('"').skip(1).step_by(2).map(|m| m.split('/').next().unwrap()).collect();
    assert!(tops.len() >= 6, "{tops:?}");
    for top in tops {
        assert!(dockerfile.contains(&format!("COPY {top} {top}")), "the Dockerfile copies the workspace's {top}");
    }
    assert!(dockerfile.contains("\nUSER "), "the runtime image runs as a non-root user");
}

#[test]
fn every_service_is_healthchecked_and_mounts_files_that_exist() {
    let c = compose();
    let services = c["services"].as_object().expect("services");
    let names: BTreeSet<&str> = services.keys().map(String::as_str).collect();
    assert_eq!(names, BTreeSet::from(["alertmanager", "certs", "collector", "grafana", "master", "workload"]));
    for (name, s) in services {
        assert!(s["healthcheck"]["test"].is_array(), "{name} has a healthcheck");
        for v in s["volumes"].as_array().into_iter().flatten() {
            let v = v.as_str().unwrap();
            if let Some(local) = v.strip_prefix("./") {
                let local = local.split(':').next().unwrap();
                assert!(repo_path(local).exists(), "{name} mounts {local}, which the repository lacks");
            } else {
                let volume = v.split(':').next().unwrap();
                assert!(c["volumes"].get(volume).is_some(), "{name}: volume {volume} is declared");
            }
        }
    }
    assert!(services["master"]["volumes"].to_string().contains("master-data:"), "the master's data is a volume");
}

/// The config a service's command names, as a path in the repository (the image has
/// `config/` at `/etc/cardinal`).
fn service_config(service: &str) -> String {
    let c = compose();
    let command = c["services"][service]["command"].as_array().expect("command").clone();
    let arg = command.iter().filter_map(Value::as_str).find_map(|a| a.strip_prefix("--config.file=/etc/cardinal/"));
    format!("config/{}", arg.unwrap_or_else(|| panic!("{service} names its config")))
}

#[test]
fn the_daemons_configs_are_valid() {
    for (service, bin) in [("collector", "collector"), ("master", "master")] {
        let path = repo_path(&service_config(service));
        let out = std::process::Command::new(e2e::bin_path(bin)).args(["check", "config"]).arg(&path).output().unwrap();
        assert!(out.status.success(), "{}: {}", path.display(), String::from_utf8_lossy(&out.stdout));
    }
}

/// `collector check web-config` on the shipped web configs: the example as it is, the
/// compose collector's with its `/certs/` pointed at certificates made here.
#[test]
fn the_web_configs_are_valid() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = e2e::tls::Pki::write(&tmp.path().join("certs"), &["collector"]).unwrap();
    let compose_web = repo_file("config/compose/web.yml").replace("/certs/", &format!("{}/", pki.dir.display()));
    let local = tmp.path().join("web.yml");
    std::fs::write(&local, compose_web).unwrap();
    for path in [repo_path("config/web.yml"), local] {
        let out = std::process::Command::new(e2e::bin_path("collector"))
            .args(["check", "web-config"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}: {}", path.display(), String::from_utf8_lossy(&out.stderr));
    }
    let command = compose()["services"]["collector"]["command"].to_string();
    assert!(command.contains("--web.config.file=/etc/cardinal/compose/web.yml"), "{command}");
}

#[test]
fn grafana_reads_the_masters_service() {
    let ds = yaml("config/grafana/provisioning/datasources/cardinal.yml");
    let source = &ds["datasources"][0];
    assert_eq!(source["type"], "prometheus");
    let c = compose();
    let master = &c["services"]["master"];
    let listen = master["command"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .find_map(|a| a.strip_prefix("--web.listen-address=0.0.0.0:"));
    assert_eq!(source["url"].as_str(), Some(format!("http://master:{}", listen.expect("the master's port")).as_str()));
    // The dashboards the provider reads are the ones mounted there.
    let provider = yaml("config/grafana/provisioning/dashboards/cardinal.yml");
    let path = provider["providers"][0]["options"]["path"].as_str().unwrap();
    let grafana = c["services"]["grafana"]["volumes"].to_string();
    assert!(grafana.contains(&format!("./config/grafana/dashboards:{path}")), "{grafana} mounts {path}");
}

/// What the master holds: every recorded, rolled-up and profile-recorded `federate:`
/// series of the compose collector, prefix stripped.
fn master_metrics() -> BTreeSet<String> {
    let record = regex::Regex::new(r"record: '?federate:([a-zA-Z0-9_:]+)").unwrap();
    let files = [repo_file("config/rules/istio.rules.yml"), repo_file(&service_config("collector"))];
    files.iter().flat_map(|f| record.captures_iter(f).map(|c| c[1].to_string()).collect::<Vec<_>>()).collect()
}

#[test]
fn every_dashboard_query_parses_and_asks_for_series_the_master_has() {
    let dash: Value = serde_json::from_str(&repo_file("config/grafana/dashboards/istio-rollups.json")).unwrap();
    let known = master_metrics();
    let selector = regex::Regex::new(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*[\{\[]").unwrap();
    let mut queries = 0;
    for panel in dash["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            assert_eq!(target["datasource"]["uid"], "cardinal-master");
            let expr = target["expr"].as_str().unwrap().replace("$__rate_interval", "1m").replace("$workload", ".*");
            promql_parser::parser::parse(&expr).unwrap_or_else(|e| panic!("{}: {expr}: {e}", panel["title"]));
            for name in selector.captures_iter(&expr).map(|c| c[1].to_string()) {
                assert!(known.contains(&name), "{}: the master has no {name} (it has {known:?})", panel["title"]);
            }
            queries += 1;
        }
    }
    assert!(queries >= 6, "request rate, error ratio, three percentiles, CPU");
}

#[test]
fn docker_compose_accepts_the_file() {
    let Some(bin) = e2e::prometheus::find_tool("docker-compose") else { return };
    let out = std::process::Command::new(bin)
        .args(["-f", &repo_path("docker-compose.yml").display().to_string(), "config", "-q"])
        .output()
        .unwrap();
    assert!(out.status.success(), "docker-compose config: {}", String::from_utf8_lossy(&out.stderr));
}

/// The compose stack's collector finds the mesh's pods through the target file
/// `demo workload` writes (`Workload::file_sd`): every pod scraped, each its own instance.
#[tokio::test]
async fn the_workloads_target_file_brings_every_pod_up() {
    let mesh = e2e::istio::Mesh { pods: 3, workloads: 2 };
    let w = e2e::Workload::start(mesh, "127.0.0.1:0").await.unwrap();
    let sd = w.file_sd(&w.addr.to_string());
    let cfg = "global: {scrape_interval: 1s}\nscrape_configs:\n  - job_name: envoy\n    file_sd_configs: [{files: ['envoy.json']}]\n";
    let collector = e2e::Daemon::start_with_files("collector", cfg, &[("envoy.json", &sd)], &[]).await;
    e2e::wait_until(std::time::Duration::from_secs(30), || async {
        collector.scalar("count(up{job=\"envoy\"} == 1)").await == Some(3.0)
    })
    .await;
    let instances = collector.query("count by (instance) (istio_requests_total)").await;
    assert_eq!(instances.len(), 3, "{instances:?}");
}
