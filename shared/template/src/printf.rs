//! Go's `fmt.Sprintf` for template values, as Prometheus's `printf` runs it: every verb
//! Go gives an int, float64, string or bool (`%v %d %b %o %O %x %X %c %q %e %E %f %F %g
//! %G %s %t`), the flags `-+ #0`, width and precision, Go's `%!verb(type=value)` for a
//! verb the operand has none of (the value then printed with the same flags), and
//! `%!verb(MISSING)`, `%!(EXTRA …)`, `%!(NOVERB)`. Checked against Go's own output by
//! `printf_matches_go_under_promtool` (tests.rs).

use super::strconv::format_float;
use super::value::Value;
use std::fmt::Write;

/// The flags, width and precision of one verb, as Go's `fmt` keeps them.
#[derive(Default, Clone, Copy)]
struct Spec {
    minus: bool,
    plus: bool,
    space: bool,
    zero: bool,
    sharp: bool,
    /// `%#v` and `%+v`: Go moves `#` and `+` here for `v`, where they mean Go syntax.
    sharp_v: bool,
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
                // Zero padding only ever goes on the left.
                '-' => (spec.minus, spec.zero) = (true, false),
                '+' => spec.plus = true,
                ' ' => spec.space = true,
                '0' => spec.zero = !spec.minus,
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
        // Go refuses widths and precisions over 1e6 (`%!(BADWIDTH)`); they are clamped
        // to it here, which no template reaches either.
        spec.width = spec.width.map(|w| w.min(MAX_WIDTH));
        spec.prec = spec.prec.map(|p| p.min(MAX_WIDTH));
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        if verb == 'v' {
            (spec.sharp_v, spec.sharp, spec.plus) = (spec.sharp, false, false);
        }
        match args.next() {
            None => {
                let _ = write!(out, "%!{verb}(MISSING)");
            }
            Some(v) => print_arg(&mut out, verb, &spec, v),
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
        n = Some(n.unwrap_or(0).saturating_mul(10).saturating_add(d as usize));
        chars.next();
    }
    n
}

/// Go's `printArg` for the operand types a template holds.
fn print_arg(out: &mut String, verb: char, spec: &Spec, v: &Value) {
    let done = match v {
        Value::Bool(b) => {
            matches!(verb, 't' | 'v') && {
                pad(out, &b.to_string(), spec);
                true
            }
        }
        Value::Int(i) => integer(out, verb, spec, *i),
        Value::Float(f) => float(out, verb, spec, *f),
        Value::Str(s) => string(out, verb, spec, s),
        _ => {
            matches!(verb, 'v' | 's') && {
                pad(out, &v.to_string(), spec);
                true
            }
        }
    };
    if !done {
        // Go's badVerb: the operand printed as by `v`, with the flags it was given.
        let _ = write!(out, "%!{verb}({}=", v.type_name());
        if matches!(v, Value::Bool(_) | Value::Int(_) | Value::Float(_) | Value::Str(_)) {
            print_arg(out, 'v', spec, v);
        } else {
            out.push_str(&v.to_string());
        }
        out.push(')');
    }
}

fn integer(out: &mut String, verb: char, spec: &Spec, i: i64) -> bool {
    let (base, upper) = match verb {
        'v' | 'd' => (10, false),
        'b' => (2, false),
        'o' | 'O' => (8, false),
        'x' => (16, false),
        'X' => (16, true),
        'c' => {
            pad(out, &rune(i).to_string(), spec);
            return true;
        }
        'q' => {
            pad(out, &quote_rune(rune(i), spec.plus), spec);
            return true;
        }
        _ => return false,
    };
    format_integer(out, verb, spec, i, base, upper);
    true
}

/// An int as a character: Go's `rune(c)`, U+FFFD for what is not one.
fn rune(i: i64) -> char {
    u32::try_from(i).ok().and_then(char::from_u32).unwrap_or('\u{fffd}')
}

/// Go's `fmtInteger`: precision (or zero padding) as leading zeros, then the `#`
/// prefix and the sign.
fn format_integer(out: &mut String, verb: char, spec: &Spec, i: i64, base: u32, upper: bool) {
    let negative = i < 0;
    let magnitude = i.unsigned_abs();
    let mut digits = match (base, upper) {
        (2, _) => format!("{magnitude:b}"),
        (8, _) => format!("{magnitude:o}"),
        (16, false) => format!("{magnitude:x}"),
        (16, true) => format!("{magnitude:X}"),
        _ => magnitude.to_string(),
    };
    let mut spec = *spec;
    let min_digits = match spec.prec {
        // Precision 0 and value 0 print nothing but the padding.
        Some(0) if magnitude == 0 => {
            spec.zero = false;
            pad(out, "", &spec);
            return;
        }
        Some(p) => p,
        None if spec.zero && spec.width.is_some() => {
            spec.width.unwrap_or(0).saturating_sub(usize::from(negative || spec.plus || spec.space))
        }
        None => 0,
    };
    if digits.len() < min_digits {
        digits.insert_str(0, &"0".repeat(min_digits - digits.len()));
    }
    let prefix = match base {
        _ if verb == 'O' => "0o",
        2 if spec.sharp => "0b",
        8 if spec.sharp && !digits.starts_with('0') => "0",
        16 if spec.sharp && upper => "0X",
        16 if spec.sharp => "0x",
        _ => "",
    };
    let sign = if negative {
        "-"
    } else if spec.plus {
        "+"
    } else if spec.space {
        " "
    } else {
        ""
    };
    spec.zero = false;
    pad(out, &format!("{sign}{prefix}{digits}"), &spec);
}

fn float(out: &mut String, verb: char, spec: &Spec, v: f64) -> bool {
    let (fmt, default_prec) = match verb {
        'v' => ('g', None),
        'b' | 'g' | 'G' | 'x' | 'X' => (verb, None),
        'e' | 'E' | 'f' => (verb, Some(6)),
        'F' => ('f', Some(6)),
        _ => return false,
    };
    let prec = spec.prec.or(default_prec);
    format_float_padded(out, spec, fmt, prec, v);
    true
}

/// Go's `fmt.fmtFloat`: the sign Go wants shown, `#` keeping the point and trailing
/// zeros, zero padding after the sign, and none for infinities and NaN.
fn format_float_padded(out: &mut String, spec: &Spec, fmt: char, prec: Option<usize>, v: f64) {
    let mut num = format_float(v, fmt, prec);
    if !num.starts_with(['-', '+']) {
        num.insert(0, '+');
    }
    if spec.space && num.starts_with('+') && !spec.plus {
        num.replace_range(..1, " ");
    }
    if v.is_nan() || v.is_infinite() {
        if v.is_nan() && !spec.space && !spec.plus {
            num.remove(0);
        }
        pad(out, &num, &Spec { zero: false, ..*spec });
        return;
    }
    if spec.sharp && fmt != 'b' {
        num = keep_point(num, fmt, prec);
    }
    if spec.plus || !num.starts_with('+') {
        let width = spec.width.unwrap_or(0);
        let len = num.chars().count();
        if spec.zero && !spec.minus && width > len {
            let (sign, rest) = num.split_at(1);
            let _ = write!(out, "{sign}{}{rest}", "0".repeat(width - len));
            return;
        }
        pad(out, &num, spec);
    } else {
        pad(out, &num[1..], spec);
    }
}

/// `#` on a float: a decimal point always, and for `%g` and `%x` the trailing zeros up to
/// the precision's count of significant digits (6 by default).
fn keep_point(num: String, fmt: char, prec: Option<usize>) -> String {
    let mut digits = match fmt {
        'g' | 'G' | 'x' => prec.unwrap_or(6) as i64,
        _ => 0,
    };
    let (sign, body) = num.split_at(1);
    let hex = matches!(fmt, 'x' | 'X');
    let tail_at = body.find(|c| matches!(c, 'p' | 'P') || (!hex && matches!(c, 'e' | 'E'))).unwrap_or(body.len());
    let (mut mantissa, tail) = (body[..tail_at].to_string(), &body[tail_at..]);
    let mut seen_nonzero = false;
    for c in mantissa.chars().filter(|c| *c != '.') {
        seen_nonzero |= c != '0';
        if seen_nonzero {
            digits -= 1;
        }
    }
    if !mantissa.contains('.') {
        // A lone 0 counts as one digit.
        if mantissa == "0" {
            digits -= 1;
        }
        mantissa.push('.');
    }
    if digits > 0 {
        mantissa.push_str(&"0".repeat(digits as usize));
    }
    format!("{sign}{mantissa}{tail}")
}

fn string(out: &mut String, verb: char, spec: &Spec, s: &str) -> bool {
    let truncated: String = match spec.prec {
        Some(p) => s.chars().take(p).collect(),
        None => s.to_string(),
    };
    match verb {
        'v' if spec.sharp_v => pad(out, &quote(&truncated, false), spec),
        'v' | 's' => pad(out, &truncated, spec),
        'x' | 'X' => hex_bytes(out, verb, spec, s),
        'q' if spec.sharp && can_backquote(&truncated) => pad(out, &format!("`{truncated}`"), spec),
        'q' => pad(out, &quote(&truncated, spec.plus), spec),
        _ => return false,
    }
    true
}

/// Go's `fmtSbx`: each byte as two hex digits (at most `prec` bytes), `#` adding `0x`
/// once, or before each byte when the space flag separates them.
fn hex_bytes(out: &mut String, verb: char, spec: &Spec, s: &str) {
    let bytes = &s.as_bytes()[..spec.prec.unwrap_or(usize::MAX).min(s.len())];
    let prefix = if verb == 'X' { "0X" } else { "0x" };
    let mut body = String::new();
    for (i, b) in bytes.iter().enumerate() {
        if spec.space && i > 0 {
            body.push(' ');
        }
        if spec.sharp && (spec.space || i == 0) {
            body.push_str(prefix);
        }
        let _ = if verb == 'X' { write!(body, "{b:02X}") } else { write!(body, "{b:02x}") };
    }
    pad(out, &body, spec);
}

/// Go's `strconv.CanBackquote`: a raw string literal can hold it.
fn can_backquote(s: &str) -> bool {
    !s.chars().any(|c| matches!(c, '`' | '\u{feff}' | '\u{fffd}') || (c.is_control() && c != '\t'))
}

/// Go's `strconv.Quote` (or `QuoteToASCII` with `+`).
fn quote(s: &str, ascii: bool) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        escape(&mut out, c, '"', ascii);
    }
    out.push('"');
    out
}

/// Go's `strconv.QuoteRune` (or `QuoteRuneToASCII` with `+`).
fn quote_rune(c: char, ascii: bool) -> String {
    let mut out = String::from("'");
    escape(&mut out, c, '\'', ascii);
    out.push('\'');
    out
}

fn escape(out: &mut String, c: char, quote: char, ascii: bool) {
    match c {
        _ if c == quote || c == '\\' => {
            out.push('\\');
            out.push(c);
        }
        '\x07' => out.push_str("\\a"),
        '\x08' => out.push_str("\\b"),
        '\x0c' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\x0b' => out.push_str("\\v"),
        _ if (c as u32) < 0x20 || c == '\x7f' => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        _ if c.is_control() || (ascii && !c.is_ascii()) => match c as u32 {
            n if n < 0x10000 => {
                let _ = write!(out, "\\u{n:04x}");
            }
            n => {
                let _ = write!(out, "\\U{n:08x}");
            }
        },
        _ => out.push(c),
    }
}

/// Go's `fmt.pad`: to the width in characters, on the left unless `-`, with zeros if
/// `0` was given.
fn pad(out: &mut String, body: &str, spec: &Spec) {
    let width = spec.width.unwrap_or(0);
    let fill = width.saturating_sub(body.chars().count());
    let filler = if spec.zero { '0' } else { ' ' };
    if spec.minus {
        out.push_str(body);
        out.extend(std::iter::repeat_n(' ', fill));
    } else {
        out.extend(std::iter::repeat_n(filler, fill));
        out.push_str(body);
    }
}

const MAX_WIDTH: usize = 1_000_000;

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

    #[test]
    fn widths_and_precisions_stop_at_go_s_limit() {
        assert_eq!(sprintf("%99999999999999999999999d", &[Int(1)]).len(), MAX_WIDTH);
        assert_eq!(sprintf("%.99999999999d", &[Int(1)]).len(), MAX_WIDTH);
    }
}
