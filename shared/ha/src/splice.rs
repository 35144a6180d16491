//! A counter's continuity on the master across fail-overs and resets. Two replicas'
//! counters drift apart (they count from different starts, scrape at different
//! instants), so storing the new replica's values as they are would show a jump or a
//! fake reset at every fail-over (VictoriaMetrics#10695; Mimir accepts it).
//!
//! Instead the stored value is the elected replica's value plus an offset, chosen at the
//! switch so that the stored counter continues from the old replica's last value by what
//! the new replica counted since that moment. The standby replica's samples, though not
//! stored, are remembered around the last stored time for that: its value at that time
//! is interpolated from its samples just before and after (rolled-up counters of both
//! replicas share their timestamps, so it is usually exact). A drop in the elected
//! replica's own counter (its restart without state) is spliced the same way, counted
//! from zero as `rate` would: the master's counter never resets.
//!
//! The trade-off: the stored counter is the first replica's count plus the later ones'
//! increases, so it is exact in `increase`/`rate` but not equal to any one replica's raw
//! value after a switch; and what neither replica saw (both down) is not counted.

use cardinal_model::Timestamp;
use parking_lot::Mutex;
use std::sync::Arc;

type Point = (Timestamp, f64);

/// How many of a standby replica's samples after the last stored time are kept: enough
/// for the replicas' arrival order to differ by a few scrapes.
const AHEAD: usize = 8;

/// A standby replica's raw samples around the last stored time: the newest at or before
/// it, and the first few after it (in time order).
struct Standby {
    replica: Arc<str>,
    before: Option<Point>,
    after: std::collections::VecDeque<Point>,
}

impl Standby {
    /// Notes a sample, the last stored time being `last_t`.
    fn note(&mut self, last_t: Option<Timestamp>, p: Point) {
        let lt = last_t.unwrap_or(i64::MAX);
        while self.after.front().is_some_and(|a| a.0 <= lt) {
            self.before = self.after.pop_front();
        }
        if p.0 <= lt {
            if self.before.is_none_or(|b| b.0 <= p.0) {
                self.before = Some(p);
            }
        } else if self.after.len() < AHEAD && self.after.back().is_none_or(|a| a.0 < p.0) {
            self.after.push_back(p);
        }
    }

    /// Its value at `t`: interpolated between its samples around `t`, or the nearest one.
    fn value_at(&self, t: Timestamp) -> Option<f64> {
        let at_or_before = self.after.iter().rev().find(|a| a.0 <= t).copied().or(self.before);
        let later = self.after.iter().find(|a| a.0 > t).copied();
        match (at_or_before, later) {
            (Some((tb, vb)), Some((ta, va))) if va >= vb => Some(vb + (va - vb) * (t - tb) as f64 / (ta - tb) as f64),
            (Some((_, v)), _) | (None, Some((_, v))) => Some(v),
            (None, None) => None,
        }
    }
}

#[derive(Default)]
struct State {
    /// The replica whose values are stored now.
    replica: Option<Arc<str>>,
    /// Added to its raw values.
    offset: f64,
    /// Its newest raw value, to spot a reset.
    last_raw: Option<f64>,
    /// The newest value stored.
    last: Option<Point>,
    standby: Vec<Standby>,
    /// The newest sample time seen, from any replica.
    newest: Timestamp,
}

/// One counter series' splice, shared by the handles of all its replicas.
#[derive(Default)]
pub struct Splice(Mutex<State>);

impl Splice {
    /// A splice continuing from `last`, the newest value stored before (after a restart
    /// of the master the head still has it).
    pub fn from_stored(last: Option<Point>) -> Splice {
        Splice(Mutex::new(State { last, newest: last.map_or(0, |l| l.0), ..State::default() }))
    }

    /// Stores the elected `replica`'s raw `(t, v)` through `write`, as spliced; the
    /// splice moves on only if `write` succeeds. A value that is not a number (a stale
    /// marker) or infinite is written as it is and leaves the splice alone: one such
    /// sample would otherwise poison the offset for good.
    pub fn store<E>(
        &self,
        replica: &Arc<str>,
        t: Timestamp,
        v: f64,
        write: impl FnOnce(f64) -> Result<(), E>,
    ) -> Result<(), E> {
        if !v.is_finite() {
            return write(v);
        }
        let mut st = self.0.lock();
        st.newest = st.newest.max(t);
        let offset = st.offset_for(replica, v);
        let out = v + offset;
        write(out)?;
        st.offset = offset;
        st.last_raw = Some(v);
        st.last = Some((t, out));
        if st.replica.as_ref() != Some(replica) {
            st.standby.retain(|s| s.replica != *replica);
            st.replica = Some(replica.clone());
        }
        Ok(())
    }

    /// The newest sample time seen, from any replica.
    pub fn newest(&self) -> Timestamp {
        self.0.lock().newest
    }

    /// `replica`'s raw value behind a stored `v` (`v` itself if it is not the one stored).
    pub fn raw(&self, replica: &Arc<str>, v: f64) -> f64 {
        let st = self.0.lock();
        if st.replica.as_ref() == Some(replica) { v - st.offset } else { v }
    }

    /// Notes a standby replica's raw sample (not stored; not a number or infinite: ignored).
    pub fn standby(&self, replica: &Arc<str>, t: Timestamp, v: f64) {
        if !v.is_finite() {
            return;
        }
        let mut st = self.0.lock();
        st.newest = st.newest.max(t);
        let last_t = st.last.map(|l| l.0);
        match st.standby.iter_mut().find(|s| s.replica == *replica) {
            Some(s) => s.note(last_t, (t, v)),
            None => {
                let mut s = Standby { replica: replica.clone(), before: None, after: Default::default() };
                s.note(last_t, (t, v));
                st.standby.push(s);
            }
        }
    }
}

impl State {
    /// The offset for `replica`'s raw `v`: the current one while nothing changed,
    /// else the one continuing the stored counter.
    fn offset_for(&self, replica: &Arc<str>, v: f64) -> f64 {
        let Some((last_t, last_v)) = self.last else { return self.offset };
        if self.replica.as_ref() == Some(replica) {
            // Its own reset: count on from zero.
            return match self.last_raw {
                Some(prev) if v < prev => last_v,
                _ => self.offset,
            };
        }
        // A switch: continue from the stored value by what this replica counted since.
        let then = self.standby.iter().find(|s| s.replica == *replica).and_then(|s| s.value_at(last_t));
        match then {
            Some(then) if v >= then => last_v - then,
            // Reset since then: count its value from zero.
            Some(_) => last_v,
            // Never seen before the switch: hold the stored value.
            None => last_v - v,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(s: &Splice, r: &Arc<str>, t: i64, v: f64) -> f64 {
        let mut out = f64::NAN;
        s.store::<()>(r, t, v, |x| {
            out = x;
            Ok(())
        })
        .unwrap();
        out
    }

    #[test]
    fn a_fail_over_continues_the_counter_by_what_the_new_replica_counted() {
        let (a, b) = (Arc::from("a"), Arc::from("b"));
        let s = Splice::default();
        // a counts from 1000, b (started later) from 10; both add 5 a step.
        for i in 0..5 {
            assert_eq!(store(&s, &a, i * 10, 1000.0 + 5.0 * i as f64), 1000.0 + 5.0 * i as f64);
            s.standby(&b, i * 10, 10.0 + 5.0 * i as f64);
        }
        // a falls silent after t=40 (1020); b goes on and is elected at t=80.
        for i in 5..8 {
            s.standby(&b, i * 10, 10.0 + 5.0 * i as f64);
        }
        assert_eq!(store(&s, &b, 80, 50.0), 1040.0, "1020 at t=40, plus b's 20 since");
        assert_eq!(store(&s, &b, 90, 55.0), 1045.0);
    }

    #[test]
    fn the_standby_value_at_the_switch_is_interpolated() {
        let (a, b) = (Arc::from("a"), Arc::from("b"));
        let s = Splice::default();
        store(&s, &a, 100, 500.0);
        s.standby(&b, 95, 40.0);
        s.standby(&b, 105, 50.0);
        s.standby(&b, 115, 60.0);
        assert_eq!(store(&s, &b, 125, 70.0), 525.0, "b was 45 at t=100");
    }

    #[test]
    fn resets_of_the_elected_replica_count_from_zero() {
        let a = Arc::from("a");
        let s = Splice::default();
        store(&s, &a, 0, 100.0);
        store(&s, &a, 10, 110.0);
        assert_eq!(store(&s, &a, 20, 3.0), 113.0);
        assert_eq!(store(&s, &a, 30, 8.0), 118.0);
    }

    #[test]
    fn a_replica_never_seen_before_holds_the_value_and_stale_markers_pass() {
        let (a, b) = (Arc::from("a"), Arc::from("b"));
        let s = Splice::default();
        store(&s, &a, 0, 100.0);
        let stale = f64::from_bits(cardinal_model::STALE_NAN_BITS);
        assert!(cardinal_model::is_stale_nan(store(&s, &a, 5, stale)));
        assert_eq!(store(&s, &b, 10, 7.0), 100.0);
        assert_eq!(store(&s, &b, 20, 9.0), 102.0);
    }

    #[test]
    fn values_that_are_not_numbers_or_infinite_pass_and_leave_the_offset_alone() {
        let (a, b) = (Arc::from("a"), Arc::from("b"));
        let s = Splice::default();
        store(&s, &a, 0, 100.0);
        s.standby(&b, 0, 10.0);
        assert!(store(&s, &a, 5, f64::NAN).is_nan());
        assert_eq!(store(&s, &a, 6, f64::INFINITY), f64::INFINITY);
        s.standby(&b, 7, f64::NAN);
        s.standby(&b, 8, f64::NEG_INFINITY);
        assert_eq!(store(&s, &a, 10, 104.0), 104.0);
        assert_eq!(store(&s, &b, 20, 16.0), 110.0, "b's 10 at t=10 (its last finite sample), +6");
        assert_eq!(s.newest(), 20);
    }

    #[test]
    fn a_failed_write_leaves_the_splice_as_it_was() {
        let (a, b) = (Arc::from("a"), Arc::from("b"));
        let s = Splice::from_stored(Some((0, 100.0)));
        assert!(s.store(&b, 10, 7.0, |_| Err(())).is_err());
        assert_eq!(store(&s, &a, 20, 9.0), 100.0, "a, never seen, continues from the stored value");
    }

    proptest::proptest! {
        /// Two replicas count the same increments from different starts, with switches,
        /// resets of the elected one and steps where it sends nothing: the stored counter
        /// never goes down, and grows by exactly the increments.
        #[test]
        fn the_stored_counter_never_resets_and_counts_every_increment(
            steps in proptest::collection::vec((0u8..10, 0u8..8), 1..200),
        ) {
            let names: [Arc<str>; 2] = [Arc::from("a"), Arc::from("b")];
            let mut raw = [1000.0, 10.0];
            let (s, mut elected, mut stored) = (Splice::default(), 0usize, Vec::new());
            // Increments since the first stored sample, as of the last one.
            let (mut counted, mut counted_stored, mut stored_last_step) = (0.0, 0.0, false);
            for (i, (inc, event)) in steps.into_iter().enumerate() {
                let (inc, t) = (inc as f64, i as i64 * 10);
                match event {
                    0 => elected = 1 - elected,
                    // A reset shows only when the counter comes back lower, and what it
                    // counted since its last stored sample is lost with it (as for any
                    // reader of a counter): reset only right after a stored sample.
                    1 if raw[elected] >= 10.0 && stored_last_step => raw[elected] = 0.0,
                    _ => {}
                }
                raw[0] += inc;
                raw[1] += inc;
                if !stored.is_empty() {
                    counted += inc;
                }
                s.standby(&names[1 - elected], t, raw[1 - elected]);
                stored_last_step = event != 2;
                if stored_last_step {
                    stored.push(store(&s, &names[elected], t, raw[elected]));
                    counted_stored = counted;
                }
            }
            proptest::prop_assert!(stored.windows(2).all(|w| w[1] >= w[0]), "{stored:?}");
            if let (Some(first), Some(last)) = (stored.first(), stored.last()) {
                proptest::prop_assert_eq!(last - first, counted_stored, "{:?}", stored);
            }
        }
    }
}
