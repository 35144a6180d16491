//! Test harness: exporters served by the test on 127.0.0.1, and the real daemons started
//! as child processes on ephemeral ports.

pub mod alertmanager;
pub mod browser;
pub mod daemon;
pub mod istio;
pub mod prometheus;
pub mod sdk;
pub mod series;
pub mod shipped;
pub mod target;
pub mod tls;
pub mod workload;

pub use daemon::{Access, Daemon, bin_path, wait_until};
pub use target::TestTarget;
pub use workload::Workload;
