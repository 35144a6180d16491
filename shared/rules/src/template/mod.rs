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
mod value;

pub use funcs::{Env, humanize, humanize_duration, humanize1024, link, query_escape};
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

/// Expands one alert label or annotation. A failing template yields Prometheus's
/// `<error expanding template: …>` text instead of stopping the evaluation.
pub fn expand_alert(name: &str, text: &str, data: &AlertData, env: &dyn Env) -> String {
    if !text.contains("{{") {
        return text.to_string();
    }
    let result = Template::parse(&format!("{ALERT_DEFS}{text}")).and_then(|t| t.execute(env, &alert_value(data)));
    result.unwrap_or_else(|e| format!("<error expanding template: template: __alert_{name}:{e}>"))
}

/// Checks that an alert template parses, for `check rules` and config loading.
pub fn check_alert(text: &str) -> Result<(), String> {
    Template::parse(&format!("{ALERT_DEFS}{text}")).map(|_| ())
}

fn alert_value(d: &AlertData) -> Value {
    let labels = |l: &Labels| Value::map(l.iter().map(|l| (l.name.to_string(), l.value.to_string())));
    Value::Map(
        [
            ("Labels".to_string(), labels(d.labels)),
            ("ExternalLabels".to_string(), labels(d.external_labels)),
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
