//! One rollup rule's state: per input its last sample, per output group its running total,
//! and the windows not yet written out. Pure: time and label lookups come in as
//! arguments, so the engine, the tests and the checkpoint all drive the same machine.

pub use crate::inputs::{Input, Inputs};
use crate::window::{Acc, first_sample_counts, from_increases, is_cumulative};
use cardinal_config::{Grouping, RollupRule};
use cardinal_model::{Labels, LabelsBuilder, Timestamp, labels::METRIC_NAME, stale_nan};
use std::collections::{HashMap, HashSet};

/// One output series.
#[derive(Clone, Debug, PartialEq)]
pub struct Group {
    pub labels: Labels,
    /// The running total of a cumulative output.
    pub total: f64,
    /// Inputs currently feeding the group.
    pub inputs: u32,
    /// Whether the last flushed window wrote a value (so a missing one gets a stale marker).
    pub emitted: bool,
    /// The group continues an output series found in the head without saved state: its
    /// inputs' first samples before `RuleState::resume_until` are baselines, not increases.
    pub resumed: bool,
}

/// Why a sample was not counted where it belongs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Late {
    /// Its window was already written; its increase was counted in the oldest open one.
    Shifted,
    /// Its window was already written and the output cannot use it elsewhere.
    Dropped,
}

/// Counters a rule keeps about its input.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RuleStats {
    pub matched: u64,
    pub counter_resets: u64,
    pub late_shifted: u64,
    pub late_dropped: u64,
    pub out_of_order: u64,
}

/// A sample to write to the head.
pub type OutputSample = (Labels, Timestamp, f64);

pub struct RuleState {
    pub rule: RollupRule,
    step: i64,
    pub inputs: Inputs,
    pub groups: Vec<Option<Group>>,
    group_index: HashMap<Labels, u32>,
    /// Open windows by end time, oldest first; each holds one accumulator per group index.
    pub windows: Vec<(Timestamp, Vec<Acc>)>,
    /// End of the newest window written out.
    pub flushed: Timestamp,
    /// Windows written out so far: the clock inputs age by.
    pub flushes: u32,
    pub resume_until: Timestamp,
    /// The first window this process writes: everything seen before it ends goes into it,
    /// so that it holds every input, not just those whose first scrape came early.
    first_window: Timestamp,
    /// When the state this process resumed from was saved: samples up to then went into
    /// the previous process's windows.
    resumed_at: Timestamp,
    /// A hand-over of targets between sharded collectors, from and until when (sample
    /// time): inputs arriving in it, or coming back to this shard, set baselines (`hand_over`).
    handover: (Timestamp, Timestamp),
    /// Inputs that set a baseline in the hand-over, until their second sample.
    arrived: HashSet<u64>,
    pub stats: RuleStats,
}

impl RuleState {
    /// A rule with no history, started at `now`. Its first window is the one after the
    /// current one: a window half over when the process started would hold only some
    /// inputs, and the rest would arrive in the next as one jump.
    pub fn new(rule: RollupRule, now: Timestamp) -> RuleState {
        let step = (rule.interval.as_millis() as i64).max(1);
        let first_window = now.div_euclid(step).saturating_add(2).saturating_mul(step);
        RuleState {
            first_window,
            resumed_at: Timestamp::MIN,
            resume_until: now.saturating_add((2 * step).max(60_000)),
            handover: (Timestamp::MIN, Timestamp::MIN),
            arrived: HashSet::new(),
            rule,
            step,
            inputs: Inputs::default(),
            groups: Vec::new(),
            group_index: HashMap::new(),
            windows: Vec::new(),
            flushed: Timestamp::MIN,
            flushes: 0,
            stats: RuleStats::default(),
        }
    }

    /// Targets may be moving to this collector from another shard, from `from` until
    /// `until`: another shard's rollups counted their history, so an input arriving in that
    /// time only sets its baseline, and so does one coming back (not seen for three
    /// intervals before `from`) instead of counting its increase while it was away. What
    /// it served between `from` (about when the other shard stopped scraping it) and its
    /// first scrape here is counted at its second, at the rate between the two.
    pub fn hand_over(&mut self, from: Timestamp, until: Timestamp) {
        self.handover = (from, until.max(from.saturating_add(2 * self.step)));
        self.arrived.clear();
    }

    /// For an input known before: `back`, it set a baseline now; or, at its second
    /// sample after one, the increase it made between the hand-over's start and its
    /// baseline `first`, at the rate it grows by from there to `now`.
    fn arrival(&mut self, key: u64, back: bool, first: (Timestamp, f64), now: (Timestamp, f64)) -> f64 {
        if back {
            self.arrived.insert(key);
            return 0.0;
        }
        if self.arrived.is_empty() || !self.arrived.remove(&key) {
            return 0.0;
        }
        let (since_start, between) = ((first.0 - self.handover.0).max(0), now.0 - first.0);
        if now.1 < first.1 || between <= 0 {
            return 0.0;
        }
        (now.1 - first.1) * since_start as f64 / between as f64
    }

    fn handing_over(&self, t: Timestamp) -> bool {
        (self.handover.0..self.handover.1).contains(&t)
    }

    /// Rebuilds the group index after groups were restored from a checkpoint.
    pub fn reindex(&mut self) {
        self.group_index =
            self.groups.iter().enumerate().filter_map(|(i, g)| Some((g.as_ref()?.labels.clone(), i as u32))).collect();
    }

    /// Takes one sample of input `key`, whose state is looked for first at `*slot` and
    /// whose slot is left there. `labels` gives the input's labels (only called for an
    /// input the rule does not know yet); `existing` gives an output series' newest value
    /// in the head, for resuming a group whose state was lost.
    pub fn observe(
        &mut self,
        key: u64,
        slot: &mut u32,
        t: Timestamp,
        v: f64,
        labels: impl FnOnce() -> Labels,
        existing: impl FnOnce(&Labels) -> Option<f64>,
    ) -> Option<Late> {
        if v.is_nan() {
            // A stale marker: the input is gone; its last value has been counted.
            return None;
        }
        self.stats.matched += 1;
        let output = self.rule.output;
        let mut window = window_end(t, self.step).max(self.first_window);
        let mut late = None;
        if window <= self.flushed {
            if !from_increases(output) {
                self.stats.late_dropped += 1;
                if let Some(i) = self.inputs.get_mut(key, slot) {
                    (i.last_v, i.last_t, i.seen) = (v, t, self.flushes);
                }
                return Some(Late::Dropped);
            }
            self.stats.late_shifted += 1;
            window = self.flushed + self.step;
            late = Some(Late::Shifted);
        }
        let handing_over = self.handing_over(t);
        let came_back_before = self.handover.0.saturating_sub(3 * self.step);
        if let Some(i) = self.inputs.get_mut(key, slot) {
            if t <= i.last_t {
                self.stats.out_of_order += 1;
                return None;
            }
            let back = handing_over && i.last_t < came_back_before;
            let delta = if back {
                0.0
            } else if v >= i.last_v {
                v - i.last_v
            } else {
                self.stats.counter_resets += 1;
                v
            };
            let (prev_t, prev_v, group) = (i.last_t, i.last_v, i.group);
            *i = Input { last_v: v, last_t: t, group, seen: self.flushes };
            let delta = delta + self.arrival(key, back, (prev_t, prev_v), (t, v));
            let prev_in_window = (self.window_of(prev_t) == Some(window)).then_some(prev_v);
            self.add_to_window(window, group, delta, v, prev_in_window, t);
        } else {
            let group = self.group_for(&labels(), existing);
            let g = self.groups[group as usize].as_mut().expect("live group");
            g.inputs += 1;
            let baseline = !first_sample_counts(output) || (g.resumed && t < self.resume_until) || handing_over;
            if handing_over && first_sample_counts(output) {
                self.arrived.insert(key);
            }
            *slot = self.inputs.insert(key, Input { last_v: v, last_t: t, group, seen: self.flushes });
            self.add_to_window(window, group, if baseline { 0.0 } else { v }, v, None, t);
        }
        late
    }

    /// After a restart from state saved at `saved_at`: the windows ending later were cut
    /// short by the stop, and the rest of their inputs' samples arrive after the restart.
    /// Written at their own end they would show a total short of what had happened by
    /// then (a dip in every `rate` ending there), so their increases go into this
    /// process's first window, which every input reaches; a gauge's partial window is
    /// dropped, leaving the gap the stop made.
    pub fn resume_cut_windows(&mut self, saved_at: Timestamp) {
        self.resumed_at = saved_at;
        let cut = self.windows.split_off(self.windows.partition_point(|w| w.0 <= saved_at));
        let Some(&(last_end, _)) = cut.last() else { return };
        if !from_increases(self.rule.output) {
            return;
        }
        self.first_window = self.first_window.max(last_end);
        let mut merged = vec![Acc::default(); self.groups.len()];
        for (_, accs) in &cut {
            merged.iter_mut().zip(accs).for_each(|(m, a)| m.absorb_increases(a));
        }
        self.windows.push((self.first_window, merged));
    }

    /// The window a sample at `t` went into, if it is still open: for a sample from
    /// before a restart, its own window unless the stop cut that short (then the first
    /// window holds its increase, or nothing of a gauge).
    fn window_of(&self, t: Timestamp) -> Option<Timestamp> {
        let own = window_end(t, self.step);
        if t > self.resumed_at {
            Some(own.max(self.first_window))
        } else if own <= self.resumed_at {
            Some(own)
        } else {
            from_increases(self.rule.output).then_some(self.first_window)
        }
    }

    fn add_to_window(&mut self, end: Timestamp, group: u32, delta: f64, v: f64, prev: Option<f64>, t: Timestamp) {
        // Nearly every sample goes to the newest window.
        let i = match self.windows.last() {
            Some(w) if w.0 == end => self.windows.len() - 1,
            _ => self.window_index(end),
        };
        let n = self.groups.len();
        let accs = &mut self.windows[i].1;
        if accs.len() < n {
            accs.resize(n, Acc::default());
        }
        accs[group as usize].add(delta, v, prev, t);
    }

    fn window_index(&mut self, end: Timestamp) -> usize {
        match self.windows.binary_search_by_key(&end, |w| w.0) {
            Ok(i) => i,
            Err(i) => {
                self.windows.insert(i, (end, Vec::new()));
                i
            }
        }
    }

    /// The output labels for an input: grouped, renamed, with the rule's labels.
    pub fn output_labels(&self, input: &Labels) -> Labels {
        let mut b = LabelsBuilder::new(input.clone());
        match &self.rule.grouping {
            Grouping::By(keep) => b.retain(|l| keep.iter().any(|k| *k == *l.name)),
            Grouping::Without(drop) => b.retain(|l| !drop.iter().any(|d| *d == *l.name)),
        };
        for (k, v) in &self.rule.labels {
            b.set(k.as_str(), v.as_str());
        }
        b.set(METRIC_NAME, self.rule.record.as_str());
        b.build()
    }

    fn group_for(&mut self, input: &Labels, existing: impl FnOnce(&Labels) -> Option<f64>) -> u32 {
        let labels = self.output_labels(input);
        if let Some(&g) = self.group_index.get(&labels) {
            return g;
        }
        let resumed_from = if is_cumulative(self.rule.output) { existing(&labels) } else { None };
        let group = Group {
            labels: labels.clone(),
            total: resumed_from.unwrap_or(0.0),
            inputs: 0,
            emitted: false,
            resumed: resumed_from.is_some(),
        };
        let index = match self.groups.iter().position(Option::is_none) {
            Some(free) if self.windows.iter().all(|w| w.1.get(free).is_none_or(Acc::is_empty)) => {
                self.groups[free] = Some(group);
                free
            }
            _ => {
                self.groups.push(Some(group));
                self.groups.len() - 1
            }
        } as u32;
        self.group_index.insert(labels, index);
        index
    }

    /// Writes out every window that ended at least `flush_delay` before `now`, oldest
    /// first, appending the output samples to `out`.
    pub fn flush(&mut self, now: Timestamp, out: &mut Vec<OutputSample>) {
        let delay = self.rule.flush_delay.as_millis() as i64;
        while self.windows.first().is_some_and(|w| w.0 + delay <= now) {
            let (end, accs) = self.windows.remove(0);
            self.write_window(end, &accs, out);
            self.flushed = end;
            self.flushes = self.flushes.wrapping_add(1);
            self.forget_stale_inputs();
        }
    }

    fn write_window(&mut self, end: Timestamp, accs: &[Acc], out: &mut Vec<OutputSample>) {
        let output = self.rule.output;
        let step_secs = self.step as f64 / 1000.0;
        for (i, slot) in self.groups.iter_mut().enumerate() {
            let Some(g) = slot else { continue };
            let acc = accs.get(i).filter(|a| !a.is_empty());
            let value = if is_cumulative(output) {
                g.total += acc.map_or(0.0, |a| a.delta);
                (g.inputs > 0 || acc.is_some()).then_some(g.total)
            } else {
                acc.and_then(|a| a.value(output, step_secs))
            };
            match value {
                Some(v) => out.push((g.labels.clone(), end, v)),
                None if g.emitted => out.push((g.labels.clone(), end, stale_nan())),
                None => {}
            }
            g.emitted = value.is_some();
        }
    }

    /// Drops inputs unseen for `staleness_interval` and the groups nothing feeds any more
    /// once their output has been marked stale.
    fn forget_stale_inputs(&mut self) {
        let max_age = (self.rule.staleness_interval.as_millis() as i64 / self.step).max(1) as u32;
        let now = self.flushes;
        let groups = &mut self.groups;
        self.inputs.retain(|i| {
            let keep = now.wrapping_sub(i.seen) <= max_age;
            if !keep && let Some(g) = groups[i.group as usize].as_mut() {
                g.inputs = g.inputs.saturating_sub(1);
            }
            keep
        });
        for slot in groups.iter_mut() {
            if slot.as_ref().is_some_and(|g| g.inputs == 0 && !g.emitted) {
                let g = slot.take().expect("checked");
                self.group_index.remove(&g.labels);
            }
        }
    }

    /// Stale markers for every output series the rule last wrote: for a rule removed by a
    /// reload.
    pub fn retire(&self, now: Timestamp, out: &mut Vec<OutputSample>) {
        for g in self.groups.iter().flatten().filter(|g| g.emitted) {
            out.push((g.labels.clone(), now, stale_nan()));
        }
    }

    /// Approximate memory of the per-input state.
    pub fn input_state_bytes(&self) -> usize {
        self.inputs.state_bytes()
    }

    pub fn live_groups(&self) -> usize {
        self.groups.iter().flatten().count()
    }
}

/// The end of the window `t` falls in: windows are `(end - step, end]` on a grid from the
/// Unix epoch, so every collector cuts them at the same instants.
fn window_end(t: Timestamp, step: i64) -> Timestamp {
    let floor = t.div_euclid(step) * step;
    if floor == t { t } else { floor + step }
}

/// The rule's identity for keeping its state across reloads and restarts: any change to
/// what it computes starts it afresh.
pub fn rule_key(r: &RollupRule) -> String {
    format!(
        "{}|{}|{:?}|{:?}|{:?}|{:?}|{:?}",
        r.record, r.selector.text, r.grouping, r.output, r.interval, r.staleness_interval, r.labels
    )
}
