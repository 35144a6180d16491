//! Pyroscope's text formats: `folded` (also called `collapsed`: `a;b;c 100` per line) and
//! `lines` (one stack per line, each counting once). Their profile type comes from the
//! `units` parameter, as in Pyroscope's legacy ingest.

use crate::Rejection;
use crate::profile::{Group, Profile, ProfileType, Stacks};

/// What `/ingest` says about a text profile.
pub struct TextParams<'a> {
    pub units: &'a str,
    pub sample_rate: u32,
    pub aggregation: &'a str,
    pub app_suffix: Option<&'a str>,
}

/// A text profile's type and the factor its values are scaled by (cpu samples become
/// nanoseconds at `sampleRate`).
pub fn text_type(p: &TextParams<'_>) -> Result<(ProfileType, f64), Rejection> {
    let t = |name: &str, st: &str, su: &str, pt: &str, pu: &str| ProfileType {
        name: name.into(),
        sample_type: st.into(),
        sample_unit: su.into(),
        period_type: pt.into(),
        period_unit: pu.into(),
    };
    let inuse = p.aggregation == "average" || p.app_suffix.is_some_and(|s| s.starts_with("inuse_"));
    Ok(match p.units {
        "samples" => {
            let ns_per_sample = 1e9 / f64::from(p.sample_rate.max(1));
            (t("process_cpu", "cpu", "nanoseconds", "cpu", "nanoseconds"), ns_per_sample)
        }
        "objects" => {
            (t("memory", if inuse { "inuse_objects" } else { "alloc_objects" }, "count", "space", "bytes"), 1.0)
        }
        "bytes" => (t("memory", if inuse { "inuse_space" } else { "alloc_space" }, "bytes", "space", "bytes"), 1.0),
        "lock_samples" => (t("mutex", "contentions", "count", "contentions", "count"), 1.0),
        "lock_nanoseconds" => (t("mutex", "delay", "nanoseconds", "contentions", "count"), 1.0),
        "goroutines" => (t("goroutines", "goroutine", "count", "goroutine", "count"), 1.0),
        other => return Err(Rejection::BadRequest("invalid_parameter", format!("unknown units {other:?}"))),
    })
}

/// Parses a text profile. `folded` lines end in a count; `lines` lines are one sample.
pub fn decode(
    body: &[u8],
    folded: bool,
    params: &TextParams<'_>,
    labels: Vec<(String, String)>,
    end_ms: i64,
) -> Result<Profile, Rejection> {
    let (ty, scale) = text_type(params)?;
    let text = std::str::from_utf8(body)
        .map_err(|_| Rejection::BadRequest("invalid_profile", "profile is not UTF-8 text".into()))?;
    let mut stacks = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let (stack, count) = if folded { folded_line(line, i + 1)? } else { (line, 1) };
        stacks.push((stack.to_string(), count as f64 * scale));
    }
    let total = stacks.iter().map(|(_, v)| v).sum();
    Ok(Profile {
        labels,
        end_ms,
        types: vec![ty],
        groups: vec![Group { labels: Vec::new(), totals: vec![total] }],
        stacks: Stacks::Folded(stacks),
    })
}

fn folded_line(line: &str, n: usize) -> Result<(&str, u64), Rejection> {
    let bad = || {
        Rejection::BadRequest("invalid_profile", format!("folded profile line {n}: expected \"frame;frame <count>\""))
    };
    let (stack, count) = line.rsplit_once(char::is_whitespace).ok_or_else(bad)?;
    let count = count.parse::<u64>().map_err(|_| bad())?;
    Ok((stack.trim_end(), count))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(units: &str) -> TextParams<'_> {
        TextParams { units, sample_rate: 100, aggregation: "sum", app_suffix: None }
    }

    #[test]
    fn folded_counts_are_scaled_to_nanoseconds() {
        let p = decode(b"main;work 3\nmain;idle 1\n\n", true, &params("samples"), vec![], 0).unwrap();
        assert_eq!(p.types[0].id(), "process_cpu:cpu:nanoseconds:cpu:nanoseconds");
        assert_eq!(p.groups[0].totals, vec![4.0 * 1e7]);
        assert_eq!(p.function_totals("work"), vec![vec![3.0 * 1e7]]);
        assert_eq!(p.function_totals("main"), vec![vec![4.0 * 1e7]]);
        assert_eq!(p.function_totals("mai"), vec![vec![0.0]]);
    }

    #[test]
    fn lines_count_once_each() {
        let p = decode(b"a;b\na;c\na;b\n", false, &params("objects"), vec![], 0).unwrap();
        assert_eq!(p.types[0].id(), "memory:alloc_objects:count:space:bytes");
        assert_eq!(p.groups[0].totals, vec![3.0]);
    }

    #[test]
    fn malformed_lines_and_units_are_rejected() {
        assert!(decode(b"a;b\n", true, &params("samples"), vec![], 0).is_err());
        assert!(decode(b"a;b x\n", true, &params("samples"), vec![], 0).is_err());
        assert!(decode(b"a;b 1\n", true, &params("furlongs"), vec![], 0).is_err());
        assert!(decode(&[0xff, 0xfe, b' ', b'1'], true, &params("samples"), vec![], 0).is_err());
    }
}
