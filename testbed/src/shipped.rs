//! The shipped configs and rules (`config/`), sped up to a test's pace: what a new user
//! runs is what the end-to-end tests run.

use crate::Workload;

/// A file of the repository, by its path from the root.
pub fn repo_file(path: &str) -> String {
    let full = format!("{}/../{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

/// The shipped Istio rules, evaluated every `interval` over `window` ranges instead of
/// 10s and 1m (a range function answers from a vanished series' last samples for its
/// whole window, in Prometheus as here: 1m would make tests wait a minute).
pub fn istio_rules(interval: &str, window: &str) -> String {
    repo_file("config/rules/istio.rules.yml")
        .replace("interval: 10s", &format!("interval: {interval}"))
        .replace("[1m]", &format!("[{window}]"))
}

/// The shipped alerting rules at the same pace, with `for` shortened to `hold`.
pub fn alert_rules(interval: &str, window: &str, hold: &str) -> String {
    repo_file("config/rules/alerts.rules.yml")
        .replace("interval: 10s", &format!("interval: {interval}"))
        .replace("[1m]", &format!("[{window}]"))
        .replace("for: 2m", &format!("for: {hold}"))
        .replace("for: 1m", &format!("for: {hold}"))
}

/// The top-level block `key:` of the shipped collector config (up to the next blank line).
pub fn collector_block(key: &str) -> String {
    let cfg = repo_file("config/collector.yml");
    let start = cfg.find(&format!("\n{key}:")).unwrap_or_else(|| panic!("config/collector.yml has {key}"));
    let block = &cfg[start..];
    block[..block.find("\n\n").unwrap_or(block.len())].to_string()
}

/// The shipped master config, federating the collector at `collector` every `interval`.
pub fn master_config(collector: impl std::fmt::Display, interval: &str) -> String {
    repo_file("config/master.yml")
        .replace("scrape_interval: 15s", &format!("scrape_interval: {interval}"))
        .replace("127.0.0.1:9090", &collector.to_string())
}

/// A collector config scraping every pod of `w` every `interval` and evaluating
/// the `*.rules.yml` files beside it, with `extra` top-level blocks.
pub fn collector_config(w: &Workload, interval: &str, extra: &str) -> String {
    format!(
        "global: {{scrape_interval: {interval}, evaluation_interval: {interval}, external_labels: {{collector: c1}}}}\n\
         rule_files: ['*.rules.yml']\n{extra}\nscrape_configs:\n{}",
        w.scrape_job("envoy", interval)
    )
}
