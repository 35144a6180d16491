//! The parameterless aggregations (`sum`, `avg`, `min`, …) as running folds: a group's
//! value is built one input at a time, in input order. The step-by-step evaluator folds a
//! group's values at one step; range evaluation (`crate::range_query`) folds each series into
//! its group's state at every step as it goes, without holding every series' points. Both
//! fold in series order, so their results are the same to the bit.

use crate::functions::kahan_inc;

/// Which aggregation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    Sum,
    Avg,
    Count,
    Group,
    Min,
    Max,
    Stdvar,
    Stddev,
}

impl Op {
    pub(crate) fn parse(op: &str) -> Option<Op> {
        Some(match op {
            "sum" => Op::Sum,
            "avg" => Op::Avg,
            "count" => Op::Count,
            "group" => Op::Group,
            "min" => Op::Min,
            "max" => Op::Max,
            "stdvar" => Op::Stdvar,
            "stddev" => Op::Stddev,
            _ => return None,
        })
    }

    /// The aggregation of `values` (at least one).
    pub(crate) fn over(self, values: impl IntoIterator<Item = f64>) -> f64 {
        let mut f = Fold::default();
        values.into_iter().for_each(|v| f.push(self, v));
        f.finish(self)
    }
}

/// The running state of one group's aggregation. The fields mean what `push` makes them
/// mean for the operation; one small struct for all keeps a range query's states (one per
/// group and step) in one flat vector.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Fold {
    /// Inputs folded so far.
    pub n: f64,
    /// Sum (sum, avg), extreme (min, max) or squared deviations (stdvar).
    a: f64,
    /// Running mean (avg once the sum overflowed, stdvar).
    mean: f64,
    /// Kahan compensation.
    c: f64,
    /// avg: the sum overflowed and the mean is kept incrementally instead (Prometheus 3.x).
    incremental: bool,
}

impl Fold {
    pub(crate) fn push(&mut self, op: Op, x: f64) {
        let first = self.n == 0.0;
        self.n += 1.0;
        match op {
            Op::Count | Op::Group => {}
            Op::Sum => (self.a, self.c) = kahan_inc(x, self.a, self.c),
            // Go's min/max loop: NaN is replaced by any number.
            Op::Min if first || x < self.a || self.a.is_nan() => self.a = x,
            Op::Max if first || x > self.a || self.a.is_nan() => self.a = x,
            Op::Min | Op::Max => {}
            Op::Avg if first => self.a = x,
            Op::Avg => self.push_avg(x),
            // Welford's update, as Prometheus's `stdvar` aggregation.
            Op::Stdvar | Op::Stddev if first => self.mean = x,
            Op::Stdvar | Op::Stddev => {
                let delta = x - self.mean;
                self.mean += delta / self.n;
                self.a += delta * (x - self.mean);
            }
        }
    }

    /// Mean with Kahan summation, falling back to an incremental mean if the sum
    /// overflows (Prometheus 3.x).
    fn push_avg(&mut self, x: f64) {
        let n = self.n;
        if !self.incremental {
            let (sum, c) = kahan_inc(x, self.a, self.c);
            if !sum.is_infinite() {
                (self.a, self.c) = (sum, c);
                return;
            }
            self.incremental = true;
            self.mean = self.a / (n - 1.0);
            self.c /= n - 1.0;
        }
        let q = (n - 1.0) / n;
        (self.mean, self.c) = kahan_inc(x / n, q * self.mean, q * self.c);
    }

    pub(crate) fn finish(&self, op: Op) -> f64 {
        match op {
            Op::Count => self.n,
            Op::Group => 1.0,
            Op::Sum if self.a.is_infinite() => self.a,
            Op::Sum => self.a + self.c,
            Op::Min | Op::Max => self.a,
            Op::Avg if self.n == 0.0 => f64::NAN,
            Op::Avg if self.incremental => self.mean + self.c,
            Op::Avg => self.a / self.n + self.c / self.n,
            Op::Stdvar => self.a / self.n,
            Op::Stddev => (self.a / self.n).sqrt(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_aggregation_folds_as_prometheus_computes_it() {
        let v = [3.0, 1.0, f64::NAN, 2.0];
        assert_eq!(Op::Sum.over([0.1, 0.2, 0.3]), 0.6, "compensated: plain addition gives 0.6000000000000001");
        assert_eq!(Op::Count.over(v), 4.0);
        assert_eq!(Op::Group.over(v), 1.0);
        assert_eq!(Op::Min.over(v), 1.0);
        assert_eq!(Op::Max.over(v), 3.0);
        assert_eq!(Op::Min.over([f64::NAN, 5.0]), 5.0, "a leading NaN is replaced");
        assert!(Op::Max.over([f64::NAN]).is_nan());
        assert_eq!(Op::Avg.over([1.0, 2.0, 4.0]), 7.0 / 3.0);
        assert_eq!(Op::Avg.over([1.0, 1e100, 1.0, -1e100]), 0.5, "compensated");
        let overflowing = Op::Avg.over([f64::MAX, f64::MAX, -f64::MAX]);
        assert!((overflowing / (f64::MAX / 3.0) - 1.0).abs() < 1e-15, "the sum overflows: {overflowing}");
        assert_eq!(Op::Stdvar.over([2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]), 4.0);
        assert_eq!(Op::Stddev.over([2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]), 2.0);
        assert_eq!(Op::Stdvar.over([7.0]), 0.0);
    }
}
