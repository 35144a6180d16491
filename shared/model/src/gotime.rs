//! Go's formatting of a millisecond time in UTC, as Prometheus prints times in alert
//! payloads and templates: the fraction of a second only as long as it needs to be.

use crate::Timestamp;

/// `layout` (a chrono format for the whole seconds), then `.fff` with trailing zeros
/// dropped (none for a whole second).
pub fn utc_millis(ms: Timestamp, layout: &str) -> String {
    let t = chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default();
    let frac = format!("{:03}", ms.rem_euclid(1000));
    let frac = frac.trim_end_matches('0');
    let dot = if frac.is_empty() { "" } else { "." };
    format!("{}{dot}{frac}", t.format(layout))
}
