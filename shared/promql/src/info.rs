//! `info(v [, data-label-selector])` (Prometheus 3.x, experimental there): each series of
//! `v` gains the labels of the info series (`target_info` unless the selector names
//! others) that share its identifying labels, `instance` and `job` — the join
//! `* on (instance, job) group_left (…) target_info` spelled out, without its many-to-many
//! failures when an info series changes labels (the newest one wins). As Prometheus's
//! `promql/info.go`: labels the series already has are kept; with data label matchers only
//! the labels they name are added, and a series no info series gives one to is dropped
//! unless every matcher matches the empty value; info series themselves pass unchanged.

use crate::engine::{Ctx, Result, exec};
use crate::value::{Sample, Value};
use cardinal_model::labels::METRIC_NAME;
use cardinal_model::matcher::matchers_of;
use cardinal_model::{Labels, LabelsBuilder, Matcher, Timestamp};
use promql_parser::label::{MatchOp, Matchers};
use promql_parser::parser::{Expr, VectorSelector};
use std::collections::{BTreeSet, HashMap};
use std::sync::LazyLock;

/// The labels an info series is matched on.
const IDENTIFYING: [&str; 2] = ["instance", "job"];

/// `target_info`, what `info` reads without a selector: one selector for every query,
/// so the engine selects its series once per query like any other.
pub static TARGET_INFO: LazyLock<VectorSelector> = LazyLock::new(|| {
    let name = promql_parser::label::Matcher::new(MatchOp::Equal, METRIC_NAME, "target_info");
    VectorSelector { name: None, matchers: Matchers::one(name), offset: None, at: None }
});

/// The selector info series come from: the call's second argument, else `target_info`.
pub fn selector<'e>(args: &[&'e Expr]) -> Result<&'e VectorSelector> {
    match args.get(1) {
        None => Ok(&TARGET_INFO),
        Some(Expr::VectorSelector(vs)) => Ok(vs),
        Some(_) => Err(exec("expected label selectors as the second argument to info function")),
    }
}

pub fn info(ctx: &Ctx, args: &[&Expr], t: Timestamp) -> Result<Value> {
    let base = ctx.eval_vector(args[0], t)?;
    let vs = selector(args)?;
    let matchers = matchers_of(vs).map_err(exec)?;
    let (mut names, data): (Vec<Matcher>, Vec<Matcher>) = matchers.into_iter().partition(|m| m.name == METRIC_NAME);
    if names.is_empty() {
        names.push(Matcher::equal(METRIC_NAME, "target_info"));
    }
    let is_info = |l: &Labels| names.iter().any(|m| m.matches(l.metric_name()));
    let infos = newest_by_signature(ctx.vector_at(vs, t)?, &is_info, &identifying_values(&base, &is_info))?;
    let info_names: BTreeSet<&str> = infos.keys().map(|(name, _)| name.as_str()).collect();
    let mut out = Vec::with_capacity(base.len());
    for s in base {
        if is_info(&s.labels) {
            out.push(Sample { t, ..s });
            continue;
        }
        let mut added = LabelsBuilder::new(Labels::empty());
        for name in &info_names {
            let Some(info) = infos.get(&signature(name, &s.labels)) else { continue };
            for l in info.labels.iter().filter(|l| &*l.name != METRIC_NAME) {
                if !data.is_empty() && !data.iter().any(|m| m.name == *l.name) {
                    continue;
                }
                if added.get(&l.name).is_some_and(|v| v != &*l.value) {
                    return Err(exec(format!("conflicting label: {}", l.name)));
                }
                if s.labels.get(&l.name).is_none() {
                    added.set(l.name.clone(), l.value.clone());
                }
            }
        }
        let added = added.build();
        if added.is_empty() && !data.iter().all(Matcher::matches_empty) {
            continue;
        }
        let mut labels = LabelsBuilder::new(s.labels);
        added.iter().for_each(|l| {
            labels.set(l.name.clone(), l.value.clone());
        });
        out.push(Sample { labels: labels.build(), t, v: s.v });
    }
    Ok(Value::Vector(out))
}

/// A series' metric name with its identifying labels, those it has.
type Signature = (String, Vec<(String, String)>);

fn signature(name: &str, labels: &Labels) -> Signature {
    let ids = IDENTIFYING.iter().filter_map(|n| labels.get(n).map(|v| (n.to_string(), v.to_string())));
    (name.to_string(), ids.collect())
}

/// Per identifying label, the values the series to enrich have; info series are only
/// looked for among those with one of them (none at all when no series has any).
fn identifying_values(base: &[Sample], is_info: &dyn Fn(&Labels) -> bool) -> HashMap<&'static str, BTreeSet<String>> {
    let mut out: HashMap<&'static str, BTreeSet<String>> = HashMap::new();
    for s in base.iter().filter(|s| !is_info(&s.labels)) {
        for name in IDENTIFYING {
            if let Some(v) = s.labels.get(name).filter(|v| !v.is_empty()) {
                out.entry(name).or_default().insert(v.to_string());
            }
        }
    }
    out
}

/// The info series current at this step by signature, the one sampled last where two
/// share one; two sampled at the same time are an error, as in Prometheus.
fn newest_by_signature(
    selected: Vec<Sample>,
    is_info: &dyn Fn(&Labels) -> bool,
    wanted: &HashMap<&'static str, BTreeSet<String>>,
) -> Result<HashMap<Signature, Sample>> {
    let mut out: HashMap<Signature, Sample> = HashMap::new();
    if wanted.is_empty() {
        return Ok(out);
    }
    let has_wanted = |l: &Labels| wanted.iter().all(|(name, values)| l.get(name).is_some_and(|v| values.contains(v)));
    for s in selected.into_iter().filter(|s| is_info(&s.labels) && has_wanted(&s.labels)) {
        let sig = signature(s.labels.metric_name(), &s.labels);
        match out.get(&sig) {
            Some(existing) if existing.t > s.t => {}
            Some(existing) if existing.t == s.t => {
                return Err(exec(format!(
                    "found duplicate series for info metric: existing {} @ {}, new {} @ {}",
                    existing.labels, existing.t, s.labels, s.t
                )));
            }
            _ => {
                out.insert(sig, s);
            }
        }
    }
    Ok(out)
}
