//! Label matchers (`=`, `!=`, `=~`, `!~`) and series-selector parsing.

use crate::labels::METRIC_NAME;
use regex::Regex;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatchOp {
    Equal,
    NotEqual,
    Regex,
    NotRegex,
}

/// One label matcher. Regexes are fully anchored, as in Prometheus.
#[derive(Clone, Debug)]
pub struct Matcher {
    pub name: String,
    pub op: MatchOp,
    pub value: String,
    re: Option<Regex>,
}

impl Matcher {
    pub fn new(op: MatchOp, name: impl Into<String>, value: impl Into<String>) -> Result<Self, String> {
        let value = value.into();
        let re = match op {
            MatchOp::Regex | MatchOp::NotRegex => Some(
                Regex::new(&format!("^(?s:{value})$"))
                    .map_err(|e| format!("invalid regular expression {value:?}: {e}"))?,
            ),
            _ => None,
        };
        Ok(Matcher { name: name.into(), op, value, re })
    }

    pub fn equal(name: impl Into<String>, value: impl Into<String>) -> Self {
        Matcher { name: name.into(), op: MatchOp::Equal, value: value.into(), re: None }
    }

    /// Whether a label value (`""` for an absent label) satisfies the matcher.
    pub fn matches(&self, v: &str) -> bool {
        match self.op {
            MatchOp::Equal => self.value == v,
            MatchOp::NotEqual => self.value != v,
            MatchOp::Regex => self.re.as_ref().is_some_and(|r| r.is_match(v)),
            MatchOp::NotRegex => !self.re.as_ref().is_some_and(|r| r.is_match(v)),
        }
    }

    /// True when the matcher accepts the empty string, i.e. also series lacking the label.
    pub fn matches_empty(&self) -> bool {
        self.matches("")
    }
}

impl From<&promql_parser::label::Matcher> for Matcher {
    fn from(m: &promql_parser::label::Matcher) -> Self {
        use promql_parser::label::MatchOp as P;
        let (op, re) = match &m.op {
            P::Equal => (MatchOp::Equal, None),
            P::NotEqual => (MatchOp::NotEqual, None),
            P::Re(r) => (MatchOp::Regex, Some(r.clone())),
            P::NotRe(r) => (MatchOp::NotRegex, Some(r.clone())),
        };
        Matcher { name: m.name.clone(), op, value: m.value.clone(), re }
    }
}

/// Converts a parsed vector selector's name and matchers into our matchers.
pub fn matchers_of(vs: &promql_parser::parser::VectorSelector) -> Result<Vec<Matcher>, String> {
    if !vs.matchers.or_matchers.is_empty() {
        return Err("`or` inside a selector is not supported".to_string());
    }
    let mut out: Vec<Matcher> = vs.matchers.matchers.iter().map(Matcher::from).collect();
    if let Some(name) = &vs.name
        && !out.iter().any(|m| m.name == METRIC_NAME && m.op == MatchOp::Equal)
    {
        out.push(Matcher::equal(METRIC_NAME, name.clone()));
    }
    Ok(out)
}

/// Parses a series selector such as `up{job="a"}` or `{__name__=~"federate:.+"}`, the
/// form `match[]` takes. Errors read like Prometheus's (`1:5: parse error: …`) where the
/// parser gives a position.
pub fn parse_selector(s: &str) -> Result<Vec<Matcher>, String> {
    use promql_parser::parser::Expr;
    match crate::promql_text::parse_expr(s) {
        Ok(Expr::VectorSelector(vs)) if vs.offset.is_none() && vs.at.is_none() => matchers_of(&vs),
        Ok(_) => Err(format!("parse error: expected a series selector, got {s:?}")),
        Err(e) => Err(format!("parse error: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regex_is_anchored() {
        let m = Matcher::new(MatchOp::Regex, "a", "fo+").unwrap();
        assert!(m.matches("foo"));
        assert!(!m.matches("xfoo"));
        assert!(!m.matches("foox"));
    }

    #[test]
    fn selector_with_name_and_labels() {
        let ms = parse_selector(r#"up{job="a",x!~"b.*"}"#).unwrap();
        assert!(ms.iter().any(|m| m.name == "__name__" && m.value == "up"));
        assert!(ms.iter().any(|m| m.name == "job" && m.op == MatchOp::Equal));
        assert!(ms.iter().any(|m| m.name == "x" && m.op == MatchOp::NotRegex));
    }

    #[test]
    fn colon_names_and_regex_names() {
        let ms = parse_selector(r#"{__name__=~"federate:.+"}"#).unwrap();
        assert!(ms[0].matches("federate:x:rate1m"));
        assert!(!ms[0].matches("federate:"));
    }

    #[test]
    fn rejects_non_selectors() {
        assert!(parse_selector("rate(x[5m])").is_err());
        assert!(parse_selector("up{").is_err());
    }
}
