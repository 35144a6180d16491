//! The four PromQL value types.

use cardinal_model::{Labels, Timestamp};

/// One element of an instant vector. `t` is the timestamp of the underlying sample
/// (what `timestamp()` returns); the vector itself is "at" the evaluation time.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub labels: Labels,
    pub t: Timestamp,
    pub v: f64,
}

/// A series of a range vector or a range-query result.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub labels: Labels,
    pub points: Vec<(Timestamp, f64)>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Scalar(f64),
    String(String),
    Vector(Vec<Sample>),
    Matrix(Vec<Series>),
}

impl Value {
    /// The type name Prometheus uses in JSON and in errors.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Scalar(_) => "scalar",
            Value::String(_) => "string",
            Value::Vector(_) => "vector",
            Value::Matrix(_) => "matrix",
        }
    }
}
