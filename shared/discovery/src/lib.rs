//! Service discovery: where a job's (or an Alertmanager set's) targets come from. Each
//! mechanism is a [`Discoverer`], as in Prometheus's `discovery` package: it sends its
//! whole current list of target groups whenever that changes. [`spawn`] runs a config's
//! mechanisms and merges their lists, with the static groups, into one watch channel.
//! Here: files ([`FileSd`], re-read when they change), DNS A/AAAA records ([`DnsSd`]),
//! HTTP endpoints ([`HttpSd`], `http_sd.rs`) and Kubernetes' API server ([`KubernetesSd`],
//! `kubernetes/`); a new mechanism is a new `Discoverer`, and
//! a line in [`from_config`].

mod http_sd;
mod kubernetes;

pub use http_sd::HttpSd;
pub use kubernetes::KubernetesSd;

use cardinal_config::{DnsSdConfig, FileSdConfig, SdConfigs, StaticConfig};
use futures_util::future::BoxFuture;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::{mpsc, watch};

/// Targets sharing labels: a static_config entry, an entry of an SD file (same schema),
/// a DNS name's addresses, or a Kubernetes object's ports, with where it came from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TargetGroup {
    pub targets: Vec<Target>,
    pub labels: BTreeMap<String, String>,
    pub source: String,
}

/// One discovered target: its address and the labels of its own, which win over its
/// group's (a Kubernetes pod's container and port, say).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Target {
    pub address: String,
    pub labels: BTreeMap<String, String>,
}

impl From<String> for Target {
    fn from(address: String) -> Target {
        Target { address, labels: BTreeMap::new() }
    }
}

/// The groups a mechanism (or all of a job's) currently knows. Shared, not copied: a
/// Kubernetes cluster's groups pass through discovery, the merge and every job.
pub type Groups = Vec<Arc<TargetGroup>>;

impl TargetGroup {
    /// A group of bare addresses.
    pub fn of_addresses(addresses: Vec<String>, labels: BTreeMap<String, String>, source: String) -> TargetGroup {
        TargetGroup { targets: addresses.into_iter().map(Target::from).collect(), labels, source }
    }
}

/// One discovery mechanism, run as its own task until the groups' receiver is gone.
pub trait Discoverer: Send + 'static {
    fn run(self: Box<Self>, out: Updates) -> BoxFuture<'static, ()>;
}

/// Where a [`Discoverer`] sends its current groups.
pub struct Updates {
    slot: usize,
    tx: mpsc::Sender<(usize, Groups)>,
}

impl Updates {
    /// Replaces this mechanism's groups; `false` once nobody listens (time to stop).
    pub async fn send(&self, groups: Groups) -> bool {
        self.tx.send((self.slot, groups)).await.is_ok()
    }

    /// Nobody listens any more (the job or the config is gone).
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

/// The mechanisms a config names, besides its static groups.
pub fn from_config(sd: SdConfigs) -> Vec<Box<dyn Discoverer>> {
    let files = sd.files.iter().map(|c| Box::new(FileSd(c.clone())) as Box<dyn Discoverer>);
    let dns = sd.dns.iter().map(|c| Box::new(DnsSd(c.clone())) as Box<dyn Discoverer>);
    let http = sd.http.iter().map(|c| Box::new(HttpSd(c.clone())) as Box<dyn Discoverer>);
    let kubernetes = sd.kubernetes.iter().map(|c| Box::new(KubernetesSd(c.clone())) as Box<dyn Discoverer>);
    files.chain(dns).chain(http).chain(kubernetes).collect()
}

/// How often file SD checks the files' modification times. Prometheus reacts to inotify
/// events; a one-second stat loop is as prompt for people and needs no platform code.
const FILE_POLL: Duration = Duration::from_secs(1);

/// Runs `mechanisms` beside the `statics` and returns the channel of all current groups.
pub fn spawn(
    statics: &[StaticConfig],
    mechanisms: Vec<Box<dyn Discoverer>>,
) -> (watch::Receiver<Groups>, Vec<tokio::task::JoinHandle<()>>) {
    let static_groups: Groups = statics
        .iter()
        .enumerate()
        .map(|(i, s)| Arc::new(TargetGroup::of_addresses(s.targets.clone(), s.labels.clone(), format!("static/{i}"))))
        .collect();
    let n_sources = mechanisms.len();
    let (tx, rx) = watch::channel(static_groups.clone());
    if n_sources == 0 {
        // Keep the sender alive for the receiver's lifetime: a static job never changes.
        tokio::spawn(async move { tx.closed().await });
        return (rx, Vec::new());
    }
    let (part_tx, mut part_rx) = mpsc::channel::<(usize, Groups)>(16);
    let mut handles: Vec<_> = mechanisms
        .into_iter()
        .enumerate()
        .map(|(slot, m)| tokio::spawn(m.run(Updates { slot, tx: part_tx.clone() })))
        .collect();
    handles.push(tokio::spawn(async move {
        let mut parts: Vec<Groups> = vec![Vec::new(); n_sources];
        while let Some((i, groups)) = part_rx.recv().await {
            parts[i] = groups;
            let all: Groups = static_groups.iter().chain(parts.iter().flatten()).cloned().collect();
            if tx.send(all).is_err() {
                return;
            }
        }
    }));
    (rx, handles)
}

/// `file_sd_configs`: the files matching the globs, re-read when they change.
pub struct FileSd(pub FileSdConfig);

/// `dns_sd_configs`: the A or AAAA records of the names, looked up every refresh.
pub struct DnsSd(pub DnsSdConfig);

impl Discoverer for FileSd {
    fn run(self: Box<Self>, out: Updates) -> BoxFuture<'static, ()> {
        Box::pin(run_file_sd(self.0, out))
    }
}

impl Discoverer for DnsSd {
    fn run(self: Box<Self>, out: Updates) -> BoxFuture<'static, ()> {
        Box::pin(run_dns_sd(self.0, out))
    }
}

/// Reads the files matching the config's globs; a file that fails to parse keeps the
/// groups it last had, as Prometheus does.
async fn run_file_sd(cfg: FileSdConfig, out: Updates) {
    let mut known: BTreeMap<PathBuf, (Option<SystemTime>, Groups)> = BTreeMap::new();
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
            if !out.send(groups).await {
                return;
            }
        }
        first = false;
        tokio::time::sleep(FILE_POLL).await;
    }
}

/// Parses one SD file: JSON for `.json`, YAML otherwise, as Prometheus does.
pub fn read_sd_file(path: &std::path::Path) -> Result<Groups, String> {
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
            Arc::new(TargetGroup::of_addresses(e.targets, e.labels, format!("{name}:{i}")))
        })
        .collect())
}

async fn run_dns_sd(cfg: DnsSdConfig, out: Updates) {
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
                    groups.push(Arc::new(TargetGroup::of_addresses(targets, labels, format!("dns/{name}"))));
                }
                Err(e) => tracing::warn!(name, error = %e, "DNS SD lookup failed"),
            }
        }
        if !out.send(groups).await {
            return;
        }
        tokio::time::sleep(cfg.refresh_interval.0).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A mechanism that sends one list and then waits to be stopped.
    struct Fixed(Groups);

    impl Discoverer for Fixed {
        fn run(self: Box<Self>, out: Updates) -> BoxFuture<'static, ()> {
            Box::pin(async move {
                if out.send(self.0).await {
                    std::future::pending::<()>().await;
                }
            })
        }
    }

    fn group(target: &str, source: &str) -> Arc<TargetGroup> {
        Arc::new(TargetGroup::of_addresses(vec![target.into()], BTreeMap::new(), source.into()))
    }

    #[tokio::test]
    async fn every_mechanism_s_groups_join_the_static_ones() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("targets.json");
        std::fs::write(&file, r#"[{"targets": ["b:9100"], "labels": {"env": "test"}}]"#).unwrap();
        let statics = [StaticConfig { targets: vec!["a:9100".into()], labels: BTreeMap::new() }];
        let file_sd = FileSdConfig {
            files: vec![file.display().to_string()],
            refresh_interval: cardinal_config::Dur(Duration::from_secs(60)),
        };
        let mut mechanisms = from_config(SdConfigs { files: &[file_sd], dns: &[], http: &[], kubernetes: &[] });
        mechanisms.push(Box::new(Fixed(vec![group("c:9100", "fixed")])));
        let (mut rx, _tasks) = spawn(&statics, mechanisms);
        let targets = |groups: &[Arc<TargetGroup>]| {
            let mut t: Vec<String> = groups.iter().flat_map(|g| g.targets.iter().map(|t| t.address.clone())).collect();
            t.sort();
            t
        };
        let all = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                let groups = rx.borrow_and_update().clone();
                if groups.len() == 3 {
                    return groups;
                }
                rx.changed().await.expect("discovery runs");
            }
        })
        .await
        .expect("both mechanisms report within 10 s (file SD reads at once)");
        assert_eq!(targets(&all), ["a:9100", "b:9100", "c:9100"]);
        let from_file = all.iter().find(|g| g.targets[0].address == "b:9100").unwrap();
        assert_eq!(from_file.labels["env"], "test");
        assert_eq!(from_file.labels["__meta_filepath"], file.display().to_string());
    }
}
