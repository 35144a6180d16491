//! Reading a daemon (ours or Prometheus) through Prometheus's HTTP API.

/// A successful API answer's JSON; anything else is an error naming what went wrong.
pub async fn get_json(request: reqwest::RequestBuilder) -> Result<serde_json::Value, String> {
    let r = request.send().await.map_err(|e| e.to_string())?;
    let status = r.status();
    let text = r.text().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("HTTP {status}: {text}"));
    }
    serde_json::from_str(&text).map_err(|e| format!("{e}: {text}"))
}

/// An instant query's result vector.
pub async fn query(client: &reqwest::Client, addr: &str, expr: &str) -> Result<Vec<serde_json::Value>, String> {
    let v = get_json(client.get(format!("http://{addr}/api/v1/query")).query(&[("query", expr)])).await?;
    v["data"]["result"].as_array().cloned().ok_or_else(|| format!("{addr}: no result vector for {expr}: {v}"))
}

/// Series in the head, from `/api/v1/status/tsdb`.
pub async fn head_series(client: &reqwest::Client, addr: &str) -> Result<u64, String> {
    let v = get_json(client.get(format!("http://{addr}/api/v1/status/tsdb"))).await?;
    v["data"]["headStats"]["numSeries"].as_u64().ok_or_else(|| format!("{addr}: no headStats in {v}"))
}
