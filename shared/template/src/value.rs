//! Template values: what Go's reflection sees in Prometheus's template data.

use cardinal_model::number::go_g;
use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// No value (an empty pipeline): prints as `<no value>`, as in Go.
    Missing,
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    List(Vec<Value>),
    /// Go maps iterate and print in key order, which a BTreeMap gives for free.
    Map(BTreeMap<String, Value>),
}

impl Value {
    pub fn map<K: Into<String>, V: Into<String>>(entries: impl IntoIterator<Item = (K, V)>) -> Value {
        Value::Map(entries.into_iter().map(|(k, v)| (k.into(), Value::Str(v.into()))).collect())
    }

    /// A label set as Go's `map[string]string`.
    pub fn labels(labels: &cardinal_model::Labels) -> Value {
        Value::map(labels.iter().map(|l| (l.name.to_string(), l.value.to_string())))
    }

    /// A query result element: `{Labels, Value}` as Prometheus's `sample` struct.
    pub fn sample(labels: &cardinal_model::Labels, v: f64) -> Value {
        Value::Map(BTreeMap::from([
            ("Labels".to_string(), Value::labels(labels)),
            ("Value".to_string(), Value::Float(v)),
        ]))
    }

    /// Go's `truth`: false, zero, nil and empty values are false.
    pub fn truth(&self) -> bool {
        match self {
            Value::Missing | Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::List(l) => !l.is_empty(),
            Value::Map(m) => !m.is_empty(),
        }
    }

    /// Go's type name, for error messages and `%!verb(type=value)`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Missing | Value::Nil => "<nil>",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float64",
            Value::Str(_) => "string",
            Value::List(_) => "[]interface {}",
            Value::Map(_) => "map[string]interface {}",
        }
    }

    /// The value as a float, as Prometheus's `convertToFloat` accepts it.
    pub fn to_float(&self) -> Result<f64, String> {
        match self {
            Value::Float(f) => Ok(*f),
            Value::Int(i) => Ok(*i as f64),
            // Rust's float syntax matches Go's ParseFloat for decimal input, Inf and NaN.
            Value::Str(s) => s.trim().parse().map_err(|_| format!("strconv.ParseFloat: parsing {s:?}: invalid syntax")),
            other => Err(format!("can't convert {} to float", other.type_name())),
        }
    }

    pub fn as_str(&self) -> Result<&str, String> {
        match self {
            Value::Str(s) => Ok(s),
            other => Err(format!("wrong type for value; expected string; got {}", other.type_name())),
        }
    }
}

/// Go's `%v`/`print` form.
impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Missing => f.write_str("<no value>"),
            Value::Nil => f.write_str("<nil>"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => f.write_str(&go_g(*x)),
            Value::Str(s) => f.write_str(s),
            Value::List(l) => {
                f.write_str("[")?;
                for (i, v) in l.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
            Value::Map(m) => {
                f.write_str("map[")?;
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    write!(f, "{k}:{v}")?;
                }
                f.write_str("]")
            }
        }
    }
}
