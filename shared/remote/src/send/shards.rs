//! How many shards a sender runs: Prometheus's resharding rule (2.42,
//! `storage/remote/queue_manager.go`), evaluated every 10 s. The rates are moving
//! averages (weight 0.2) of what the WAL gave the sender, what write relabeling dropped,
//! what was delivered, and the time deliveries took; the count needed is the time one
//! sample takes to send times the rate samples must leave at — the incoming rate plus 5%
//! of the backlog per second.

use cardinal_config::QueueConfig;
use std::time::Duration;

/// How often the shard count is reconsidered.
pub const INTERVAL: Duration = Duration::from_secs(10);

/// A change smaller than this fraction of the current count is not worth making.
const TOLERANCE: f64 = 0.3;

/// An exponentially weighted rate of a running total, as Prometheus's `ewmaRate`: the
/// first interval with events sets it, later ones move it by a fifth of the difference.
#[derive(Default)]
struct Ewma {
    rate: f64,
    last_total: u64,
    init: bool,
}

impl Ewma {
    fn tick(&mut self, total: u64, secs: f64) {
        let events = total.saturating_sub(self.last_total);
        self.last_total = total;
        let instant = events as f64 / secs;
        if self.init {
            self.rate += 0.2 * (instant - self.rate);
        } else if events > 0 {
            self.init = true;
            self.rate = instant;
        }
    }
}

/// The sender's running totals, read at each tick.
#[derive(Clone, Copy, Default)]
pub struct Totals {
    /// Samples read from the WAL (write-relabel drops included).
    pub read: u64,
    /// Samples write relabeling (or an unknown series) dropped.
    pub dropped: u64,
    /// Samples delivered.
    pub sent: u64,
    /// Nanoseconds spent delivering them, summed over concurrent shards.
    pub send_nanos: u64,
}

#[derive(Default)]
pub struct ShardTuner {
    read: Ewma,
    dropped: Ewma,
    sent: Ewma,
    send_nanos: Ewma,
}

/// What a tick concluded: the desired count as computed (the `shards_desired` gauge) and
/// the count to run.
#[derive(Debug, PartialEq)]
pub struct Decision {
    pub desired: f64,
    pub shards: usize,
}

impl ShardTuner {
    /// Moves the rates on by `elapsed` and decides the shard count. `behind_secs` is the
    /// newest sample logged minus the newest delivered; `sent_recently` whether a delivery
    /// succeeded within two batch deadlines (without one the rates say nothing).
    pub fn tick(
        &mut self,
        totals: Totals,
        elapsed: Duration,
        behind_secs: f64,
        sent_recently: bool,
        current: usize,
        q: &QueueConfig,
    ) -> Decision {
        let secs = elapsed.as_secs_f64().max(1e-3);
        self.read.tick(totals.read, secs);
        self.dropped.tick(totals.dropped, secs);
        self.sent.tick(totals.sent, secs);
        self.send_nanos.tick(totals.send_nanos, secs);
        let keep = Decision { desired: current as f64, shards: current };
        let out = self.sent.rate;
        if out <= 0.0 {
            return keep;
        }
        let kept = out / (self.dropped.rate + out);
        let pending = behind_secs * self.read.rate * kept;
        let secs_per_sample = self.send_nanos.rate / 1e9 / out;
        let desired = secs_per_sample * (self.read.rate * kept + 0.05 * pending);
        Decision { desired, shards: next_count(desired, current, behind_secs, sent_recently, q) }
    }
}

fn next_count(desired: f64, current: usize, behind_secs: f64, sent_recently: bool, q: &QueueConfig) -> usize {
    let wanted = desired.ceil();
    let within_tolerance = (current as f64 * (1.0 - TOLERANCE)..=current as f64 * (1.0 + TOLERANCE)).contains(&wanted);
    // Fewer shards while more than 10 s behind would only fall further behind.
    let backlogged_shrink = (wanted as usize) < current && behind_secs > 10.0;
    if within_tolerance || backlogged_shrink || !sent_recently {
        return current;
    }
    (wanted as usize).clamp(q.min_shards.max(1), q.max_shards.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn totals(read: u64, sent: u64, send_secs: f64) -> Totals {
        Totals { read, dropped: 0, sent, send_nanos: (send_secs * 1e9) as u64 }
    }

    /// 10,000 samples/s coming in, one sample taking 0.5 ms to send: five shards keep up.
    #[test]
    fn the_count_is_the_time_per_sample_times_the_rate_to_keep_up() {
        let mut t = ShardTuner::default();
        let q = QueueConfig::default();
        let d = t.tick(totals(100_000, 100_000, 50.0), INTERVAL, 0.0, true, 1, &q);
        assert!((d.desired - 5.0).abs() < 1e-9, "{d:?}");
        assert_eq!(d.shards, 5);
    }

    #[test]
    fn a_backlog_adds_five_percent_of_itself_per_second() {
        let mut t = ShardTuner::default();
        let q = QueueConfig::default();
        // 100 s behind at 10,000/s: 1,000,000 pending, 50,000/s more to send.
        let d = t.tick(totals(100_000, 100_000, 50.0), INTERVAL, 100.0, true, 1, &q);
        assert!((d.desired - 30.0).abs() < 1e-9, "{d:?}");
    }

    #[test]
    fn small_changes_a_backlog_and_silence_keep_the_count() {
        let q = QueueConfig::default();
        assert_eq!(next_count(11.5, 10, 0.0, true, &q), 10, "within 30%");
        assert_eq!(next_count(14.0, 10, 0.0, true, &q), 14);
        assert_eq!(next_count(2.0, 10, 11.0, true, &q), 10, "not shrinking while behind");
        assert_eq!(next_count(2.0, 10, 5.0, true, &q), 2);
        assert_eq!(next_count(40.0, 10, 0.0, false, &q), 10, "no recent delivery");
        let narrow = QueueConfig { min_shards: 3, max_shards: 20, ..QueueConfig::default() };
        assert_eq!(next_count(0.2, 10, 0.0, true, &narrow), 3);
        assert_eq!(next_count(90.0, 10, 0.0, true, &narrow), 20);
    }

    #[test]
    fn nothing_delivered_keeps_the_count() {
        let mut t = ShardTuner::default();
        let d = t.tick(totals(100_000, 0, 0.0), INTERVAL, 300.0, false, 7, &QueueConfig::default());
        assert_eq!(d, Decision { desired: 7.0, shards: 7 });
    }

    #[test]
    fn the_rates_move_by_a_fifth_after_the_first_interval() {
        let mut e = Ewma::default();
        e.tick(0, 10.0);
        assert!(!e.init, "no events yet: not started");
        e.tick(1000, 10.0);
        assert_eq!(e.rate, 100.0);
        e.tick(1000 + 2000, 10.0);
        assert_eq!(e.rate, 120.0);
    }
}
