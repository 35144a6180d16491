//! Names and selectors checked as they are read, so a bad one is reported at its own
//! `file:line:column`.

use cardinal_model::{Matcher, labels};
use serde::{Deserialize, Deserializer};

/// A valid metric name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MetricName(pub String);

/// A valid label name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LabelName(pub String);

/// A series selector with its parsed matchers.
#[derive(Clone, Debug)]
pub struct Selector {
    pub text: String,
    pub matchers: Vec<Matcher>,
}

impl PartialEq for Selector {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

/// Reads a string and refuses it unless `valid` holds, naming it as `what`.
fn checked<'de, D: Deserializer<'de>>(d: D, valid: fn(&str) -> bool, what: &str) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    if !valid(&s) {
        return Err(serde::de::Error::custom(format!("invalid {what} {s:?}")));
    }
    Ok(s)
}

impl<'de> Deserialize<'de> for MetricName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        checked(d, labels::is_valid_metric_name, "metric name").map(MetricName)
    }
}

impl<'de> Deserialize<'de> for LabelName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        checked(d, labels::is_valid_label_name, "label name").map(LabelName)
    }
}

impl<'de> Deserialize<'de> for Selector {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let matchers = cardinal_model::parse_selector(&text).map_err(serde::de::Error::custom)?;
        Ok(Selector { text, matchers })
    }
}

/// Finishes each rule of a section (`what[i] (record): error` on failure) and checks that
/// no two rules write the same output (`key`).
pub fn finish_unique<C, R, K: Eq + std::hash::Hash>(
    what: &str,
    rules: &[C],
    record: impl Fn(&C) -> &str,
    finish: impl Fn(&C) -> Result<R, String>,
    key: impl Fn(&R) -> K,
) -> Result<Vec<R>, String> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(rules.len());
    for (i, r) in rules.iter().enumerate() {
        let rule = finish(r).map_err(|e| format!("{what}[{i}] ({}): {e}", record(r)))?;
        if !seen.insert(key(&rule)) {
            return Err(format!("{what}[{i}]: another rule already records {:?} with the same labels", record(r)));
        }
        out.push(rule);
    }
    Ok(out)
}
