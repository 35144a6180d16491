//! Float formatting byte-compatible with Go's `strconv.FormatFloat`, which Prometheus uses
//! everywhere a number leaves the process: `'g'` (shortest) in the text exposition format,
//! `'f'` (shortest) in JSON API values. Golden tests against Prometheus depend on it.

use std::fmt::Write;

/// Appends `v` as Go's `strconv.FormatFloat(v, 'g', -1, 64)` would, with Prometheus's
/// spellings of the special values (`+Inf`, `-Inf`, `NaN`).
pub fn write_go_g(out: &mut String, v: f64) {
    if let Some(s) = special(v) {
        out.push_str(s);
        return;
    }
    // Integers below 1e6 print as plain digits in 'g' format; this is the common case
    // for counters and histogram buckets and avoids the general path.
    if v.fract() == 0.0 && v.abs() < 1e6 {
        if v == 0.0 && v.is_sign_negative() {
            out.push_str("-0");
        } else {
            let _ = write!(out, "{}", v as i64);
        }
        return;
    }
    let (negative, digits, exp) = shortest_digits(v);
    if negative {
        out.push('-');
    }
    // Go's shortest 'g' switches to exponent form outside 1e-4 <= |v| < 1e6 (eprec = 6).
    let eprec = 6;
    if exp < -4 || exp >= eprec {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        let e = exp.unsigned_abs();
        if e < 10 {
            out.push('0');
        }
        let _ = write!(out, "{e}");
    } else {
        write_plain(out, &digits, exp);
    }
}

/// Go's `strconv.FormatFloat(v, 'f', -1, 64)`: shortest digits, never an exponent.
pub fn write_go_f(out: &mut String, v: f64) {
    if let Some(s) = special(v) {
        out.push_str(s);
        return;
    }
    let (negative, digits, exp) = shortest_digits(v);
    if negative {
        out.push('-');
    }
    write_plain(out, &digits, exp);
}

/// Go's `strconv.FormatFloat(v, 'e', -1, 64)`: shortest digits in exponent form, as
/// Prometheus's alert API shows values (`3e+01`).
pub fn go_e(v: f64) -> String {
    if let Some(s) = special(v) {
        return s.to_string();
    }
    let (negative, digits, exp) = shortest_digits(v);
    let mut out = String::new();
    if negative {
        out.push('-');
    }
    out.push_str(&digits[..1]);
    if digits.len() > 1 {
        out.push('.');
        out.push_str(&digits[1..]);
    }
    let _ = write!(out, "e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.unsigned_abs());
    out
}

/// `write_go_g` into a fresh string.
pub fn go_g(v: f64) -> String {
    let mut s = String::new();
    write_go_g(&mut s, v);
    s
}

/// `write_go_f` into a fresh string.
pub fn go_f(v: f64) -> String {
    let mut s = String::new();
    write_go_f(&mut s, v);
    s
}

fn special(v: f64) -> Option<&'static str> {
    if v.is_nan() {
        Some("NaN")
    } else if v == f64::INFINITY {
        Some("+Inf")
    } else if v == f64::NEG_INFINITY {
        Some("-Inf")
    } else {
        None
    }
}

/// The shortest round-trip decimal digits of `v` and its decimal exponent
/// (value = 0.d1d2d3… × 10^(exp+1)), from Rust's shortest `{:e}` rendering.
fn shortest_digits(v: f64) -> (bool, String, i32) {
    let s = format!("{:e}", v.abs());
    let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let exp: i32 = exp.parse().unwrap_or(0);
    (v.is_sign_negative(), digits, exp)
}

fn write_plain(out: &mut String, digits: &str, exp: i32) {
    if exp < 0 {
        out.push_str("0.");
        for _ in 0..(-exp - 1) {
            out.push('0');
        }
        out.push_str(digits);
        return;
    }
    let int_len = exp as usize + 1;
    if digits.len() <= int_len {
        out.push_str(digits);
        for _ in digits.len()..int_len {
            out.push('0');
        }
    } else {
        out.push_str(&digits[..int_len]);
        out.push('.');
        out.push_str(&digits[int_len..]);
    }
}

/// A count for people to read: 337635 → "337,635".
pub fn group_thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(group_thousands(337_635), "337,635");
        assert_eq!(group_thousands(999), "999");
        assert_eq!(group_thousands(1_000), "1,000");
        assert_eq!(group_thousands(0), "0");
    }

    #[test]
    fn e_format_matches_go() {
        for (v, want) in
            [(30.0, "3e+01"), (1234.5678, "1.2345678e+03"), (-0.00012, "-1.2e-04"), (0.0, "0e+00"), (1e100, "1e+100")]
        {
            assert_eq!(go_e(v), want, "{v}");
        }
        assert_eq!(go_e(f64::NAN), "NaN");
    }

    #[test]
    fn g_format_matches_go() {
        let cases = [
            (0.0, "0"),
            (1.0, "1"),
            (-2.5, "-2.5"),
            (123456.0, "123456"),
            (1e6, "1e+06"),
            (1795263151.0, "1.795263151e+09"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (0.000891779, "0.000891779"),
            (1234567.5, "1.2345675e+06"),
            (1e21, "1e+21"),
            (1e-300, "1e-300"),
            (0.1, "0.1"),
            (100.25, "100.25"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (f64::NAN, "NaN"),
            (3e10, "3e+10"),
            (123456789012.0, "1.23456789012e+11"),
        ];
        for (v, want) in cases {
            assert_eq!(go_g(v), want, "formatting {v}");
        }
    }

    #[test]
    fn f_format_matches_go() {
        let cases = [
            (1795263151.0, "1795263151"),
            (0.000891779, "0.000891779"),
            (1e21, "1000000000000000000000"),
            (1e-7, "0.0000001"),
            (2.0, "2"),
            (-0.5, "-0.5"),
            (f64::INFINITY, "+Inf"),
            (f64::NAN, "NaN"),
        ];
        for (v, want) in cases {
            assert_eq!(go_f(v), want, "formatting {v}");
        }
    }

    proptest::proptest! {
        #[test]
        fn g_format_round_trips(v in proptest::num::f64::NORMAL | proptest::num::f64::SUBNORMAL | proptest::num::f64::ZERO) {
            let s = go_g(v);
            let back: f64 = s.parse().unwrap();
            proptest::prop_assert_eq!(back.to_bits(), v.to_bits(), "{}", s);
        }
    }
}
