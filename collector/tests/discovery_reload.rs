//! File-based discovery following file changes, and config reloads.

mod common;
use common::*;
use e2e::{Daemon, TestTarget, wait_until};

#[tokio::test]
async fn file_sd_follows_changes_and_stales_removed_targets() {
    let a = TestTarget::start("from_a 1\n").await;
    let b = TestTarget::start("from_b 1\n").await;
    let dir = tempfile::tempdir().unwrap();
    let sd = dir.path().join("targets.json");
    std::fs::write(&sd, format!(r#"[{{"targets": ["{}"], "labels": {{"env": "one"}}}}]"#, a.addr)).unwrap();
    let cfg = format!(
        "global: {{scrape_interval: 1s}}\nscrape_configs:\n  - job_name: files\n    file_sd_configs: [{{files: ['{}/*.json']}}]\n",
        dir.path().display()
    );
    let d = collector(&cfg).await;
    let sel = [r#"{__name__=~"from_.*"}"#];
    wait_until(WAIT, || async { d.federate(&sel).await.contains("from_a{env=\"one\"") }).await;
    let tgt = scraped(&d, "files").await;
    assert_eq!(tgt[0]["discoveredLabels"]["__meta_filepath"], sd.display().to_string());

    // Relabel the target and add another; the old label set goes stale at once.
    std::fs::write(&sd, format!(r#"[{{"targets": ["{}", "{}"], "labels": {{"env": "two"}}}}]"#, a.addr, b.addr))
        .unwrap();
    wait_until(WAIT, || async {
        let t = d.federate(&sel).await;
        t.contains("from_a{env=\"two\"") && t.contains("from_b{env=\"two\"") && !t.contains("env=\"one\"")
    })
    .await;

    // A broken file keeps the targets it last had.
    std::fs::write(&sd, "[{ not json").unwrap();
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert_eq!(targets(&d).await.len(), 2);

    // Removing a target removes its series from /federate.
    std::fs::write(&sd, format!(r#"[{{"targets": ["{}"], "labels": {{"env": "two"}}}}]"#, b.addr)).unwrap();
    wait_until(WAIT, || async { !d.federate(&sel).await.contains("from_a") }).await;
    assert_eq!(targets(&d).await.len(), 1);
}

#[tokio::test]
async fn reload_applies_good_configs_and_keeps_running_on_bad_ones() {
    let a = TestTarget::start("m 1\n").await;
    let d = Daemon::start("collector", &config("", &[job("first", &[&a], "")]), &["--web.enable-lifecycle"]).await;
    scraped(&d, "first").await;

    let (status, _) = d.reload(&config("", &[job("second", &[&a], "")])).await;
    assert_eq!(status, 200);
    scraped(&d, "second").await;
    wait_until(WAIT, || async { targets(&d).await.iter().all(|t| t["scrapePool"] == "second") }).await;
    wait_until(WAIT, || async { !d.federate(&[r#"{job="first"}"#]).await.contains("m{") }).await;

    let (status, body) = d.reload("scrape_configs:\n  - job_name: x\n    scrape_intervall: 5s\n").await;
    assert_eq!(status, 500);
    assert!(body.contains("config.yml:3:") && body.contains("unknown field `scrape_intervall`"), "{body}");
    // The log line travels through the daemon's stderr pipe: wait for it.
    wait_until(WAIT, || async { d.log().iter().any(|l| l.contains("reload failed")) }).await;
    let t = scraped(&d, "second").await;
    assert_eq!(t[0]["health"], "up", "the old config keeps running");

    // SIGHUP reloads too.
    std::fs::write(&d.config, config("", &[job("third", &[&a], "")])).unwrap();
    let kill = std::process::Command::new("kill").args(["-HUP", &d.pid().to_string()]).status().unwrap();
    assert!(kill.success());
    scraped(&d, "third").await;
}

#[tokio::test]
async fn dns_sd_resolves_a_records() {
    let t = TestTarget::start("dns_found 1\n").await;
    let cfg = format!(
        "global: {{scrape_interval: 1s}}\nscrape_configs:\n  - job_name: dns\n    dns_sd_configs: [{{names: [localhost], type: A, port: {}, refresh_interval: 1s}}]\n",
        t.addr.port()
    );
    let d = collector(&cfg).await;
    let tgt = scraped(&d, "dns").await;
    assert_eq!(tgt[0]["labels"]["instance"], t.addr.to_string());
    assert_eq!(tgt[0]["discoveredLabels"]["__meta_dns_name"], "localhost");
    assert_eq!(tgt[0]["health"], "up");
    assert!(d.federate(&["dns_found"]).await.contains("dns_found{"));
}

#[tokio::test]
async fn http_sd_follows_the_endpoint_and_keeps_its_targets_when_it_fails() {
    let a = TestTarget::start("from_a 1\n").await;
    let b = TestTarget::start("from_b 1\n").await;
    let groups = |env: &str, ts: &[&TestTarget]| {
        let list: Vec<String> = ts.iter().map(|t| format!("\"{}\"", t.addr)).collect();
        format!(r#"[{{"targets": [{}], "labels": {{"env": "{env}"}}}}]"#, list.join(", "))
    };
    let sd = TestTarget::start(&groups("one", &[&a])).await;
    sd.set_content_type("application/json");
    let url = format!("http://{}/targets", sd.addr);
    let cfg = format!(
        "global: {{scrape_interval: 1s}}\nscrape_configs:\n  - job_name: http\n    http_sd_configs: [{{url: '{url}', refresh_interval: 1s}}]\n"
    );
    let d = collector(&cfg).await;
    let sel = [r#"{__name__=~"from_.*"}"#];
    wait_until(WAIT, || async { d.federate(&sel).await.contains("from_a{env=\"one\"") }).await;
    let tgt = scraped(&d, "http").await;
    assert_eq!(tgt[0]["discoveredLabels"]["__meta_url"], url);
    let asked = &sd.requests()[0];
    assert_eq!(asked["accept"], "application/json");
    assert_eq!(asked["x-prometheus-refresh-interval-seconds"], "1");

    sd.set_body(&groups("two", &[&a, &b]));
    wait_until(WAIT, || async {
        let t = d.federate(&sel).await;
        t.contains("from_a{env=\"two\"") && t.contains("from_b{env=\"two\"") && !t.contains("env=\"one\"")
    })
    .await;

    // An error status, then an answer that is not JSON: each refresh fails, and the
    // targets of the last good one stay (three refreshes of each seen failing).
    for broken in [|sd: &TestTarget| sd.set_status(503), |sd: &TestTarget| sd.set_content_type("text/plain")] {
        broken(&sd);
        let seen = sd.requests().len();
        wait_until(WAIT, || async { sd.requests().len() >= seen + 3 }).await;
        assert_eq!(targets(&d).await.len(), 2);
        sd.set_status(200);
        sd.set_content_type("application/json");
    }
    // Each failed refresh is logged (the last answer's line may still be on its way).
    let failures = || d.log().iter().filter(|l| l.contains("HTTP SD: refresh failed")).count();
    wait_until(WAIT, || async { failures() >= 6 }).await;

    sd.set_body(&groups("two", &[&b]));
    wait_until(WAIT, || async { !d.federate(&sel).await.contains("from_a") }).await;
    assert_eq!(targets(&d).await.len(), 1);
}
