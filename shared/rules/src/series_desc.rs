//! promtool's input notation: `metric{a="b"}` with values like `0+10x5 _ stale 3x2`.
//! `a+bxn` is n+1 values made by repeated addition (as promtool's grammar does, so the
//! floats match), `axn` is n+1 copies, `_` a missing sample, `_xn` n of them.

use cardinal_model::{Labels, stale_nan};

/// Parses `name{l="v", …}` (or `{}`) into labels.
pub fn parse_metric(s: &str) -> Result<Labels, String> {
    let s = s.trim();
    if s == "{}" || s.is_empty() {
        return Ok(Labels::empty());
    }
    let matchers = cardinal_model::parse_selector(s).map_err(|e| format!("invalid series {s:?}: {e}"))?;
    if matchers.iter().any(|m| m.op != cardinal_model::MatchOp::Equal) {
        return Err(format!("invalid series {s:?}: only '=' may be used"));
    }
    Ok(Labels::from_pairs(matchers.into_iter().map(|m| (m.name, m.value))))
}

/// Expands a values string; `None` is a missing sample.
pub fn parse_values(s: &str) -> Result<Vec<Option<f64>>, String> {
    let mut out = Vec::new();
    for tok in s.split_whitespace() {
        expand(tok, &mut out).map_err(|e| format!("invalid values {s:?}: {e}"))?;
    }
    Ok(out)
}

fn expand(tok: &str, out: &mut Vec<Option<f64>>) -> Result<(), String> {
    if tok.starts_with("{{") {
        return Err("native histogram values are not supported".into());
    }
    let (body, times) = split_times(tok)?;
    if body == "_" {
        match times {
            None => out.push(None),
            Some(n) => out.extend(std::iter::repeat_n(None, n as usize)),
        }
        return Ok(());
    }
    if body == "stale" {
        if times.is_some() {
            return Err("'stale' cannot be repeated".into());
        }
        out.push(Some(stale_nan()));
        return Ok(());
    }
    let (start, step) = split_step(body)?;
    match times {
        None if step.is_none() => out.push(Some(start)),
        None => return Err(format!("{tok:?}: an increment needs 'x' and a count")),
        Some(n) => {
            let step = step.unwrap_or(0.0);
            let mut v = start;
            out.push(Some(v));
            for _ in 0..n {
                v += step;
                out.push(Some(v));
            }
        }
    }
    Ok(())
}

/// `…xN` → (…, N).
fn split_times(tok: &str) -> Result<(&str, Option<u64>), String> {
    match tok.rfind('x') {
        Some(i) if i + 1 < tok.len() && tok[i + 1..].bytes().all(|b| b.is_ascii_digit()) => {
            let n = tok[i + 1..].parse().map_err(|_| format!("bad count in {tok:?}"))?;
            Ok((&tok[..i], Some(n)))
        }
        _ => Ok((tok, None)),
    }
}

/// `a+b` / `a-b` / `a` → (a, b). A sign at the start or after an exponent's `e` is part
/// of a number.
fn split_step(body: &str) -> Result<(f64, Option<f64>), String> {
    let bytes = body.as_bytes();
    let split = (1..bytes.len())
        .find(|&i| (bytes[i] == b'+' || bytes[i] == b'-') && !matches!(bytes[i - 1], b'e' | b'E' | b'+' | b'-'));
    let num = |s: &str| parse_number(s).ok_or_else(|| format!("invalid number {s:?}"));
    match split {
        None => Ok((num(body)?, None)),
        Some(i) => Ok((num(&body[..i])?, Some(num(&body[i..])?))),
    }
}

fn parse_number(s: &str) -> Option<f64> {
    let s = s.strip_prefix('+').unwrap_or(s);
    s.parse::<f64>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn vals(s: &str) -> Vec<String> {
        parse_values(s)
            .unwrap()
            .into_iter()
            .map(|v| match v {
                None => "_".into(),
                Some(v) if cardinal_model::is_stale_nan(v) => "stale".into(),
                Some(v) => v.to_string(),
            })
            .collect()
    }

    #[test]
    fn promtool_notation() {
        assert_eq!(vals("0+10x3"), ["0", "10", "20", "30"]);
        assert_eq!(vals("1 1 _ stale 5x2"), ["1", "1", "_", "stale", "5", "5", "5"]);
        assert_eq!(vals("10-2x2 _x2"), ["10", "8", "6", "_", "_"]);
        assert_eq!(vals("-1+1x2 1e3 -Inf NaN"), ["-1", "0", "1", "1000", "-inf", "NaN"]);
        assert_eq!(vals("1e-1+1e-1x1"), ["0.1", "0.2"]);
        assert!(parse_values("1+").is_err());
        assert!(parse_values("abc").is_err());
    }

    #[test]
    fn metrics() {
        assert_eq!(parse_metric("{}").unwrap(), Labels::empty());
        let l = parse_metric(r#"up{job="a", instance="b"}"#).unwrap();
        assert_eq!(l.metric_name(), "up");
        assert_eq!(l.get("job"), Some("a"));
        assert!(parse_metric(r#"up{job=~"a"}"#).is_err());
    }

    proptest! {
        /// `a+bxn` is n+1 values, each the previous plus b.
        #[test]
        fn increments_accumulate(a in -1e6f64..1e6, b in -1e3f64..1e3, n in 0u64..50) {
            let got = parse_values(&format!("{a}+{b}x{n}")).unwrap();
            prop_assert_eq!(got.len() as u64, n + 1);
            let mut v = a;
            for (i, g) in got.iter().enumerate() {
                if i > 0 { v += b; }
                prop_assert_eq!(g.unwrap().to_bits(), v.to_bits());
            }
        }
    }
}
