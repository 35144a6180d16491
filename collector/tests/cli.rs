//! `collector check config` and startup failures.

use std::process::Command;

fn collector() -> Command {
    Command::new(e2e::bin_path("collector"))
}

#[test]
fn check_config_passes_good_files_and_names_the_line_of_bad_ones() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.yml");
    std::fs::write(&good, "scrape_configs: [{job_name: a, static_configs: [{targets: ['x:1']}]}]\n").unwrap();
    let out = collector().args(["check", "config"]).arg(&good).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("SUCCESS"));

    let bad = dir.path().join("bad.yml");
    std::fs::write(&bad, "global:\n  scrape_interval: 15s\n  evaluation_intervall: 1m\n").unwrap();
    let out = collector().args(["check", "config"]).arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("{}:3:", bad.display())) && err.contains("evaluation_intervall"), "{err}");
}

#[test]
fn check_config_checks_the_rule_files_too() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("r.rules.yml"), "groups:\n- name: g\n  rules:\n  - record: a\n    expr: 'sum('\n")
        .unwrap();
    let cfg = dir.path().join("c.yml");
    std::fs::write(&cfg, "rule_files: ['*.rules.yml']\n").unwrap();
    let out = collector().args(["check", "config"]).arg(&cfg).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("could not parse expression"));
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/collector.yml");
    let out = collector().args(["check", "config"]).arg(&shipped).output().unwrap();
    assert!(out.status.success(), "the shipped example config is valid: {out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("6 rule groups, 1 rollup rules"));
}

#[test]
fn a_bad_config_at_startup_exits_non_zero_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("c.yml");
    std::fs::write(&bad, "scrape_configs: [{job_name: a}, {job_name: a}]\n").unwrap();
    let out = collector().arg(format!("--config.file={}", bad.display())).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("found multiple scrape configs with job name \"a\""));
}

#[tokio::test]
async fn a_prometheus_command_line_with_feature_flags_starts() {
    let flags = [
        "--enable-feature=native-histograms,exemplar-storage",
        "--enable-feature=remote-write-receiver",
        "--web.enable-admin-api",
        "--web.console.templates=consoles",
        "--web.console.libraries=console_libraries",
        "--storage.tsdb.wal-compression",
    ];
    let d = e2e::Daemon::start("collector", "scrape_configs: []\n", &flags).await;
    e2e::wait_until(std::time::Duration::from_secs(15), || async {
        let log = d.log();
        let said = |words: &[&str]| log.iter().any(|l| words.iter().all(|w| l.contains(w)));
        said(&["not implemented here; ignored", "native-histograms"])
            && said(&["exemplars kept", "exemplar-storage"])
            && said(&["--web.enable-admin-api", "not served here"])
            && said(&["no console templates here"])
            && said(&["--storage.tsdb.wal-compression"])
    })
    .await;
    let (_, metrics) = d.get("/metrics").await;
    assert!(metrics.contains("prometheus_tsdb_exemplar_max_exemplars 100000"), "exemplar storage on");
    // As in Prometheus 2.x, the feature turns the receiver on: an empty push is read
    // (and refused as empty protobuf), not answered 404 as with the receiver off.
    let r = d.client().post(d.url("/api/v1/write")).body(Vec::new()).send().await.unwrap();
    assert_ne!(r.status(), 404, "{}", r.text().await.unwrap());
}

#[test]
fn a_flag_we_do_not_know_is_still_an_error() {
    let out = collector().arg("--storage.tsdb.no-such-flag").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--storage.tsdb.no-such-flag"));
}
