//! What one output group accumulates within one interval, and the value each output kind
//! reads off it.

use cardinal_config::RollupOutput;
use cardinal_model::Timestamp;

/// One group's aggregate over one window. Every kind of output reads its value from the
/// same fields, so a rule's windows need no per-kind layout.
#[derive(Clone, Debug, PartialEq)]
pub struct Acc {
    /// Sum of the inputs' increases (counter outputs).
    pub delta: f64,
    /// Sum over inputs of each one's newest value in the window.
    pub sum_last: f64,
    /// Inputs with a sample in the window.
    pub series: u32,
    /// Every sample in the window: their sum and number (for `avg`), extremes, newest.
    pub sum: f64,
    pub samples: u32,
    pub min: f64,
    pub max: f64,
    pub last_t: Timestamp,
    pub last_v: f64,
}

impl Default for Acc {
    fn default() -> Self {
        Acc {
            delta: 0.0,
            sum_last: 0.0,
            series: 0,
            sum: 0.0,
            samples: 0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            last_t: Timestamp::MIN,
            last_v: 0.0,
        }
    }
}

impl Acc {
    /// Adds one input sample: its counter increase, its value, and the input's previous
    /// value in this same window, if it had one.
    pub fn add(&mut self, delta: f64, v: f64, prev_in_window: Option<f64>, t: Timestamp) {
        self.delta += delta;
        match prev_in_window {
            Some(p) => self.sum_last += v - p,
            None => {
                self.series += 1;
                self.sum_last += v;
            }
        }
        self.sum += v;
        self.samples += 1;
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        if t >= self.last_t {
            self.last_t = t;
            self.last_v = v;
        }
    }

    /// Takes in another window's increases (all an increase-based output reads), for
    /// counting a cut-short window in a later one.
    pub fn absorb_increases(&mut self, other: &Acc) {
        self.delta += other.delta;
        self.samples += other.samples;
        self.series = self.series.max(other.series);
    }

    pub fn is_empty(&self) -> bool {
        self.samples == 0
    }

    /// The value a non-cumulative output writes for this window (`None`: nothing to write).
    pub fn value(&self, output: RollupOutput, step_secs: f64) -> Option<f64> {
        if self.is_empty() {
            return None;
        }
        Some(match output {
            // Cumulative outputs add `delta` to their group's running total instead.
            RollupOutput::Total | RollupOutput::TotalPrometheus | RollupOutput::Increase => self.delta,
            RollupOutput::RateSum => self.delta / step_secs,
            RollupOutput::RateAvg => self.delta / step_secs / f64::from(self.series),
            RollupOutput::Sum => self.sum_last,
            RollupOutput::Min => self.min,
            RollupOutput::Max => self.max,
            RollupOutput::Avg => self.sum / f64::from(self.samples),
            RollupOutput::Last => self.last_v,
            RollupOutput::CountSeries => f64::from(self.series),
        })
    }
}

/// Outputs that are running totals: each window adds to the group's total and every live
/// group is written, with or without samples in the window.
pub fn is_cumulative(output: RollupOutput) -> bool {
    matches!(output, RollupOutput::Total | RollupOutput::TotalPrometheus)
}

/// Whether a new input's first sample counts as an increase from zero (`total`,
/// `increase`) or only sets its baseline (`total_prometheus`, rates: a rate needs two
/// samples).
pub fn first_sample_counts(output: RollupOutput) -> bool {
    matches!(output, RollupOutput::Total | RollupOutput::Increase)
}

/// Whether the output is built from counter increases (and so a late sample is better
/// counted in a later window than dropped: its increase is real either way).
pub fn from_increases(output: RollupOutput) -> bool {
    matches!(
        output,
        RollupOutput::Total
            | RollupOutput::TotalPrometheus
            | RollupOutput::Increase
            | RollupOutput::RateSum
            | RollupOutput::RateAvg
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_output_reads_its_field() {
        let mut a = Acc::default();
        // Input 1: 5 then 7 in the window; input 2: 10.
        a.add(5.0, 5.0, None, 1);
        a.add(2.0, 7.0, Some(5.0), 2);
        a.add(1.0, 10.0, None, 3);
        let v = |o| a.value(o, 2.0).unwrap();
        assert_eq!(v(RollupOutput::Increase), 8.0);
        assert_eq!(v(RollupOutput::RateSum), 4.0);
        assert_eq!(v(RollupOutput::RateAvg), 2.0);
        assert_eq!(v(RollupOutput::Sum), 17.0, "each input's newest value");
        assert_eq!(v(RollupOutput::Min), 5.0);
        assert_eq!(v(RollupOutput::Max), 10.0);
        assert_eq!(v(RollupOutput::Avg), 22.0 / 3.0);
        assert_eq!(v(RollupOutput::Last), 10.0);
        assert_eq!(v(RollupOutput::CountSeries), 2.0);
        assert_eq!(Acc::default().value(RollupOutput::Sum, 1.0), None);
    }
}
