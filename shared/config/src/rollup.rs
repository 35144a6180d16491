//! `rollup_rules:`: streaming aggregations applied to samples as they are ingested. Each
//! field is checked as it is read, so a bad selector or label name is reported at its
//! own `file:line:column`.

pub use crate::names::{LabelName, MetricName, Selector};
use crate::units::Dur;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// One rollup rule as written in the config file.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RollupRuleConfig {
    /// The output metric name.
    pub record: MetricName,
    /// The input series: a series selector.
    #[serde(rename = "match")]
    pub selector: Selector,
    /// Keep only these labels (exclusive with `without`).
    pub by: Option<Vec<LabelName>>,
    /// Drop these labels (exclusive with `by`); neither means `without: []`.
    pub without: Option<Vec<LabelName>>,
    pub output: RollupOutput,
    /// Output grid step; defaults to the global `evaluation_interval`.
    pub interval: Option<Dur>,
    /// How long after a window ends it is written out: samples up to this late still
    /// count in their own window. Defaults to the global `scrape_timeout`.
    pub flush_delay: Option<Dur>,
    /// An input not seen for this long is forgotten. Defaults to 1h: forgetting a series
    /// that later returns would count its whole value again.
    pub staleness_interval: Option<Dur>,
    /// Labels added to every output series.
    #[serde(default)]
    pub labels: BTreeMap<LabelName, String>,
}

/// What a rule writes for each group of inputs.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum RollupOutput {
    /// A reset-safe cumulative counter; a new input counts from its first sample.
    Total,
    /// Like `total`, but a new input's first sample only sets its baseline.
    TotalPrometheus,
    /// The inputs' increase within each interval (`total`'s counting).
    Increase,
    /// The increase within each interval per second (first samples only set baselines).
    RateSum,
    /// `rate_sum` divided by the number of inputs with samples in the interval.
    RateAvg,
    /// Sum over inputs of each one's last value in the interval.
    Sum,
    Min,
    Max,
    /// Mean of every sample in the interval.
    Avg,
    /// The newest sample in the interval.
    Last,
    /// Inputs with a sample in the interval.
    CountSeries,
}

/// A rule with its defaults filled in: what the rollup engine runs.
#[derive(Clone, Debug, PartialEq)]
pub struct RollupRule {
    pub record: String,
    pub selector: Selector,
    pub grouping: Grouping,
    pub output: RollupOutput,
    pub interval: Duration,
    pub flush_delay: Duration,
    pub staleness_interval: Duration,
    pub labels: BTreeMap<String, String>,
}

/// Which input labels an output keeps.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Grouping {
    By(Vec<String>),
    Without(Vec<String>),
}

impl RollupRuleConfig {
    /// Fills the defaults from `global` and checks what spans fields.
    pub fn finish(&self, global: &crate::GlobalConfig) -> Result<RollupRule, String> {
        let names = |v: &[LabelName]| v.iter().map(|l| l.0.clone()).collect();
        let grouping = match (&self.by, &self.without) {
            (Some(_), Some(_)) => return Err("`by` and `without` are mutually exclusive".into()),
            (Some(by), None) => Grouping::By(names(by)),
            (None, w) => Grouping::Without(w.as_deref().map(names).unwrap_or_default()),
        };
        let interval = self.interval.unwrap_or(global.evaluation_interval).0;
        if interval.as_millis() == 0 {
            return Err("interval must be positive".into());
        }
        Ok(RollupRule {
            record: self.record.0.clone(),
            selector: self.selector.clone(),
            grouping,
            output: self.output,
            interval,
            flush_delay: self.flush_delay.map(|d| d.0).unwrap_or_else(|| global.scrape_timeout()),
            staleness_interval: self.staleness_interval.map_or(Duration::from_secs(3600), |d| d.0).max(interval),
            labels: self.labels.iter().map(|(k, v)| (k.0.clone(), v.clone())).collect(),
        })
    }
}

/// Checks the rules as a set: each output series must come from one rule only.
pub fn finish_all(rules: &[RollupRuleConfig], global: &crate::GlobalConfig) -> Result<Vec<RollupRule>, String> {
    crate::names::finish_unique(
        "rollup_rules",
        rules,
        |r| &r.record.0,
        |r| r.finish(global),
        |r| (r.record.clone(), r.labels.clone()),
    )
}
