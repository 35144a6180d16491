//! From a discovered address to a scrape target: Prometheus's `PopulateLabels`.

use cardinal_config::ScrapeConfig;
use cardinal_discovery::{self as discovery, TargetGroup};
use cardinal_model::{Labels, LabelsBuilder, format_duration};
use std::sync::Arc;

/// A target after relabeling: what gets scraped, and the labels its samples get.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// Labels before relabeling (`discoveredLabels` in the API).
    pub discovered: Labels,
    /// Labels attached to every sample (no `__` labels left).
    pub labels: Labels,
    pub url: String,
    /// A stable identity: the same labels and URL are the same target across reloads
    /// and rediscovery. Computed once, in [`Target::new`].
    pub key: u64,
}

impl Target {
    pub fn new(discovered: Labels, labels: Labels, url: String) -> Target {
        let mut id = labels.to_string();
        id.push_str(&url);
        let key = cardinal_model::stable_hash(id.as_bytes());
        Target { discovered, labels, url, key }
    }
}

/// The result of relabeling one discovered target.
pub enum Populated {
    Target(Target),
    /// Dropped by relabel_configs; kept for `droppedTargets`.
    Dropped(Dropped),
}

/// A target relabelling dropped, kept for `droppedTargets` as where discovery found it
/// (the group discovery holds anyway): its labels are built again when asked for. Kept
/// built, a pod's few dozen labels for every port of every pod a job does not scrape
/// were most of Kubernetes discovery's memory (docs/benchmarks.md).
#[derive(Clone)]
pub struct Dropped {
    group: Arc<TargetGroup>,
    index: usize,
}

impl Dropped {
    /// Its labels before relabeling, under the job `cfg` that dropped it.
    pub fn discovered(&self, cfg: &ScrapeConfig) -> Labels {
        discovered_labels(cfg, &self.group, &self.group.targets[self.index])
    }
}

/// Turns every address in the groups into a target, applying the job's relabel_configs.
pub fn targets_from_groups(cfg: &ScrapeConfig, groups: &[Arc<TargetGroup>]) -> (Vec<Populated>, Vec<String>) {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for g in groups {
        for (index, t) in g.targets.iter().enumerate() {
            match populate(cfg, g, index) {
                Ok(p) => out.push(p),
                Err(e) => errors.push(format!("instance {}: {e}", t.address)),
            }
        }
    }
    (out, errors)
}

fn populate(cfg: &ScrapeConfig, group: &Arc<TargetGroup>, index: usize) -> Result<Populated, String> {
    let discovered = discovered_labels(cfg, group, &group.targets[index]);
    let Some(relabeled) = cardinal_relabel::process(&discovered, &cfg.relabel_configs) else {
        return Ok(Populated::Dropped(Dropped { group: group.clone(), index }));
    };
    let address = relabeled.get("__address__").ok_or("no address")?.to_string();
    if address.contains('/') {
        return Err(format!("{address:?} is not a valid hostname"));
    }
    let url = build_url(cfg, &relabeled, &address);
    let mut b = LabelsBuilder::new(relabeled);
    if b.get("instance").is_none() {
        b.set("instance", address);
    }
    b.retain(|l| !l.name.starts_with("__"));
    Ok(Populated::Target(Target::new(discovered, b.build(), url)))
}

/// Prometheus's `PopulateLabels` before relabeling: the group's and the target's labels,
/// the address, and the job's defaults where discovery set none.
fn discovered_labels(cfg: &ScrapeConfig, group: &TargetGroup, target: &discovery::Target) -> Labels {
    let mut b = LabelsBuilder::new(Labels::empty());
    for (k, v) in group.labels.iter().chain(&target.labels) {
        b.set(k.clone(), v.clone());
    }
    b.set("__address__", target.address.clone());
    for (k, v) in [
        ("job", cfg.job_name.clone()),
        ("__scheme__", cfg.scheme.clone()),
        ("__metrics_path__", cfg.metrics_path.clone()),
        ("__scrape_interval__", format_duration(cfg.interval())),
        ("__scrape_timeout__", format_duration(cfg.timeout())),
    ] {
        if b.get(k).is_none() {
            b.set(k, v);
        }
    }
    for (name, values) in &cfg.params {
        if let Some(first) = values.first() {
            let key = format!("__param_{name}");
            if b.get(&key).is_none() {
                b.set(key, first.clone());
            }
        }
    }
    b.build()
}

fn build_url(cfg: &ScrapeConfig, labels: &Labels, address: &str) -> String {
    let scheme = labels.get("__scheme__").unwrap_or("http");
    let path = labels.get("__metrics_path__").unwrap_or("/metrics");
    let mut query: Vec<(String, String)> = Vec::new();
    for (name, values) in &cfg.params {
        // A `__param_<name>` label overrides the first value, as in Prometheus.
        match labels.get(&format!("__param_{name}")) {
            Some(v) => {
                query.push((name.clone(), v.to_string()));
                query.extend(values.iter().skip(1).map(|x| (name.clone(), x.clone())));
            }
            None => query.extend(values.iter().map(|x| (name.clone(), x.clone()))),
        }
    }
    for l in labels.iter() {
        if let Some(name) = l.name.strip_prefix("__param_")
            && !cfg.params.contains_key(name)
        {
            query.push((name.to_string(), l.value.to_string()));
        }
    }
    let mut url = format!("{scheme}://{address}{path}");
    if !query.is_empty() {
        url.push('?');
        let encoded: Vec<String> = query.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect();
        url.push_str(&encoded.join("&"));
    }
    url
}

/// Percent-encodes a query component.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn cfg(yaml: &str) -> ScrapeConfig {
        cardinal_config::Config::parse(yaml, "t.yml").unwrap().scrape_configs.remove(0)
    }

    fn one(cfg: &ScrapeConfig, labels: &[(&str, &str)], addr: &str) -> Populated {
        let labels = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>();
        let g = TargetGroup::of_addresses(vec![addr.into()], labels, "t".into());
        targets_from_groups(cfg, &[Arc::new(g)]).0.remove(0)
    }

    #[test]
    fn defaults_instance_and_drops_internal_labels() {
        let c = cfg("scrape_configs: [{job_name: j, metrics_path: /m}]");
        let Populated::Target(t) = one(&c, &[("team", "x")], "127.0.0.1:9100") else { panic!() };
        assert_eq!(t.labels, Labels::from_pairs([("instance", "127.0.0.1:9100"), ("job", "j"), ("team", "x")]));
        assert_eq!(t.url, "http://127.0.0.1:9100/m");
        assert_eq!(t.discovered.get("__scrape_interval__"), Some("1m"));
    }

    #[test]
    fn relabeling_rewrites_address_scheme_path_and_params() {
        let c = cfg(r#"
scrape_configs:
  - job_name: j
    params:
      'match[]': ['{__name__=~"federate:.+"}', 'up']
    relabel_configs:
      - {source_labels: [__address__], target_label: __param_target}
      - {target_label: __address__, replacement: 'exporter:9115'}
      - {target_label: __scheme__, replacement: https}
      - {source_labels: [__param_target], target_label: instance}
"#);
        let Populated::Target(t) = one(&c, &[], "example.org") else { panic!() };
        assert_eq!(t.labels.get("instance"), Some("example.org"));
        assert_eq!(
            t.url,
            "https://exporter:9115/metrics?match%5B%5D=%7B__name__%3D~%22federate%3A.%2B%22%7D&match%5B%5D=up&target=example.org"
        );
    }

    #[test]
    fn dropped_targets_are_reported() {
        let c = cfg(
            "scrape_configs: [{job_name: j, relabel_configs: [{source_labels: [env], regex: prod, action: keep}]}]",
        );
        let Populated::Dropped(d) = one(&c, &[("env", "dev")], "a:1") else { panic!("dropped") };
        let want = [("__address__", "a:1"), ("env", "dev"), ("job", "j")];
        assert!(want.iter().all(|(k, v)| d.discovered(&c).get(k) == Some(*v)), "{}", d.discovered(&c));
        assert!(matches!(one(&c, &[("env", "prod")], "a:1"), Populated::Target(_)));
    }
}
