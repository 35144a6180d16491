//! PromQL: parse with promql-parser, evaluate here. [`engine`] walks the syntax tree;
//! [`functions`], [`aggregate`] and [`binary`] hold the operations; [`storage`] is what
//! the engine needs from a database (the collector's head, the master's blocks).

pub mod aggregate;
pub mod binary;
pub mod engine;
pub mod functions;
pub mod storage;
pub mod value;

pub use engine::{Engine, QueryError};
pub use storage::{Queryable, StoredSeries};
pub use value::{Sample, Series, Value};
