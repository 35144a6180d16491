//! The master as Grafana's Prometheus data source speaks to it, beside a real Prometheus
//! 2.42 holding the same data (both scrape one target): the requests Grafana 10/11 makes
//! for a dashboard (`packages/grafana-prometheus/src`: version detection through
//! buildinfo, the recording-rule map, the exemplar probe with times in milliseconds,
//! label names and values with and without `match[]` and a time range, series with
//! `limit`, metadata, instant and range queries as POST forms) and the status and
//! formatting endpoints a Prometheus operator calls. Each answers with Prometheus's
//! status code and JSON shape: the same keys (ours may add one, never lack one) and the
//! same types, element for element.

use e2e::prometheus::Prometheus;
use e2e::{Daemon, TestTarget, wait_until};
use serde_json::Value;
use std::time::Duration;

const BODY: &str = "# HELP demo_requests_total Requests served.\n# TYPE demo_requests_total counter\n\
                    demo_requests_total{code=\"200\",path=\"/a\"} 10\ndemo_requests_total{code=\"500\",path=\"/b\"} 2\n\
                    # HELP demo_temperature_celsius A gauge.\n# TYPE demo_temperature_celsius gauge\n\
                    demo_temperature_celsius 21.5\n";

/// The scrape job, and two Alertmanagers (not running) of which relabeling drops one.
fn config(target: &str) -> String {
    format!(
        "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\n\
         alerting:\n  alertmanagers:\n    - static_configs: [{{targets: ['127.0.0.1:1', '127.0.0.1:2']}}]\n      \
         relabel_configs: [{{source_labels: [__address__], regex: '.*:2', action: drop}}]\n\
         scrape_configs:\n  - job_name: demo\n    basic_auth: {{username: u, password: hunter2}}\n    \
         static_configs: [{{targets: ['{target}']}}]\n"
    )
}

/// A request as Grafana (or an operator) makes it: method, path and query, form body.
struct Call {
    method: &'static str,
    path: String,
    form: Vec<(&'static str, String)>,
}

fn get(path: impl Into<String>) -> Call {
    Call { method: "GET", path: path.into(), form: Vec::new() }
}

fn post(path: &str, form: Vec<(&'static str, String)>) -> Call {
    Call { method: "POST", path: path.to_string(), form }
}

async fn send(base: &str, call: &Call) -> (u16, Value) {
    let client = reqwest::Client::new();
    let url = format!("{base}{}", call.path);
    let req = match call.method {
        "GET" => client.get(url),
        _ => client.post(url).form(&call.form),
    };
    let r = req.send().await.expect("request");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Whether `ours` has `theirs`'s shape: every key of theirs (more are allowed), values of
/// the same JSON type, arrays compared element for element while both have one. A path
/// in `maps` is an object keyed by data (flags by name): its values' types alone count.
fn same_shape(ours: &Value, theirs: &Value, at: &str, maps: &[&str]) -> Result<(), String> {
    match (ours, theirs) {
        (Value::Object(o), Value::Object(t)) if maps.contains(&at) => {
            let kinds =
                |m: &serde_json::Map<String, Value>| m.values().map(kind).collect::<std::collections::BTreeSet<_>>();
            if kinds(o) == kinds(t) { Ok(()) } else { Err(format!("{at}: values {:?} vs {:?}", kinds(o), kinds(t))) }
        }
        (Value::Object(o), Value::Object(t)) => t.iter().try_for_each(|(k, tv)| {
            let ov = o.get(k).ok_or_else(|| format!("{at}.{k}: missing"))?;
            same_shape(ov, tv, &format!("{at}.{k}"), maps)
        }),
        (Value::Array(o), Value::Array(t)) => {
            if o.is_empty() != t.is_empty() {
                return Err(format!("{at}: {} elements vs {}", o.len(), t.len()));
            }
            o.iter().zip(t).enumerate().try_for_each(|(i, (a, b))| same_shape(a, b, &format!("{at}[{i}]"), maps))
        }
        _ if kind(ours) == kind(theirs) => Ok(()),
        _ => Err(format!("{at}: {ours} vs {theirs}")),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grafanas_requests_get_prometheus_answers() {
    let target = TestTarget::start(BODY).await;
    let cfg = config(&target.addr.to_string());
    let Some(prometheus) = Prometheus::start(&cfg).await else { return };
    let master = Daemon::start("master", &cfg, &[]).await;
    let (ours, theirs) = (master.url(""), prometheus.url(""));
    let enough = "count_over_time(demo_temperature_celsius[1m]) >= 4";
    for base in [&ours, &theirs] {
        wait_until(Duration::from_secs(60), || async {
            let (_, v) = send(base, &get(format!("/api/v1/query?query={}", urlencode(enough)))).await;
            v["data"]["result"].as_array().is_some_and(|r| !r.is_empty())
        })
        .await;
    }

    let now = e2e::small_mesh::now();
    let (start, end) = (format!("{:.3}", now - 60.0), format!("{now:.3}"));
    let (start_ms, end_ms) = (((now - 3600.0) * 1000.0) as i64, (now * 1000.0) as i64);
    let range = format!("start={start}&end={end}");
    let sel = urlencode("demo_requests_total{code=\"200\"}");
    let calls = [
        get("/api/v1/status/buildinfo"),
        get("/api/v1/rules"),
        get(format!("/api/v1/query_exemplars?query=test&start={start_ms}&end={end_ms}")),
        get(format!("/api/v1/label/__name__/values?{range}")),
        get("/api/v1/label/job/values"),
        get("/api/v1/label/instance/values"),
        get(format!("/api/v1/labels?match[]={sel}&{range}")),
        get(format!("/api/v1/label/path/values?match[]={sel}&{range}")),
        get(format!("/api/v1/labels?{range}")),
        get(format!("/api/v1/series?match[]={sel}&{range}&limit=40000")),
        get("/api/v1/metadata"),
        get("/api/v1/metadata?metric=demo_requests_total"),
        post(
            "/api/v1/query",
            vec![("query", "sum by (code) (rate(demo_requests_total[1m]))".into()), ("time", end.clone())],
        ),
        post(
            "/api/v1/query_range",
            vec![
                ("query", "rate(demo_requests_total[1m])".into()),
                ("start", start.clone()),
                ("end", end.clone()),
                ("step", "5".into()),
            ],
        ),
        post(
            "/api/v1/query_range",
            vec![("query", "rate(".into()), ("start", start.clone()), ("end", end.clone()), ("step", "5".into())],
        ),
        get("/api/v1/status/config"),
        get("/api/v1/status/flags"),
        get("/api/v1/status/runtimeinfo"),
        get(format!("/api/v1/format_query?query={}", urlencode("sum(rate(x[5m]))by(a)"))),
        get("/api/v1/format_query?query=sum("),
        get(format!("/api/v1/targets/metadata?match_target={}&limit=1", urlencode("{job=\"demo\"}"))),
        get("/api/v1/targets/metadata?metric=demo_temperature_celsius"),
        get("/api/v1/targets/metadata?match_target=%7B"),
    ];
    for call in &calls {
        let (our_status, our_body) = send(&ours, call).await;
        let (their_status, their_body) = send(&theirs, call).await;
        let what = format!("{} {}", call.method, call.path);
        println!("{what}: {our_status} / {their_status}");
        assert_eq!(our_status, their_status, "{what}: status, ours then Prometheus's\n{our_body}\n{their_body}");
        // Flags are keyed by name: each server has its own.
        let maps: &[&str] = if call.path.contains("/status/flags") { &[".data"] } else { &[] };
        let shaped = same_shape(&our_body, &their_body, "", maps);
        assert!(shaped.is_ok(), "{what}: {}\nours: {our_body}\nPrometheus: {their_body}", shaped.unwrap_err());
    }

    // The same values where the data is the same.
    let alertmanagers = get("/api/v1/alertmanagers");
    let (ours_ams, theirs_ams) = (send(&ours, &alertmanagers).await, send(&theirs, &alertmanagers).await);
    assert_eq!(ours_ams, theirs_ams, "active and dropped Alertmanagers");
    assert_eq!(ours_ams.1["data"]["droppedAlertmanagers"][0]["url"], "http://127.0.0.1:2/api/v2/alerts");
    let (_, formatted) = send(&ours, &calls[18]).await;
    assert_eq!(formatted["data"], "sum by (a) (rate(x[5m]))");
    let (_, config) = send(&ours, &get("/api/v1/status/config")).await;
    let yaml = config["data"]["yaml"].as_str().unwrap();
    assert!(yaml.contains("password: <secret>") && !yaml.contains("hunter2"), "{yaml}");
    let (_, info) = send(&ours, &get("/api/v1/status/buildinfo")).await;
    assert!(info["data"]["version"].as_str().unwrap().starts_with("3."), "{info}");

    // `parse_query` is newer than Prometheus 2.42 (404 there): its tree is unit-tested
    // against Prometheus 3's shape; here, that the master serves it, GET and POST, with
    // a format_query-like 400 for bad input.
    let (status, tree) = send(&ours, &get(format!("/api/v1/parse_query?query={}", urlencode("sum(x)")))).await;
    assert_eq!((status, tree["data"]["type"].as_str()), (200, Some("aggregation")), "{tree}");
    let posted = post("/api/v1/parse_query", vec![("query", "x".into())]);
    let (status, tree) = send(&ours, &posted).await;
    assert_eq!((status, tree["data"]["name"].as_str()), (200, Some("x")), "{tree}");
    let (status, error) = send(&ours, &get("/api/v1/parse_query?query=sum(")).await;
    assert_eq!((status, error["errorType"].as_str()), (400, Some("bad_data")), "{error}");
}

#[test]
fn shapes_differ_by_a_missing_key_a_type_or_an_empty_list_not_by_an_added_key() {
    use serde_json::json;
    let theirs = json!({"data": [{"a": 1, "b": "x"}]});
    assert!(same_shape(&json!({"data": [{"a": 2, "b": "y", "c": true}]}), &theirs, "", &[]).is_ok());
    assert!(same_shape(&json!({"data": [{"a": 2}]}), &theirs, "", &[]).is_err());
    assert!(same_shape(&json!({"data": [{"a": "2", "b": "y"}]}), &theirs, "", &[]).is_err());
    assert!(same_shape(&json!({"data": []}), &theirs, "", &[]).is_err());
    let flags = json!({"data": {"x": "1"}});
    assert!(same_shape(&json!({"data": {"y": "2"}}), &flags, "", &[".data"]).is_ok());
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
