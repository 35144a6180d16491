//! PromQL functions, following Prometheus's `promql/functions.go` (3.x windows, and the
//! same floating-point steps — Kahan-compensated sums where Prometheus uses them — so
//! that results agree to the bit where they can).

use crate::engine::{Ctx, Result, exec};
use crate::value::{Sample, Value};
use cardinal_model::{Labels, LabelsBuilder, Timestamp, labels::is_valid_label_name};
use chrono::Datelike;
use promql_parser::parser::{Call, Expr};

pub fn call(ctx: &Ctx, c: &Call, t: Timestamp) -> Result<Value> {
    let args: Vec<&Expr> = c.args.args.iter().map(|a| a.as_ref()).collect();
    let name = c.func.name;
    if let Some(w) = window_fn(name) {
        let (start, end) =
            ctx.range_window(args[0], t).ok_or_else(|| exec(format!("{name}: expected a range vector argument")))?;
        return Ok(at(over_range(ctx, args[0], t, w.drop_name, |p| (w.f)(p, start, end))?, t));
    }
    let v = match name {
        "time" => return Ok(Value::Scalar(t as f64 / 1000.0)),
        "pi" => return Ok(Value::Scalar(std::f64::consts::PI)),
        "vector" => {
            let v = ctx.eval_scalar(args[0], t)?;
            return Ok(Value::Vector(vec![Sample { labels: Labels::empty(), t, v }]));
        }
        "scalar" => {
            let v = ctx.eval_vector(args[0], t)?;
            return Ok(Value::Scalar(if v.len() == 1 { v[0].v } else { f64::NAN }));
        }
        "predict_linear" => {
            let secs = ctx.eval_scalar(args[1], t)?;
            let out = over_range(ctx, args[0], t, true, |p| {
                (p.len() >= 2).then(|| {
                    let (slope, intercept) = linear_regression(p, t);
                    intercept + slope * secs
                })
            })?;
            return Ok(at(out, t));
        }
        "quantile_over_time" => {
            let q = ctx.eval_scalar(args[0], t)?;
            let out = over_range(ctx, args[1], t, true, |p| {
                Some(quantile(q, &mut p.iter().map(|x| x.1).collect::<Vec<_>>()))
            })?;
            return Ok(at(out, t));
        }
        "absent" => return absent(args[0], t, ctx.eval_vector(args[0], t)?.is_empty()),
        "absent_over_time" => return absent(args[0], t, ctx.eval_matrix(args[0], t)?.is_empty()),
        "timestamp" => {
            ctx.eval_vector(args[0], t)?.into_iter().map(|s| (s.labels.without_name(), s.t as f64 / 1000.0)).collect()
        }
        "info" => return crate::info::info(ctx, &args, t),
        "sort_by_label" | "sort_by_label_desc" => {
            let mut v = ctx.eval_vector(args[0], t)?;
            let by = args[1..].iter().map(|a| string_arg(ctx, a, t)).collect::<Result<Vec<String>>>()?;
            crate::sort_by_label::sort(&mut v, &by, name == "sort_by_label_desc");
            return Ok(Value::Vector(v));
        }
        "double_exponential_smoothing" => {
            let (sf, tf) = (ctx.eval_scalar(args[1], t)?, ctx.eval_scalar(args[2], t)?);
            if sf <= 0.0 || sf >= 1.0 {
                return Err(exec(format!("invalid smoothing factor. Expected: 0 < sf < 1, got: {sf:.6}")));
            }
            if tf <= 0.0 || tf >= 1.0 {
                return Err(exec(format!("invalid trend factor. Expected: 0 < tf < 1, got: {tf:.6}")));
            }
            return Ok(at(over_range(ctx, args[0], t, true, |p| double_exponential_smoothing(p, sf, tf))?, t));
        }
        "sort" | "sort_desc" => {
            let mut v = ctx.eval_vector(args[0], t)?;
            let desc = name == "sort_desc";
            v.sort_by(|a, b| order_by_value(a.v, b.v, desc));
            return Ok(Value::Vector(v));
        }
        "label_replace" => return label_replace(ctx, &args, t),
        "label_join" => return label_join(ctx, &args, t),
        "histogram_quantile" => {
            let q = ctx.eval_scalar(args[0], t)?;
            return per_histogram(ctx, args[1], t, |b| bucket_quantile(q, b));
        }
        "histogram_fraction" => {
            let (lo, hi) = (ctx.eval_scalar(args[0], t)?, ctx.eval_scalar(args[1], t)?);
            return per_histogram(ctx, args[2], t, |b| bucket_fraction(lo, hi, b));
        }
        "round" => {
            let to = if args.len() > 1 { ctx.eval_scalar(args[1], t)? } else { 1.0 };
            let inv = 1.0 / to;
            map_values(ctx, args[0], t, |v| (v * inv + 0.5).floor() / inv)?
        }
        "clamp" => {
            let (lo, hi) = (ctx.eval_scalar(args[1], t)?, ctx.eval_scalar(args[2], t)?);
            if hi < lo {
                return Ok(Value::Vector(Vec::new()));
            }
            map_values(ctx, args[0], t, |v| go_max(lo, go_min(hi, v)))?
        }
        "clamp_min" => {
            let lo = ctx.eval_scalar(args[1], t)?;
            map_values(ctx, args[0], t, |v| go_max(lo, v))?
        }
        "clamp_max" => {
            let hi = ctx.eval_scalar(args[1], t)?;
            map_values(ctx, args[0], t, |v| go_min(hi, v))?
        }
        "minute" | "hour" | "day_of_month" | "day_of_week" | "day_of_year" | "days_in_month" | "month" | "year" => {
            date_function(ctx, &args, t, name)?
        }
        _ => match math_function(name) {
            Some(f) => map_values(ctx, args[0], t, f)?,
            None => return Err(exec(format!("function {name:?} is not supported"))),
        },
    };
    finish(v, t)
}

/// A range function whose only argument is its range: its value over one series' samples
/// in a window `(start, end]` (stale markers left out; never empty), and whether the
/// output drops the metric name (all but `last_over_time`/`first_over_time`). Range
/// queries apply it series at a time (`crate::range_query`), instant ones series by series.
pub(crate) struct WindowFn {
    pub drop_name: bool,
    pub f: OverWindow,
    /// For `rate`, `increase` and `delta`: how to extrapolate a [`Span`], so that a range
    /// query can summarise the windows of many steps first and then extrapolate them in
    /// one tight loop (see `crate::range_query`).
    pub extrapolation: Option<Extrapolation>,
}

#[derive(Clone, Copy)]
pub(crate) struct Extrapolation {
    /// Counter resets are added back and extrapolation stops at zero.
    pub counter: bool,
    /// Divided by the range: a per-second rate.
    pub rate: bool,
}

const RATE: Extrapolation = Extrapolation { counter: true, rate: true };
const INCREASE: Extrapolation = Extrapolation { counter: true, rate: false };
const DELTA: Extrapolation = Extrapolation { counter: false, rate: false };

/// What extrapolating a window of two or more samples needs of it: times in
/// milliseconds, as floats (converted from the integer differences, as Prometheus does).
#[derive(Clone, Copy)]
pub(crate) struct Span {
    /// From the first sample to the last.
    pub sampled: f64,
    /// From the window's start to the first sample, and from the last to its end.
    pub to_start: f64,
    pub to_end: f64,
    /// Samples less one.
    pub gaps: f64,
    pub first_value: f64,
    /// Last minus first value, plus (for counters, added by the caller) the value before
    /// each reset.
    pub increase: f64,
}

impl Span {
    pub fn new(
        first: (Timestamp, f64),
        last: (Timestamp, f64),
        samples: usize,
        start: Timestamp,
        end: Timestamp,
    ) -> Self {
        Span {
            sampled: (last.0 - first.0) as f64,
            to_start: (first.0 - start) as f64,
            to_end: (end - last.0) as f64,
            gaps: (samples - 1) as f64,
            first_value: first.1,
            increase: last.1 - first.1,
        }
    }
}

/// A window's samples, its start and its end to the function's value.
pub(crate) type OverWindow = fn(&[(Timestamp, f64)], Timestamp, Timestamp) -> Option<f64>;

pub(crate) fn window_fn(name: &str) -> Option<WindowFn> {
    let extrapolation = match name {
        "rate" => Some(RATE),
        "increase" => Some(INCREASE),
        "delta" => Some(DELTA),
        _ => None,
    };
    let f: OverWindow = match name {
        "rate" => |p, s, e| extrapolated(p, s, e, RATE),
        "increase" => |p, s, e| extrapolated(p, s, e, INCREASE),
        "delta" => |p, s, e| extrapolated(p, s, e, DELTA),
        "irate" => |p, _, _| instant_delta(p, true),
        "idelta" => |p, _, _| instant_delta(p, false),
        "deriv" => |p, _, _| (p.len() >= 2).then(|| linear_regression(p, p[0].0).0),
        "resets" => |p, _, _| Some(p.windows(2).filter(|w| w[1].1 < w[0].1).count() as f64),
        "changes" => |p, _, _| {
            Some(p.windows(2).filter(|w| !(w[1].1 == w[0].1 || (w[1].1.is_nan() && w[0].1.is_nan()))).count() as f64)
        },
        "sum_over_time" => |p, _, _| Some(kahan_sum(p.iter().map(|x| x.1))),
        "avg_over_time" => |p, _, _| Some(avg_over_time(p)),
        "count_over_time" => |p, _, _| Some(p.len() as f64),
        "min_over_time" => |p, _, _| Some(fold_go(p, |cur, acc| cur < acc)),
        "max_over_time" => |p, _, _| Some(fold_go(p, |cur, acc| cur > acc)),
        "last_over_time" => |p, _, _| p.last().map(|x| x.1),
        "first_over_time" => |p, _, _| p.first().map(|x| x.1),
        "present_over_time" => |_, _, _| Some(1.0),
        "stddev_over_time" => |p, _, _| Some(variance(p.iter().map(|x| x.1)).sqrt()),
        "stdvar_over_time" => |p, _, _| Some(variance(p.iter().map(|x| x.1))),
        "mad_over_time" => |p, _, _| Some(median_absolute_deviation(p)),
        _ => return None,
    };
    Some(WindowFn { drop_name: !matches!(name, "last_over_time" | "first_over_time"), f, extrapolation })
}

/// Builds the output vector (metric name already handled) and refuses duplicates, as
/// Prometheus does when dropping the name makes two series collide.
fn finish(out: Vec<(Labels, f64)>, t: Timestamp) -> Result<Value> {
    check_unique(&out)?;
    Ok(at(out, t))
}

/// The instant vector of `out` at `t`, its label sets known to be distinct.
fn at(out: Vec<(Labels, f64)>, t: Timestamp) -> Value {
    Value::Vector(out.into_iter().map(|(labels, v)| Sample { labels, t, v }).collect())
}

/// Refuses duplicate label sets (outputs of one function that differed only by the
/// metric name, or by a label a function rewrote).
fn check_unique(out: &[(Labels, f64)]) -> Result<()> {
    if out.len() < 2 {
        return Ok(());
    }
    let mut seen = std::collections::HashSet::with_capacity_and_hasher(out.len(), crate::FastHash::default());
    for (l, _) in out {
        if !seen.insert(l) {
            return Err(exec("vector cannot contain metrics with the same labelset"));
        }
    }
    Ok(())
}

fn math_function(name: &str) -> Option<fn(f64) -> f64> {
    Some(match name {
        "abs" => f64::abs,
        "ceil" => f64::ceil,
        "floor" => f64::floor,
        "exp" => f64::exp,
        "sqrt" => f64::sqrt,
        "ln" => go_ln,
        "log2" => go_log2,
        // Go's Log10 is Log(x) * (1/Ln10), the constant folded exactly at compile time.
        "log10" => |v: f64| go_ln(v) * std::f64::consts::LOG10_E,
        "sgn" => |v: f64| {
            if v < 0.0 {
                -1.0
            } else if v > 0.0 {
                1.0
            } else {
                v
            }
        },
        "acos" => f64::acos,
        "acosh" => f64::acosh,
        "asin" => f64::asin,
        "asinh" => f64::asinh,
        "atan" => f64::atan,
        "atanh" => f64::atanh,
        "cos" => f64::cos,
        "cosh" => f64::cosh,
        "sin" => f64::sin,
        "sinh" => f64::sinh,
        "tan" => f64::tan,
        "tanh" => f64::tanh,
        "deg" => |v: f64| v * 180.0 / std::f64::consts::PI,
        "rad" => |v: f64| v * std::f64::consts::PI / 180.0,
        _ => return None,
    })
}

/// Go's `math.Log2`: exact for powers of two, otherwise `ln(frac) / ln 2 + exp` — a
/// different rounding from a native log2.
fn go_log2(v: f64) -> f64 {
    if v.is_nan() || v <= 0.0 || v.is_infinite() {
        return go_ln(v);
    }
    let (frac, exp) = frexp(v);
    if frac == 0.5 {
        return f64::from(exp - 1);
    }
    go_ln(frac) * std::f64::consts::LOG2_E + f64::from(exp)
}

/// Go's `math.Log` (fdlibm's `e_log.c`, which Go implements in Go and in amd64
/// assembly alike). It rounds differently from glibc's `log` in the last bit, and
/// PromQL's `ln`, `log2` and `log10` results are compared bit for bit.
pub fn go_ln(x: f64) -> f64 {
    // fdlibm's constants, as bit patterns (exactly what Go's source spells in decimal).
    const LN2_HI: f64 = f64::from_bits(0x3fe62e42fee00000);
    const LN2_LO: f64 = f64::from_bits(0x3dea39ef35793c76);
    const L: [f64; 7] = [
        f64::from_bits(0x3fe5555555555593),
        f64::from_bits(0x3fd999999997fa04),
        f64::from_bits(0x3fd2492494229359),
        f64::from_bits(0x3fcc71c51d8e78af),
        f64::from_bits(0x3fc7466496cb03de),
        f64::from_bits(0x3fc39a09d078c69f),
        f64::from_bits(0x3fc2f112df3e5244),
    ];
    if x.is_nan() || x == f64::INFINITY {
        return x;
    }
    if x < 0.0 {
        return f64::NAN;
    }
    if x == 0.0 {
        return f64::NEG_INFINITY;
    }
    let (mut f1, mut ki) = frexp(x);
    if f1 < std::f64::consts::SQRT_2 / 2.0 {
        f1 *= 2.0;
        ki -= 1;
    }
    let f = f1 - 1.0;
    let k = f64::from(ki);
    let s = f / (2.0 + f);
    let s2 = s * s;
    let s4 = s2 * s2;
    let t1 = s2 * (L[0] + s4 * (L[2] + s4 * (L[4] + s4 * L[6])));
    let t2 = s4 * (L[1] + s4 * (L[3] + s4 * L[5]));
    let r = t1 + t2;
    let hfsq = 0.5 * f * f;
    k * LN2_HI - ((hfsq - (s * (hfsq + r) + k * LN2_LO)) - f)
}

/// `v = frac × 2^exp` with `frac` in [0.5, 1), as Go's `math.Frexp`.
fn frexp(v: f64) -> (f64, i32) {
    let bits = v.to_bits();
    let raw_exp = ((bits >> 52) & 0x7ff) as i32;
    if raw_exp == 0 {
        // Subnormal: normalise first.
        let (f, e) = frexp(v * (1u64 << 54) as f64);
        return (f, e - 54);
    }
    let exp = raw_exp - 1022;
    let frac = f64::from_bits((bits & !(0x7ffu64 << 52)) | (1022u64 << 52));
    (frac, exp)
}

/// Go's `math.Max`: NaN wins (Rust's `f64::max` ignores it).
pub fn go_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() { f64::NAN } else { a.max(b) }
}

/// Go's `math.Min`: NaN wins.
pub fn go_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() { f64::NAN } else { a.min(b) }
}

fn map_values(ctx: &Ctx, arg: &Expr, t: Timestamp, f: impl Fn(f64) -> f64) -> Result<Vec<(Labels, f64)>> {
    Ok(ctx.eval_vector(arg, t)?.into_iter().map(|s| (s.labels.without_name(), f(s.v))).collect())
}

/// Applies `f` to each series of a range argument; `drop_name` as Prometheus does for
/// every range function but `last_over_time`/`first_over_time`.
/// `f` over each series of a range vector, the outputs' label sets checked distinct.
fn over_range(
    ctx: &Ctx,
    arg: &Expr,
    t: Timestamp,
    drop_name: bool,
    f: impl Fn(&[(Timestamp, f64)]) -> Option<f64>,
) -> Result<Vec<(Labels, f64)>> {
    let input = ctx.eval_matrix(arg, t)?;
    // Distinct series sharing one name stay distinct without it: hashing every output's
    // labels to check was a tenth of a rule evaluation.
    let may_collide = drop_name && input.windows(2).any(|w| w[0].labels.metric_name() != w[1].labels.metric_name());
    let out: Vec<(Labels, f64)> = input
        .into_iter()
        .filter_map(|s| {
            let v = f(&s.points)?;
            Some((if drop_name { s.labels.without_name() } else { s.labels }, v))
        })
        .collect();
    if may_collide {
        check_unique(&out)?;
    }
    Ok(out)
}

/// `rate`, `increase` and `delta` over a window `(range_start, range_end]`: the change,
/// extrapolated to the window's edges as Prometheus 3.x's `extrapolatedRate` does.
fn extrapolated(p: &[(Timestamp, f64)], start: Timestamp, end: Timestamp, how: Extrapolation) -> Option<f64> {
    if p.len() < 2 {
        return None;
    }
    let (first, last) = (p[0], p[p.len() - 1]);
    let mut span = Span::new(first, last, p.len(), start, end);
    if how.counter {
        // Added one at a time, in order, as Prometheus does: a sum of the resets added at
        // once rounds differently.
        for w in p.windows(2).filter(|w| w[1].1 < w[0].1) {
            span.increase += w[0].1;
        }
    }
    Some(extrapolate(&span, (end - start) as f64, how))
}

/// The extrapolation itself, in Prometheus's order of operations so that the result has
/// its bits. Inlined where it is called: a range query's loop over a block of windows
/// (`crate::range_query::SpanBlock`) then runs two windows to a division.
#[inline(always)]
pub(crate) fn extrapolate(s: &Span, range_ms: f64, how: Extrapolation) -> f64 {
    let sampled = s.sampled / 1000.0;
    let avg_step = sampled / s.gaps;
    let threshold = avg_step * 1.1;
    let mut to_start = s.to_start / 1000.0;
    let mut to_end = s.to_end / 1000.0;
    if to_start >= threshold {
        to_start = avg_step / 2.0;
    }
    if how.counter && s.increase > 0.0 && s.first_value >= 0.0 {
        // A counter cannot go below zero: don't extrapolate past where it would.
        to_start = to_start.min(sampled * (s.first_value / s.increase));
    }
    if to_end >= threshold {
        to_end = avg_step / 2.0;
    }
    let mut factor = (sampled + to_start + to_end) / sampled;
    if how.rate {
        factor /= range_ms / 1000.0;
    }
    s.increase * factor
}

fn instant_delta(p: &[(Timestamp, f64)], is_rate: bool) -> Option<f64> {
    if p.len() < 2 {
        return None;
    }
    let (prev, last) = (p[p.len() - 2], p[p.len() - 1]);
    let mut result = if is_rate && last.1 < prev.1 { last.1 } else { last.1 - prev.1 };
    let interval = last.0 - prev.0;
    if interval == 0 {
        return None;
    }
    if is_rate {
        result /= interval as f64 / 1000.0;
    }
    Some(result)
}

/// Neumaier-compensated increment, as Prometheus's `kahanSumInc`.
pub fn kahan_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if t.is_infinite() {
        0.0
    } else if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

pub fn kahan_sum(values: impl Iterator<Item = f64>) -> f64 {
    let (mut sum, mut c) = (0.0, 0.0);
    for v in values {
        (sum, c) = kahan_inc(v, sum, c);
    }
    if sum.is_infinite() { sum } else { sum + c }
}

/// Mean with Kahan summation, falling back to an incremental mean if the sum overflows
/// (Prometheus 3.x's `avg_over_time`, and the `avg` aggregation).
pub fn avg(values: impl Iterator<Item = f64>) -> f64 {
    crate::running_aggregation::Op::Avg.over(values)
}

/// `avg_over_time`: Prometheus 2.x's compensated incremental mean, unless the plain sum
/// overflows, where 3.x's overflow-safe path takes over. Both agree to an ulp on
/// ordinary data. The conformance suite's calibrated values were computed with the
/// incremental mean (its README), which passes four of its cases to 3.x's two; the two
/// it misses are extreme cancellations (`1 1e100 1 -1e100`).
fn avg_over_time(p: &[(Timestamp, f64)]) -> f64 {
    if p.iter().map(|x| x.1).sum::<f64>().is_infinite() && p.iter().all(|x| x.1.is_finite()) {
        return avg(p.iter().map(|x| x.1));
    }
    let (mut mean, mut count, mut c) = (0.0f64, 0.0, 0.0);
    for &(_, v) in p {
        count += 1.0;
        if mean.is_infinite() {
            if v.is_infinite() && (mean > 0.0) == (v > 0.0) {
                continue;
            }
            if !v.is_infinite() && !v.is_nan() {
                continue;
            }
        }
        (mean, c) = kahan_inc(v / count - mean / count, mean, c);
    }
    if mean.is_infinite() { mean } else { mean + c }
}

/// Population variance, Welford's method with compensation (Prometheus's
/// `stdvar_over_time`).
pub fn variance(values: impl Iterator<Item = f64>) -> f64 {
    let (mut count, mut mean, mut c_mean, mut aux, mut c_aux) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for v in values {
        count += 1.0;
        let delta = v - (mean + c_mean);
        (mean, c_mean) = kahan_inc(delta / count, mean, c_mean);
        (aux, c_aux) = kahan_inc(delta * (v - (mean + c_mean)), aux, c_aux);
    }
    (aux + c_aux) / count
}

/// Min or max as Go's loop computes it: a NaN is replaced by any later number.
fn fold_go(p: &[(Timestamp, f64)], better: impl Fn(f64, f64) -> bool) -> f64 {
    let mut acc = p[0].1;
    for &(_, v) in &p[1..] {
        if better(v, acc) || acc.is_nan() {
            acc = v;
        }
    }
    acc
}

/// The median of the values' distances from their median (`mad_over_time`).
fn median_absolute_deviation(p: &[(Timestamp, f64)]) -> f64 {
    let median = quantile(0.5, &mut p.iter().map(|x| x.1).collect::<Vec<_>>());
    quantile(0.5, &mut p.iter().map(|x| (x.1 - median).abs()).collect::<Vec<_>>())
}

/// Holt's linear smoothing of a window's values with smoothing factor `sf` and trend
/// factor `tf`, its last smoothed value (Prometheus's `double_exponential_smoothing`,
/// `holt_winters` before 3.0); nothing for fewer than two samples.
fn double_exponential_smoothing(p: &[(Timestamp, f64)], sf: f64, tf: f64) -> Option<f64> {
    if p.len() < 2 {
        return None;
    }
    let (mut s0, mut s1, mut b) = (0.0, p[0].1, p[1].1 - p[0].1);
    for (i, (_, v)) in p.iter().enumerate().skip(1) {
        if i > 1 {
            b = tf * (s1 - s0) + (1.0 - tf) * b;
        }
        let next = sf * v + (1.0 - sf) * (s1 + b);
        (s0, s1) = (s1, next);
    }
    Some(s1)
}

/// Prometheus's `quantile`: linear interpolation between closest ranks; NaNs sort first.
pub fn quantile(q: f64, values: &mut [f64]) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    values.sort_by(|a, b| order_by_value(*a, *b, false));
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    values[lower as usize] * (1.0 - weight) + values[upper as usize] * weight
}

/// Orders values with NaN first ascending (last descending), as Prometheus sorts.
pub fn order_by_value(a: f64, b: f64, desc: bool) -> std::cmp::Ordering {
    use std::cmp::Ordering::*;
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Equal,
        (true, false) => {
            if desc {
                Greater
            } else {
                Less
            }
        }
        (false, true) => {
            if desc {
                Less
            } else {
                Greater
            }
        }
        _ => {
            let o = a.partial_cmp(&b).unwrap_or(Equal);
            if desc { o.reverse() } else { o }
        }
    }
}

/// Least-squares slope and intercept at `intercept_time`, with compensated sums
/// (Prometheus's `linearRegression`).
pub fn linear_regression(p: &[(Timestamp, f64)], intercept_time: Timestamp) -> (f64, f64) {
    let init_y = p[0].1;
    let const_y = p.iter().all(|x| x.1 == init_y);
    if const_y {
        return if init_y.is_infinite() { (f64::NAN, f64::NAN) } else { (0.0, init_y) };
    }
    let n = p.len() as f64;
    let (mut sx, mut cx, mut sy, mut cy, mut sxy, mut cxy, mut sx2, mut cx2) = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    for &(ts, y) in p {
        let x = (ts - intercept_time) as f64 / 1e3;
        (sx, cx) = kahan_inc(x, sx, cx);
        (sy, cy) = kahan_inc(y, sy, cy);
        (sxy, cxy) = kahan_inc(x * y, sxy, cxy);
        (sx2, cx2) = kahan_inc(x * x, sx2, cx2);
    }
    let (sx, sy, sxy, sx2) = (sx + cx, sy + cy, sxy + cxy, sx2 + cx2);
    let cov = sxy - sx * sy / n;
    let var = sx2 - sx * sx / n;
    let slope = cov / var;
    (slope, sy / n - slope * sx / n)
}

/// `absent`/`absent_over_time`: one sample when the argument is empty, labelled from the
/// selector's equality matchers (a name matched twice is left out, as in Prometheus).
fn absent(arg: &Expr, t: Timestamp, empty: bool) -> Result<Value> {
    if !empty {
        return Ok(Value::Vector(Vec::new()));
    }
    let vs = match arg {
        Expr::VectorSelector(vs) => Some(vs),
        Expr::MatrixSelector(ms) => Some(&ms.vs),
        _ => None,
    };
    let mut b = LabelsBuilder::new(Labels::empty());
    if let Some(vs) = vs {
        let mut has = std::collections::HashSet::new();
        for m in &vs.matchers.matchers {
            if m.name == cardinal_model::labels::METRIC_NAME {
                continue;
            }
            if matches!(m.op, promql_parser::label::MatchOp::Equal) && has.insert(m.name.clone()) {
                b.set(m.name.clone(), m.value.clone());
            } else {
                b.del(&m.name);
            }
        }
    }
    Ok(Value::Vector(vec![Sample { labels: b.build(), t, v: 1.0 }]))
}

fn string_arg(ctx: &Ctx, e: &Expr, t: Timestamp) -> Result<String> {
    match ctx.eval_node(e, t)? {
        Value::String(s) => Ok(s),
        other => Err(exec(format!("expected string, got {}", other.type_name()))),
    }
}

fn label_replace(ctx: &Ctx, args: &[&Expr], t: Timestamp) -> Result<Value> {
    let v = ctx.eval_vector(args[0], t)?;
    let dst = string_arg(ctx, args[1], t)?;
    let repl = string_arg(ctx, args[2], t)?;
    let src = string_arg(ctx, args[3], t)?;
    let re_src = string_arg(ctx, args[4], t)?;
    let re = regex::Regex::new(&format!("^(?s:{re_src})$"))
        .map_err(|e| exec(format!("invalid regular expression in label_replace(): {re_src}: {e}")))?;
    if !is_valid_label_name(&dst) {
        return Err(exec(format!("invalid destination label name in label_replace(): {dst}")));
    }
    let out = v
        .into_iter()
        .map(|s| {
            let value = s.labels.get(&src).unwrap_or("");
            let labels = match re.captures(value) {
                Some(caps) => {
                    let mut res = String::new();
                    caps.expand(&repl, &mut res);
                    let mut b = LabelsBuilder::new(s.labels.clone());
                    b.set(dst.clone(), res);
                    b.build()
                }
                None => s.labels,
            };
            (labels, s.v)
        })
        .collect();
    finish(out, t)
}

fn label_join(ctx: &Ctx, args: &[&Expr], t: Timestamp) -> Result<Value> {
    let v = ctx.eval_vector(args[0], t)?;
    let dst = string_arg(ctx, args[1], t)?;
    let sep = string_arg(ctx, args[2], t)?;
    let srcs = args[3..].iter().map(|a| string_arg(ctx, a, t)).collect::<Result<Vec<_>>>()?;
    if !is_valid_label_name(&dst) {
        return Err(exec(format!("invalid destination label name in label_join(): {dst}")));
    }
    let out = v
        .into_iter()
        .map(|s| {
            let joined = srcs.iter().map(|n| s.labels.get(n).unwrap_or("")).collect::<Vec<_>>().join(&sep);
            let mut b = LabelsBuilder::new(s.labels);
            b.set(dst.clone(), joined);
            (b.build(), s.v)
        })
        .collect();
    finish(out, t)
}

fn date_function(ctx: &Ctx, args: &[&Expr], t: Timestamp, name: &str) -> Result<Vec<(Labels, f64)>> {
    let input = match args.first() {
        Some(a) => ctx.eval_vector(a, t)?,
        None => vec![Sample { labels: Labels::empty(), t, v: t as f64 / 1000.0 }],
    };
    Ok(input
        .into_iter()
        .map(|s| {
            let v = chrono::DateTime::from_timestamp(s.v as i64, 0).map_or(f64::NAN, |d| {
                f64::from(match name {
                    "minute" => chrono::Timelike::minute(&d),
                    "hour" => chrono::Timelike::hour(&d),
                    "day_of_month" => d.day(),
                    "day_of_week" => d.weekday().num_days_from_sunday(),
                    "day_of_year" => d.ordinal(),
                    "days_in_month" => days_in_month(d.year(), d.month()),
                    "month" => d.month(),
                    _ => d.year() as u32,
                })
            });
            (s.labels.without_name(), v)
        })
        .collect())
}

fn days_in_month(year: i32, month: u32) -> u32 {
    let (ny, nm) = if month == 12 { (year + 1, 1) } else { (year, month + 1) };
    let first_next = chrono::NaiveDate::from_ymd_opt(ny, nm, 1);
    let first = chrono::NaiveDate::from_ymd_opt(year, month, 1);
    match (first, first_next) {
        (Some(a), Some(b)) => (b - a).num_days() as u32,
        _ => 30,
    }
}

/// Applies `f` to each classic histogram in a vector of `_bucket` series: buckets are
/// grouped by their labels without `le` (and the metric name).
fn per_histogram(ctx: &Ctx, arg: &Expr, t: Timestamp, f: impl Fn(&mut Vec<(f64, f64)>) -> f64) -> Result<Value> {
    let v = ctx.eval_vector(arg, t)?;
    let mut groups: std::collections::BTreeMap<Labels, Vec<(f64, f64)>> = std::collections::BTreeMap::new();
    for s in v {
        let Some(le) = s.labels.get("le").and_then(|le| le.trim().parse::<f64>().ok()) else { continue };
        let mut b = LabelsBuilder::new(s.labels);
        b.del("le").del(cardinal_model::labels::METRIC_NAME);
        groups.entry(b.build()).or_default().push((le, s.v));
    }
    let out = groups.into_iter().map(|(l, mut buckets)| (l, f(&mut buckets))).collect();
    finish(out, t)
}

/// Sorts buckets by bound and merges equal bounds; false when there is no `+Inf` bucket.
fn normalise(buckets: &mut Vec<(f64, f64)>) -> bool {
    buckets.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal));
    if buckets.last().is_none_or(|b| b.0 != f64::INFINITY) {
        return false;
    }
    buckets.dedup_by(|b, a| {
        if a.0 == b.0 {
            a.1 += b.1;
            true
        } else {
            false
        }
    });
    ensure_monotonic(buckets);
    true
}

/// The fraction of observations in `[lower, upper]` of a classic histogram (Prometheus
/// 3.x): linear interpolation inside a bucket, the first bucket starting at 0 when its
/// bound is positive, and a bucket with an infinite edge holding its mass at that edge.
pub fn bucket_fraction(lower: f64, upper: f64, buckets: &mut Vec<(f64, f64)>) -> f64 {
    if !normalise(buckets) {
        return f64::NAN;
    }
    let total = buckets[buckets.len() - 1].1;
    if total == 0.0 || lower.is_nan() || upper.is_nan() {
        return f64::NAN;
    }
    if lower >= upper {
        return 0.0;
    }
    (rank_at(upper, buckets) - rank_at(lower, buckets)) / total
}

/// Observations at or below `v`, estimated.
fn rank_at(v: f64, buckets: &[(f64, f64)]) -> f64 {
    for (i, &(ub, count)) in buckets.iter().enumerate() {
        let (lb, prev) = match i {
            0 if ub > 0.0 => (0.0, 0.0),
            0 => (f64::NEG_INFINITY, 0.0),
            _ => buckets[i - 1],
        };
        if v <= lb {
            return prev;
        }
        if v == ub {
            return count;
        }
        if v < ub {
            return if lb == f64::NEG_INFINITY {
                count
            } else if ub == f64::INFINITY {
                prev
            } else {
                prev + (count - prev) * (v - lb) / (ub - lb)
            };
        }
    }
    buckets.last().map_or(0.0, |b| b.1)
}

/// Prometheus 3.x's `bucketQuantile` on (upper bound, cumulative count) pairs.
pub fn bucket_quantile(q: f64, buckets: &mut Vec<(f64, f64)>) -> f64 {
    if q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    if !normalise(buckets) {
        return f64::NAN;
    }
    if buckets.len() < 2 {
        return f64::NAN;
    }
    let observations = buckets[buckets.len() - 1].1;
    if observations == 0.0 {
        return f64::NAN;
    }
    let mut rank = q * observations;
    let b = buckets[..buckets.len() - 1].partition_point(|x| x.1 < rank);
    if b == buckets.len() - 1 {
        return buckets[buckets.len() - 2].0;
    }
    if b == 0 && buckets[0].0 <= 0.0 {
        return buckets[0].0;
    }
    let (mut start, end, mut count) = (0.0, buckets[b].0, buckets[b].1);
    if b > 0 {
        start = buckets[b - 1].0;
        count -= buckets[b - 1].1;
        rank -= buckets[b - 1].1;
    }
    start + (end - start) * (rank / count)
}

/// Cumulative counts must not decrease; tiny float differences are treated as equal.
fn ensure_monotonic(buckets: &mut [(f64, f64)]) {
    const TOLERANCE: f64 = 1e-12;
    let mut prev = buckets[0].1;
    for b in buckets.iter_mut().skip(1) {
        let curr = b.1;
        if curr == prev {
            continue;
        }
        if almost_equal(prev, curr, TOLERANCE) || curr < prev {
            b.1 = prev;
            continue;
        }
        prev = curr;
    }
}

/// Prometheus's `almost.Equal`: relative comparison, with a floor near zero.
pub fn almost_equal(a: f64, b: f64, epsilon: f64) -> bool {
    const MIN_NORMAL: f64 = f64::MIN_POSITIVE;
    if a == b {
        return true;
    }
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < MIN_NORMAL {
        return diff < epsilon * MIN_NORMAL;
    }
    diff / abs_sum.min(f64::MAX) < epsilon
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_resets_are_added_one_at_a_time_as_prometheus_does() {
        // Two resets: added in order, (3 - 1e16) + 1e16 + 1 = 5; added as one sum
        // (1e16 + 1 rounds to 1e16) it would be 4.
        let p = [(0, 1e16), (1000, 0.0), (2000, 1.0), (3000, 0.0), (4000, 3.0)];
        assert_eq!(extrapolated(&p, 0, 4000, INCREASE), Some(5.0));
    }

    #[test]
    fn logs_round_as_go_does() {
        assert_eq!(go_ln(1.0), 0.0);
        assert_eq!(go_log2(8.0), 3.0);
        // Values promtool 2.42 printed for log10(10), log10(20), log10(99) and ln(77).
        let log10 = |v: f64| go_ln(v) * std::f64::consts::LOG10_E;
        assert_eq!(log10(10.0), 1.0);
        assert_eq!(log10(20.0), 1.301029995663981, "a log2-based route gives 1.3010299956639813");
        assert_eq!(log10(99.0), 1.99563519459755);
        assert_eq!(go_ln(77.0), 4.343805421853684);
        assert!(go_ln(-1.0).is_nan());
        assert_eq!(go_ln(0.0), f64::NEG_INFINITY);
        for v in [1e-300, 0.1, 0.5, 2.0, 1e300, f64::MIN_POSITIVE / 4.0] {
            assert!((go_ln(v) - v.ln()).abs() <= v.ln().abs() * 1e-15, "{v}");
        }
    }

    #[test]
    fn bucket_fraction_edges() {
        let mut b = vec![(1.0, 1.0), (2.0, 3.0), (3.0, 6.0), (f64::INFINITY, 100.0)];
        assert_eq!(bucket_fraction(0.0, 1.5, &mut b.clone()), 0.02);
        assert_eq!(bucket_fraction(400.0, f64::INFINITY, &mut b.clone()), 0.94);
        assert_eq!(bucket_fraction(3.0, 2.0, &mut b), 0.0);
        let mut neg = vec![(-3.0, 10.0), (-2.0, 12.0), (-1.0, 15.0), (f64::INFINITY, 100.0)];
        assert_eq!(bucket_fraction(-4.0, -2.0, &mut neg), 0.02);
        assert!(bucket_fraction(0.0, 1.0, &mut vec![(1.0, 1.0)]).is_nan(), "no +Inf bucket");
    }

    #[test]
    fn bucket_quantile_interpolates_and_guards() {
        let mut b = vec![(0.1, 5.0), (0.2, 7.0), (1.0, 11.0), (f64::INFINITY, 12.0)];
        assert_eq!(bucket_quantile(0.5, &mut b.clone()), 0.1 + 0.1 * (1.0 / 2.0));
        assert_eq!(bucket_quantile(1.0, &mut b.clone()), 1.0, "top bucket reports the second-highest bound");
        assert_eq!(bucket_quantile(-1.0, &mut b.clone()), f64::NEG_INFINITY);
        assert!(bucket_quantile(f64::NAN, &mut b).is_nan());
        let mut non_monotonic = vec![(1.0, 5.0), (2.0, 4.0), (f64::INFINITY, 10.0)];
        assert_eq!(bucket_quantile(0.45, &mut non_monotonic), 1.0 * (4.5 / 5.0));
    }

    #[test]
    fn kahan_keeps_small_terms() {
        assert_eq!(kahan_sum([1.0, 1e100, 1.0, -1e100].into_iter()), 2.0);
    }

    #[test]
    fn go_min_max_propagate_nan() {
        assert!(go_max(f64::NAN, 1.0).is_nan());
        assert!(go_min(1.0, f64::NAN).is_nan());
        assert_eq!(go_max(1.0, 2.0), 2.0);
    }
}
