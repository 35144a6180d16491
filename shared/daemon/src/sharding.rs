//! Sharded scrape jobs: a job whose `relabel_configs` use `hashmod` keeps a share of the
//! targets, the other collectors the rest. When that share changes (the collector starts,
//! or a reload changes the job's relabeling: a new shard count), targets arrive that
//! another collector's rollups have counted until now, so the rollups take the inputs
//! arriving then as baselines (`Rollups::hand_over`) rather than counting their history
//! again. Targets discovered later are new pods and count from zero as always.

use cardinal_config::Config;
use cardinal_model::Timestamp;
use cardinal_relabel::{Action, RelabelConfig};
use std::collections::HashMap;

/// Each sharded job's relabeling, by job name.
#[derive(Default, PartialEq)]
pub struct ShardedJobs(HashMap<String, Vec<RelabelConfig>>);

impl ShardedJobs {
    pub fn of(cfg: &Config) -> ShardedJobs {
        let sharded =
            cfg.scrape_configs.iter().filter(|sc| sc.relabel_configs.iter().any(|r| r.action == Action::HashMod));
        ShardedJobs(sharded.map(|sc| (sc.job_name.clone(), sc.relabel_configs.clone())).collect())
    }

    /// When targets may be arriving from other shards, `self` replacing `before` at `now`
    /// (ms): from half a scrape interval before (when, on average, the shard a target left
    /// last scraped it) until two intervals after (every target scraped here by then), at
    /// least a minute; the longest interval of the jobs whose share changed. `None` when
    /// no share changed.
    pub fn hand_over(&self, before: &ShardedJobs, cfg: &Config, now: Timestamp) -> Option<(Timestamp, Timestamp)> {
        let changed = self.0.iter().filter(|(job, relabel)| before.0.get(*job) != Some(*relabel));
        let intervals = changed.filter_map(|(job, _)| {
            let sc = cfg.scrape_configs.iter().find(|sc| &sc.job_name == job)?;
            Some(sc.scrape_interval.map_or(cfg.global.scrape_interval.0, |d| d.0))
        });
        let ms = intervals.max()?.as_millis() as i64;
        Some((now - ms / 2, now + (2 * ms).max(60_000)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(modulus: u64, extra_job: &str) -> Config {
        let text = format!(
            "scrape_configs:\n  - job_name: envoy\n    scrape_interval: 45s\n    static_configs: [{{targets: ['a:1']}}]\n    relabel_configs:\n      - {{source_labels: [__address__], modulus: {modulus}, target_label: __tmp_hash, action: hashmod}}\n      - {{source_labels: [__tmp_hash], regex: '0', action: keep}}\n{extra_job}"
        );
        Config::parse(&text, "t.yml").unwrap()
    }

    #[test]
    fn a_start_or_a_new_shard_count_hands_over_and_other_changes_do_not() {
        let three = cfg(3, "");
        let jobs = ShardedJobs::of(&three);
        let window = Some((1_000_000 - 22_500, 1_000_000 + 90_000));
        assert_eq!(jobs.hand_over(&ShardedJobs::default(), &three, 1_000_000), window, "at start");
        assert_eq!(jobs.hand_over(&jobs, &three, 1_000_000), None, "a reload changing nothing of it");
        let other = cfg(3, "  - job_name: plain\n    static_configs: [{targets: ['b:1']}]\n");
        assert_eq!(ShardedJobs::of(&other).hand_over(&jobs, &other, 1_000_000), None, "an unsharded job");
        let four = cfg(4, "");
        assert_eq!(ShardedJobs::of(&four).hand_over(&jobs, &four, 1_000_000), window);
    }
}
