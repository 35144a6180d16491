//! A PromQL syntax tree as the JSON `/api/v1/parse_query` answers with: the shape
//! Prometheus 3.x's `translateAST` gives its UI's tree view. (promql-parser's own `ser`
//! feature is close but not it: it folds `group_left`'s labels into `card`, adds keys
//! Prometheus has not, and leaves out the metric name's matcher and scalar sides' `null`
//! matching.)

use cardinal_model::number::go_f;
use promql_parser::label::Matchers;
use promql_parser::parser::value::ValueType;
use promql_parser::parser::{
    AtModifier, BinModifier, Expr, LabelModifier, Offset, VectorMatchCardinality, VectorSelector,
};
use serde_json::{Value, json};
use std::time::UNIX_EPOCH;

/// `expr` as Prometheus's `translateAST` renders it.
pub fn to_json(expr: &Expr) -> Value {
    match expr {
        Expr::Aggregate(a) => json!({
            "type": "aggregation",
            "op": a.op.to_string(),
            "expr": to_json(&a.expr),
            "param": a.param.as_deref().map_or(Value::Null, to_json),
            "grouping": a.modifier.as_ref().map_or(vec![], |m| m.labels().labels.clone()),
            "without": matches!(a.modifier, Some(LabelModifier::Exclude(_))),
        }),
        Expr::Binary(b) => {
            let vectors = b.lhs.value_type() == ValueType::Vector && b.rhs.value_type() == ValueType::Vector;
            json!({
                "type": "binaryExpr",
                "op": b.op.to_string(),
                "lhs": to_json(&b.lhs),
                "rhs": to_json(&b.rhs),
                "matching": if vectors { matching(b.modifier.as_ref(), b.op.is_set_operator()) } else { Value::Null },
                "bool": b.modifier.as_ref().is_some_and(|m| m.return_bool),
            })
        }
        Expr::Call(c) => json!({
            "type": "call",
            "func": {
                "name": c.func.name,
                "argTypes": c.func.arg_types.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "variadic": c.func.variadic,
                "returnType": c.func.return_type.to_string(),
            },
            "args": c.args.args.iter().map(|a| to_json(a)).collect::<Vec<_>>(),
        }),
        Expr::MatrixSelector(m) => {
            let mut node = selector("matrixSelector", &m.vs);
            node["range"] = json!(m.range.as_millis() as u64);
            node
        }
        Expr::Subquery(s) => {
            let (timestamp, start_or_end) = at(s.at.as_ref());
            json!({
                "type": "subquery",
                "expr": to_json(&s.expr),
                "range": s.range.as_millis() as u64,
                "offset": offset_ms(s.offset.as_ref()),
                "step": s.step.map_or(0, |d| d.as_millis() as u64),
                "timestamp": timestamp,
                "startOrEnd": start_or_end,
            })
        }
        Expr::NumberLiteral(n) => json!({"type": "numberLiteral", "val": go_f(n.val)}),
        Expr::Paren(p) => json!({"type": "parenExpr", "expr": to_json(&p.expr)}),
        Expr::StringLiteral(s) => json!({"type": "stringLiteral", "val": s.val}),
        Expr::Unary(u) => json!({"type": "unaryExpr", "op": "-", "expr": to_json(&u.expr)}),
        Expr::VectorSelector(v) => selector("vectorSelector", v),
        // Never produced by the parser: only a program embedding it builds these.
        Expr::Extension(_) => Value::Null,
    }
}

/// Vector matching between two vectors: Prometheus's `VectorMatching`.
fn matching(modifier: Option<&BinModifier>, set_operator: bool) -> Value {
    let card = modifier.map(|m| &m.card);
    let card_name = match card {
        Some(VectorMatchCardinality::ManyToOne(_)) => "many-to-one",
        Some(VectorMatchCardinality::OneToMany(_)) => "one-to-many",
        Some(VectorMatchCardinality::ManyToMany) => "many-to-many",
        _ if set_operator => "many-to-many",
        _ => "one-to-one",
    };
    let labels = modifier.and_then(|m| m.matching.as_ref()).map_or(vec![], |l| l.labels().labels.clone());
    json!({
        "card": card_name,
        "labels": labels,
        "on": modifier.is_some_and(|m| matches!(m.matching, Some(LabelModifier::Include(_)))),
        "include": card.and_then(|c| c.labels()).map_or(vec![], |l| l.labels.clone()),
    })
}

/// A vector selector's keys (a matrix selector adds its range): its matchers with the
/// metric name's last, as Prometheus's parser appends it.
fn selector(kind: &str, v: &VectorSelector) -> Value {
    let (timestamp, start_or_end) = at(v.at.as_ref());
    json!({
        "type": kind,
        "name": v.name.as_deref().unwrap_or(""),
        "offset": offset_ms(v.offset.as_ref()),
        "matchers": matchers(&v.matchers, v.name.as_deref()),
        "timestamp": timestamp,
        "startOrEnd": start_or_end,
        "anchored": false,
        "smoothed": false,
    })
}

fn matchers(m: &Matchers, name: Option<&str>) -> Vec<Value> {
    let name_matcher = name.map(|n| json!({"name": "__name__", "value": n, "type": "="}));
    let listed = m.matchers.iter().chain(m.or_matchers.iter().flatten());
    listed.map(|m| json!({"name": m.name, "value": m.value, "type": m.op.to_string()})).chain(name_matcher).collect()
}

fn offset_ms(o: Option<&Offset>) -> i64 {
    match o {
        Some(Offset::Pos(d)) => d.as_millis() as i64,
        Some(Offset::Neg(d)) => -(d.as_millis() as i64),
        None => 0,
    }
}

/// `@`: its time in ms, or which end of the query it names.
fn at(a: Option<&AtModifier>) -> (Value, Value) {
    match a {
        Some(AtModifier::At(t)) => {
            let ms = match t.duration_since(UNIX_EPOCH) {
                Ok(d) => d.as_millis() as i64,
                Err(e) => -(e.duration().as_millis() as i64),
            };
            (json!(ms), Value::Null)
        }
        Some(AtModifier::Start) => (Value::Null, json!("start")),
        Some(AtModifier::End) => (Value::Null, json!("end")),
        None => (Value::Null, Value::Null),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tree of `query`, through the parser the query API uses.
    fn tree(query: &str) -> Value {
        to_json(&cardinal_promql::engine::parse(query).unwrap())
    }

    fn vector(name: &str, extra: Value) -> Value {
        let mut matchers = extra.as_array().cloned().unwrap_or_default();
        matchers.push(json!({"name": "__name__", "value": name, "type": "="}));
        json!({"type": "vectorSelector", "name": name, "offset": 0, "matchers": matchers,
               "timestamp": null, "startOrEnd": null, "anchored": false, "smoothed": false})
    }

    // The expected trees are what Prometheus 3.9's `translateAST` builds for each query
    // (web/api/v1/translate_ast.go, its parser's node fields).

    #[test]
    fn an_aggregation_over_a_call_over_a_matrix_selector() {
        let mut m = vector("x", json!([{"name": "b", "value": "c", "type": "=~"}]));
        m["type"] = json!("matrixSelector");
        m["range"] = json!(300_000);
        m["offset"] = json!(-60_000);
        let want = json!({
            "type": "aggregation", "op": "sum", "param": null, "grouping": ["a"], "without": false,
            "expr": {"type": "call",
                     "func": {"name": "rate", "argTypes": ["matrix"], "variadic": 0, "returnType": "vector"},
                     "args": [m]},
        });
        assert_eq!(tree("sum by (a) (rate(x{b=~\"c\"}[5m] offset -1m))"), want);
    }

    #[test]
    fn vector_matching_only_between_two_vectors() {
        let mut bar = vector("bar", json!([]));
        bar["timestamp"] = json!(10_000);
        let want = json!({
            "type": "binaryExpr", "op": "+", "bool": false, "matching": null,
            "lhs": {"type": "numberLiteral", "val": "1"},
            "rhs": {"type": "binaryExpr", "op": "/", "bool": false,
                    "lhs": vector("foo", json!([])), "rhs": bar,
                    "matching": {"card": "many-to-one", "labels": ["a"], "on": true, "include": ["b"]}},
        });
        assert_eq!(tree("1 + foo / on(a) group_left(b) bar @ 10"), want);
        let compared = tree("(x) > bool 1");
        assert_eq!(compared["matching"], Value::Null);
        assert_eq!(compared["bool"], true);
        assert_eq!(compared["lhs"], json!({"type": "parenExpr", "expr": vector("x", json!([]))}));
        let set = tree("x and ignoring(a) y");
        assert_eq!(set["matching"], json!({"card": "many-to-many", "labels": ["a"], "on": false, "include": []}));
        assert_eq!(tree("x - y")["matching"], json!({"card": "one-to-one", "labels": [], "on": false, "include": []}));
    }

    #[test]
    fn subqueries_literals_and_negation() {
        let negated =
            json!({"type": "parenExpr", "expr": {"type": "unaryExpr", "op": "-", "expr": vector("x", json!([]))}});
        let subquery = json!({"type": "subquery", "range": 300_000, "offset": 0, "step": 0, "timestamp": null,
                              "startOrEnd": "start", "expr": negated});
        assert_eq!(tree("(-x)[5m:] @ start()"), subquery);
        assert_eq!(tree("rate(x[5m:1m])")["args"][0]["step"], 60_000);
        assert_eq!(tree("\"s\""), json!({"type": "stringLiteral", "val": "s"}));
        assert_eq!(tree("1e21"), json!({"type": "numberLiteral", "val": "1000000000000000000000"}));
        assert_eq!(tree("topk(3, x)")["param"], json!({"type": "numberLiteral", "val": "3"}));
        assert_eq!(tree("count without (a) ({__name__=\"x\"})")["without"], true);
        let nameless = tree("{job=\"a\"}");
        assert_eq!(nameless["name"], "");
        assert_eq!(nameless["matchers"], json!([{"name": "job", "value": "a", "type": "="}]));
    }
}
