//! Range queries, series at a time. Evaluated step by step, a dashboard query such as
//! `sum by (w) (rate(x[5m]))` over 30 days at a 60 s step repeats, at each of 43,200
//! steps and for every series, two binary searches, a copy of the window, a new label set
//! without the metric name and a group lookup. Here the subtrees made only of range
//! functions over a selector and parameterless aggregations of them are evaluated over
//! every step at once: each series' windows slide forward over its samples, labels and
//! groups are worked out once per series, and the values come from the same per-window
//! and per-group functions the step-by-step evaluator uses, in the same order, so the
//! results are the same to the bit.
//!
//! An aggregation directly over a range function, the dashboard's usual shape, goes
//! further: the steps are split between the cores, and each folds every series' values
//! into its groups' running states as it computes them, so no series' points are held
//! (a 30-day query at a 60 s step over 1,000 series would hold 43 million).
//!
//! What the rest of the query needs from such a subtree (a binary operation, or
//! `histogram_quantile`, above it) it reads step by step from the precomputed series.

use crate::aggregate::Grouping;
use crate::engine::{Ctx, QueryError, Result};
use crate::functions::{Extrapolation, Span, WindowFn, extrapolate, window_fn};
use crate::running_aggregation::{Fold, Op};
use crate::storage::LazySeries;
use crate::value::{Sample, Series};
use cardinal_model::{Labels, Timestamp, is_stale_nan};
use promql_parser::parser::{AggregateExpr, Call, Expr, MatrixSelector};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// The steps of a range query.
#[derive(Clone, Copy)]
pub(crate) struct Grid {
    pub start: Timestamp,
    pub step: i64,
    pub n: usize,
}

impl Grid {
    pub fn new(start: Timestamp, end: Timestamp, step: i64) -> Self {
        let n = if end < start { 0 } else { ((end - start) / step + 1) as usize };
        Grid { start, step, n }
    }

    fn at(&self, i: usize) -> Timestamp {
        self.start + i as i64 * self.step
    }

    /// The grid cut into `parts` consecutive spans of steps (fewer if it has fewer steps).
    fn split(&self, parts: usize) -> Vec<Grid> {
        let per = self.n.div_ceil(parts.max(1)).max(1);
        (0..self.n)
            .step_by(per)
            .map(|first| Grid { start: self.at(first), step: self.step, n: per.min(self.n - first) })
            .collect()
    }
}

/// A subtree's output series (a point at each step it has a value), read back step by
/// step.
pub(crate) struct Precomputed {
    series: Vec<Series>,
    cursors: Mutex<Cursors>,
}

impl Precomputed {
    fn new(series: Vec<Series>) -> Self {
        let cursors = Mutex::new(Cursors::new(series.len()));
        Precomputed { series, cursors }
    }

    /// The subtree's value at step time `t`.
    pub fn at(&self, t: Timestamp) -> Vec<Sample> {
        let mut out = Vec::new();
        self.cursors.lock().expect("cursors").visit(&self.series, t, |i, v| {
            out.push(Sample { labels: self.series[i].labels.clone(), t, v });
        });
        out
    }
}

/// A read position in each of some step-aligned series, to read them step by step.
struct Cursors(Vec<usize>);

impl Cursors {
    fn new(n: usize) -> Self {
        Cursors(vec![0; n])
    }

    /// Calls `f(i, v)` for each series `i` with a point at `t`, in series order. Steps come
    /// in order, so each position only moves forward; an earlier time is found by binary
    /// search.
    fn visit(&mut self, series: &[Series], t: Timestamp, mut f: impl FnMut(usize, f64)) {
        for (i, (s, c)) in series.iter().zip(self.0.iter_mut()).enumerate() {
            if *c > 0 && s.points[*c - 1].0 >= t {
                *c = s.points.partition_point(|p| p.0 < t);
            }
            while s.points.get(*c).is_some_and(|p| p.0 < t) {
                *c += 1;
            }
            if let Some(&(pt, v)) = s.points.get(*c)
                && pt == t
            {
                f(i, v);
                *c += 1;
            }
        }
    }
}

impl Ctx<'_> {
    /// Before a range query steps: evaluates the largest subtrees this module handles
    /// over the whole grid. Returns the root's series if the root is one of them.
    pub(crate) fn precompute(&mut self, e: &Expr, grid: Grid) -> Result<Option<Vec<Series>>> {
        if let Some(series) = self.over_grid(e, grid)? {
            return Ok(Some(series));
        }
        let mut found = HashMap::new();
        self.precompute_children(e, grid, &mut found)?;
        self.precomputed = found;
        Ok(None)
    }

    fn precompute_children(&self, e: &Expr, grid: Grid, found: &mut HashMap<usize, Precomputed>) -> Result<()> {
        let mut visit = |child: &Expr| -> Result<()> {
            match self.over_grid(child, grid)? {
                Some(series) => {
                    // Held for the rest of the query, which reads it step by step.
                    self.hold(series.iter().map(|s| s.points.len()).sum())?;
                    found.insert(child as *const Expr as usize, Precomputed::new(series));
                    Ok(())
                }
                None => self.precompute_children(child, grid, found),
            }
        };
        match e {
            Expr::Aggregate(a) => visit(&a.expr),
            Expr::Unary(u) => visit(&u.expr),
            Expr::Binary(b) => visit(&b.lhs).and_then(|_| visit(&b.rhs)),
            Expr::Paren(p) => visit(&p.expr),
            Expr::Call(c) => c.args.args.iter().try_for_each(|a| visit(a)),
            // A subquery's inner steps are not the query's: it stays step by step.
            _ => Ok(()),
        }
    }

    /// The series `e` gives at every step, if it is a subtree this module handles. Each
    /// has a point at one step at least.
    fn over_grid(&self, e: &Expr, grid: Grid) -> Result<Option<Vec<Series>>> {
        match e {
            Expr::Paren(p) => self.over_grid(&p.expr, grid),
            Expr::Call(c) => match (window_fn(c.func.name), matrix_arg(c)) {
                (Some(w), Some(ms)) => self.windows_over_grid(ms, &w, grid),
                _ => Ok(None),
            },
            Expr::Aggregate(a) if a.param.is_none() => match self.fused_over_grid(a, grid)? {
                Some(series) => Ok(Some(series)),
                None => self.aggregate_over_grid(a, grid),
            },
            _ => Ok(None),
        }
    }

    /// A range function over a selector: per series, the window slides along its samples.
    /// `None` if two outputs would share a label set (the step-by-step evaluator then
    /// gives Prometheus's error where they meet). Series are independent, so each core
    /// takes its share of them, decoding each as it comes to it.
    fn windows_over_grid(&self, ms: &MatrixSelector, w: &WindowFn, grid: Grid) -> Result<Option<Vec<Series>>> {
        let windows = self.windows(ms, w, grid);
        let mut loaded = vec![0usize; grid.n];
        let mut out = Vec::new();
        for part in in_parallel(self.selected_lazy(&ms.vs), MIN_SERIES_PER_THREAD, |part| windows.over(part)) {
            let (series, n) = part?;
            out.extend(series);
            loaded.iter_mut().zip(n).for_each(|(a, b)| *a += b);
        }
        self.check_loaded(&loaded)?;
        Ok(unique(out.iter().map(|s| &s.labels)).then_some(out))
    }

    fn windows<'w>(&self, ms: &MatrixSelector, w: &'w WindowFn, grid: Grid) -> Windows<'w> {
        let ends: Vec<Timestamp> =
            (0..grid.n).map(|i| self.effective_time(&ms.vs.at, &ms.vs.offset, grid.at(i))).collect();
        let range = ms.range.as_millis() as i64;
        // Ends never decrease (`@` fixes them, `offset` shifts them all alike).
        let visible = ends.first().zip(ends.last()).map(|(first, last)| (first - range + 1, *last));
        Windows { w, grid, ends, range, visible, deadline: self.deadline }
    }

    /// Checks each step's load beside what the query holds.
    fn check_loaded(&self, loaded: &[usize]) -> Result<()> {
        loaded.iter().try_for_each(|n| self.within_max(*n))
    }

    /// A parameterless aggregation of a range function over a selector, the dashboard's
    /// `sum by (…) (rate(x[5m]))`, without holding every series' points: each core takes
    /// a span of the steps, and in it, series after series (in order), decodes the
    /// samples, slides the windows and folds each value into its group's state at that
    /// step. Each group's values at a step are folded in series order, as the
    /// step-by-step evaluator folds them. `None` if the shape differs or two series'
    /// outputs would share a label set.
    fn fused_over_grid(&self, a: &AggregateExpr, grid: Grid) -> Result<Option<Vec<Series>>> {
        let (Some(op), Expr::Call(c)) = (Op::parse(&a.op.to_string()), unparen(&a.expr)) else { return Ok(None) };
        let (Some(w), Some(ms)) = (window_fn(c.func.name), matrix_arg(c)) else { return Ok(None) };
        let series = self.selected_lazy(&ms.vs);
        let labels: Vec<Labels> =
            series.iter().map(|s| if w.drop_name { s.labels.without_name() } else { s.labels.clone() }).collect();
        if !unique(labels.iter()) {
            return Ok(None);
        }
        let (keys, group_of) = groups(labels.iter(), &Grouping::from(&a.modifier));
        // Group by group, so that a group's states stay in cache while its series fold
        // into them; within a group the series keep their order, which is all the fold's
        // result depends on.
        let mut order: Vec<usize> = (0..series.len()).collect();
        order.sort_by_key(|&i| group_of[i]);
        let spans = grid.split(threads_for(grid.n, MIN_STEPS_PER_THREAD));
        let n_groups = keys.len();
        let folded = in_parallel(&spans, 1, |spans| {
            let fold = |&span| self.fold_span(series, &order, &group_of, n_groups, op, &self.windows(ms, &w, span));
            spans.iter().map(fold).collect::<Vec<_>>()
        });
        let mut out: Vec<Series> = keys.into_iter().map(|labels| Series { labels, points: Vec::new() }).collect();
        let mut loaded = Vec::with_capacity(grid.n);
        for span in folded.into_iter().flatten() {
            let (points, n) = span?;
            out.iter_mut().zip(points).for_each(|(s, p)| s.points.extend(p));
            loaded.extend(n);
        }
        self.check_loaded(&loaded)?;
        out.retain(|s| !s.points.is_empty());
        Ok(Some(out))
    }

    /// One span of [`Self::fused_over_grid`]: each group's points in the span, and how
    /// many samples each step's windows held.
    /// Series are taken in `order`.
    fn fold_span(
        &self,
        series: &[LazySeries],
        order: &[usize],
        group_of: &[usize],
        groups: usize,
        op: Op,
        windows: &Windows,
    ) -> Result<SpanFolded> {
        let n = windows.grid.n;
        let mut state = vec![Fold::default(); groups * n];
        let mut loaded = vec![0usize; n];
        let mut samples = Vec::new();
        for &i in order {
            let (s, g) = (&series[i], group_of[i]);
            windows.check_deadline()?;
            windows.decode(s, &mut samples);
            let row = &mut state[g * n..(g + 1) * n];
            windows.each(&samples, &mut loaded, |i, v| row[i].push(op, v));
        }
        let points = state
            .chunks(n.max(1))
            .map(|row| {
                row.iter()
                    .enumerate()
                    .filter(|(_, f)| f.n > 0.0)
                    .map(|(i, f)| (windows.grid.at(i), f.finish(op)))
                    .collect()
            })
            .collect();
        Ok((points, loaded))
    }

    /// A parameterless aggregation: groups are formed once, then each step reduces the
    /// values its series have there, in series order (as the step-by-step evaluator's).
    fn aggregate_over_grid(&self, a: &AggregateExpr, grid: Grid) -> Result<Option<Vec<Series>>> {
        let Some(op) = Op::parse(&a.op.to_string()) else { return Ok(None) };
        let Some(input) = self.over_grid(&a.expr, grid)? else { return Ok(None) };
        let (keys, group_of) = groups(input.iter().map(|s| &s.labels), &Grouping::from(&a.modifier));
        let mut out: Vec<Series> = keys.into_iter().map(|labels| Series { labels, points: Vec::new() }).collect();
        let mut cursors = Cursors::new(input.len());
        let mut state = vec![Fold::default(); out.len()];
        let mut touched = Vec::new();
        for i in 0..grid.n {
            let t = grid.at(i);
            cursors.visit(&input, t, |s, v| {
                let g = group_of[s];
                if state[g].n == 0.0 {
                    touched.push(g);
                }
                state[g].push(op, v);
            });
            for g in touched.drain(..) {
                out[g].points.push((t, state[g].finish(op)));
                state[g] = Fold::default();
            }
        }
        out.retain(|s| !s.points.is_empty());
        Ok(Some(out))
    }
}

/// The groups of some series' labels, in first-seen order, and each series' group.
fn groups<'a>(labels: impl Iterator<Item = &'a Labels>, grouping: &Grouping) -> (Vec<Labels>, Vec<usize>) {
    cardinal_model::labels::group_by(labels, |name| grouping.keeps(name))
}

/// What one span of a fused aggregation gives: each group's points, and how many samples
/// each step's windows held.
type SpanFolded = (Vec<Vec<(Timestamp, f64)>>, Vec<usize>);

/// One range function applied at every step of a grid, the window of step `i` ending at
/// `ends[i]` (the step's time after `@` and `offset`).
struct Windows<'a> {
    w: &'a WindowFn,
    grid: Grid,
    ends: Vec<Timestamp>,
    range: i64,
    /// The times any window sees, `[first, last]`; `None` for a grid without steps.
    visible: Option<(Timestamp, Timestamp)>,
    deadline: Instant,
}

impl Windows<'_> {
    /// The output series of `series` (those with a value at some step), and how many
    /// samples each step's windows held.
    fn over(&self, series: &[LazySeries]) -> Result<(Vec<Series>, Vec<usize>)> {
        let mut loaded = vec![0usize; self.grid.n];
        let mut out = Vec::new();
        let mut samples = Vec::new();
        for s in series {
            self.check_deadline()?;
            self.decode(s, &mut samples);
            let mut points = Vec::new();
            self.each(&samples, &mut loaded, |i, v| points.push((self.grid.at(i), v)));
            if !points.is_empty() {
                let labels = if self.w.drop_name { s.labels.without_name() } else { s.labels.clone() };
                out.push(Series { labels, points });
            }
        }
        Ok((out, loaded))
    }

    fn check_deadline(&self) -> Result<()> {
        if Instant::now() > self.deadline {
            return Err(QueryError::Timeout);
        }
        Ok(())
    }

    /// Replaces `out` with the samples of `s` any of the windows can see, stale markers
    /// left out (a range function ignores them).
    fn decode(&self, s: &LazySeries, out: &mut Vec<(Timestamp, f64)>) {
        out.clear();
        if let Some((first, last)) = self.visible {
            s.samples(first, last, out);
            out.retain(|p| !is_stale_nan(p.1));
        }
    }

    /// Calls `f(i, v)` for each step `i` whose window over `samples` gives a value, in
    /// step order.
    fn each(&self, samples: &[(Timestamp, f64)], loaded: &mut [usize], mut f: impl FnMut(usize, f64)) {
        match self.w.extrapolation {
            Some(how) => self.each_extrapolated(samples, loaded, how, f),
            None => self.each_window(samples, loaded, |i, lo, hi| {
                if let Some(v) = (self.w.f)(&samples[lo..hi], self.ends[i] - self.range, self.ends[i]) {
                    f(i, v);
                }
            }),
        }
    }

    /// Slides the windows over `samples`: calls `f(i, lo, hi)` for each step `i` whose
    /// window holds `samples[lo..hi]`, not empty, and counts what each holds.
    fn each_window(&self, samples: &[(Timestamp, f64)], loaded: &mut [usize], mut f: impl FnMut(usize, usize, usize)) {
        let (mut lo, mut hi) = (0, 0);
        for (i, (&end, n)) in self.ends.iter().zip(loaded.iter_mut()).enumerate() {
            while hi < samples.len() && samples[hi].0 <= end {
                hi += 1;
            }
            while lo < hi && samples[lo].0 <= end - self.range {
                lo += 1;
            }
            *n += hi - lo;
            if lo < hi {
                f(i, lo, hi);
            }
        }
    }

    /// [`Self::each`] for `rate`, `increase` and `delta`, in two passes per block of
    /// steps: each window is summarised (its ends, and its counter resets from one scan
    /// of the series rather than one of every window), then the block is extrapolated in
    /// a loop of nothing else (see [`SpanBlock`]).
    fn each_extrapolated(
        &self,
        samples: &[(Timestamp, f64)],
        loaded: &mut [usize],
        how: Extrapolation,
        mut f: impl FnMut(usize, f64),
    ) {
        // Where the series decreases (index of the lower sample).
        let decreases: Vec<usize> = match how.counter {
            true => (1..samples.len()).filter(|&j| samples[j].1 < samples[j - 1].1).collect(),
            false => Vec::new(),
        };
        let mut next_decrease = 0;
        let mut block = SpanBlock::new(self.range as f64, how);
        self.each_window(samples, loaded, |i, lo, hi| {
            if hi - lo < 2 {
                return;
            }
            let (first, last) = (samples[lo], samples[hi - 1]);
            let end = self.ends[i];
            let mut span = Span::new(first, last, hi - lo, end - self.range, end);
            while decreases.get(next_decrease).is_some_and(|&j| j <= lo) {
                next_decrease += 1;
            }
            // Added one at a time, in order, as the one-window function adds them.
            for &j in decreases[next_decrease..].iter().take_while(|&&j| j < hi) {
                span.increase += samples[j - 1].1;
            }
            block.push(i, span, &mut f);
        });
        block.flush(&mut f);
    }
}

const BLOCK: usize = 256;

/// The summaries of up to [`BLOCK`] windows, field by field. Extrapolated one window at a
/// time, between slides of the windows, the chain of divisions in each was a third of a
/// 30-day dashboard query; here the loop over a block holds nothing else, so windows
/// overlap in the pipeline and the compiler divides two at once.
struct SpanBlock {
    range_ms: f64,
    how: Extrapolation,
    len: usize,
    step: [usize; BLOCK],
    sampled: [f64; BLOCK],
    to_start: [f64; BLOCK],
    to_end: [f64; BLOCK],
    gaps: [f64; BLOCK],
    first_value: [f64; BLOCK],
    increase: [f64; BLOCK],
}

impl SpanBlock {
    fn new(range_ms: f64, how: Extrapolation) -> Self {
        let zeros = [0.0; BLOCK];
        let (sampled, to_start, to_end, gaps, first_value, increase) = (zeros, zeros, zeros, zeros, zeros, zeros);
        SpanBlock { range_ms, how, len: 0, step: [0; BLOCK], sampled, to_start, to_end, gaps, first_value, increase }
    }

    /// Adds step `i`'s window; a full block is extrapolated into `f`.
    fn push(&mut self, i: usize, s: Span, f: &mut impl FnMut(usize, f64)) {
        let k = self.len;
        self.step[k] = i;
        (self.sampled[k], self.to_start[k], self.to_end[k]) = (s.sampled, s.to_start, s.to_end);
        (self.gaps[k], self.first_value[k], self.increase[k]) = (s.gaps, s.first_value, s.increase);
        self.len += 1;
        if self.len == BLOCK {
            self.flush(f);
        }
    }

    /// Extrapolates the block (every slot: the unused ones' values are not read) and hands
    /// each window's value to `f`, in step order.
    fn flush(&mut self, f: &mut impl FnMut(usize, f64)) {
        let mut values = [0.0; BLOCK];
        for (k, v) in values.iter_mut().enumerate() {
            let s = Span {
                sampled: self.sampled[k],
                to_start: self.to_start[k],
                to_end: self.to_end[k],
                gaps: self.gaps[k],
                first_value: self.first_value[k],
                increase: self.increase[k],
            };
            *v = extrapolate(&s, self.range_ms, self.how);
        }
        self.step[..self.len].iter().zip(values).for_each(|(i, v)| f(*i, v));
        self.len = 0;
    }
}

/// Series a thread takes at least, and steps a span of a fused aggregation has at least:
/// below these, threads cost more than they save.
const MIN_SERIES_PER_THREAD: usize = 64;
const MIN_STEPS_PER_THREAD: usize = 64;

/// Threads for `items` units of work, each taking at least `min_per_thread`: one per core
/// at most, and at least one.
fn threads_for(items: usize, min_per_thread: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    cores.min(items / min_per_thread).max(1)
}

/// `f` over contiguous parts of `items`, one per thread of [`threads_for`] (in this
/// thread when that is one), the results in order.
fn in_parallel<T: Sync, R: Send>(items: &[T], min_per_thread: usize, f: impl Fn(&[T]) -> R + Sync) -> Vec<R> {
    let threads = threads_for(items.len(), min_per_thread);
    if threads == 1 {
        return vec![f(items)];
    }
    std::thread::scope(|s| {
        let f = &f;
        let handles: Vec<_> = items.chunks(items.len().div_ceil(threads)).map(|c| s.spawn(move || f(c))).collect();
        handles.into_iter().map(|h| h.join().expect("a range query worker panicked")).collect()
    })
}

fn unparen(mut e: &Expr) -> &Expr {
    while let Expr::Paren(p) = e {
        e = &p.expr;
    }
    e
}

/// The selector of a call whose first argument is a range selector, `(x[5m])` included.
pub(crate) fn matrix_arg(c: &Call) -> Option<&MatrixSelector> {
    match unparen(c.args.args.first()?) {
        Expr::MatrixSelector(ms) => Some(ms),
        _ => None,
    }
}

fn unique<'a>(labels: impl ExactSizeIterator<Item = &'a Labels>) -> bool {
    let mut seen = std::collections::HashSet::with_capacity_and_hasher(labels.len(), crate::FastHash::default());
    labels.into_iter().all(|l| seen.insert(l))
}
