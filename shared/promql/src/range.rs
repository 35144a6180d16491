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
//! What the rest of the query needs from such a subtree (a binary operation, or
//! `histogram_quantile`, above it) it reads step by step from the precomputed series.

use crate::aggregate::{Grouping, reducer};
use crate::engine::{Ctx, QueryError, Result};
use crate::functions::{WindowFn, window_fn};
use crate::storage::StoredSeries;
use crate::value::{Sample, Series};
use cardinal_model::{Labels, Timestamp, is_stale_nan};
use promql_parser::parser::{AggregateExpr, Call, Expr, MatrixSelector};
use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
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
}

/// A subtree's output series (a point at each step it has a value), read back step by
/// step.
pub(crate) struct Precomputed {
    series: Vec<Series>,
    cursors: RefCell<Cursors>,
}

impl Precomputed {
    fn new(series: Vec<Series>) -> Self {
        let cursors = RefCell::new(Cursors::new(series.len()));
        Precomputed { series, cursors }
    }

    /// The subtree's value at step time `t`.
    pub fn at(&self, t: Timestamp) -> Vec<Sample> {
        let mut out = Vec::new();
        self.cursors.borrow_mut().visit(&self.series, t, |i, v| {
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
            Expr::Aggregate(a) if a.param.is_none() => self.aggregate_over_grid(a, grid),
            _ => Ok(None),
        }
    }

    /// A range function over a selector: per series, the window slides along its samples.
    /// `None` if two outputs would share a label set (the step-by-step evaluator then
    /// gives Prometheus's error where they meet). Series are independent, so each core
    /// takes its share of them.
    fn windows_over_grid(&self, ms: &MatrixSelector, w: &WindowFn, grid: Grid) -> Result<Option<Vec<Series>>> {
        let ends: Vec<Timestamp> =
            (0..grid.n).map(|i| self.effective_time(&ms.vs.at, &ms.vs.offset, grid.at(i))).collect();
        let windows = Windows { w, grid, ends: &ends, range: ms.range.as_millis() as i64, deadline: self.deadline };
        let mut loaded = vec![0usize; grid.n];
        let mut out = Vec::new();
        for part in in_parallel(self.selected(&ms.vs), |part| windows.over(part)) {
            let (series, n) = part?;
            out.extend(series);
            loaded.iter_mut().zip(n).for_each(|(a, b)| *a += b);
        }
        if loaded.iter().any(|n| *n > self.engine.max_samples) {
            return Err(QueryError::TooManySamples);
        }
        Ok(unique(&out).then_some(out))
    }

    /// A parameterless aggregation: groups are formed once, then each step reduces the
    /// values its series have there, in series order (as the step-by-step evaluator's).
    fn aggregate_over_grid(&self, a: &AggregateExpr, grid: Grid) -> Result<Option<Vec<Series>>> {
        let Some(f) = reducer(&a.op.to_string()) else { return Ok(None) };
        let Some(input) = self.over_grid(&a.expr, grid)? else { return Ok(None) };
        let grouping = Grouping::from(&a.modifier);
        let mut index: HashMap<Labels, usize, crate::FastHash> = HashMap::default();
        let mut out: Vec<Series> = Vec::new();
        let group_of: Vec<usize> = input
            .iter()
            .map(|s| {
                let key = grouping.key(&s.labels);
                *index.entry(key.clone()).or_insert_with(|| {
                    out.push(Series { labels: key, points: Vec::new() });
                    out.len() - 1
                })
            })
            .collect();
        let mut cursors = Cursors::new(input.len());
        let mut values: Vec<Vec<f64>> = vec![Vec::new(); out.len()];
        let mut touched = Vec::new();
        for i in 0..grid.n {
            let t = grid.at(i);
            cursors.visit(&input, t, |s, v| {
                let g = group_of[s];
                if values[g].is_empty() {
                    touched.push(g);
                }
                values[g].push(v);
            });
            for g in touched.drain(..) {
                out[g].points.push((t, f(&values[g])));
                values[g].clear();
            }
        }
        Ok(Some(out))
    }
}

/// One range function applied at every step of a grid, the window of step `i` ending at
/// `ends[i]` (the step's time after `@` and `offset`).
struct Windows<'a> {
    w: &'a WindowFn,
    grid: Grid,
    ends: &'a [Timestamp],
    range: i64,
    deadline: Instant,
}

impl Windows<'_> {
    /// The output series of `series` (those with a value at some step), and how many
    /// samples each step's windows held.
    fn over(&self, series: &[StoredSeries]) -> Result<(Vec<Series>, Vec<usize>)> {
        let mut loaded = vec![0usize; self.grid.n];
        let mut out = Vec::new();
        for s in series {
            if Instant::now() > self.deadline {
                return Err(QueryError::Timeout);
            }
            let points = self.series(&s.samples, &mut loaded);
            if !points.is_empty() {
                let labels = if self.w.drop_name { s.labels.without_name() } else { s.labels.clone() };
                out.push(Series { labels, points });
            }
        }
        Ok((out, loaded))
    }

    fn series(&self, samples: &[(Timestamp, f64)], loaded: &mut [usize]) -> Vec<(Timestamp, f64)> {
        let samples: Cow<[(Timestamp, f64)]> = if samples.iter().any(|p| is_stale_nan(p.1)) {
            Cow::Owned(samples.iter().copied().filter(|p| !is_stale_nan(p.1)).collect())
        } else {
            Cow::Borrowed(samples)
        };
        let (mut lo, mut hi) = (0, 0);
        let mut points = Vec::new();
        for (i, (&end, n)) in self.ends.iter().zip(loaded.iter_mut()).enumerate() {
            let start = end - self.range;
            while hi < samples.len() && samples[hi].0 <= end {
                hi += 1;
            }
            while lo < hi && samples[lo].0 <= start {
                lo += 1;
            }
            *n += hi - lo;
            if lo < hi
                && let Some(v) = (self.w.f)(&samples[lo..hi], start, end)
            {
                points.push((self.grid.at(i), v));
            }
        }
        points
    }
}

/// `f` over contiguous parts of `items`, one per core (in this thread when there are
/// few), the results in order.
fn in_parallel<T: Sync, R: Send>(items: &[T], f: impl Fn(&[T]) -> R + Sync) -> Vec<R> {
    const MIN_PER_THREAD: usize = 64;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = cores.min(items.len() / MIN_PER_THREAD).max(1);
    if threads == 1 {
        return vec![f(items)];
    }
    std::thread::scope(|s| {
        let f = &f;
        let handles: Vec<_> = items.chunks(items.len().div_ceil(threads)).map(|c| s.spawn(move || f(c))).collect();
        handles.into_iter().map(|h| h.join().expect("a range query worker panicked")).collect()
    })
}

/// The selector of a call whose first argument is a range selector, `(x[5m])` included.
fn matrix_arg(c: &Call) -> Option<&MatrixSelector> {
    let mut e: &Expr = c.args.args.first()?;
    while let Expr::Paren(p) = e {
        e = &p.expr;
    }
    match e {
        Expr::MatrixSelector(ms) => Some(ms),
        _ => None,
    }
}

fn unique(series: &[Series]) -> bool {
    let mut seen = std::collections::HashSet::with_capacity_and_hasher(series.len(), crate::FastHash::default());
    series.iter().all(|s| seen.insert(&s.labels))
}
