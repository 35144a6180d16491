//! A Prometheus histogram for our own `/metrics`: fixed upper bounds, cumulative buckets
//! with `le`, and the sum and count.

#[derive(Clone, Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    /// Observations at or below each bound (not yet cumulative).
    counts: Vec<u64>,
    pub sum: f64,
    pub count: u64,
}

impl Histogram {
    pub fn new(bounds: &'static [f64]) -> Histogram {
        Histogram { bounds, counts: vec![0; bounds.len()], sum: 0.0, count: 0 }
    }

    pub fn observe(&mut self, v: f64) {
        if let Some(i) = self.bounds.iter().position(|b| v <= *b) {
            self.counts[i] += 1;
        }
        self.sum += v;
        self.count += 1;
    }

    /// Writes its `_bucket` samples (with `+Inf`), `_sum` and `_count` with `labels`.
    pub fn write(&self, out: &mut String, name: &str, labels: &[(&str, &str)]) {
        let bucket = format!("{name}_bucket");
        let mut cumulative = 0;
        for (bound, n) in self.bounds.iter().zip(&self.counts) {
            cumulative += n;
            let le = cardinal_model::number::go_f(*bound);
            let with_le = labels.iter().copied().chain([("le", le.as_str())]);
            crate::text::write_sample(out, &bucket, with_le, cumulative as f64, None);
        }
        let with_inf = labels.iter().copied().chain([("le", "+Inf")]);
        crate::text::write_sample(out, &bucket, with_inf, self.count as f64, None);
        crate::text::write_sum_and_count(out, name, labels, self.sum, self.count);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_cumulative_and_end_at_infinity() {
        let mut h = Histogram::new(&[0.1, 1.0]);
        for v in [0.05, 0.5, 0.7, 5.0] {
            h.observe(v);
        }
        let mut out = String::new();
        h.write(&mut out, "d_seconds", &[("handler", "/x")]);
        assert_eq!(
            out.lines().collect::<Vec<_>>(),
            [
                "d_seconds_bucket{handler=\"/x\",le=\"0.1\"} 1",
                "d_seconds_bucket{handler=\"/x\",le=\"1\"} 3",
                "d_seconds_bucket{handler=\"/x\",le=\"+Inf\"} 4",
                "d_seconds_sum{handler=\"/x\"} 6.25",
                "d_seconds_count{handler=\"/x\"} 4",
            ]
        );
    }
}
