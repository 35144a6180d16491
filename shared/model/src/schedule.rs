//! Where periodic work falls in time. Scrapes and rule evaluations run on a grid: a
//! multiple of their interval plus a stable per-target (or per-group) offset, so that
//! many of them spread over the interval and each keeps its phase across restarts.

use crate::Timestamp;

/// The first slot strictly after `now`.
pub fn next_slot(now: Timestamp, interval_ms: i64, offset_ms: i64) -> Timestamp {
    (now - offset_ms).div_euclid(interval_ms) * interval_ms + offset_ms + interval_ms
}

/// The timestamp a scrape scheduled for `slot` and started at `now` is stored under: the
/// slot when it started no more than `tolerance_ms` late, else `now`. Prometheus does
/// the same (`--scrape.adjust-timestamps`, `--scrape.timestamp-tolerance`, at most 1% of
/// the interval) because timer jitter would otherwise make every timestamp's
/// delta-of-delta non-zero, which costs bits on disk; aligned, most cost one. Unlike
/// Prometheus, which aligns to its first scrape's time, the slot is the grid the scrape
/// was scheduled on, so a first scrape that ran late does not push later ones off.
pub fn scrape_time(now: Timestamp, slot: Timestamp, interval_ms: i64, tolerance_ms: i64) -> Timestamp {
    if now - slot <= tolerance_ms.min(interval_ms / 100) { slot } else { now }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_multiples_of_the_interval_plus_the_offset() {
        assert_eq!(next_slot(10_500, 1000, 200), 11_200);
        assert_eq!(next_slot(11_200, 1000, 200), 12_200, "strictly after now");
        assert_eq!(next_slot(0, 15_000, 0), 15_000);
        assert_eq!(next_slot(-1, 1000, 0), 0);
    }

    #[test]
    fn a_scrape_within_the_tolerance_of_its_slot_gets_the_slot() {
        let at = |now| scrape_time(now, 30_700, 15_000, 2);
        assert_eq!(at(30_700), 30_700);
        assert_eq!(at(30_702), 30_700, "2 ms late");
        assert_eq!(at(30_703), 30_703, "3 ms late keeps its own time");
        assert_eq!(at(30_699), 30_700, "a timer that fired early is still this slot's scrape");
    }

    #[test]
    fn the_tolerance_is_at_most_one_percent_of_the_interval() {
        assert_eq!(scrape_time(1_010, 1_000, 1_000, 50), 1_000, "10 ms is 1% of 1 s");
        assert_eq!(scrape_time(1_011, 1_000, 1_000, 50), 1_011);
        assert_eq!(scrape_time(1_001, 1_000, 1_000, 0), 1_001, "0 turns adjustment off");
        assert_eq!(scrape_time(1_000, 1_000, 1_000, 0), 1_000);
    }
}
