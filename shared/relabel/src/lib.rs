//! Relabeling as Prometheus does it (`model/relabel`): target relabeling, metric
//! relabeling and, later, write and alert relabeling all run [`process`].

use cardinal_model::{Labels, LabelsBuilder};
use md5::{Digest, Md5};
use regex::Regex;
use serde::{Deserialize, Deserializer};
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Replace,
    Keep,
    Drop,
    KeepEqual,
    DropEqual,
    HashMod,
    LabelMap,
    LabelDrop,
    LabelKeep,
    Lowercase,
    Uppercase,
}

impl Action {
    fn parse(s: &str) -> Option<Action> {
        Some(match s.to_ascii_lowercase().as_str() {
            "replace" => Action::Replace,
            "keep" => Action::Keep,
            "drop" => Action::Drop,
            "keepequal" => Action::KeepEqual,
            "dropequal" => Action::DropEqual,
            "hashmod" => Action::HashMod,
            "labelmap" => Action::LabelMap,
            "labeldrop" => Action::LabelDrop,
            "labelkeep" => Action::LabelKeep,
            "lowercase" => Action::Lowercase,
            "uppercase" => Action::Uppercase,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Action::Replace => "replace",
            Action::Keep => "keep",
            Action::Drop => "drop",
            Action::KeepEqual => "keepequal",
            Action::DropEqual => "dropequal",
            Action::HashMod => "hashmod",
            Action::LabelMap => "labelmap",
            Action::LabelDrop => "labeldrop",
            Action::LabelKeep => "labelkeep",
            Action::Lowercase => "lowercase",
            Action::Uppercase => "uppercase",
        }
    }
}

/// A regex as written in the config, compiled fully anchored (`^(?:re)$`).
#[derive(Clone)]
pub struct AnchoredRegex {
    pub source: String,
    pub re: Regex,
}

impl AnchoredRegex {
    pub fn new(source: &str) -> Result<Self, String> {
        let re = Regex::new(&format!("^(?s:{source})$")).map_err(|e| format!("invalid regex {source:?}: {e}"))?;
        Ok(AnchoredRegex { source: source.to_string(), re })
    }
}

/// Two regexes are the same rule when written the same.
impl PartialEq for AnchoredRegex {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl fmt::Debug for AnchoredRegex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.source)
    }
}

const DEFAULT_REGEX: &str = "(.*)";
const DEFAULT_REPLACEMENT: &str = "$1";
const DEFAULT_SEPARATOR: &str = ";";

/// The YAML shape of one rule, before validation.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    source_labels: Vec<String>,
    separator: Option<String>,
    regex: Option<String>,
    #[serde(default)]
    modulus: u64,
    target_label: Option<String>,
    replacement: Option<String>,
    action: Option<String>,
}

/// One validated relabel rule.
#[derive(Clone, Debug, PartialEq)]
pub struct RelabelConfig {
    pub source_labels: Vec<String>,
    pub separator: String,
    pub regex: AnchoredRegex,
    pub modulus: u64,
    pub target_label: String,
    pub replacement: String,
    pub action: Action,
}

impl<'de> Deserialize<'de> for RelabelConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = RawConfig::deserialize(d)?;
        RelabelConfig::validate(raw).map_err(serde::de::Error::custom)
    }
}

impl RelabelConfig {
    /// A `replace` rule with Prometheus's defaults, for building rules in code.
    pub fn replace(source_labels: &[&str], regex: &str, target_label: &str, replacement: &str) -> Result<Self, String> {
        Self::validate(RawConfig {
            source_labels: source_labels.iter().map(|s| s.to_string()).collect(),
            separator: None,
            regex: Some(regex.to_string()),
            modulus: 0,
            target_label: Some(target_label.to_string()),
            replacement: Some(replacement.to_string()),
            action: None,
        })
    }

    fn validate(raw: RawConfig) -> Result<Self, String> {
        let action = match &raw.action {
            None => Action::Replace,
            Some(a) => Action::parse(a).ok_or_else(|| format!("unknown relabel action {a:?}"))?,
        };
        let name = action.name();
        let target = raw.target_label.clone().unwrap_or_default();
        let needs_target = matches!(
            action,
            Action::Replace
                | Action::HashMod
                | Action::Lowercase
                | Action::Uppercase
                | Action::KeepEqual
                | Action::DropEqual
        );
        if needs_target && target.is_empty() {
            return Err(format!("relabel configuration for {name} action requires 'target_label' value"));
        }
        if action == Action::HashMod && raw.modulus == 0 {
            return Err("relabel configuration for hashmod requires non-zero modulus".into());
        }
        let target_ok = if action == Action::Replace {
            target.contains('$') || cardinal_model::labels::is_valid_label_name(&target)
        } else {
            !needs_target || cardinal_model::labels::is_valid_label_name(&target)
        };
        if !target_ok {
            return Err(format!("{target:?} is invalid 'target_label' for {name} action"));
        }
        if matches!(action, Action::Lowercase | Action::Uppercase)
            && raw.replacement.as_deref().is_some_and(|r| r != DEFAULT_REPLACEMENT)
        {
            return Err(format!("'replacement' can not be set for {name} action"));
        }
        if matches!(action, Action::LabelDrop | Action::LabelKeep)
            && (!raw.source_labels.is_empty()
                || raw.separator.as_deref().is_some_and(|s| s != DEFAULT_SEPARATOR)
                || raw.target_label.is_some()
                || raw.modulus != 0
                || raw.replacement.as_deref().is_some_and(|r| r != DEFAULT_REPLACEMENT))
        {
            return Err(format!("{name} action requires only 'regex', and no other fields"));
        }
        if matches!(action, Action::KeepEqual | Action::DropEqual)
            && (raw.regex.is_some() || raw.modulus != 0 || raw.separator.is_some() || raw.replacement.is_some())
        {
            return Err(format!("{name} action requires only 'source_labels' and `target_label`, and no other fields"));
        }
        Ok(RelabelConfig {
            source_labels: raw.source_labels,
            separator: raw.separator.unwrap_or_else(|| DEFAULT_SEPARATOR.into()),
            regex: AnchoredRegex::new(raw.regex.as_deref().unwrap_or(DEFAULT_REGEX))?,
            modulus: raw.modulus,
            target_label: target,
            replacement: raw.replacement.unwrap_or_else(|| DEFAULT_REPLACEMENT.into()),
            action,
        })
    }
}

/// Applies the rules in order. `None` means the series (or target) is dropped.
pub fn process(labels: &Labels, cfgs: &[RelabelConfig]) -> Option<Labels> {
    if cfgs.is_empty() {
        return Some(labels.clone());
    }
    let mut b = LabelsBuilder::new(labels.clone());
    for cfg in cfgs {
        if !apply(&mut b, cfg) {
            return None;
        }
    }
    Some(b.build())
}

/// Applies one rule to a builder; false when the rule drops the series.
pub fn apply(b: &mut LabelsBuilder, cfg: &RelabelConfig) -> bool {
    let val = cfg.source_labels.iter().map(|n| b.get(n).unwrap_or("")).collect::<Vec<_>>().join(&cfg.separator);
    let re = &cfg.regex.re;
    match cfg.action {
        Action::Drop => return !re.is_match(&val),
        Action::Keep => return re.is_match(&val),
        Action::DropEqual => return b.get(&cfg.target_label).unwrap_or("") != val,
        Action::KeepEqual => return b.get(&cfg.target_label).unwrap_or("") == val,
        Action::Replace => replace(b, cfg, &val),
        Action::Lowercase => {
            b.set(cfg.target_label.clone(), val.to_lowercase());
        }
        Action::Uppercase => {
            b.set(cfg.target_label.clone(), val.to_uppercase());
        }
        Action::HashMod => {
            b.set(cfg.target_label.clone(), (hash_mod_sum(&val) % cfg.modulus).to_string());
        }
        Action::LabelMap => {
            let renamed: Vec<(String, std::sync::Arc<str>)> = b
                .iter()
                .filter(|l| re.is_match(&l.name))
                .map(|l| (re.replace(&l.name, cfg.replacement.as_str()).into_owned(), l.value.clone()))
                .collect();
            for (n, v) in renamed {
                b.set(n, v);
            }
        }
        Action::LabelDrop => {
            b.retain(|l| !re.is_match(&l.name));
        }
        Action::LabelKeep => {
            b.retain(|l| re.is_match(&l.name));
        }
    }
    true
}

fn replace(b: &mut LabelsBuilder, cfg: &RelabelConfig, val: &str) {
    let Some(caps) = cfg.regex.re.captures(val) else {
        return;
    };
    let mut target = String::new();
    caps.expand(&cfg.target_label, &mut target);
    if !cardinal_model::labels::is_valid_label_name(&target) {
        // Prometheus 2.42 deletes the configured target when the expansion is not a valid name.
        b.del(&cfg.target_label);
        return;
    }
    let mut res = String::new();
    caps.expand(&cfg.replacement, &mut res);
    if res.is_empty() {
        b.del(&target);
    } else {
        b.set(target, res);
    }
}

/// The hash `hashmod` takes: md5 of the value, its last 8 bytes read big-endian. This
/// matches Prometheus exactly, so sharding targets across collectors agrees with it.
pub fn hash_mod_sum(val: &str) -> u64 {
    let digest = Md5::digest(val.as_bytes());
    u64::from_be_bytes(digest[8..16].try_into().expect("md5 is 16 bytes"))
}

#[cfg(test)]
mod tests;
