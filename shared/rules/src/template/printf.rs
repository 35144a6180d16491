//! Go's `fmt.Sprintf` for template values: the verbs and flags alert templates use
//! (`%v %s %d %f %e %g %q %x %t %%`, width, precision, `-+ 0#`), with Go's
//! `%!verb(type=value)` for a mismatched operand and `%!verb(MISSING)`.

use super::value::Value;
use cardinal_model::number::go_g;
use std::fmt::Write;

#[derive(Default)]
struct Spec {
    minus: bool,
    plus: bool,
    space: bool,
    zero: bool,
    sharp: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

pub fn sprintf(format: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut args = args.iter();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = Spec::default();
        while let Some(&f) = chars.peek() {
            match f {
                '-' => spec.minus = true,
                '+' => spec.plus = true,
                ' ' => spec.space = true,
                '0' => spec.zero = true,
                '#' => spec.sharp = true,
                _ => break,
            }
            chars.next();
        }
        spec.width = digits(&mut chars);
        if chars.peek() == Some(&'.') {
            chars.next();
            spec.prec = Some(digits(&mut chars).unwrap_or(0));
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        match args.next() {
            None => {
                let _ = write!(out, "%!{verb}(MISSING)");
            }
            Some(v) => {
                let body = format_one(verb, &spec, v);
                pad(&mut out, &body, &spec, numeric(v));
            }
        }
    }
    let extra: Vec<String> = args.map(|v| format!("{}={v}", v.type_name())).collect();
    if !extra.is_empty() {
        let _ = write!(out, "%!(EXTRA {})", extra.join(", "));
    }
    out
}

fn digits(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Option<usize> {
    let mut n: Option<usize> = None;
    while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
        n = Some(n.unwrap_or(0) * 10 + d as usize);
        chars.next();
    }
    n
}

fn numeric(v: &Value) -> bool {
    matches!(v, Value::Int(_) | Value::Float(_))
}

fn format_one(verb: char, spec: &Spec, v: &Value) -> String {
    let s = match (verb, v) {
        ('v', Value::Float(f)) => sign(go_g(*f), *f, spec),
        ('v' | 'd', Value::Int(i)) => sign(i.to_string(), *i as f64, spec),
        ('v', _) | ('s', Value::Str(_)) => v.to_string(),
        ('t', Value::Bool(b)) => b.to_string(),
        ('q', Value::Str(s)) => quote(s),
        ('x' | 'X', Value::Int(i)) => hex(&format!("{i:x}"), verb, spec),
        ('x' | 'X', Value::Str(s)) => hex(&s.bytes().map(|b| format!("{b:02x}")).collect::<String>(), verb, spec),
        ('o', Value::Int(i)) => format!("{i:o}"),
        ('b', Value::Int(i)) => format!("{i:b}"),
        ('c', Value::Int(i)) => char::from_u32(*i as u32).map_or_else(|| "\u{fffd}".into(), String::from),
        ('e' | 'E' | 'f' | 'F' | 'g' | 'G', Value::Float(_) | Value::Int(_)) => {
            let f = v.to_float().unwrap_or(f64::NAN);
            sign(float(verb, f, spec.prec), f, spec)
        }
        _ => return format!("%!{verb}({}={v})", v.type_name()),
    };
    match (verb, spec.prec, v) {
        ('s' | 'v', Some(p), Value::Str(_)) => s.chars().take(p).collect(),
        _ => s,
    }
}

fn sign(s: String, v: f64, spec: &Spec) -> String {
    if v.is_sign_negative() || s.starts_with('-') || s.starts_with('+') {
        return s;
    }
    if spec.plus {
        format!("+{s}")
    } else if spec.space {
        format!(" {s}")
    } else {
        s
    }
}

fn hex(digits: &str, verb: char, spec: &Spec) -> String {
    let s = if spec.sharp { format!("0x{digits}") } else { digits.to_string() };
    if verb == 'X' { s.to_uppercase() } else { s }
}

/// Go's `%e %f %g` with an optional precision.
pub fn float(verb: char, v: f64, prec: Option<usize>) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    let s = match verb.to_ascii_lowercase() {
        'e' => exponent(&format!("{:.*e}", prec.unwrap_or(6), v)),
        'f' => format!("{:.*}", prec.unwrap_or(6), v),
        _ => match prec {
            None => go_g(v),
            Some(p) => general(v, p.max(1)),
        },
    };
    if verb.is_ascii_uppercase() { s.to_uppercase() } else { s }
}

/// `%.Ng`: N significant digits, `%e` form when the exponent is < -4 or >= N, and
/// trailing zeros removed.
fn general(v: f64, p: usize) -> String {
    let e_form = format!("{:.*e}", p - 1, v);
    let exp: i32 = e_form.rsplit('e').next().and_then(|e| e.parse().ok()).unwrap_or(0);
    if exp < -4 || exp >= p as i32 {
        let (mant, _) = e_form.split_once('e').unwrap_or((&e_form, ""));
        return exponent(&format!("{}e{exp}", trim_zeros(mant)));
    }
    trim_zeros(&format!("{:.*}", (p as i32 - 1 - exp).max(0) as usize, v)).to_string()
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.') } else { s }
}

/// Rust's `1.5e3` as Go's `1.5e+03`.
fn exponent(s: &str) -> String {
    let Some((mant, exp)) = s.split_once('e') else { return s.to_string() };
    let (sign, digits) = exp.strip_prefix('-').map_or(('+', exp), |d| ('-', d));
    format!("{mant}e{sign}{digits:0>2}")
}

/// Go's `strconv.Quote` for the characters alert text contains.
fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn pad(out: &mut String, body: &str, spec: &Spec, numeric: bool) {
    let width = spec.width.unwrap_or(0);
    let len = body.chars().count();
    if len >= width {
        out.push_str(body);
        return;
    }
    let fill = width - len;
    if spec.minus {
        out.push_str(body);
        out.extend(std::iter::repeat_n(' ', fill));
    } else if spec.zero && numeric {
        let (sign, rest) = match body.strip_prefix(['-', '+', ' ']) {
            Some(rest) => (&body[..1], rest),
            None => ("", body),
        };
        out.push_str(sign);
        out.extend(std::iter::repeat_n('0', fill));
        out.push_str(rest);
    } else {
        out.extend(std::iter::repeat_n(' ', fill));
        out.push_str(body);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Value::*;

    #[test]
    fn formats_as_go_does() {
        let cases: &[(&str, Vec<Value>, &str)] = &[
            ("%.2f", vec![Float(1.005)], "1.00"),
            ("%5.1f|%-6d|%06.2f", vec![Float(3.25), Int(42), Float(-1.5)], "  3.2|42    |-01.50"),
            ("%v %v %v", vec![Float(1e6), Float(21.0), Float(f64::INFINITY)], "1e+06 21 +Inf"),
            ("%e %E", vec![Float(1234.5678), Float(0.00012)], "1.234568e+03 1.200000E-04"),
            (
                "%g %.3g %.4g %.4g",
                vec![Float(100000.0), Float(1234.5), Float(0.0001234), Float(123456.0)],
                "100000 1.23e+03 0.0001234 1.235e+05",
            ),
            (
                "%s=%q %x %X %#x",
                vec![Str("a".into()), Str("b\"c".into()), Int(255), Str("hi".into()), Int(16)],
                "a=\"b\\\"c\" ff 6869 0x10",
            ),
            ("%d %s %t %%", vec![Float(1.5), Int(3), Bool(true)], "%!d(float64=1.5) %!s(int=3) true %"),
            ("%d %d", vec![Int(1)], "1 %!d(MISSING)"),
            ("%d", vec![Int(1), Str("x".into())], "1%!(EXTRA string=x)"),
            ("%+d % d %.1s", vec![Int(5), Int(5), Str("abc".into())], "+5  5 a"),
        ];
        for (fmt, args, want) in cases {
            assert_eq!(sprintf(fmt, args), *want, "{fmt}");
        }
    }
}
