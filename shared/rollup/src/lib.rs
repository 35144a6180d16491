//! Streaming rollups (`rollup_rules:`): aggregates computed from samples as they are
//! ingested, before any query. The counter outputs keep, per input series, its last value,
//! and add each increase (or the whole value after a reset) to a cumulative output
//! counter, so the master can take `rate` or `increase` over any window and pods that come
//! and go lose nothing. Windows are cut on a grid from the samples' own timestamps; the
//! state is checkpointed after every flush, so a restart neither spikes nor drops a
//! counter, and a reload keeps the state of unchanged rules.
//!
//! Where a sample goes: [`rollups::Rollups`] observes every append to the head, asks each
//! matching [`rule::RuleState`] to account for it in a [`window::Acc`], and at each flush
//! appends the outputs to the head, where `/federate`, rules and alerts see them.

pub mod checkpoint;
pub mod inputs;
pub mod rollups;
pub mod rule;
pub mod window;

pub use rollups::Rollups;

#[cfg(test)]
mod tests;
