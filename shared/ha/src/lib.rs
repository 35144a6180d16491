//! The HA tracker, as Mimir's: two collectors (a pair) scrape the same targets with the same
//! rules and differ only by a replica label; the master stores one copy per cluster.
//!
//! - [`tracker`] elects one replica per cluster and fails over when it has been silent
//!   for `failover_timeout`.
//! - [`splice`] keeps a counter continuous across a fail-over: the new replica's values
//!   are shifted to continue the old one's, counting what it saw during the switch.
//! - [`store`] is where both sit: a [`cardinal_storage::SeriesStore`] in front of the head,
//!   so federation scrapes and remote-write pushes go through the same election.

pub mod splice;
pub mod store;
pub mod tracker;

pub use store::HaStore;
