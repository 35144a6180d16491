//! Storage. [`chunk`] is Prometheus's XOR chunk encoding; [`head`] keeps recent series in
//! memory, found through [`index`]'s postings and interned label [`symbols`].

pub mod chunk;
pub mod head;
pub mod index;
pub mod symbols;

pub use head::{AppendError, Cardinality, Head, HeadStats, MemSeries, SeriesRef};
