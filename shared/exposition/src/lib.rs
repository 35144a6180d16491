//! The exposition formats: what targets expose and what `/federate` serves.
//!
//! [`parser`] reads Prometheus text 0.0.4 and OpenMetrics 1.0 without allocating per sample;
//! [`text`], [`openmetrics`] and [`proto`] write the text, OpenMetrics and protobuf-delimited
//! formats.

pub mod histogram;
pub mod openmetrics;
pub mod parser;
pub mod proto;
pub mod summary;
pub mod text;

pub use parser::{Entry, Format, MetricType, ParseError, Parser, SampleRef, parse_labels, unescape_help};

/// The Accept header Prometheus 2.42 sends when scraping.
pub const SCRAPE_ACCEPT: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
