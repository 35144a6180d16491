//! Go's `strconv.FormatFloat(v, fmt, prec, 64)` for every format `printf` reaches:
//! `e E f g G` from decimal digits (Rust's exact shortest and fixed-precision renderings
//! supply them), `b` and `x X` from the bits. `prec` is `None` for Go's `-1` (shortest).

use cardinal_model::number::{go_e, go_f, go_g};
use std::fmt::Write;

pub fn format_float(v: f64, fmt: char, prec: Option<usize>) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    match fmt {
        'b' => binary(v),
        'x' | 'X' => hex(v, fmt, prec),
        'e' | 'E' => cased(fmt, prec.map_or_else(|| go_e(v), |p| exponent(v, p))),
        'f' | 'F' => prec.map_or_else(|| go_f(v), |p| format!("{v:.p$}")),
        'g' | 'G' => cased(fmt, prec.map_or_else(|| go_g(v), |p| general(v, p.max(1)))),
        _ => format!("%{fmt}"),
    }
}

fn cased(fmt: char, s: String) -> String {
    if fmt.is_ascii_uppercase() { s.to_uppercase() } else { s }
}

/// Decimal digits of |v| rounded to `n` significant digits, trailing zeros dropped, and
/// the position of the decimal point (value = 0.d1d2… × 10^dp). Zero has no digits.
fn significant(v: f64, n: usize) -> (String, i32) {
    if v == 0.0 {
        return (String::new(), 0);
    }
    let s = format!("{:.*e}", n - 1, v.abs());
    let (mantissa, exp) = s.split_once('e').expect("e form");
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    (digits.trim_end_matches('0').to_string(), exp.parse::<i32>().expect("exponent") + 1)
}

/// `%.Ne`: N digits after the point, the exponent signed and at least two digits.
fn exponent(v: f64, prec: usize) -> String {
    let s = format!("{v:.prec$e}");
    let (mantissa, exp) = s.split_once('e').expect("e form");
    let (sign, digits) = exp.strip_prefix('-').map_or(('+', exp), |d| ('-', d));
    format!("{mantissa}e{sign}{digits:0>2}")
}

/// `%.Ng`: N significant digits; the `e` form when the exponent is below -4 or at
/// least N (fewer when the digits end before the point), trailing zeros never shown.
fn general(v: f64, prec: usize) -> String {
    let (digits, dp) = significant(v, prec);
    let nd = digits.len() as i32;
    let mut eprec = prec as i32;
    if eprec > nd && nd >= dp {
        eprec = nd;
    }
    let exp = dp - 1;
    let mut out = String::from(if v.is_sign_negative() { "-" } else { "" });
    if digits.is_empty() {
        out.push('0');
    } else if exp < -4 || exp >= eprec {
        out.push_str(&digits[..1]);
        if nd > 1 {
            let _ = write!(out, ".{}", &digits[1..]);
        }
        let _ = write!(out, "e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.unsigned_abs());
    } else if dp <= 0 {
        let _ = write!(out, "0.{}{digits}", "0".repeat(dp.unsigned_abs() as usize));
    } else if nd <= dp {
        let _ = write!(out, "{digits}{}", "0".repeat((dp - nd) as usize));
    } else {
        let _ = write!(out, "{}.{}", &digits[..dp as usize], &digits[dp as usize..]);
    }
    out
}

/// `%b`: the mantissa as an integer and its binary exponent, `6755399441055744p-52`.
fn binary(v: f64) -> String {
    let (mantissa, exp) = parts(v);
    format!("{}{mantissa}p{}{exp}", if v.is_sign_negative() { "-" } else { "" }, if exp >= 0 { "+" } else { "" })
}

/// The significand with its implicit bit and the exponent it is scaled by.
fn parts(v: f64) -> (u64, i32) {
    let bits = v.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    let fraction = bits & ((1 << 52) - 1);
    match biased {
        0 => (fraction, 1 - 1023 - 52),
        _ => (fraction | 1 << 52, biased - 1023 - 52),
    }
}

/// `%x`: `-0x1.8p+00`; with a precision, the fraction rounded (half to even) to that
/// many hex digits.
fn hex(v: f64, fmt: char, prec: Option<usize>) -> String {
    let (mut mantissa, mut exp) = parts(v);
    exp += 52;
    if mantissa == 0 {
        exp = 0;
    }
    // The leading 1 (if any) at bit 60, four bits a hex digit below it.
    mantissa <<= 8;
    while mantissa != 0 && mantissa & (1 << 60) == 0 {
        mantissa <<= 1;
        exp -= 1;
    }
    if let Some(p) = prec.filter(|p| *p < 15) {
        let shift = p as u32 * 4;
        let rest = (mantissa << shift) & ((1 << 60) - 1);
        mantissa >>= 60 - shift;
        if rest | (mantissa & 1) > 1 << 59 {
            mantissa += 1;
        }
        mantissa <<= 60 - shift;
        if mantissa & (1 << 61) != 0 {
            mantissa >>= 1;
            exp += 1;
        }
    }
    let digits: &[u8; 16] = if fmt == 'X' { b"0123456789ABCDEF" } else { b"0123456789abcdef" };
    let mut out = String::from(if v.is_sign_negative() { "-" } else { "" });
    let _ = write!(out, "0{fmt}{}", (mantissa >> 60) & 1);
    mantissa <<= 4;
    let shown = match prec {
        None if mantissa != 0 => (64 - mantissa.trailing_zeros() as usize).div_ceil(4),
        None => 0,
        Some(p) => p,
    };
    if shown > 0 {
        out.push('.');
        for _ in 0..shown {
            out.push(digits[(mantissa >> 60) as usize & 15] as char);
            mantissa <<= 4;
        }
    }
    let p = if fmt == 'X' { 'P' } else { 'p' };
    let _ = write!(out, "{p}{}{:02}", if exp < 0 { '-' } else { '+' }, exp.unsigned_abs());
    out
}

#[cfg(test)]
mod tests {
    use super::format_float;

    #[test]
    fn formats_as_strconv_does() {
        let cases = [
            (1.5, 'x', None, "0x1.8p+00"),
            (-0.001, 'x', Some(2), "-0x1.06p-10"),
            (1e21, 'X', Some(5), "0X1.B1AE5P+69"),
            (0.0, 'x', None, "0x0p+00"),
            (1.5, 'b', None, "6755399441055744p-52"),
            (1e21, 'b', None, "7629394531250000p+17"),
            (-1234.5678, 'g', Some(5), "-1234.6"),
            (100.0, 'g', Some(3), "100"),
            (-0.001, 'g', Some(2), "-0.001"),
            (1234.5, 'g', Some(3), "1.23e+03"),
            (0.0, 'g', Some(3), "0"),
            (1e-7, 'e', Some(2), "1.00e-07"),
            (2.5, 'f', Some(0), "2"),
        ];
        for (v, fmt, prec, want) in cases {
            assert_eq!(format_float(v, fmt, prec), want, "{v} {fmt} {prec:?}");
        }
    }
}
