//! Recording rules on scraped data, served on `/federate` and through the query API.

mod common;
use common::*;
use e2e::{Daemon, TestTarget, wait_until};
use serde_json::Value;

const RULES: &str = r#"
groups:
  - name: federate
    interval: 1s
    rules:
      - record: federate:demo_requests:sum
        expr: sum by (job) (demo_requests_total)
      - record: federate:demo_requests:sum_x2
        expr: federate:demo_requests:sum * 2
        labels: {tier: agg}
      - record: federate:vanishing
        expr: demo_vanishing
"#;

async fn setup() -> (Daemon, TestTarget) {
    let t = TestTarget::start(
        "demo_requests_total{path=\"/a\"} 10\ndemo_requests_total{path=\"/b\"} 20\ndemo_vanishing 1\n",
    )
    .await;
    let cfg = format!(
        "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\nrule_files: [rules.yml]\nscrape_configs:\n  - job_name: j\n    static_configs: [{{targets: ['{}']}}]\n",
        t.addr
    );
    let d = Daemon::start_with_files("collector", &cfg, &[("rules.yml", RULES)], &["--web.enable-lifecycle"]).await;
    (d, t)
}

async fn json(d: &Daemon, path: &str) -> (u16, Value) {
    let (status, body) = d.get(path).await;
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

#[tokio::test]
async fn recorded_series_are_federated_and_go_stale() {
    let (d, t) = setup().await;
    let sel = [r#"{__name__=~"federate:.+"}"#];
    wait_until(WAIT, || async { d.federate(&sel).await.contains("federate:demo_requests:sum_x2") }).await;
    let text = without_timestamps(&d.federate(&sel).await);
    assert!(text.contains("federate:demo_requests:sum{job=\"j\",instance=\"\"} 30"), "{text}");
    assert!(text.contains("federate:demo_requests:sum_x2{job=\"j\",tier=\"agg\",instance=\"\"} 60"), "{text}");
    assert!(text.contains("federate:vanishing{instance="), "{text}");
    // One evaluation slot: every output of the group carries the same timestamp.
    let ts = timestamps(&d.federate(&[r#"{__name__=~"federate:demo_requests:.+"}"#]).await);
    assert!(ts.windows(2).all(|w| w[0] == w[1]), "{ts:?}");

    t.set_body("demo_requests_total{path=\"/a\"} 10\ndemo_requests_total{path=\"/b\"} 20\n");
    wait_until(WAIT, || async { !d.federate(&sel).await.contains("federate:vanishing") }).await;

    let (_, metrics) = d.get("/metrics").await;
    assert!(metrics.contains("cardinal_rule_group_iterations_total{rule_group="), "{metrics}");
    let (_, rules) = json(&d, "/api/v1/rules").await;
    let group = &rules["data"]["groups"][0];
    assert_eq!(group["name"], "federate");
    assert_eq!(group["interval"], 1.0);
    assert_eq!(group["rules"][0]["health"], "ok");
    assert_eq!(group["rules"][1]["labels"]["tier"], "agg");
    assert_eq!(group["rules"][0]["type"], "recording");

    // Removing the rule file's group stales its outputs at once.
    let (status, _) =
        d.reload(&std::fs::read_to_string(&d.config).unwrap().replace("rule_files: [rules.yml]\n", "")).await;
    assert_eq!(status, 200);
    wait_until(WAIT, || async { !d.federate(&sel).await.contains("federate:") }).await;
}

#[tokio::test]
async fn query_api_answers_as_prometheus_does() {
    let (d, _t) = setup().await;
    wait_until(WAIT, || async {
        json(&d, "/api/v1/query?query=federate:demo_requests:sum").await.1["data"]["result"][0].is_object()
    })
    .await;
    // A whole second after at least one evaluation: integral seconds print without ".0".
    let now_secs = || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let at = |t: u64| format!("/api/v1/query?query=federate:demo_requests:sum&time={t}");
    wait_until(WAIT, || async { json(&d, &at(now_secs())).await.1["data"]["result"][0].is_object() }).await;
    let now = now_secs();
    let (status, v) = json(&d, &at(now)).await;
    assert_eq!(status, 200);
    assert_eq!(v["data"]["resultType"], "vector");
    assert_eq!(v["data"]["result"][0]["metric"]["__name__"], "federate:demo_requests:sum");
    assert_eq!(v["data"]["result"][0]["value"], serde_json::json!([now, "30"]), "integral seconds print without .0");

    // Grafana's health check and its form-encoded POSTs.
    let post = |path: &str, form: Vec<(&'static str, String)>| {
        let req = reqwest::Client::new().post(d.url(path)).form(&form);
        async move { req.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let r = post("/api/v1/query", vec![("query", "1+1".into()), ("time", "1795263213.126".into())]).await;
    assert_eq!(r["data"], serde_json::json!({"resultType": "scalar", "result": [1795263213.126, "2"]}));
    let range = vec![
        ("query", "sum(demo_requests_total)".to_string()),
        ("start", (now - 10).to_string()),
        ("end", now.to_string()),
        ("step", "2".to_string()),
    ];
    let r = post("/api/v1/query_range", range).await;
    assert_eq!(r["data"]["resultType"], "matrix");
    let values = r["data"]["result"][0]["values"].as_array().unwrap();
    assert!(values.iter().all(|p| p[1] == "30"), "{values:?}");

    let (_, series) = json(&d, "/api/v1/series?match[]=up").await;
    assert_eq!(series["data"][0]["job"], "j");
    let (_, labels) = json(&d, "/api/v1/labels").await;
    assert!(labels["data"].as_array().unwrap().contains(&Value::from("path")));
    let (_, values) = json(&d, "/api/v1/label/path/values").await;
    assert_eq!(values["data"], serde_json::json!(["/a", "/b"]));
    let (_, names) = json(&d, "/api/v1/label/__name__/values").await;
    assert!(names["data"].as_array().unwrap().contains(&Value::from("federate:demo_requests:sum")));

    // Errors, with Prometheus's types and status codes.
    let (status, e) = json(&d, "/api/v1/query?query=sum(").await;
    assert_eq!((status, e["errorType"].as_str()), (400, Some("bad_data")));
    assert!(e["error"].as_str().unwrap().starts_with("invalid parameter \"query\": parse error"), "{e}");
    let (status, e) = json(&d, "/api/v1/query?query=demo_requests_total%20%2B%20on()%20demo_requests_total").await;
    assert_eq!((status, e["errorType"].as_str()), (422, Some("execution")), "{e}");
    assert!(e["error"].as_str().unwrap().contains("many-to-many matching not allowed"));
    let (status, e) = json(&d, "/api/v1/query_range?query=up&start=10&end=5&step=1").await;
    assert_eq!(status, 400);
    assert!(e["error"].as_str().unwrap().contains("end timestamp must not be before start time"));
    let (status, _) = json(&d, "/api/v1/query_range?query=up&start=0&end=100000&step=1").await;
    assert_eq!(status, 400, "more than 11,000 points");
    let (status, e) = json(&d, "/api/v1/label/1bad/values").await;
    assert_eq!((status, e["error"].as_str()), (400, Some("invalid label name: \"1bad\"")));
    let (status, e) = json(&d, "/api/v1/series").await;
    assert_eq!((status, e["error"].as_str()), (400, Some("no match[] parameter provided")));
}
