//! What the PromQL property tests share: series with gaps, counter resets and stale
//! markers, written into a head.

use cardinal_model::{Labels, stale_nan};
use cardinal_tsdb::Head;

/// A series: its metric name, two label values, and (time step, increment) pairs. An
/// increment of -1 resets the counter; NaN writes a stale marker.
pub type Input = (&'static str, u8, u8, Vec<(i64, f64)>);

pub fn head(data: &[Input]) -> Head {
    let h = Head::new();
    for (name, a, b, samples) in data {
        let labels = Labels::from_pairs([("__name__", name.to_string()), ("a", a.to_string()), ("b", b.to_string())]);
        let (s, _) = h.get_or_create(&labels);
        let (mut t, mut v) = (0i64, 0.0f64);
        for &(dt, dv) in samples {
            t += dt;
            v = if dv < 0.0 {
                0.0
            } else if dv.is_nan() {
                stale_nan()
            } else {
                v.max(0.0) + dv
            };
            let _ = h.append(&s, t, v);
            if v.is_nan() {
                v = 0.0;
            }
        }
    }
    h
}
