use crate::checkpoint::{self, Writer};
use crate::rollups::Rollups;
use crate::rule::{Late, OutputSample, RuleState};
use cardinal_config::{Config, RollupRule};
use cardinal_model::{Labels, Timestamp, is_stale_nan};
use cardinal_tsdb::Head;
use proptest::prelude::*;
use std::sync::Arc;

/// Rules from a `rollup_rules:` YAML list, with a 10s grid and a 1s flush delay.
fn rules(yaml: &str) -> Vec<RollupRule> {
    let text = format!("global: {{evaluation_interval: 10s, scrape_timeout: 1s}}\nrollup_rules:\n{yaml}");
    Config::parse(&text, "test.yml").unwrap().rollups
}

fn rule(output: &str) -> RollupRule {
    rules(&format!("- {{record: 'federate:req_total', match: req_total, without: [pod], output: {output}}}\n"))
        .remove(0)
}

/// A rule started long enough ago that the window ending at 10s is its first.
fn fresh(output: &str) -> RuleState {
    RuleState::new(rule(output), -20_000)
}

fn pod(p: &str) -> Labels {
    Labels::from_pairs([("__name__", "req_total"), ("job", "mesh"), ("pod", p)])
}

fn feed(s: &mut RuleState, p: &str, t: Timestamp, v: f64) -> Option<Late> {
    let labels = pod(p);
    s.observe(labels.stable_hash(), &mut 0, t, v, || labels.clone(), |_| None)
}

fn flush(s: &mut RuleState, now: Timestamp) -> Vec<OutputSample> {
    let mut out = Vec::new();
    s.flush(now, &mut out);
    out
}

fn values(out: &[OutputSample]) -> Vec<(Timestamp, f64)> {
    out.iter().map(|(_, t, v)| (*t, *v)).collect()
}

#[test]
fn total_counts_new_pods_from_zero_and_absorbs_resets() {
    let mut s = fresh("total");
    feed(&mut s, "a", 5_000, 10.0); // new input: counts 10
    feed(&mut s, "a", 15_000, 25.0); // +15
    feed(&mut s, "b", 15_000, 3.0); // a new pod: counts 3
    feed(&mut s, "a", 25_000, 4.0); // reset: counts 4
    feed(&mut s, "b", 25_000, 5.0); // +2
    let out = flush(&mut s, 40_000);
    assert_eq!(values(&out), [(10_000, 10.0), (20_000, 28.0), (30_000, 34.0)]);
    assert_eq!(out[0].0, Labels::from_pairs([("__name__", "federate:req_total"), ("job", "mesh")]));
    assert_eq!(s.stats.counter_resets, 1);
}

/// Targets moving in from another shard (from 50s, for 20s) only set baselines, as does one
/// coming back after being away (more than three intervals); at their second sample they
/// add what they served since the hand-over began, at the rate between the two. One
/// scraped right through the reload counts on, and a pod first seen after the hand-over
/// counts from zero again.
#[test]
fn a_hand_over_takes_arriving_and_returning_inputs_as_baselines() {
    let mut s = fresh("total");
    feed(&mut s, "returns", 5_000, 100.0);
    for (t, v) in [(5_000, 10.0), (25_000, 20.0), (45_000, 30.0)] {
        feed(&mut s, "stays", t, v);
    }
    s.hand_over(50_000, 70_000);
    feed(&mut s, "stays", 55_000, 40.0); // +10
    feed(&mut s, "moved_in", 55_000, 500.0); // baseline
    feed(&mut s, "returns", 55_000, 300.0); // away since 5s: baseline
    feed(&mut s, "moved_in", 65_000, 505.0); // +5, and 0.5/s for the 5s before 55s: +2.5
    feed(&mut s, "returns", 65_000, 310.0); // +10, and 1/s for 5s: +5
    feed(&mut s, "new_pod", 75_000, 7.0); // after the hand-over: counts 7
    let out = flush(&mut s, 100_000);
    let want = [(10_000, 110.0), (30_000, 120.0), (50_000, 130.0), (60_000, 140.0), (70_000, 162.5), (80_000, 169.5)];
    assert_eq!(values(&out), want);
}

#[test]
fn total_prometheus_and_rates_take_first_samples_as_baselines() {
    let mut tp = fresh("total_prometheus");
    let mut rate = fresh("rate_sum");
    for s in [&mut tp, &mut rate] {
        feed(s, "a", 5_000, 10.0);
        feed(s, "a", 15_000, 30.0);
        feed(s, "b", 15_000, 100.0);
    }
    assert_eq!(values(&flush(&mut tp, 60_000)), [(10_000, 0.0), (20_000, 20.0)]);
    assert_eq!(values(&flush(&mut rate, 60_000)), [(10_000, 0.0), (20_000, 2.0)], "20 in a 10s window");
}

#[test]
fn the_first_window_holds_every_input_seen_before_it_ends() {
    // Started at 3s, mid-window: the window ending at 10s would hold pod a alone and
    // pod b's whole count would follow as a jump; both go into the one ending at 20s.
    let mut s = RuleState::new(rule("total"), 3_000);
    feed(&mut s, "a", 5_000, 100.0);
    feed(&mut s, "b", 12_000, 50.0);
    feed(&mut s, "a", 25_000, 110.0);
    assert_eq!(values(&flush(&mut s, 60_000)), [(20_000, 150.0), (30_000, 160.0)]);
}

#[test]
fn windows_are_written_only_after_the_flush_delay() {
    let mut s = fresh("total");
    feed(&mut s, "a", 9_000, 1.0);
    assert!(flush(&mut s, 10_500).is_empty(), "window (0,10s] waits until 11s");
    assert_eq!(values(&flush(&mut s, 11_000)), [(10_000, 1.0)]);
}

#[test]
fn a_late_increase_counts_in_the_next_window_and_a_late_gauge_is_dropped() {
    let mut total = fresh("total");
    let mut sum = fresh("sum");
    for s in [&mut total, &mut sum] {
        feed(s, "a", 5_000, 1.0);
        flush(s, 20_000);
    }
    assert_eq!(feed(&mut total, "a", 8_000, 3.0), Some(Late::Shifted));
    assert_eq!(feed(&mut sum, "a", 8_000, 3.0), Some(Late::Dropped));
    assert_eq!(values(&flush(&mut total, 60_000)), [(20_000, 3.0)], "the +2 is kept");
    assert!(flush(&mut sum, 60_000).iter().all(|(_, _, v)| is_stale_nan(*v)));
    assert_eq!((total.stats.late_shifted, sum.stats.late_dropped), (1, 1));
}

#[test]
fn gauge_outputs_aggregate_each_window() {
    let mut s = fresh("sum");
    feed(&mut s, "a", 2_000, 1.0);
    feed(&mut s, "a", 7_000, 4.0); // a's newest value in the window
    feed(&mut s, "b", 7_000, 2.0);
    feed(&mut s, "b", 12_000, 5.0);
    let out = flush(&mut s, 30_000);
    assert_eq!(values(&out), [(10_000, 6.0), (20_000, 5.0)]);
}

#[test]
fn a_vanished_group_gets_a_stale_marker_and_is_forgotten() {
    let mut r = rule("max");
    r.staleness_interval = std::time::Duration::from_secs(10);
    let mut s = RuleState::new(r, -20_000);
    feed(&mut s, "a", 5_000, 1.0);
    feed(&mut s, "a", 15_000, 1.0);
    feed(&mut s, "b", 25_000, 1.0); // same group, keeps the window alive
    let out = flush(&mut s, 60_000);
    assert_eq!(out.len(), 3);
    let mut c = fresh("count_series");
    feed(&mut c, "a", 5_000, 1.0);
    feed(&mut c, "b", 5_000, 1.0);
    assert_eq!(values(&flush(&mut c, 20_000)), [(10_000, 2.0)]);
    // A window with no samples writes nothing; the next one with samples finds the
    // group absent (another group's input) and marks it stale.
    let mut g = RuleState::new(
        rules("- {record: per_pod, match: req_total, by: [pod], output: last, staleness_interval: 10s}\n").remove(0),
        -20_000,
    );
    feed(&mut g, "a", 5_000, 1.0);
    feed(&mut g, "b", 25_000, 2.0);
    feed(&mut g, "b", 35_000, 2.0);
    let out = flush(&mut g, 60_000);
    let a: Vec<f64> = out.iter().filter(|(l, _, _)| l.get("pod") == Some("a")).map(|(_, _, v)| *v).collect();
    assert_eq!(a.len(), 2);
    assert!(is_stale_nan(a[1]), "{out:?}");
    assert_eq!(g.live_groups(), 1, "pod a's group is gone");
}

#[test]
fn a_group_without_saved_state_resumes_from_its_output_in_the_head() {
    let mut s = fresh("total");
    let labels = pod("a");
    // The output series already holds 500; the pod is at 120 when first seen again.
    s.observe(labels.stable_hash(), &mut 0, 5_000, 120.0, || labels.clone(), |_| Some(500.0));
    s.observe(labels.stable_hash(), &mut 0, 15_000, 130.0, || labels.clone(), |_| Some(500.0));
    assert_eq!(values(&flush(&mut s, 60_000)), [(10_000, 500.0), (20_000, 510.0)]);
    // After the grace period a new input counts from zero again.
    let mut late = fresh("total");
    late.observe(labels.stable_hash(), &mut 0, 120_000, 7.0, || labels.clone(), |_| Some(500.0));
    assert_eq!(values(&flush(&mut late, 200_000)), [(120_000, 507.0)]);
}

#[test]
fn checkpoint_round_trips_and_refuses_damage() {
    let (s, data) = saved_state();
    let saved = checkpoint::decode(&data).unwrap().remove(&crate::rule::rule_key(&s.rule)).unwrap();
    assert_eq!((saved.saved_at, &saved.windows), (12_000, &s.windows));
    let mut back = fresh("total");
    saved.restore_into(&mut back);
    assert_eq!(back.inputs, s.inputs);
    assert_eq!(back.groups, s.groups);
    assert_eq!((back.flushed, back.flushes), (s.flushed, s.flushes));
    for cut in [0, 3, 10, data.len() - 1] {
        assert!(checkpoint::decode(&data[..cut]).is_err(), "truncated at {cut}");
    }
    let mut flipped = data.clone();
    flipped[20] ^= 1;
    assert_eq!(checkpoint::decode(&flipped).err().as_deref(), Some("checksum mismatch"));
}

/// Saves `s` at `saved_at` and starts it again at `now`, as a new process would.
fn restart(s: &RuleState, saved_at: Timestamp, now: Timestamp) -> RuleState {
    let mut w = Writer::new(1, saved_at);
    w.rule(s);
    let mut saved = checkpoint::decode(&w.finish()).unwrap();
    let mut restarted = RuleState::new(s.rule.clone(), now);
    saved.remove(&crate::rule::rule_key(&s.rule)).unwrap().restore_into(&mut restarted);
    restarted
}

#[test]
fn a_window_cut_short_by_a_stop_counts_in_the_first_window_after_the_restart() {
    for output in ["total", "sum"] {
        let mut s = fresh(output);
        feed(&mut s, "a", 5_000, 10.0);
        feed(&mut s, "b", 5_000, 10.0);
        assert_eq!(values(&flush(&mut s, 11_000)), [(10_000, 20.0)]);
        // Pod a's next scrape lands in the window ending at 20s; the process stops before
        // pod b's, and is back at 16s.
        feed(&mut s, "a", 12_000, 15.0);
        let mut s = restart(&s, 13_000, 16_000);
        feed(&mut s, "a", 17_000, 20.0);
        feed(&mut s, "b", 17_000, 18.0);
        // Written at 20s, the total would be 25 while the pods had served 38: a dip in
        // any rate ending there. The first window after the restart reaches every pod.
        assert_eq!(values(&flush(&mut s, 60_000)), [(30_000, 38.0)], "{output}");
    }
}

/// One input's life: increments and resets, as a generator knows them.
#[derive(Clone, Debug)]
struct Life {
    start: i64,
    steps: Vec<(u32, Option<u32>)>,
}

impl Life {
    /// The samples the input exposes (one every 3s), and the count it really served:
    /// every increment, and after a reset the value it restarted to.
    fn samples(&self) -> (Vec<(Timestamp, f64)>, f64) {
        let (mut v, mut served, mut out) = (0.0, 0.0, Vec::new());
        for (k, (inc, reset)) in self.steps.iter().enumerate() {
            match reset {
                // A reset shows only as a drop: the counter restarts below its last value
                // (a restart that climbs past it before the next scrape is invisible to
                // anyone, Prometheus included).
                Some(r) if v > 0.0 => {
                    v = f64::from(*r) % v;
                    served += v;
                }
                _ => {
                    v += f64::from(*inc);
                    served += f64::from(*inc);
                }
            }
            out.push((self.start + k as i64 * 3_000, v));
        }
        (out, served)
    }
}

fn lives() -> impl Strategy<Value = Vec<Life>> {
    let step = (0u32..50, prop::option::weighted(0.1, 0u32..20));
    let life = (0i64..200_000, prop::collection::vec(step, 1..40)).prop_map(|(start, steps)| Life { start, steps });
    prop::collection::vec(life, 1..12)
}

/// Feeds every input's samples in time order, flushing at the given instants, with an
/// optional restart from a checkpoint after the `restart_at`-th flush.
fn run(lives: &[Life], flushes: &[i64], restart_at: Option<usize>) -> (Vec<OutputSample>, RuleState) {
    let mut all: Vec<(Timestamp, usize, f64)> = Vec::new();
    for (i, l) in lives.iter().enumerate() {
        all.extend(l.samples().0.into_iter().map(|(t, v)| (t, i, v)));
    }
    all.sort_by_key(|s| (s.0, s.1));
    let mut s = fresh("total");
    let mut out = Vec::new();
    let mut next = all.into_iter().peekable();
    for (n, &at) in flushes.iter().chain([&i64::MAX]).enumerate() {
        // Samples arrive up to the flush delay after their timestamp.
        while let Some((t, i, v)) = next.next_if(|s| s.0 + 1_000 <= at) {
            feed(&mut s, &format!("pod-{i}"), t, v);
        }
        s.flush(at, &mut out);
        if restart_at == Some(n) {
            s = restart(&s, at, at);
        }
    }
    (out, s)
}

proptest! {
    /// Whatever the resets, churn and flush times, the output counter never decreases
    /// and its final value is the inputs' true total increase.
    #[test]
    fn total_equals_the_true_increase(
        lives in lives(),
        mut flushes in prop::collection::vec(0i64..400_000, 0..20),
        restart in prop::option::of(0usize..20),
    ) {
        flushes.sort_unstable();
        let served: f64 = lives.iter().map(|l| l.samples().1).sum();
        let (out, _) = run(&lives, &flushes, restart);
        let totals: Vec<f64> = out.iter().map(|s| s.2).collect();
        prop_assert!(totals.windows(2).all(|w| w[1] >= w[0]), "monotonic: {totals:?}");
        prop_assert_eq!(totals.last().copied(), Some(served));
    }

    /// Flush timing changes nothing: outputs are a function of the input samples, so two
    /// collectors fed the same samples write the same values at the same instants.
    #[test]
    fn outputs_do_not_depend_on_flush_timing(lives in lives(), mut flushes in prop::collection::vec(0i64..400_000, 0..20)) {
        flushes.sort_unstable();
        let (a, _) = run(&lives, &flushes, None);
        let (b, _) = run(&lives, &[], None);
        prop_assert_eq!(values(&a), values(&b));
    }

    /// A state file damaged on disk (flipped bits, cut short) is refused, never read
    /// as some other state: the counters then resume from their written values.
    #[test]
    fn damaged_state_files_are_refused(
        flips in prop::collection::vec((any::<prop::sample::Index>(), 0u8..8), 1..4),
        cut in any::<prop::sample::Index>(),
    ) {
        let (_, data) = saved_state();
        let mut damaged = data.clone();
        for (at, bit) in &flips {
            damaged[at.index(data.len())] ^= 1 << bit;
        }
        // Flips that cancel out leave the file as it was.
        if damaged != data {
            let refused = checkpoint::decode(&damaged).err();
            prop_assert_eq!(refused.as_deref(), Some("checksum mismatch"));
        }
        prop_assert!(checkpoint::decode(&data[..cut.index(data.len())]).is_err());
    }

    /// Bytes that are not a state file are refused; bodies behind a valid checksum (what
    /// a bug in the writer would leave) are parsed without a panic or a huge allocation.
    #[test]
    fn any_bytes_are_refused_or_read_without_panic(data in prop::collection::vec(any::<u8>(), 0..512)) {
        prop_assert!(checkpoint::decode(&data).is_err());
        for version in [1u8, 2] {
            let mut framed = b"CRLS".to_vec();
            framed.extend_from_slice(&[version, 0, 0, 0]);
            framed.extend_from_slice(&data);
            let crc = crc32fast::hash(&framed);
            framed.extend_from_slice(&crc.to_le_bytes());
            let _ = checkpoint::decode(&framed);
        }
    }
}

/// A `total` rule with two inputs and an open window, and its state file.
fn saved_state() -> (RuleState, Vec<u8>) {
    let mut s = fresh("total");
    feed(&mut s, "a", 5_000, 10.0);
    feed(&mut s, "b", 15_000, 3.0);
    flush(&mut s, 12_000);
    let mut w = Writer::new(1, 12_000);
    w.rule(&s);
    let data = w.finish();
    (s, data)
}

fn head_with(yaml: &str) -> (Arc<Head>, Arc<Rollups>) {
    let head = Arc::new(Head::new());
    let engine = Rollups::open(head.clone(), None);
    head.set_observer(engine.clone());
    engine.apply(&rules(yaml), -20_000);
    (head, engine)
}

fn append(head: &Head, labels: &Labels, t: Timestamp, v: f64) {
    let (s, _) = head.get_or_create(labels);
    head.append(&s, t, v).unwrap();
}

fn head_values(head: &Head, name: &str) -> Vec<(Timestamp, f64)> {
    let m = cardinal_model::Matcher::equal("__name__", name);
    let mut out = Vec::new();
    for s in head.select(&[m]) {
        s.samples(i64::MIN, i64::MAX, &mut out);
    }
    out
}

const TOTAL_RULE: &str =
    "- {record: 'federate:req_total', match: 'req_total{job=\"mesh\"}', without: [pod], output: total}\n";

#[test]
fn the_engine_rolls_up_what_the_head_accepts_and_writes_back_into_it() {
    let (head, engine) = head_with(TOTAL_RULE);
    append(&head, &pod("a"), 5_000, 10.0);
    append(&head, &pod("b"), 5_000, 1.0);
    let other = Labels::from_pairs([("__name__", "req_total"), ("job", "other")]);
    append(&head, &other, 5_000, 1000.0);
    assert_eq!(engine.flush(20_000), 1);
    assert_eq!(head_values(&head, "federate:req_total"), [(10_000, 11.0)]);
    let status = engine.status();
    assert_eq!((status[0].stats.matched, status[0].inputs, status[0].outputs), (2, 2, 1));
}

#[test]
fn a_reload_keeps_unchanged_rules_and_retires_removed_ones() {
    let max_rule = "- {record: 'federate:req_max', match: req_total, without: [pod], output: max}\n";
    let (head, engine) = head_with(&format!("{TOTAL_RULE}{max_rule}"));
    append(&head, &pod("a"), 5_000, 10.0);
    engine.flush(20_000);
    engine.apply(&rules(TOTAL_RULE), 30_000);
    let max = head_values(&head, "federate:req_max");
    assert_eq!(max.len(), 2);
    assert!(is_stale_nan(max[1].1), "the removed rule's output is marked stale");
    // The kept rule remembers pod a's last value: only the +5 is added.
    append(&head, &pod("a"), 15_000, 15.0);
    engine.flush(40_000);
    assert_eq!(head_values(&head, "federate:req_total"), [(10_000, 10.0), (20_000, 15.0)]);
}

#[test]
fn a_restart_resumes_from_the_state_file() {
    let dir = tempfile::tempdir().unwrap();
    let start = |head: &Arc<Head>, now| {
        let e = Rollups::open(head.clone(), Some(dir.path().to_path_buf()));
        head.set_observer(e.clone());
        e.apply(&rules(TOTAL_RULE), now);
        e
    };
    let head = Arc::new(Head::new());
    let engine = start(&head, -20_000);
    append(&head, &pod("a"), 5_000, 10.0);
    append(&head, &pod("a"), 15_000, 20.0);
    engine.flush(12_000); // writes 10s, checkpoints with the 20s window open
    drop(engine);
    // A new process at 13s: the pod's counter went on to 50 meanwhile. The open window's
    // +10 and the +30 since count in its first window.
    let head2 = Arc::new(Head::new());
    let engine2 = start(&head2, 13_000);
    append(&head2, &pod("a"), 25_000, 50.0);
    engine2.flush(60_000);
    assert_eq!(head_values(&head2, "federate:req_total"), [(30_000, 50.0)]);
}

#[test]
fn rule_outputs_never_feed_rules() {
    // The output `{__name__="mesh_series", job="mesh"}` matches the rule's own selector.
    let (head, engine) =
        head_with("- {record: mesh_series, match: '{job=\"mesh\"}', by: [job], output: count_series}\n");
    append(&head, &pod("a"), 5_000, 1.0);
    engine.flush(20_000);
    engine.flush(40_000);
    assert_eq!(head_values(&head, "mesh_series"), [(10_000, 1.0)]);
}

#[test]
fn a_series_feeding_several_rules_feeds_each() {
    let two = format!("{TOTAL_RULE}- {{record: 'federate:req_max', match: req_total, without: [pod], output: max}}\n");
    let (head, engine) = head_with(&two);
    append(&head, &pod("a"), 5_000, 10.0);
    append(&head, &pod("b"), 5_000, 30.0);
    engine.flush(20_000);
    assert_eq!(head_values(&head, "federate:req_total"), [(10_000, 40.0)]);
    assert_eq!(head_values(&head, "federate:req_max"), [(10_000, 30.0)]);
}

#[test]
fn reapplying_the_same_rules_keeps_their_state_and_takes_a_new_flush_delay() {
    let (head, engine) = head_with(TOTAL_RULE);
    append(&head, &pod("a"), 5_000, 10.0);
    let mut slower = rules(TOTAL_RULE);
    slower[0].flush_delay = std::time::Duration::from_secs(30);
    engine.apply(&slower, 0);
    assert_eq!(engine.flush(20_000), 0, "the window ending at 10s now waits until 40s");
    append(&head, &pod("a"), 15_000, 15.0);
    engine.flush(60_000);
    assert_eq!(head_values(&head, "federate:req_total"), [(10_000, 10.0), (20_000, 15.0)]);
}
