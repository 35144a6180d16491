//! The evaluator. A query is evaluated at one timestamp at a time; range queries and
//! subqueries evaluate at each step, except for the subtrees [`crate::range_query`] evaluates
//! over all of a range query's steps at once. Every selector's series are matched once per
//! query, for the union of the times it is needed, and decoded only where they are read.
//!
//! Semantics are Prometheus 3.x's: the lookback window and range selectors are left-open
//! (`(t - window, t]`), and a stale marker ends a series' visibility.

use crate::range_query::{Grid, Precomputed};
use crate::storage::{Grouped, LazySeries, Querier, Queryable, StoredSeries};
use crate::value::{Sample, Series, Value};
use crate::{aggregate, binary, functions};
use cardinal_model::matcher::matchers_of;
use cardinal_model::{Labels, Matcher, Timestamp, is_stale_nan};
use promql_parser::parser::{AtModifier, Expr, MatrixSelector, Offset, SubqueryExpr, VectorSelector};
use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant, UNIX_EPOCH};

/// Query errors, with Prometheus's wording and API error types.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueryError {
    /// `bad_data` (400): the query does not parse or is not valid.
    BadData(String),
    /// `execution` (422): the query failed while evaluating.
    Execution(String),
    /// `timeout` (503).
    Timeout,
    /// `execution` (422): `--query.max-samples` exceeded.
    TooManySamples,
}

impl std::fmt::Display for QueryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            QueryError::BadData(m) | QueryError::Execution(m) => f.write_str(m),
            QueryError::Timeout => f.write_str("query timed out in expression evaluation"),
            QueryError::TooManySamples => {
                f.write_str("query processing would load too many samples into memory in query execution")
            }
        }
    }
}

impl std::error::Error for QueryError {}

pub type Result<T> = std::result::Result<T, QueryError>;

pub fn exec(msg: impl Into<String>) -> QueryError {
    QueryError::Execution(msg.into())
}

#[derive(Clone, Debug)]
pub struct Engine {
    /// `--query.lookback-delta`, 5m by default.
    pub lookback: Duration,
    /// `--query.max-samples`: samples a query may hold at once, over the whole query
    /// (decoded selections, a range query's result so far, a subquery's points, and what
    /// the current step holds), as Prometheus counts its peak.
    pub max_samples: usize,
    /// `--query.timeout`.
    pub timeout: Duration,
    /// Step of subqueries that give none (the evaluation interval, 1m by default).
    pub default_subquery_step: Duration,
}

impl Default for Engine {
    fn default() -> Self {
        Engine {
            lookback: Duration::from_secs(300),
            max_samples: 50_000_000,
            timeout: Duration::from_secs(120),
            default_subquery_step: Duration::from_secs(60),
        }
    }
}

/// Parses a query, with Prometheus's `parse error` wording, within the bounds on size
/// and depth that keep evaluation's recursion safe (`cardinal_model::promql_text`).
pub fn parse(query: &str) -> Result<Expr> {
    cardinal_model::promql_text::parse_expr(query).map_err(|e| QueryError::BadData(format!("parse error: {e}")))
}

impl Engine {
    /// Evaluates `expr` at `t`.
    pub fn instant(&self, storage: &dyn Queryable, expr: &Expr, t: Timestamp) -> Result<Value> {
        let ctx = Ctx::new(self, storage, expr, t, t);
        ctx.eval(expr, t)
    }

    /// Evaluates `expr` at every step of `[start, end]`. Scalar results become a series
    /// without labels, as in Prometheus's range API.
    pub fn range(
        &self,
        storage: &dyn Queryable,
        expr: &Expr,
        start: Timestamp,
        end: Timestamp,
        step: i64,
    ) -> Result<Vec<Series>> {
        let step = step.max(1);
        let mut ctx = Ctx::new(self, storage, expr, start, end);
        if let Some(mut series) = ctx.precompute(expr, Grid::new(start, end, step))? {
            ctx.hold(series.iter().map(|s| s.points.len()).sum())?;
            series.sort_by(|a, b| a.labels.cmp(&b.labels));
            return Ok(series);
        }
        let mut out: BTreeMap<Labels, Vec<(Timestamp, f64)>> = BTreeMap::new();
        let mut t = start;
        while t <= end {
            ctx.check_deadline()?;
            match ctx.eval(expr, t)? {
                Value::Scalar(v) => {
                    ctx.hold(1)?;
                    out.entry(Labels::empty()).or_default().push((t, v));
                }
                Value::Vector(vec) => {
                    ctx.hold(vec.len())?;
                    for s in vec {
                        out.entry(s.labels).or_default().push((t, s.v));
                    }
                }
                other => {
                    return Err(QueryError::BadData(format!(
                        "invalid expression type {:?} for range query, must be Scalar or instant Vector",
                        other.type_name()
                    )));
                }
            }
            match t.checked_add(step) {
                Some(next) => t = next,
                None => break,
            }
        }
        Ok(out.into_iter().map(|(labels, points)| Series { labels, points }).collect())
    }
}

/// A selector's series, matched when first read (through the querier the query took when it
/// started) and decoded (for the times the query needs them) only if step-by-step
/// evaluation reads them. An aggregation that needs only its groups takes them grouped
/// instead, and no series' own labels are built.
struct Selection {
    /// `None` for a selector that matches nothing (its matchers do not convert).
    matchers: Option<Vec<Matcher>>,
    mint: Timestamp,
    maxt: Timestamp,
    lazy: OnceLock<Vec<LazySeries>>,
    decoded: OnceLock<Vec<StoredSeries>>,
    grouped: OnceLock<Grouped>,
}

/// One query's evaluation state.
pub struct Ctx<'a> {
    pub engine: &'a Engine,
    /// What the query reads, as storage was when it started.
    querier: Box<dyn Querier + 'a>,
    start: Timestamp,
    end: Timestamp,
    pub(crate) lookback: i64,
    data: HashMap<usize, Selection>,
    pub(crate) deadline: Instant,
    /// Samples the current step holds (`--query.max-samples`). Atomic only so that range
    /// evaluation can share the context across threads; one thread counts.
    loaded: AtomicUsize,
    /// Samples held beyond one step: decoded selections, a range query's result so far,
    /// subtrees evaluated over every step up front, a subquery's points so far.
    held: AtomicUsize,
    /// Subtrees a range query evaluated over all its steps up front (`crate::range_query`).
    pub(crate) precomputed: HashMap<usize, Precomputed>,
}

impl<'a> Ctx<'a> {
    fn new(engine: &'a Engine, storage: &'a dyn Queryable, expr: &Expr, start: Timestamp, end: Timestamp) -> Self {
        let mut ctx = Ctx {
            engine,
            querier: storage.querier(),
            start,
            end,
            lookback: engine.lookback.as_millis() as i64,
            data: HashMap::new(),
            deadline: Instant::now() + engine.timeout,
            loaded: AtomicUsize::new(0),
            held: AtomicUsize::new(0),
            precomputed: HashMap::new(),
        };
        let mut bounds = HashMap::new();
        ctx.bounds(expr, start, end, &mut bounds);
        for (key, (vs, mint, maxt)) in bounds {
            let matchers = matchers_of(vs).ok();
            let (lazy, decoded, grouped) = (OnceLock::new(), OnceLock::new(), OnceLock::new());
            ctx.data.insert(key, Selection { matchers, mint, maxt, lazy, decoded, grouped });
        }
        ctx
    }

    /// Collects, per selector, the time range its samples are needed for.
    fn bounds<'e>(
        &self,
        e: &'e Expr,
        start: Timestamp,
        end: Timestamp,
        acc: &mut HashMap<usize, (&'e VectorSelector, Timestamp, Timestamp)>,
    ) {
        let mut note = |vs: &'e VectorSelector, range: i64| {
            let (s, e) = self.shift(&vs.at, &vs.offset, start, end);
            let entry = acc.entry(vs as *const _ as usize).or_insert((vs, i64::MAX, i64::MIN));
            entry.1 = entry.1.min(s - range);
            entry.2 = entry.2.max(e);
        };
        match e {
            Expr::VectorSelector(vs) => note(vs, self.lookback),
            Expr::MatrixSelector(ms) => note(&ms.vs, ms.range.as_millis() as i64),
            Expr::Subquery(sq) => {
                let (s, e) = self.shift(&sq.at, &sq.offset, start, end);
                self.bounds(&sq.expr, s - sq.range.as_millis() as i64, e, acc);
            }
            Expr::Aggregate(a) => {
                if let Some(p) = &a.param {
                    self.bounds(p, start, end, acc);
                }
                self.bounds(&a.expr, start, end, acc);
            }
            Expr::Unary(u) => self.bounds(&u.expr, start, end, acc),
            Expr::Binary(b) => {
                self.bounds(&b.lhs, start, end, acc);
                self.bounds(&b.rhs, start, end, acc);
            }
            Expr::Paren(p) => self.bounds(&p.expr, start, end, acc),
            Expr::Call(c) => {
                // `info` without a selector reads `target_info` (`crate::info`).
                if c.func.name == "info" && c.args.args.len() == 1 {
                    note(&crate::info::TARGET_INFO, self.lookback);
                }
                c.args.args.iter().for_each(|a| self.bounds(a, start, end, acc))
            }
            _ => {}
        }
    }

    /// The evaluation window after `@` and `offset`.
    fn shift(
        &self,
        at: &Option<AtModifier>,
        offset: &Option<Offset>,
        start: Timestamp,
        end: Timestamp,
    ) -> (Timestamp, Timestamp) {
        let off = offset_ms(offset);
        match at.as_ref().and_then(|a| self.at_time(a)) {
            Some(t) => (t - off, t - off),
            None => (start - off, end - off),
        }
    }

    fn at_time(&self, at: &AtModifier) -> Option<Timestamp> {
        Some(match at {
            AtModifier::Start => self.start,
            AtModifier::End => self.end,
            AtModifier::At(t) => match t.duration_since(UNIX_EPOCH) {
                Ok(d) => d.as_millis() as i64,
                Err(e) => -(e.duration().as_millis() as i64),
            },
        })
    }

    /// The time a selector or subquery is evaluated at, for an evaluation at `t`.
    pub fn effective_time(&self, at: &Option<AtModifier>, offset: &Option<Offset>, t: Timestamp) -> Timestamp {
        at.as_ref().and_then(|a| self.at_time(a)).unwrap_or(t) - offset_ms(offset)
    }

    /// Counts `added` samples towards what the current step holds.
    pub(crate) fn check_limits(&self, added: usize) -> Result<()> {
        let n = self.loaded.load(Relaxed).saturating_add(added);
        self.loaded.store(n, Relaxed);
        self.within_max(n)?;
        self.check_deadline()
    }

    /// Counts `n` samples the query holds from now on (until [`Ctx::release`]).
    pub(crate) fn hold(&self, n: usize) -> Result<()> {
        self.held.fetch_add(n, Relaxed);
        self.within_max(self.loaded.load(Relaxed))
    }

    pub(crate) fn release(&self, n: usize) {
        self.held.fetch_sub(n.min(self.held.load(Relaxed)), Relaxed);
    }

    /// Whether `step` samples of the current step fit beside what the query holds.
    pub(crate) fn within_max(&self, step: usize) -> Result<()> {
        if self.held.load(Relaxed).saturating_add(step) > self.engine.max_samples {
            return Err(QueryError::TooManySamples);
        }
        Ok(())
    }

    pub(crate) fn check_deadline(&self) -> Result<()> {
        if Instant::now() > self.deadline {
            return Err(QueryError::Timeout);
        }
        Ok(())
    }

    /// The stored series a selector matched, with their samples, decoded on first use
    /// and held (towards `--query.max-samples`) for the rest of the query.
    pub(crate) fn selected(&self, vs: &VectorSelector) -> Result<&[StoredSeries]> {
        let Some(sel) = self.data.get(&(vs as *const _ as usize)) else { return Ok(&[]) };
        let mut decoded_now = 0;
        let series = sel.decoded.get_or_init(|| {
            let all = LazySeries::decode_all(self.lazy(sel), sel.mint, sel.maxt);
            decoded_now = all.iter().map(|s| s.samples.len()).sum();
            all
        });
        self.hold(decoded_now)?;
        self.check_deadline()?;
        Ok(series)
    }

    /// The same series not yet decoded, for evaluation that decodes each as it goes.
    pub(crate) fn selected_lazy(&self, vs: &VectorSelector) -> &[LazySeries] {
        self.data.get(&(vs as *const _ as usize)).map_or(&[], |sel| self.lazy(sel))
    }

    fn lazy<'s>(&self, sel: &'s Selection) -> &'s [LazySeries] {
        sel.lazy.get_or_init(|| match &sel.matchers {
            Some(m) => self.querier.select(m, sel.mint, sel.maxt),
            None => Vec::new(),
        })
    }

    /// The series a selector matched, in groups by the labels `keep` accepts (the same
    /// `keep` every time for one selector: its aggregation's), not decoded yet.
    pub(crate) fn selected_grouped(&self, vs: &VectorSelector, keep: &dyn Fn(&str) -> bool) -> Option<&Grouped> {
        let sel = self.data.get(&(vs as *const _ as usize))?;
        let m = sel.matchers.as_ref()?;
        Some(sel.grouped.get_or_init(|| self.querier.select_grouped(m, sel.mint, sel.maxt, keep)))
    }

    /// Whether this is an instant query being evaluated at its own time (not at a
    /// subquery's steps).
    pub(crate) fn is_instant_at(&self, t: Timestamp) -> bool {
        self.start == t && self.end == t
    }

    /// Evaluates any expression at `t`.
    pub fn eval(&self, e: &Expr, t: Timestamp) -> Result<Value> {
        self.loaded.store(0, Relaxed);
        self.eval_node(e, t)
    }

    pub fn eval_node(&self, e: &Expr, t: Timestamp) -> Result<Value> {
        // Empty but for range queries: instant ones (every rule) skip the lookup.
        if !self.precomputed.is_empty()
            && let Some(p) = self.precomputed.get(&(e as *const Expr as usize))
        {
            return Ok(Value::Vector(p.at(t)));
        }
        match e {
            Expr::NumberLiteral(n) => Ok(Value::Scalar(n.val)),
            Expr::StringLiteral(s) => Ok(Value::String(s.val.clone())),
            Expr::Paren(p) => self.eval_node(&p.expr, t),
            Expr::Unary(u) => match self.eval_node(&u.expr, t)? {
                Value::Scalar(v) => Ok(Value::Scalar(-v)),
                Value::Vector(vec) => Ok(Value::Vector(
                    vec.into_iter().map(|s| Sample { labels: s.labels.without_name(), t: s.t, v: -s.v }).collect(),
                )),
                other => Err(exec(format!(
                    "unary expression only allowed on expressions of type scalar or instant vector, got {:?}",
                    other.type_name()
                ))),
            },
            Expr::VectorSelector(vs) => self.vector_at(vs, t).map(Value::Vector),
            Expr::MatrixSelector(ms) => self.matrix_at(ms, t).map(Value::Matrix),
            Expr::Subquery(sq) => self.subquery_at(sq, t).map(Value::Matrix),
            Expr::Call(c) => functions::call(self, c, t),
            Expr::Aggregate(a) => aggregate::eval(self, a, t),
            Expr::Binary(b) => binary::eval(self, b, t),
            Expr::Extension(_) => Err(exec("extension expressions are not supported")),
        }
    }

    /// Evaluates to an instant vector, or fails with Prometheus's type error.
    pub fn eval_vector(&self, e: &Expr, t: Timestamp) -> Result<Vec<Sample>> {
        match self.eval_node(e, t)? {
            Value::Vector(v) => Ok(v),
            other => Err(exec(format!("expected instant vector, got {}", other.type_name()))),
        }
    }

    pub fn eval_scalar(&self, e: &Expr, t: Timestamp) -> Result<f64> {
        match self.eval_node(e, t)? {
            Value::Scalar(v) => Ok(v),
            other => Err(exec(format!("expected scalar, got {}", other.type_name()))),
        }
    }

    pub fn eval_matrix(&self, e: &Expr, t: Timestamp) -> Result<Vec<Series>> {
        match self.eval_node(e, t)? {
            Value::Matrix(m) => Ok(m),
            other => Err(exec(format!("expected range vector, got {}", other.type_name()))),
        }
    }

    /// The newest sample of each series within the lookback window.
    pub(crate) fn vector_at(&self, vs: &VectorSelector, at: Timestamp) -> Result<Vec<Sample>> {
        let t = self.effective_time(&vs.at, &vs.offset, at);
        if self.is_instant_at(at) {
            return self.newest_at(vs, t);
        }
        let mut out = Vec::new();
        for s in self.selected(vs)? {
            let idx = s.samples.partition_point(|(ts, _)| *ts <= t);
            if idx == 0 {
                continue;
            }
            let (ts, v) = s.samples[idx - 1];
            if ts > t - self.lookback && !is_stale_nan(v) {
                out.push(Sample { labels: s.labels.clone(), t: ts, v });
            }
        }
        self.check_limits(out.len())?;
        Ok(out)
    }

    /// [`Self::vector_at`] for an instant query at its own time, where no other step will
    /// read the selector: each series' lookback window is decoded into one reused buffer
    /// rather than all of them kept (a bare selector over 100k series held ~1 KB a series).
    fn newest_at(&self, vs: &VectorSelector, t: Timestamp) -> Result<Vec<Sample>> {
        let mut out = Vec::new();
        let mut window = Vec::new();
        for (i, s) in self.selected_lazy(vs).iter().enumerate() {
            if i % 1024 == 0 {
                self.check_deadline()?;
            }
            window.clear();
            s.samples(t - self.lookback + 1, t, &mut window);
            if let Some(&(ts, v)) = window.last()
                && !is_stale_nan(v)
            {
                out.push(Sample { labels: s.labels.clone(), t: ts, v });
            }
        }
        self.check_limits(out.len())?;
        Ok(out)
    }

    /// Samples of each series in `(t - range, t]`, stale markers left out.
    fn matrix_at(&self, ms: &MatrixSelector, t: Timestamp) -> Result<Vec<Series>> {
        let t = self.effective_time(&ms.vs.at, &ms.vs.offset, t);
        let mint = t - ms.range.as_millis() as i64;
        let mut out = Vec::new();
        let mut n = 0;
        for s in self.selected(&ms.vs)? {
            let lo = s.samples.partition_point(|(ts, _)| *ts <= mint);
            let hi = s.samples.partition_point(|(ts, _)| *ts <= t);
            let points: Vec<(Timestamp, f64)> =
                s.samples[lo..hi].iter().copied().filter(|(_, v)| !is_stale_nan(*v)).collect();
            if !points.is_empty() {
                n += points.len();
                out.push(Series { labels: s.labels.clone(), points });
            }
        }
        self.check_limits(n)?;
        Ok(out)
    }

    /// A subquery: the inner expression at every step aligned to the step, in
    /// `(t - range, t]`.
    fn subquery_at(&self, sq: &SubqueryExpr, t: Timestamp) -> Result<Vec<Series>> {
        let end = self.effective_time(&sq.at, &sq.offset, t);
        let step = sq.step.unwrap_or(self.engine.default_subquery_step).as_millis().max(1) as i64;
        let base = end - sq.range.as_millis() as i64;
        let mut ts = step * (base / step);
        if ts <= base {
            ts += step;
        }
        let mut out: BTreeMap<Labels, Vec<(Timestamp, f64)>> = BTreeMap::new();
        let saved = self.loaded.load(Relaxed);
        // Points gathered so far are held while the inner steps run; released once they
        // are this step's result, counted as such.
        let mut gathered = 0;
        let result = (|| {
            while ts <= end {
                self.check_deadline()?;
                self.loaded.store(0, Relaxed);
                let points = match self.eval_node(&sq.expr, ts)? {
                    Value::Scalar(v) => {
                        out.entry(Labels::empty()).or_default().push((ts, v));
                        1
                    }
                    Value::Vector(vec) => {
                        let n = vec.len();
                        for s in vec {
                            out.entry(s.labels).or_default().push((ts, s.v));
                        }
                        n
                    }
                    other => {
                        return Err(exec(format!(
                            "subquery is only allowed on instant vector, got {}",
                            other.type_name()
                        )));
                    }
                };
                gathered += points;
                self.hold(points)?;
                ts = match ts.checked_add(step) {
                    Some(next) => next,
                    None => break,
                };
            }
            Ok(())
        })();
        self.release(gathered);
        self.loaded.store(saved, Relaxed);
        result?;
        let series: Vec<Series> = out.into_iter().map(|(labels, points)| Series { labels, points }).collect();
        self.check_limits(gathered)?;
        Ok(series)
    }

    /// The `(start, end]` window a range argument covers at `t` (after `@`/offset), for
    /// the extrapolating functions.
    pub fn range_window(&self, e: &Expr, t: Timestamp) -> Option<(Timestamp, Timestamp)> {
        match e {
            Expr::MatrixSelector(ms) => {
                let end = self.effective_time(&ms.vs.at, &ms.vs.offset, t);
                Some((end - ms.range.as_millis() as i64, end))
            }
            Expr::Subquery(sq) => {
                let end = self.effective_time(&sq.at, &sq.offset, t);
                Some((end - sq.range.as_millis() as i64, end))
            }
            Expr::Paren(p) => self.range_window(&p.expr, t),
            _ => None,
        }
    }
}

fn offset_ms(offset: &Option<Offset>) -> i64 {
    match offset {
        Some(Offset::Pos(d)) => d.as_millis() as i64,
        Some(Offset::Neg(d)) => -(d.as_millis() as i64),
        None => 0,
    }
}
