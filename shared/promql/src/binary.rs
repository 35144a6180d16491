//! Binary operators: arithmetic, comparisons (with `bool`) and set operators, with
//! Prometheus's vector matching (`on`/`ignoring`, `group_left`/`group_right`).

use crate::engine::{Ctx, Result, exec};
use crate::value::{Sample, Value};
use cardinal_model::{Labels, LabelsBuilder, Timestamp, labels::METRIC_NAME};
use promql_parser::parser::{BinaryExpr, LabelModifier, VectorMatchCardinality};
use std::collections::{HashMap, HashSet};

pub fn eval(ctx: &Ctx, b: &BinaryExpr, t: Timestamp) -> Result<Value> {
    let op = b.op.to_string().to_lowercase();
    let return_bool = b.modifier.as_ref().is_some_and(|m| m.return_bool);
    let lhs = ctx.eval_node(&b.lhs, t)?;
    let rhs = ctx.eval_node(&b.rhs, t)?;
    match (lhs, rhs) {
        (Value::Scalar(l), Value::Scalar(r)) => {
            let (v, keep) = apply(&op, l, r)?;
            Ok(Value::Scalar(if is_comparison(&op) { f64::from(u8::from(keep)) } else { v }))
        }
        (Value::Vector(l), Value::Scalar(r)) => vector_scalar(&op, l, r, false, return_bool, t),
        (Value::Scalar(l), Value::Vector(r)) => vector_scalar(&op, r, l, true, return_bool, t),
        (Value::Vector(l), Value::Vector(r)) => {
            let matching = b.modifier.as_ref().and_then(|m| m.matching.clone());
            let card = b.modifier.as_ref().map_or(VectorMatchCardinality::OneToOne, |m| m.card.clone());
            match op.as_str() {
                "and" | "or" | "unless" => Ok(Value::Vector(set_op(&op, l, r, &matching))),
                _ => vector_vector(&op, l, r, &matching, &card, return_bool, t).map(Value::Vector),
            }
        }
        (l, r) => Err(exec(format!("invalid operand types {} and {} for {op}", l.type_name(), r.type_name()))),
    }
}

fn is_comparison(op: &str) -> bool {
    matches!(op, "==" | "!=" | ">" | "<" | ">=" | "<=")
}

/// Arithmetic and comparisons drop the metric name (comparisons only with `bool`).
fn drops_name(op: &str) -> bool {
    matches!(op, "+" | "-" | "*" | "/" | "%" | "^" | "atan2")
}

/// Go's `vectorElemBinop`: the value and, for comparisons, whether it holds.
fn apply(op: &str, l: f64, r: f64) -> Result<(f64, bool)> {
    Ok(match op {
        "+" => (l + r, true),
        "-" => (l - r, true),
        "*" => (l * r, true),
        "/" => (l / r, true),
        "%" => (l % r, true),
        "^" => (l.powf(r), true),
        "atan2" => (l.atan2(r), true),
        "==" => (l, l == r),
        "!=" => (l, l != r),
        ">" => (l, l > r),
        "<" => (l, l < r),
        ">=" => (l, l >= r),
        "<=" => (l, l <= r),
        other => {
            return Err(exec(format!("operator {other:?} not allowed for operations between scalars and vectors")));
        }
    })
}

fn vector_scalar(op: &str, vec: Vec<Sample>, s: f64, swap: bool, return_bool: bool, t: Timestamp) -> Result<Value> {
    let mut out = Vec::with_capacity(vec.len());
    for sample in vec {
        let (l, r) = if swap { (s, sample.v) } else { (sample.v, s) };
        let (mut v, mut keep) = apply(op, l, r)?;
        if is_comparison(op) && swap {
            v = r; // the vector's value is kept even when it is on the right
        }
        if return_bool {
            v = f64::from(u8::from(keep));
            keep = true;
        }
        if keep {
            let labels = if drops_name(op) || return_bool { sample.labels.without_name() } else { sample.labels };
            out.push(Sample { labels, t, v });
        }
    }
    Ok(Value::Vector(out))
}

/// The signature vectors are matched on.
fn signature(l: &Labels, matching: &Option<LabelModifier>) -> Labels {
    let keep = |x: &&cardinal_model::Label| match matching {
        Some(LabelModifier::Include(on)) => crate::listed(&on.labels, &x.name),
        Some(LabelModifier::Exclude(ign)) => &*x.name != METRIC_NAME && !crate::listed(&ign.labels, &x.name),
        None => &*x.name != METRIC_NAME,
    };
    Labels::from_sorted(l.iter().filter(keep).cloned().collect())
}

fn set_op(op: &str, l: Vec<Sample>, r: Vec<Sample>, matching: &Option<LabelModifier>) -> Vec<Sample> {
    match op {
        "and" => {
            let right: HashSet<Labels> = r.iter().map(|s| signature(&s.labels, matching)).collect();
            l.into_iter().filter(|s| right.contains(&signature(&s.labels, matching))).collect()
        }
        "unless" => {
            let right: HashSet<Labels> = r.iter().map(|s| signature(&s.labels, matching)).collect();
            l.into_iter().filter(|s| !right.contains(&signature(&s.labels, matching))).collect()
        }
        _ => {
            let left: HashSet<Labels> = l.iter().map(|s| signature(&s.labels, matching)).collect();
            let mut out = l;
            out.extend(r.into_iter().filter(|s| !left.contains(&signature(&s.labels, matching))));
            out
        }
    }
}

fn vector_vector(
    op: &str,
    lhs: Vec<Sample>,
    rhs: Vec<Sample>,
    matching: &Option<LabelModifier>,
    card: &VectorMatchCardinality,
    return_bool: bool,
    t: Timestamp,
) -> Result<Vec<Sample>> {
    if lhs.is_empty() || rhs.is_empty() {
        return Ok(Vec::new());
    }
    let one_to_many = matches!(card, VectorMatchCardinality::OneToMany(_));
    let (many, one) = if one_to_many { (rhs, lhs) } else { (lhs, rhs) };
    let mut one_by_sig: HashMap<Labels, &Sample> = HashMap::new();
    for s in &one {
        let sig = signature(&s.labels, matching);
        if let Some(dup) = one_by_sig.get(&sig) {
            let side = if one_to_many { "left" } else { "right" };
            return Err(exec(format!(
                "found duplicate series for the match group {} on the {side} hand-side of the operation: [{}, {}];many-to-many matching not allowed: matching labels must be unique on one side",
                sig, s.labels, dup.labels
            )));
        }
        one_by_sig.insert(sig, s);
    }
    let include: &[String] = match card {
        VectorMatchCardinality::ManyToOne(l) | VectorMatchCardinality::OneToMany(l) => &l.labels,
        _ => &[],
    };
    let one_to_one = matches!(card, VectorMatchCardinality::OneToOne);
    let mut matched: HashMap<Labels, HashSet<Labels>> = HashMap::new();
    let mut out = Vec::new();
    for ls in &many {
        let sig = signature(&ls.labels, matching);
        let Some(rs) = one_by_sig.get(&sig) else { continue };
        let (l, r) = if one_to_many { (rs.v, ls.v) } else { (ls.v, rs.v) };
        let (mut v, keep) = apply(op, l, r)?;
        if return_bool {
            v = f64::from(u8::from(keep));
        } else if !keep {
            continue;
        }
        let mut labels = result_labels(&ls.labels, &rs.labels, op, matching, one_to_one, include);
        if return_bool {
            labels = labels.without_name();
        }
        let seen = matched.entry(sig).or_default();
        if one_to_one {
            if !seen.is_empty() {
                return Err(exec(
                    "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)",
                ));
            }
        } else if seen.contains(&labels) {
            return Err(exec("multiple matches for labels: grouping labels must ensure unique matches"));
        }
        seen.insert(labels.clone());
        out.push(Sample { labels, t, v });
    }
    Ok(out)
}

/// Prometheus's `resultMetric`: the "many" side's labels, trimmed by `on`/`ignoring`
/// for one-to-one matches, plus the `group_x(…)` labels taken from the "one" side.
fn result_labels(
    many: &Labels,
    one: &Labels,
    op: &str,
    matching: &Option<LabelModifier>,
    one_to_one: bool,
    include: &[String],
) -> Labels {
    let mut b = LabelsBuilder::new(many.clone());
    if drops_name(op) {
        b.del(METRIC_NAME);
    }
    if one_to_one {
        match matching {
            Some(LabelModifier::Include(on)) => {
                b.retain(|x| crate::listed(&on.labels, &x.name));
            }
            Some(LabelModifier::Exclude(ign)) => {
                b.retain(|x| !crate::listed(&ign.labels, &x.name));
            }
            None => {}
        }
    }
    for name in include {
        match one.get(name) {
            Some(v) => b.set(name.clone(), v),
            None => b.del(name),
        };
    }
    b.build()
}
