//! `profile_rules:`: series recorded from ingested profiles. Each matching profile adds
//! its total (or the inclusive total of one function) to a counter per group.

pub use crate::names::{LabelName, MetricName, Selector};
use cardinal_model::labels::to_label_name;
use cardinal_model::{MatchOp, Matcher};
use serde::Deserialize;
use std::collections::BTreeMap;

/// The label every profile carries with its type, `name:type:unit:period_type:period_unit`.
pub const PROFILE_TYPE_LABEL: &str = "__profile_type__";

/// Sample types that measure a point in time: adding them up across profiles means nothing.
const GAUGE_SAMPLE_TYPES: &[&str] = &["inuse_space", "inuse_objects", "goroutine", "goroutines"];

/// One profile rule as written in the config file.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ProfileRuleConfig {
    /// The output metric name.
    pub record: MetricName,
    /// Selectors over profile labels; a profile must match all of them.
    pub matchers: Vec<Selector>,
    /// Labels of the profile kept on the output series, named as Prometheus names them or
    /// as the SDK sent them (`otel.scope.name` is `otel_scope_name`).
    #[serde(default)]
    pub group_by: Vec<ProfileLabel>,
    /// Count only stacks containing this function (its inclusive total).
    pub function_name: Option<String>,
    /// Labels added to every output series.
    #[serde(default)]
    pub labels: BTreeMap<LabelName, String>,
}

/// A checked rule: what the profile recorder runs.
#[derive(Clone, Debug)]
pub struct ProfileRule {
    pub record: String,
    /// The profile type the rule reads (the `__profile_type__` equality).
    pub profile_type: String,
    pub matchers: Vec<Matcher>,
    pub group_by: Vec<String>,
    pub function_name: Option<String>,
    /// Labels every output series carries: the rule's own `labels` and the filter's
    /// other equalities (constant across the rule's groups, so free to keep).
    pub fixed_labels: BTreeMap<String, String>,
}

/// A label name as a profile rule may write it: a Prometheus label name, or the name an
/// SDK sends (`[A-Za-z_.][A-Za-z0-9_.]*`, as Pyroscope takes them), held translated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProfileLabel(pub String);

impl<'de> Deserialize<'de> for ProfileLabel {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let valid = s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_' || c == '.')
            && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
        if !valid {
            return Err(serde::de::Error::custom(format!("invalid label name {s:?}")));
        }
        Ok(ProfileLabel(to_label_name(&s).into_owned()))
    }
}

impl ProfileRuleConfig {
    pub fn finish(&self) -> Result<ProfileRule, String> {
        // Matchers may name SDK labels as sent (`{"otel.scope.name"="…"}`): profiles carry
        // them translated.
        let matchers: Vec<Matcher> = self
            .matchers
            .iter()
            .flat_map(|s| s.matchers.iter().cloned())
            .map(|mut m| {
                m.name = to_label_name(&m.name).into_owned();
                m
            })
            .collect();
        let profile_type = profile_type_of(&matchers)?;
        if let Some(l) = self.group_by.iter().find(|l| l.0.starts_with("__")) {
            return Err(format!("group_by label {:?} is reserved (names starting with __ are not exported)", l.0));
        }
        let mut fixed_labels: BTreeMap<String, String> = matchers
            .iter()
            .filter(|m| m.op == MatchOp::Equal && !m.name.starts_with("__") && !m.value.is_empty())
            .map(|m| (m.name.clone(), m.value.clone()))
            .collect();
        for (k, v) in &self.labels {
            if k.0.starts_with("__") {
                return Err(format!("label {:?} is reserved", k.0));
            }
            fixed_labels.insert(k.0.clone(), v.clone());
        }
        if self.function_name.as_deref() == Some("") {
            return Err("function_name must not be empty".into());
        }
        Ok(ProfileRule {
            record: self.record.0.clone(),
            profile_type,
            matchers,
            group_by: self.group_by.iter().map(|l| l.0.clone()).collect(),
            function_name: self.function_name.clone(),
            fixed_labels,
        })
    }
}

/// The rule's profile type: exactly one equality on `__profile_type__`, well formed, and
/// of a type whose totals can be summed.
fn profile_type_of(matchers: &[Matcher]) -> Result<String, String> {
    let mut types = matchers.iter().filter(|m| m.name == PROFILE_TYPE_LABEL && m.op == MatchOp::Equal);
    let Some(m) = types.next() else {
        return Err(format!(
            "matchers need an equality on {PROFILE_TYPE_LABEL}, e.g. {PROFILE_TYPE_LABEL}=\"process_cpu:cpu:nanoseconds:cpu:nanoseconds\""
        ));
    };
    if types.next().is_some() {
        return Err(format!("more than one equality on {PROFILE_TYPE_LABEL}"));
    }
    let parts: Vec<&str> = m.value.split(':').collect();
    if parts.len() != 5 || parts.iter().any(|p| p.is_empty()) {
        return Err(format!(
            "{PROFILE_TYPE_LABEL} {:?} is not of the form name:type:unit:period_type:period_unit",
            m.value
        ));
    }
    if GAUGE_SAMPLE_TYPES.contains(&parts[1]) {
        return Err(format!(
            "profile type {:?} measures a point in time ({}); summing it over profiles gives no meaningful value. \
             Record a cumulative type instead (e.g. memory:alloc_space:bytes:space:bytes)",
            m.value, parts[1]
        ));
    }
    Ok(m.value.clone())
}

/// Checks the rules as a set: each output series must come from one rule only.
pub fn finish_all(rules: &[ProfileRuleConfig]) -> Result<Vec<ProfileRule>, String> {
    crate::names::finish_unique(
        "profile_rules",
        rules,
        |r| &r.record.0,
        ProfileRuleConfig::finish,
        |r| (r.record.clone(), r.fixed_labels.clone()),
    )
}
