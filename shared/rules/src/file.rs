//! Rule files: `groups:` of recording and alerting rules, as Prometheus reads them.

use cardinal_config::{ConfigError, Dur, parse_yaml};
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleFile {
    #[serde(default)]
    pub groups: Vec<RuleGroup>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleGroup {
    pub name: String,
    pub interval: Option<Dur>,
    #[serde(default)]
    pub limit: u64,
    pub query_offset: Option<Dur>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub rules: Vec<Rule>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub record: Option<String>,
    pub alert: Option<String>,
    pub expr: String,
    #[serde(rename = "for")]
    pub for_: Option<Dur>,
    pub keep_firing_for: Option<Dur>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

impl Rule {
    /// The rule's name for messages: its `record` or `alert`.
    pub fn name(&self) -> &str {
        self.record.as_deref().or(self.alert.as_deref()).unwrap_or("")
    }
}

/// Reads and checks one rule file. Errors are `file: message` (YAML errors carry
/// `file:line:col`), one per problem.
pub fn load(path: &str) -> Result<RuleFile, Vec<String>> {
    let text = std::fs::read_to_string(path).map_err(|e| vec![format!("{path}: {e}")])?;
    let file: RuleFile = parse_yaml(&text, path).map_err(|ConfigError(e)| vec![e])?;
    let errors = check(&file, path);
    if errors.is_empty() { Ok(file) } else { Err(errors) }
}

/// Prometheus's semantic checks, with its messages.
pub fn check(file: &RuleFile, path: &str) -> Vec<String> {
    let mut errors = Vec::new();
    let mut names = std::collections::HashSet::new();
    for g in &file.groups {
        if g.name.is_empty() {
            errors.push(format!("{path}: groupname must not be empty"));
        }
        if !names.insert(&g.name) {
            errors.push(format!("{path}: {:?}: repeated in the same file", g.name));
        }
        for (i, r) in g.rules.iter().enumerate() {
            let at = format!("{path}: group {:?}, rule {}, {:?}", g.name, i + 1, r.name());
            errors.extend(check_rule(r).into_iter().map(|e| format!("{at}: {e}")));
        }
    }
    errors
}

fn check_rule(r: &Rule) -> Vec<String> {
    let mut errors = Vec::new();
    match (&r.record, &r.alert) {
        (Some(_), Some(_)) => errors.push("only one of 'record' and 'alert' must be set".to_string()),
        (None, None) => errors.push("one of 'record' or 'alert' must be set".to_string()),
        (Some(rec), None) => {
            if !cardinal_model::labels::is_valid_metric_name(rec) {
                errors.push(format!("invalid recording rule name: {rec}"));
            }
            if !r.annotations.is_empty() {
                errors.push("invalid field 'annotations' in recording rule".into());
            }
            if r.for_.is_some() {
                errors.push("invalid field 'for' in recording rule".into());
            }
            if r.keep_firing_for.is_some() {
                errors.push("invalid field 'keep_firing_for' in recording rule".into());
            }
        }
        (None, Some(name)) => {
            if name.is_empty() || name.contains(char::is_control) {
                errors.push(format!("invalid alert name: {name}"));
            }
            for (kind, map) in [("label", &r.labels), ("annotation", &r.annotations)] {
                for (k, v) in map {
                    if let Err(e) = cardinal_template::check_alert(v) {
                        errors.push(format!("{kind} {k:?}: template: __alert_{name}:{e}"));
                    }
                }
            }
        }
    }
    if r.expr.is_empty() {
        errors.push("field 'expr' must be set in rule".into());
    } else if let Err(e) = cardinal_model::promql_text::parse_expr(&r.expr) {
        errors.push(format!("could not parse expression: {e}"));
    }
    for name in r.labels.keys() {
        if name == "__name__" {
            errors.push("invalid label name: __name__".into());
        } else if !cardinal_model::labels::is_valid_label_name(name) {
            errors.push(format!("invalid label name: {name}"));
        }
    }
    errors
}

/// Expands rule-file globs, as `rule_files:` does.
pub fn expand(patterns: &[String]) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for p in patterns {
        let paths = glob::glob(p).map_err(|e| format!("{p}: {e}"))?;
        for path in paths.filter_map(std::result::Result::ok) {
            out.push(path.display().to_string());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<RuleFile, Vec<String>> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.yml");
        std::fs::write(&p, text).unwrap();
        load(p.to_str().unwrap())
    }

    #[test]
    fn reads_recording_and_alerting_rules() {
        let f = parse("groups:\n- name: g\n  interval: 10s\n  rules:\n  - record: 'federate:x:rate1m'\n    expr: sum(rate(x[1m]))\n    labels: {tier: agg}\n  - alert: High\n    expr: x > 1\n    for: 5m\n    annotations: {summary: hi}\n").unwrap();
        assert_eq!(f.groups[0].rules.len(), 2);
        assert_eq!(f.groups[0].rules[1].for_.unwrap().0.as_secs(), 300);
    }

    #[test]
    fn reports_what_prometheus_reports() {
        let e = parse("groups:\n- name: x\n  rules:\n  - record: 'bad name'\n    expr: up\n").unwrap_err();
        assert!(e[0].ends_with("group \"x\", rule 1, \"bad name\": invalid recording rule name: bad name"), "{e:?}");
        let e = parse("groups:\n- name: x\n  rules:\n  - record: a\n    expr: 'sum(('\n").unwrap_err();
        assert!(e[0].contains("could not parse expression"), "{e:?}");
        let e = parse("groups:\n- name: x\n  rules:\n  - record: a\n    exprr: up\n").unwrap_err();
        assert!(e[0].contains(":5:5: unknown field `exprr`"), "{e:?}");
        let e =
            parse("groups:\n- name: x\n  rules:\n  - alert: A\n    expr: up\n    annotations: {s: '{{ nosuch }}'}\n")
                .unwrap_err();
        assert!(
            e[0].contains("annotation \"s\": template: __alert_A:") && e[0].contains("\"nosuch\" not defined"),
            "{e:?}"
        );
        let e = parse("groups:\n- name: x\n  rules: []\n- name: x\n  rules: []\n").unwrap_err();
        assert!(e[0].contains("repeated in the same file"), "{e:?}");
    }
}
