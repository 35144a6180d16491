//! Scraping: from a job's config to samples in the head.
//!
//! `cardinal-discovery` turns static, file and DNS configs into target groups; [`target`]
//! relabels them into scrape targets; [`scrape_loop`] fetches ([`fetch`]), parses and
//! appends one target on its interval (HTTP from `cardinal-client`); [`manager`] runs a loop per target and applies
//! config reloads.

pub mod fetch;
pub mod manager;
pub mod metadata;
pub mod sample_labels;
pub mod scrape_loop;
pub mod target;
/// For this crate's tests, examples and benchmarks, and other crates' (`testing` feature):
/// not part of the API.
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use manager::{ScrapeManager, TargetStatus};
