//! Test harness: exporters served by the test on 127.0.0.1, and the real daemons started
//! as child processes on ephemeral ports.

pub mod alertmanager;
pub mod browser;
pub mod daemon;
pub mod kube;
pub mod link;
pub mod prometheus;
pub mod rates;
pub mod remote_write;
pub mod sdk;
pub mod series;
pub mod small_mesh;
pub mod target;
pub mod victoria_metrics;
pub mod vmagent;

pub use daemon::{Access, Daemon, bin_path, wait_until};
pub use target::TestTarget;
pub use testbed::{Workload, istio, shipped, tls, workload};

/// Where skips are recorded: `target/skipped-tests.log` of the workspace, which `.ci/run`
/// empties before the tests and lists after them (a skip printed by a passing test
/// would be hidden by `cargo test`).
pub fn skip_log() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/skipped-tests.log")
}

/// Records that a test could not run (all or part of) what its name promises, and why.
/// Under `CI=true` it fails the test instead: CI installs every tool, so a skip there
/// would hide a test that never ran.
pub fn skip(why: &str) {
    let test = std::thread::current().name().unwrap_or("?").to_string();
    assert!(std::env::var("CI").as_deref() != Ok("true"), "{test}: {why}, and under CI=true a test may not skip");
    use std::io::Write;
    // Straight to the process's stderr: `eprintln!` is captured, and `cargo test` shows
    // nothing a passing test printed.
    let _ = writeln!(std::io::stderr().lock(), "SKIPPED: {test}: {why}");
    let log = std::fs::OpenOptions::new().create(true).append(true).open(skip_log());
    if let Ok(mut f) = log {
        let _ = writeln!(f, "{test}: {why}");
    }
}
