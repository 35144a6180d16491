//! Aggregation operators (`sum by (…)`, `topk`, …), with Prometheus 3.x's arithmetic.

use crate::engine::{Ctx, Result, exec};
use crate::functions::{order_by_value, quantile};
use crate::running_aggregation::Op;
use crate::value::{Sample, Value};
use cardinal_model::number::go_f;
use cardinal_model::{Labels, LabelsBuilder, Timestamp, labels::METRIC_NAME};
use promql_parser::parser::{AggregateExpr, LabelModifier};
use std::collections::HashMap;

pub fn eval(ctx: &Ctx, a: &AggregateExpr, t: Timestamp) -> Result<Value> {
    if let Some(out) = crate::rule_aggregation::aggregate(ctx, a, t)? {
        return Ok(Value::Vector(out));
    }
    let op = a.op.to_string();
    let param = match &a.param {
        Some(p) => Some(ctx.eval_node(p, t)?),
        None => None,
    };
    let input = ctx.eval_vector(&a.expr, t)?;
    let grouping = Grouping::from(&a.modifier);
    if let Some(op) = Op::parse(&op) {
        return Ok(Value::Vector(reduce(input, &grouping, t, |values| op.over(values.iter().copied()))));
    }
    let out = match op.as_str() {
        "topk" | "bottomk" => top_k(input, &grouping, scalar_param(&param)?, op == "topk")?,
        "limitk" => limit_k(input, &grouping, scalar_param(&param)?)?,
        "limit_ratio" => limit_ratio(input, scalar_param(&param)?)?,
        "count_values" => count_values(input, &grouping, &string_param(&param)?, t)?,
        "quantile" => {
            let q = scalar_param(&param)?;
            reduce(input, &grouping, t, |values| quantile(q, &mut values.to_vec()))
        }
        other => return Err(exec(format!("aggregation {other:?} is not supported"))),
    };
    Ok(Value::Vector(out))
}

fn scalar_param(p: &Option<Value>) -> Result<f64> {
    match p {
        Some(Value::Scalar(v)) => Ok(*v),
        _ => Err(exec("expected a scalar parameter")),
    }
}

fn string_param(p: &Option<Value>) -> Result<String> {
    match p {
        Some(Value::String(s)) => Ok(s.clone()),
        _ => Err(exec("expected a string parameter")),
    }
}

/// `by (…)` or `without (…)`.
pub(crate) enum Grouping {
    By(Vec<String>),
    Without(Vec<String>),
}

impl Grouping {
    pub(crate) fn from(m: &Option<LabelModifier>) -> Self {
        match m {
            None => Grouping::By(Vec::new()),
            Some(LabelModifier::Include(l)) => Grouping::By(l.labels.clone()),
            Some(LabelModifier::Exclude(l)) => Grouping::Without(l.labels.clone()),
        }
    }

    /// Whether a group's labels keep the label `name`.
    pub(crate) fn keeps(&self, name: &str) -> bool {
        match self {
            Grouping::By(names) => crate::listed(names, name),
            Grouping::Without(names) => name != METRIC_NAME && !crate::listed(names, name),
        }
    }

    /// The output labels of a sample's group. Only the kept labels are copied: for
    /// `sum by (a, b)` over Istio series that is 2 labels instead of 24.
    pub(crate) fn key(&self, l: &Labels) -> Labels {
        l.keep(|name| self.keeps(name))
    }
}

/// Groups values by key, keeping first-seen order.
fn groups(input: Vec<Sample>, g: &Grouping) -> Vec<(Labels, Vec<Sample>)> {
    let (keys, group_of) = cardinal_model::labels::group_by(input.iter().map(|s| &s.labels), |n| g.keeps(n));
    let mut out: Vec<(Labels, Vec<Sample>)> = keys.into_iter().map(|k| (k, Vec::new())).collect();
    input.into_iter().zip(group_of).for_each(|(s, i)| out[i].1.push(s));
    out
}

fn reduce(input: Vec<Sample>, g: &Grouping, t: Timestamp, f: impl Fn(&[f64]) -> f64) -> Vec<Sample> {
    groups(input, g)
        .into_iter()
        .map(|(labels, samples)| {
            let values: Vec<f64> = samples.iter().map(|s| s.v).collect();
            Sample { labels, t, v: f(&values) }
        })
        .collect()
}

/// `topk`/`bottomk`: the k largest (smallest) per group, with their own labels. NaN
/// ranks below every number either way.
fn top_k(input: Vec<Sample>, g: &Grouping, k: f64, top: bool) -> Result<Vec<Sample>> {
    if k.is_nan() {
        return Err(exec("Parameter value is NaN"));
    }
    if k < 1.0 {
        return Ok(Vec::new());
    }
    let k = if k >= i64::MAX as f64 { usize::MAX } else { k as usize };
    let mut out = Vec::new();
    for (_, mut samples) in groups(input, g) {
        samples.sort_by(|a, b| match (a.v.is_nan(), b.v.is_nan()) {
            (true, false) => std::cmp::Ordering::Greater,
            (false, true) => std::cmp::Ordering::Less,
            _ => order_by_value(a.v, b.v, top),
        });
        samples.truncate(k);
        out.extend(samples);
    }
    Ok(out)
}

/// `limitk`: the first k series of each group, in label order (Prometheus takes them in
/// the order storage gives them, which is label order for blocks).
fn limit_k(mut input: Vec<Sample>, g: &Grouping, k: f64) -> Result<Vec<Sample>> {
    if k.is_nan() {
        return Err(exec("Parameter value is NaN"));
    }
    if k < 1.0 {
        return Ok(Vec::new());
    }
    let k = if k >= i64::MAX as f64 { usize::MAX } else { k as usize };
    input.sort_by(|a, b| a.labels.cmp(&b.labels));
    Ok(groups(input, g).into_iter().flat_map(|(_, samples)| samples.into_iter().take(k)).collect())
}

/// `limit_ratio`: each series kept by where the hash of its labels falls in [0, 1), as
/// Prometheus's `HashRatioSampler` places it (xxHash64 of `name 0xff value 0xff …`): below
/// `r` for a positive ratio, at or above `1 + r` for a negative one, so that `r` and
/// `r - 1` keep complementary sets. Ratios past ±1 count as ±1.
fn limit_ratio(input: Vec<Sample>, r: f64) -> Result<Vec<Sample>> {
    if r.is_nan() {
        return Err(exec("Ratio value is NaN"));
    }
    let r = r.clamp(-1.0, 1.0);
    if r == 0.0 {
        return Ok(Vec::new());
    }
    let kept = |s: &Sample| {
        let offset = label_hash(&s.labels) as f64 / u64::MAX as f64;
        if r >= 0.0 { offset < r } else { offset >= 1.0 + r }
    };
    Ok(input.into_iter().filter(kept).collect())
}

/// Prometheus's `labels.Hash()`.
fn label_hash(l: &Labels) -> u64 {
    let mut bytes = Vec::with_capacity(64);
    for label in l.iter() {
        bytes.extend_from_slice(label.name.as_bytes());
        bytes.push(0xff);
        bytes.extend_from_slice(label.value.as_bytes());
        bytes.push(0xff);
    }
    xxhash_rust::xxh64::xxh64(&bytes, 0)
}

fn count_values(input: Vec<Sample>, g: &Grouping, label: &str, t: Timestamp) -> Result<Vec<Sample>> {
    if !cardinal_model::labels::is_valid_label_name(label) {
        return Err(exec(format!("invalid label name {label:?}")));
    }
    let mut counts: Vec<(Labels, f64)> = Vec::new();
    let mut index: HashMap<Labels, usize> = HashMap::new();
    for s in input {
        let mut b = LabelsBuilder::new(g.key(&s.labels));
        b.set(label, go_f(s.v));
        let key = b.build();
        match index.get(&key) {
            Some(&i) => counts[i].1 += 1.0,
            None => {
                index.insert(key.clone(), counts.len());
                counts.push((key, 1.0));
            }
        }
    }
    Ok(counts.into_iter().map(|(labels, v)| Sample { labels, t, v }).collect())
}
