//! A Prometheus summary for our own `/metrics`: the running sum and count, and quantiles
//! over the most recent observations (Prometheus's client keeps a ten-minute window; a
//! fixed number of the latest observations is the same idea, bounded in memory).

use std::collections::VecDeque;

/// Observations kept for the quantiles.
const KEPT: usize = 512;

#[derive(Default, Clone)]
pub struct Summary {
    recent: VecDeque<f64>,
    pub sum: f64,
    pub count: u64,
}

impl Summary {
    pub fn observe(&mut self, v: f64) {
        if self.recent.len() == KEPT {
            self.recent.pop_front();
        }
        self.recent.push_back(v);
        self.sum += v;
        self.count += 1;
    }

    /// The `q` quantile of the recent observations (nearest rank); NaN when there are none,
    /// as a Prometheus summary reports an empty window.
    pub fn quantile(&self, q: f64) -> f64 {
        if self.recent.is_empty() {
            return f64::NAN;
        }
        let mut sorted: Vec<f64> = self.recent.iter().copied().collect();
        sorted.sort_by(f64::total_cmp);
        let rank = (q * (sorted.len() - 1) as f64).round() as usize;
        sorted[rank.min(sorted.len() - 1)]
    }

    /// Writes its `quantile` samples and `_sum`/`_count` with `labels` (the family's HELP
    /// and TYPE written once by the caller).
    pub fn write(&self, out: &mut String, name: &str, labels: &[(&str, &str)], quantiles: &[f64]) {
        for q in quantiles {
            let q_text = cardinal_model::number::go_f(*q);
            let with_q = labels.iter().copied().chain([("quantile", q_text.as_str())]);
            crate::text::write_sample(out, name, with_q, self.quantile(*q), None);
        }
        crate::text::write_sum_and_count(out, name, labels, self.sum, self.count);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_come_from_the_latest_observations_and_sum_and_count_from_all() {
        let mut s = Summary::default();
        assert!(s.quantile(0.5).is_nan());
        for v in 1..=100 {
            s.observe(v as f64);
        }
        assert_eq!(s.quantile(0.0), 1.0);
        assert_eq!(s.quantile(0.5), 51.0);
        assert_eq!(s.quantile(0.99), 99.0);
        for _ in 0..KEPT {
            s.observe(1000.0);
        }
        assert_eq!(s.quantile(0.01), 1000.0, "the old observations left the window");
        assert_eq!(s.count, 100 + KEPT as u64);
        assert_eq!(s.sum, 5050.0 + 1000.0 * KEPT as f64);
        let mut out = String::new();
        s.write(&mut out, "x_seconds", &[("a", "b")], &[0.5]);
        assert_eq!(
            out.lines().collect::<Vec<_>>(),
            [
                "x_seconds{a=\"b\",quantile=\"0.5\"} 1000",
                &format!("x_seconds_sum{{a=\"b\"}} {}", 5050 + 1000 * KEPT),
                &format!("x_seconds_count{{a=\"b\"}} {}", 100 + KEPT),
            ]
        );
    }
}
