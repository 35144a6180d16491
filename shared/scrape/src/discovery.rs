//! Service discovery: static targets, files (re-read when they change) and DNS A/AAAA
//! records. Each job's discoverers feed one watch channel with the full list of groups.

use cardinal_config::{DnsSdConfig, FileSdConfig, StaticConfig};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};
use tokio::sync::watch;

/// Targets sharing labels: a static_config entry, an entry of an SD file (same schema),
/// or a DNS name's addresses, with where it came from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TargetGroup {
    pub targets: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub source: String,
}

/// How often file SD checks the files' modification times. Prometheus reacts to inotify
/// events; a one-second stat loop is as prompt for people and needs no platform code.
const FILE_POLL: Duration = Duration::from_secs(1);

/// Starts discovery for one job and returns the channel of its current groups.
pub fn spawn(
    statics: &[StaticConfig],
    files: &[FileSdConfig],
    dns: &[DnsSdConfig],
) -> (watch::Receiver<Vec<TargetGroup>>, Vec<tokio::task::JoinHandle<()>>) {
    let static_groups: Vec<TargetGroup> = statics
        .iter()
        .enumerate()
        .map(|(i, s)| TargetGroup {
            targets: s.targets.clone(),
            labels: s.labels.clone(),
            source: format!("static/{i}"),
        })
        .collect();
    let n_sources = files.len() + dns.len();
    let (tx, rx) = watch::channel(static_groups.clone());
    if n_sources == 0 {
        // Keep the sender alive for the receiver's lifetime: a static job never changes.
        tokio::spawn(async move { tx.closed().await });
        return (rx, Vec::new());
    }
    let (part_tx, mut part_rx) = tokio::sync::mpsc::channel::<(usize, Vec<TargetGroup>)>(16);
    let mut handles = Vec::new();
    for (i, f) in files.iter().enumerate() {
        handles.push(tokio::spawn(run_file_sd(i, f.clone(), part_tx.clone())));
    }
    for (i, d) in dns.iter().enumerate() {
        handles.push(tokio::spawn(run_dns_sd(files.len() + i, d.clone(), part_tx.clone())));
    }
    handles.push(tokio::spawn(async move {
        let mut parts: Vec<Vec<TargetGroup>> = vec![Vec::new(); n_sources];
        while let Some((i, groups)) = part_rx.recv().await {
            parts[i] = groups;
            let all: Vec<TargetGroup> = static_groups.iter().cloned().chain(parts.iter().flatten().cloned()).collect();
            if tx.send(all).is_err() {
                return;
            }
        }
    }));
    (rx, handles)
}

/// Reads the files matching the config's globs; a file that fails to parse keeps the
/// groups it last had, as Prometheus does.
async fn run_file_sd(slot: usize, cfg: FileSdConfig, out: tokio::sync::mpsc::Sender<(usize, Vec<TargetGroup>)>) {
    let mut known: BTreeMap<PathBuf, (Option<SystemTime>, Vec<TargetGroup>)> = BTreeMap::new();
    let mut last_full = tokio::time::Instant::now();
    let mut first = true;
    loop {
        let paths: Vec<PathBuf> = cfg
            .files
            .iter()
            .filter_map(|pattern| glob::glob(pattern).ok())
            .flat_map(|paths| paths.filter_map(Result::ok))
            .collect();
        let full = last_full.elapsed() >= cfg.refresh_interval.0;
        let mut changed = first || full || paths.len() != known.len();
        let mut next = BTreeMap::new();
        for p in paths {
            let mtime = std::fs::metadata(&p).and_then(|m| m.modified()).ok();
            let previous = known.remove(&p);
            let groups = match previous {
                Some((old_mtime, groups)) if old_mtime == mtime && !full => groups,
                previous => {
                    changed = true;
                    read_sd_file(&p).unwrap_or_else(|e| {
                        tracing::error!(file = %p.display(), error = %e, "file SD: cannot read targets; keeping the previous ones");
                        previous.map(|(_, g)| g).unwrap_or_default()
                    })
                }
            };
            next.insert(p, (mtime, groups));
        }
        known = next;
        if full {
            last_full = tokio::time::Instant::now();
        }
        if changed {
            let groups = known.values().flat_map(|(_, g)| g.iter().cloned()).collect();
            if out.send((slot, groups)).await.is_err() {
                return;
            }
        }
        first = false;
        tokio::time::sleep(FILE_POLL).await;
    }
}

/// Parses one SD file: JSON for `.json`, YAML otherwise, as Prometheus does.
pub fn read_sd_file(path: &std::path::Path) -> Result<Vec<TargetGroup>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let name = path.display().to_string();
    let entries: Vec<StaticConfig> = if path.extension().is_some_and(|e| e == "json") {
        serde_json::from_str(&text).map_err(|e| format!("{name}: {e}"))?
    } else {
        cardinal_config::parse_yaml(&text, &name).map_err(|e| e.0)?
    };
    Ok(entries
        .into_iter()
        .enumerate()
        .map(|(i, mut e)| {
            e.labels.insert("__meta_filepath".into(), name.clone());
            TargetGroup { targets: e.targets, labels: e.labels, source: format!("{name}:{i}") }
        })
        .collect())
}

async fn run_dns_sd(slot: usize, cfg: DnsSdConfig, out: tokio::sync::mpsc::Sender<(usize, Vec<TargetGroup>)>) {
    let port = cfg.port.unwrap_or(0);
    loop {
        let mut groups = Vec::new();
        for name in &cfg.names {
            match tokio::net::lookup_host((name.as_str(), port)).await {
                Ok(addrs) => {
                    let mut targets: Vec<String> =
                        addrs.filter(|a| a.is_ipv6() == cfg.wants_ipv6()).map(|a| a.to_string()).collect();
                    targets.sort();
                    targets.dedup();
                    let labels = BTreeMap::from([("__meta_dns_name".to_string(), name.clone())]);
                    groups.push(TargetGroup { targets, labels, source: format!("dns/{name}") });
                }
                Err(e) => tracing::warn!(name, error = %e, "DNS SD lookup failed"),
            }
        }
        if out.send((slot, groups)).await.is_err() {
            return;
        }
        tokio::time::sleep(cfg.refresh_interval.0).await;
    }
}
