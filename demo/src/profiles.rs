//! The profiling side of the demo: batch-compress workers in three regions upload a
//! gzip'd CPU profile each interval to the collector's `/ingest`, as a Pyroscope SDK
//! would, and the shipped profile rule turns them into one counter per region.

use cardinal_profiles::synthetic::{CPU_PERIOD_NS, Shape, cpu_profile};
use prost::Message;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

pub const REGIONS: [&str; 3] = ["eu", "us", "ap"];
/// Workers per region, each uploading one profile per interval. A worker in the i-th
/// region keeps i+1 cores busy, so the master should show eu 4, us 8, ap 12 cores.
const WORKERS: usize = 4;

/// Where profiles go: the collector's base URL, and a client with what its web config asks
/// for (the CA of its TLS certificate, basic auth).
pub struct Collector {
    base: String,
    client: reqwest::Client,
    auth: Option<(String, String)>,
}

impl Collector {
    /// `to` is `host:port` (plain HTTP) or a URL; `auth` a user and a password file.
    pub fn new(to: &str, ca: Option<&Path>, auth: Option<(String, &Path)>) -> Result<Collector, String> {
        let base = if to.contains("://") { to.trim_end_matches('/').to_string() } else { format!("http://{to}") };
        let mut b = reqwest::Client::builder();
        if let Some(ca) = ca {
            let pem = std::fs::read(ca).map_err(|e| format!("{}: {e}", ca.display()))?;
            b = b.add_root_certificate(
                reqwest::Certificate::from_pem(&pem).map_err(|e| format!("{}: {e}", ca.display()))?,
            );
        }
        let auth = match auth {
            Some((user, file)) => {
                let pw = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
                Some((user, pw.trim().to_string()))
            }
            None => None,
        };
        Ok(Collector { base, client: b.build().map_err(|e| e.to_string())?, auth })
    }
}

/// Uploads profiles every `every` until the task is dropped. Returns only on error.
pub async fn upload_forever(collector: Collector, every: Duration) -> Result<(), String> {
    let client = &collector.client;
    let shape = Shape { samples: 200, locations: 500, label_values: 0 };
    let mut tick = tokio::time::interval(every);
    for round in 0u64.. {
        tick.tick().await;
        let until = cardinal_model::now_ms() / 1000;
        let from = until - every.as_secs().max(1) as i64;
        for (r, region) in REGIONS.iter().enumerate() {
            for w in 0..WORKERS {
                let mut p = cpu_profile(round * 100 + (r * WORKERS + w) as u64, &shape, 0, 0);
                busy_for(&mut p, every * (r as u32 + 1));
                let body = gzip(&p.encode_to_vec())?;
                let name = format!("worker.cpu{{job=batch_compress,region={region},pod=worker-{region}-{w}}}");
                let mut req = client.post(format!("{}/ingest", collector.base));
                if let Some((user, pw)) = &collector.auth {
                    req = req.basic_auth(user, Some(pw));
                }
                let r = req
                    .query(&[("name", name.as_str()), ("from", &from.to_string()), ("until", &until.to_string())])
                    .query(&[("format", "pprof"), ("spyName", "demo")])
                    .body(body)
                    .send()
                    .await;
                // The collector may still be starting: the next round retries.
                if let Ok(resp) = r
                    && resp.status().is_client_error()
                {
                    return Err(format!("the collector refused a profile: {}", resp.text().await.unwrap_or_default()));
                }
            }
        }
    }
    Ok(())
}

/// Sets the profile's samples to add up to `cpu` of CPU time, spread evenly.
fn busy_for(p: &mut cardinal_profiles::proto::Profile, cpu: Duration) {
    let periods = (cpu.as_nanos() / CPU_PERIOD_NS as u128) as i64;
    let n = p.sample.len().max(1) as i64;
    for (i, s) in p.sample.iter_mut().enumerate() {
        let count = periods / n + i64::from((i as i64) < periods % n);
        s.value = vec![count, count * CPU_PERIOD_NS];
    }
}

fn gzip(b: &[u8]) -> Result<Vec<u8>, String> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(b).map_err(|e| e.to_string())?;
    e.finish().map_err(|e| e.to_string())
}

/// CPU cores per region on the master, from the recorded counters: the rule's output
/// after federation, as a user would query it.
/// The master's cores per region, as text, and how many regions it has data for.
pub async fn cores_by_region(client: &reqwest::Client, master: &str) -> Option<(String, usize)> {
    let q = "sum by (region) (rate(cpu_usage_compress_workers[1m])) / 1e9";
    let mut parts: Vec<String> = crate::api::query(client, master, q)
        .await
        .ok()?
        .iter()
        .map(|s| {
            let v: f64 = s["value"][1].as_str().unwrap_or("0").parse().unwrap_or(0.0);
            format!("{} {v:.2}", s["metric"]["region"].as_str().unwrap_or("?"))
        })
        .collect();
    parts.sort();
    (!parts.is_empty()).then(|| (parts.join(", "), parts.len()))
}
