//! Go text/template, as Prometheus expands alert labels and annotations: `$labels`,
//! `$externalLabels`, `$externalURL`, `$value`, and Prometheus's template functions.
//!
//! Hand-written: the one Rust implementation of Go templates (gtmpl 0.7) runs `range`'s
//! `{{else}}` on non-empty input, reads `0x10` as 0, prints 1e6 as `1000000` and
//! cannot compare `gt $value 1.0`; alert text must read as it does under Prometheus.

mod exec;
mod funcs;
mod lex;
mod parse;
mod printf;
mod strconv;
mod value;

pub use funcs::{Env, humanize, humanize_duration, humanize1024, link};
pub use value::Value;

use cardinal_model::Labels;
use parse::{Arg, Node, Pipe, Tree};

/// A parsed template, ready to execute any number of times.
#[derive(Clone, Debug)]
pub struct Template {
    tree: Tree,
}

impl Template {
    /// Parses `src`; unknown functions are errors here, as in Go.
    pub fn parse(src: &str) -> Result<Template, String> {
        let tree = parse::parse(src)?;
        let mut unknown = None;
        for nodes in std::iter::once(&tree.root).chain(tree.defines.values()) {
            visit_funcs(nodes, &mut |name| {
                if funcs::lookup(name).is_none() && unknown.is_none() {
                    unknown = Some(name.to_string());
                }
            });
        }
        match unknown {
            Some(name) => Err(format!("function {name:?} not defined")),
            None => Ok(Template { tree }),
        }
    }

    pub fn execute(&self, env: &dyn Env, data: &Value) -> Result<String, String> {
        exec::execute(&self.tree, env, data)
    }
}

/// What an alert's labels and annotations are expanded with.
pub struct AlertData<'a> {
    pub labels: &'a Labels,
    pub external_labels: &'a Labels,
    pub external_url: &'a str,
    pub value: f64,
}

/// Prometheus's variable definitions, prepended to every alert template.
const ALERT_DEFS: &str =
    "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}";

/// One alert label or annotation template, parsed once for every alert of its rule.
#[derive(Clone, Debug)]
pub enum AlertTemplate {
    /// No `{{`: used as it is.
    Plain(String),
    Parsed(Template),
    /// A template that does not parse: every expansion reports this error.
    Broken(String),
}

impl AlertTemplate {
    pub fn new(text: &str) -> AlertTemplate {
        if !text.contains("{{") {
            return AlertTemplate::Plain(text.to_string());
        }
        match Template::parse(&format!("{ALERT_DEFS}{text}")) {
            Ok(t) => AlertTemplate::Parsed(t),
            Err(e) => AlertTemplate::Broken(e),
        }
    }

    /// Expands for one alert (`data` from [`alert_data`]). A failing template yields
    /// Prometheus's `<error expanding template: …>` text instead of stopping the evaluation.
    pub fn expand(&self, rule: &str, data: &Value, env: &dyn Env) -> String {
        let result = match self {
            AlertTemplate::Plain(s) => return s.clone(),
            AlertTemplate::Parsed(t) => t.execute(env, data),
            AlertTemplate::Broken(e) => Err(e.clone()),
        };
        result.unwrap_or_else(|e| format!("<error expanding template: template: __alert_{rule}:{e}>"))
    }
}

/// Expands one template once: [`AlertTemplate`] for a single use.
pub fn expand_alert(rule: &str, text: &str, data: &AlertData, env: &dyn Env) -> String {
    AlertTemplate::new(text).expand(rule, &alert_data(data), env)
}

/// Checks that an alert template parses, for `check rules` and config loading.
pub fn check_alert(text: &str) -> Result<(), String> {
    match AlertTemplate::new(text) {
        AlertTemplate::Broken(e) => Err(e),
        _ => Ok(()),
    }
}

/// What alert templates execute against, as Prometheus's `AlertTemplateData`.
pub fn alert_data(d: &AlertData) -> Value {
    Value::Map(
        [
            ("Labels".to_string(), Value::labels(d.labels)),
            ("ExternalLabels".to_string(), Value::labels(d.external_labels)),
            ("ExternalURL".to_string(), Value::Str(d.external_url.to_string())),
            ("Value".to_string(), Value::Float(d.value)),
        ]
        .into(),
    )
}

fn visit_funcs(nodes: &[Node], f: &mut dyn FnMut(&str)) {
    for n in nodes {
        match n {
            Node::Action(p) => visit_pipe(p, f),
            Node::If(p, a, b) | Node::Range(p, a, b) | Node::With(p, a, b) => {
                visit_pipe(p, f);
                visit_funcs(a, f);
                visit_funcs(b, f);
            }
            Node::Template(_, Some(p)) => visit_pipe(p, f),
            _ => {}
        }
    }
}

fn visit_pipe(p: &Pipe, f: &mut dyn FnMut(&str)) {
    for arg in p.cmds.iter().flatten() {
        match arg {
            Arg::Func(name) => f(name),
            Arg::Sub(inner, _) => visit_pipe(inner, f),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests;
