//! The synthetic world the demo (`cargo run --bin demo`) and the end-to-end tests run in:
//! an Istio-like mesh whose pods are scrape targets ([`istio`] makes their metrics,
//! [`workload`] serves them), the shipped configs and rules pointed at it ([`shipped`]),
//! certificates for the TLS stack ([`tls`]), and where the real tools are ([`tools`]).

pub mod istio;
pub mod shipped;
pub mod tls;
pub mod tools;
pub mod workload;

pub use workload::Workload;
