//! Alerting rules end to end: evaluated on scraped data, delivered to an Alertmanager
//! (a stub that records what it gets, and a real Alertmanager 0.25 where installed),
//! visible in the API and on `/federate`, and restored across a restart.

mod common;
use common::*;
use e2e::{Daemon, TestTarget, wait_until};
use parking_lot::Mutex;
use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering::Relaxed};
use std::time::Duration;

/// An Alertmanager stand-in recording each POST's alerts, answering a settable status.
#[derive(Clone, Default)]
struct AmStub {
    posts: Arc<Mutex<Vec<Vec<Value>>>>,
    status: Arc<AtomicU16>,
}

impl AmStub {
    async fn start() -> (AmStub, String) {
        let am = AmStub::default();
        am.status.store(200, Relaxed);
        let state = am.clone();
        let app = axum::Router::new().route(
            "/am/api/v2/alerts",
            axum::routing::post(move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let state = state.clone();
                async move {
                    assert_eq!(headers["content-type"], "application/json");
                    let status = state.status.load(Relaxed);
                    if status == 200 {
                        let mut alerts: Vec<Value> = serde_json::from_slice(&body).expect("a JSON array");
                        // When it arrived, to tell a resolution (endsAt already past) from a firing alert.
                        for a in &mut alerts {
                            a["received"] = cardinal_model::now_ms().into();
                        }
                        state.posts.lock().push(alerts);
                    }
                    axum::http::StatusCode::from_u16(status).unwrap()
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move { axum::serve(listener, app).await.ok() });
        (am, addr)
    }

    /// Every received alert with `i` = `instance_label`, in arrival order.
    fn sent(&self, i: &str) -> Vec<Value> {
        self.posts.lock().iter().flatten().filter(|a| a["labels"]["i"] == i).cloned().collect()
    }
}

const RULES: &str = r#"
groups:
  - name: alerts
    interval: 1s
    rules:
      - alert: Down
        expr: demo_down == 1
        labels: {severity: page}
        annotations: {summary: '{{ $labels.i }} is down ({{ $value }}) in {{ $externalLabels.collector }}'}
"#;

fn down_body(n: usize, skip: Option<usize>) -> String {
    (0..n).filter(|i| Some(*i) != skip).map(|i| format!("demo_down{{i=\"{i}\"}} 1\n")).collect()
}

fn alerting_config(target: &TestTarget, am: &str) -> String {
    format!(
        "global: {{scrape_interval: 1s, evaluation_interval: 1s, external_labels: {{collector: c1}}}}\n\
         rule_files: [rules.yml]\n\
         alerting:\n  alert_relabel_configs:\n  - {{target_label: relabeled, replacement: 'yes'}}\n  \
         alertmanagers:\n  - path_prefix: /am\n    static_configs: [{{targets: ['{am}']}}]\n\
         scrape_configs:\n  - job_name: j\n    static_configs: [{{targets: ['{}']}}]\n",
        target.addr
    )
}

fn millis(rfc3339: &Value) -> i64 {
    let s = rfc3339.as_str().expect("a time string");
    chrono::DateTime::parse_from_rfc3339(s).expect("RFC 3339").timestamp_millis()
}

async fn api(d: &Daemon, path: &str) -> Value {
    let (status, body) = d.get(path).await;
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).expect("JSON")
}

#[tokio::test]
async fn alerts_reach_alertmanager_batched_resent_and_resolved() {
    let (am, am_addr) = AmStub::start().await;
    let target = TestTarget::start(&down_body(70, None)).await;
    let d = Daemon::start_with_files(
        "collector",
        &alerting_config(&target, &am_addr),
        &[("rules.yml", RULES)],
        &["--rules.alert.resend-delay=2s", "--web.external-url=http://cardinal.test:9090/"],
    )
    .await;
    wait_until(WAIT, || async { am.sent("0").len() >= 3 }).await;

    // Batches of at most 64: the 70 alerts of the first evaluation take two POSTs.
    let posts = am.posts.lock().clone();
    assert!(posts.iter().all(|p| p.len() <= 64), "{:?}", posts.iter().map(Vec::len).collect::<Vec<_>>());
    assert!(posts.iter().any(|p| p.len() == 64));

    // The payload, as Prometheus sends it.
    let first = &am.sent("0")[0];
    let want_labels = serde_json::json!({
        "alertname": "Down", "i": "0", "severity": "page", "job": "j", "instance": target.addr.to_string(),
        "collector": "c1", "relabeled": "yes"
    });
    assert_eq!(first["labels"], want_labels, "external labels merged, alert_relabel_configs applied");
    assert_eq!(first["annotations"]["summary"], "0 is down (1) in c1");
    assert_eq!(first["generatorURL"], "http://cardinal.test:9090/graph?g0.expr=demo_down+%3D%3D+1&g0.tab=1");
    let starts = millis(&first["startsAt"]);
    assert_eq!(millis(&first["endsAt"]) - starts, 8000, "valid for 4 × max(resend delay 2s, interval 1s)");

    // Re-sent once the 2s resend delay has strictly passed: every third 1s evaluation.
    let sends = am.sent("0");
    for pair in sends.windows(2) {
        assert_eq!(millis(&pair[0]["startsAt"]), millis(&pair[1]["startsAt"]), "startsAt is when it fired");
        assert_eq!(millis(&pair[1]["endsAt"]) - millis(&pair[0]["endsAt"]), 3000, "{sends:?}");
    }

    // The API and /federate see the alert too.
    let alerts = api(&d, "/api/v1/alerts").await;
    let listed = alerts["data"]["alerts"].as_array().unwrap();
    assert_eq!(listed.len(), 70);
    let a0 = listed.iter().find(|a| a["labels"]["i"] == "0").unwrap();
    assert_eq!((a0["state"].as_str(), a0["value"].as_str()), (Some("firing"), Some("1e+00")));
    assert_eq!(millis(&a0["activeAt"]), starts, "for: 0 fires at the first evaluation");
    let rules = api(&d, "/api/v1/rules?type=alert").await;
    let rule = &rules["data"]["groups"][0]["rules"][0];
    assert_eq!(
        (rule["type"].as_str(), rule["state"].as_str(), rule["health"].as_str()),
        (Some("alerting"), Some("firing"), Some("ok"))
    );
    assert_eq!(rule["alerts"].as_array().unwrap().len(), 70);
    let fed = d.federate(&["ALERTS"]).await;
    assert!(fed.contains(r#"ALERTS{alertname="Down",alertstate="firing",i="0",instance="#), "{fed}");

    // Alert 0 resolves when its series goes: sent at once with endsAt = resolution time.
    target.set_body(&down_body(70, Some(0)));
    let is_resolution = |a: &Value| millis(&a["endsAt"]) <= a["received"].as_i64().unwrap();
    wait_until(WAIT, || async { am.sent("0").last().is_some_and(is_resolution) }).await;
    let resolved = am.sent("0").last().cloned().unwrap();
    assert!(millis(&resolved["endsAt"]) > starts);
    let alerts = api(&d, "/api/v1/alerts").await;
    assert_eq!(alerts["data"]["alerts"].as_array().unwrap().len(), 69, "resolved alerts leave the API");

    // An Alertmanager failing: counted, not retried; the next resend delivers.
    am.status.store(500, Relaxed);
    wait_until(WAIT, || async {
        d.get("/metrics").await.1.contains("cardinal_notifications_errors_total{alertmanager=")
            && !d.get("/metrics").await.1.contains(&format!(
                "cardinal_notifications_errors_total{{alertmanager=\"http://{am_addr}/am/api/v2/alerts\"}} 0"
            ))
    })
    .await;
    let before = am.sent("1").len();
    am.status.store(200, Relaxed);
    wait_until(WAIT, || async { am.sent("1").len() > before }).await;
    let metrics = d.get("/metrics").await.1;
    assert!(
        metrics.contains(&format!(
            "cardinal_notifications_sent_total{{alertmanager=\"http://{am_addr}/am/api/v2/alerts\"}}"
        )),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_restart_in_the_middle_of_for_keeps_the_progress() {
    let rules = "groups:\n  - name: slow\n    interval: 1s\n    rules:\n      - alert: Slow\n        expr: demo_value > 0\n        for: 1m\n";
    let target = TestTarget::start("demo_value 1\n").await;
    let cfg = format!(
        "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\nrule_files: [rules.yml]\nscrape_configs:\n  - job_name: j\n    static_configs: [{{targets: ['{}']}}]\n",
        target.addr
    );
    let mut d =
        Daemon::start_with_files("collector", &cfg, &[("rules.yml", rules)], &["--rules.alert.for-grace-period=5s"])
            .await;
    let active_at = |v: &Value| v["data"]["alerts"].as_array().and_then(|a| a.first()).map(|a| millis(&a["activeAt"]));
    wait_until(WAIT, || async { active_at(&api(&d, "/api/v1/alerts").await).is_some() }).await;
    let before = active_at(&api(&d, "/api/v1/alerts").await).unwrap();
    // Pending for a few seconds, with ALERTS_FOR_STATE synced to the WAL.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let killed = cardinal_model::now_ms();
    d.restart().await;
    let restarted = cardinal_model::now_ms();
    // The restore runs after the second evaluation; until then the alert looks new.
    wait_until(WAIT, || async { active_at(&api(&d, "/api/v1/alerts").await).is_some_and(|t| t < restarted) }).await;
    let after = api(&d, "/api/v1/alerts").await;
    let restored = active_at(&after).unwrap();
    assert_eq!(after["data"]["alerts"][0]["state"], "pending");
    // Time pending before the restart still counts; only the downtime is added, as
    // Prometheus does. A reset would put activeAt after the restart.
    let downtime = cardinal_model::now_ms() - killed;
    assert!(
        restored > before && restored - before <= downtime + 2000,
        "before {before}, restored {restored}, down {downtime} ms"
    );
}

#[tokio::test]
async fn a_real_alertmanager_receives_and_resolves() {
    let Some(am) = e2e::alertmanager::Alertmanager::start().await else { return };
    let am_addr = am.addr.clone();
    let target = TestTarget::start(&down_body(2, None)).await;
    let cfg = alerting_config(&target, &am_addr).replace("path_prefix: /am", "path_prefix: /");
    let _d =
        Daemon::start_with_files("collector", &cfg, &[("rules.yml", RULES)], &["--rules.alert.resend-delay=1s"]).await;
    let listed = || am.alerts();
    wait_until(WAIT, || async { listed().await.len() == 2 }).await;
    let a = listed().await.into_iter().find(|a| a["labels"]["i"] == "0").unwrap();
    assert_eq!(a["status"]["state"], "active");
    assert_eq!(a["labels"]["collector"], "c1");
    assert_eq!(a["annotations"]["summary"], "0 is down (1) in c1");

    // Resolved on our side: Alertmanager drops it from its active alerts.
    target.set_body(&down_body(2, Some(0)));
    wait_until(WAIT, || async { listed().await.iter().all(|a| a["labels"]["i"] != "0") }).await;
    assert_eq!(listed().await.len(), 1, "the other alert is still active");
}
