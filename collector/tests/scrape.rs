//! Scraping real HTTP targets and reading the result back through `/federate`.

mod common;
use common::*;
use e2e::{TestTarget, wait_until};
use std::time::Duration;

#[tokio::test]
async fn federates_what_it_scraped_with_prometheus_labels_and_timestamps() {
    let explicit = now_ms() - 2000;
    let body = format!(
        "# TYPE demo_requests_total counter\n\
         demo_requests_total{{path=\"/a\",job=\"exported-job\",instance=\"exported-inst\"}} 10\n\
         demo_requests_total{{path=\"/b\"}} 20\n\
         demo_temp_celsius{{room=\"x\"}} 21.5 {explicit}\n\
         federate:demo:rate1m{{a=\"1\"}} 1.795263151e+09\n"
    );
    let t = TestTarget::start(&body).await;
    let cfg = format!(
        "global:\n  scrape_interval: 1s\n  external_labels: {{collector: c1, region: eu}}\n\
         scrape_configs:\n  - job_name: demo\n    static_configs: [{{targets: ['{}'], labels: {{team: core}}}}]\n",
        t.addr
    );
    let d = collector(&cfg).await;
    scraped(&d, "demo").await;
    let before = now_ms();
    let text = d.federate(&[r#"{__name__=~"demo_.*|federate:.+|up"}"#, "up"]).await;
    let a = t.addr;
    let want = format!(
        "# TYPE demo_requests_total untyped\n\
         demo_requests_total{{exported_instance=\"exported-inst\",exported_job=\"exported-job\",instance=\"{a}\",job=\"demo\",path=\"/a\",team=\"core\",collector=\"c1\",region=\"eu\"}} 10\n\
         demo_requests_total{{instance=\"{a}\",job=\"demo\",path=\"/b\",team=\"core\",collector=\"c1\",region=\"eu\"}} 20\n\
         # TYPE demo_temp_celsius untyped\n\
         demo_temp_celsius{{instance=\"{a}\",job=\"demo\",room=\"x\",team=\"core\",collector=\"c1\",region=\"eu\"}} 21.5\n\
         # TYPE federate:demo:rate1m untyped\n\
         federate:demo:rate1m{{a=\"1\",instance=\"{a}\",job=\"demo\",team=\"core\",collector=\"c1\",region=\"eu\"}} 1.795263151e+09\n\
         # TYPE up untyped\n\
         up{{instance=\"{a}\",job=\"demo\",team=\"core\",collector=\"c1\",region=\"eu\"}} 1"
    );
    assert_eq!(without_timestamps(&text), want, "full response:\n{text}");
    let ts = timestamps(&text);
    assert_eq!(ts[2], explicit, "honor_timestamps keeps the exposed timestamp");
    assert_eq!(ts[0], ts[1], "one scrape, one timestamp");
    assert_eq!(ts[0], ts[4], "report series carry the scrape time");
    assert!(ts[0] <= before && ts[0] > before - 5000);
}

#[tokio::test]
async fn vanished_series_and_failed_scrapes_go_stale_at_once() {
    let t = TestTarget::start("keep 1\ngoes 2\n").await;
    let d = collector(&config("", &[job("s", &[&t], "")])).await;
    scraped(&d, "s").await;
    let sel = [r#"{__name__=~"keep|goes|up"}"#];
    assert!(d.federate(&sel).await.contains("goes{"));
    t.set_body("keep 1\n");
    wait_until(WAIT, || async { !d.federate(&sel).await.contains("goes{") }).await;
    assert!(d.federate(&sel).await.contains("keep{"));

    t.set_status(500);
    let tgt = wait_health(&d, "s", "down", "server returned HTTP status 500 Internal Server Error").await;
    assert_eq!(tgt["lastError"], "server returned HTTP status 500 Internal Server Error");
    let text = d.federate(&sel).await;
    assert!(!text.contains("keep{"), "a failed scrape stales every series:\n{text}");
    assert!(text.lines().any(|l| l.starts_with("up{") && l.contains("} 0 ")), "up is 0:\n{text}");

    t.set_status(200);
    wait_until(WAIT, || async { d.federate(&sel).await.contains("keep{") }).await;
}

#[tokio::test]
async fn every_limit_fails_the_scrape_with_prometheus_errors() {
    let body = "demo_requests_total{a=\"1\",b=\"2\",c=\"3\",long_label_name=\"x\"} 1\nother{v=\"abcdef\"} 2\nthird 3\n";
    let t = TestTarget::start(body).await;
    let jobs = [
        job("sample_limit", &[&t], "    sample_limit: 2\n"),
        job("label_limit", &[&t], "    label_limit: 3\n"),
        job("name_len", &[&t], "    label_name_length_limit: 8\n"),
        job("value_len", &[&t], "    label_value_length_limit: 5\n"),
        job("body_size", &[&t], "    body_size_limit: 10B\n"),
        job("ok", &[&t], "    sample_limit: 3\n    body_size_limit: 1KB\n"),
        format!(
            "  - job_name: target_limit\n    target_limit: 1\n    static_configs: [{{targets: ['{a}'], labels: {{x: '1'}}}}, {{targets: ['{a}'], labels: {{x: '2'}}}}]\n",
            a = t.addr
        ),
    ];
    let d = collector(&config("", &jobs)).await;
    let cases = [
        ("sample_limit", "sample limit exceeded"),
        ("label_limit", "label_limit exceeded (metric: demo_requests_total, number of labels: 7, limit: 3)"),
        (
            "name_len",
            "label_name_length_limit exceeded (metric: demo_requests_total, label name: long_label_name, length: 15, limit: 8)",
        ),
        (
            "value_len",
            "label_value_length_limit exceeded (metric: demo_requests_total, label name: __name__, value: \"demo_requests_total\", length: 19, limit: 5)",
        ),
        ("body_size", "body size limit exceeded"),
        ("target_limit", "target_limit exceeded (number of targets: 2, limit: 1)"),
    ];
    for (job, err) in cases {
        let tgt = wait_health(&d, job, "down", err).await;
        assert!(tgt["lastError"].as_str().unwrap().starts_with(err), "{job}: {}", tgt["lastError"]);
    }
    let ok = scraped(&d, "ok").await;
    assert_eq!(ok[0]["health"], "up", "{:?}", ok[0]["lastError"]);
    // Nothing of a failed scrape is stored: only the report series exist for those jobs.
    let text = d.federate(&[r#"{job="sample_limit"}"#]).await;
    assert!(!text.contains("demo_requests_total"), "{text}");
    assert!(text.contains("scrape_samples_post_metric_relabeling{instance"), "{text}");
    assert!(d.federate(&[r#"{job="ok"}"#]).await.contains("third{"));
}

#[tokio::test]
async fn a_hanging_target_is_cut_at_its_timeout() {
    let t = TestTarget::start("x 1\n").await;
    t.set_delay(Duration::from_secs(5));
    let d = collector(&config("", &[job("slow", &[&t], "    scrape_interval: 1s\n    scrape_timeout: 300ms\n")])).await;
    let tgt = wait_health(&d, "slow", "down", "context deadline exceeded").await;
    assert!(tgt["lastScrapeDuration"].as_f64().unwrap() < 1.0);
    let hdr = &t.requests()[0];
    assert_eq!(hdr["x-prometheus-scrape-timeout-seconds"], "0.3");
}

#[tokio::test]
async fn malformed_bodies_fail_the_target_not_the_process() {
    let t = TestTarget::start("good 1\nbad{a=\"1\" 2\n").await;
    let d = collector(&config("", &[job("bad", &[&t], "")])).await;
    let tgt = wait_health(&d, "bad", "down", "line 2:").await;
    assert!(tgt["lastError"].as_str().unwrap().starts_with("line 2: "), "{}", tgt["lastError"]);
    assert!(!d.federate(&["good"]).await.contains("good{"), "nothing of a bad scrape is stored");
    for (body, err) in [
        ("a{x=\"1\",x=\"2\"} 1\n", "duplicate label name \"x\""),
        ("# TYPE a histogram\na_bucket{le=\"1\"} notanumber\n", "invalid value"),
    ] {
        t.set_body(body);
        wait_health(&d, "bad", "down", err).await;
    }
    t.set_body("good 1\n");
    wait_health(&d, "bad", "up", "").await;
    assert!(d.federate(&["good"]).await.contains("good{"));
}

#[tokio::test]
async fn invalid_utf8_and_invalid_names_are_rejected() {
    let t = TestTarget::start("ok 1\n").await;
    let d = collector(&config("", &[job("utf", &[&t], "")])).await;
    scraped(&d, "utf").await;
    t.set_body_bytes(b"ok{x=\"\xff\xfe\"} 1\n");
    wait_health(&d, "utf", "down", "invalid UTF-8 in label value").await;
    t.set_body("ok{1bad=\"x\"} 1\n");
    wait_health(&d, "utf", "down", "invalid label name").await;
}

#[tokio::test]
async fn openmetrics_gzip_and_prometheus_request_headers() {
    let t = TestTarget::start(
        "# TYPE om counter\nom_total{a=\"b\"} 17.0 # {trace_id=\"abc\"} 0.5\n# TYPE h histogram\nh_bucket{le=\"0.5\"} 1\nh_bucket{le=\"+Inf\"} 3\nh_sum 4.5\nh_count 3\n# EOF\n",
    )
    .await;
    t.set_content_type("application/openmetrics-text; version=1.0.0; charset=utf-8");
    t.set_gzip(true);
    let d = collector(&config("", &[job("om", &[&t], "")])).await;
    let tgt = scraped(&d, "om").await;
    assert_eq!(tgt[0]["health"], "up", "{}", tgt[0]["lastError"]);
    let text = without_timestamps(&d.federate(&[r#"{__name__=~"om_total|h_.*"}"#]).await);
    for line in ["om_total{a=\"b\",", "h_bucket{instance=", "le=\"+Inf\"} 3", "h_sum{", "h_count{"] {
        assert!(text.contains(line), "{line} missing in\n{text}");
    }
    let hdr = &t.requests()[0];
    assert!(hdr["accept"].to_str().unwrap().starts_with("application/openmetrics-text;version=1.0.0"));
    assert_eq!(hdr["accept-encoding"], "gzip");
    assert!(hdr["user-agent"].to_str().unwrap().starts_with("Cardinal/"));
    assert_eq!(hdr["x-prometheus-scrape-timeout-seconds"], "1");
    // OpenMetrics without # EOF is an error, as in Prometheus.
    t.set_body("om_total 1\n");
    wait_health(&d, "om", "down", "# EOF").await;
}

#[tokio::test]
async fn honor_labels_relabeling_and_metric_relabeling() {
    let t = TestTarget::start("fed{job=\"upstream\",instance=\"\"} 1\ndropme 2\nkeep{pod=\"p1\"} 3\n").await;
    let honor = job(
        "honor",
        &[&t],
        "    honor_labels: true\n    relabel_configs:\n      - {target_label: zone, replacement: z1}\n    metric_relabel_configs:\n      - {source_labels: [__name__], regex: dropme, action: drop}\n      - {regex: pod, action: labeldrop}\n",
    );
    let plain = job("plain", &[&t], "");
    let d = collector(&config("", &[honor, plain])).await;
    scraped(&d, "honor").await;
    scraped(&d, "plain").await;
    let text = without_timestamps(&d.federate(&[r#"{__name__=~"fed|dropme|keep"}"#]).await);
    let a = t.addr;
    let want = format!(
        "# TYPE dropme untyped\n\
         dropme{{instance=\"{a}\",job=\"plain\"}} 2\n\
         # TYPE fed untyped\n\
         fed{{exported_job=\"upstream\",instance=\"{a}\",job=\"plain\"}} 1\n\
         fed{{job=\"upstream\",zone=\"z1\",instance=\"\"}} 1\n\
         # TYPE keep untyped\n\
         keep{{instance=\"{a}\",job=\"honor\",zone=\"z1\"}} 3\n\
         keep{{instance=\"{a}\",job=\"plain\",pod=\"p1\"}} 3"
    );
    assert_eq!(
        text, want,
        "honor_labels keeps exposed labels (empty instance counts as present); plain renames to exported_"
    );
}
