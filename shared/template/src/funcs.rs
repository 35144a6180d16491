//! The functions templates can call: Go's builtins and Prometheus's additions
//! (queries, humanizing numbers, strings, links), with their semantics.

use super::printf::sprintf;
use super::strconv::format_float;
use super::value::Value;

/// What functions need from outside: queries against the data, and the external URL.
pub trait Env {
    /// Evaluates an instant query at the evaluation time, as a list of samples.
    fn query(&self, q: &str) -> Result<Vec<Value>, String>;
    fn external_url(&self) -> &str;
}

type Func = fn(&[Value], &dyn Env) -> Result<Value, String>;

static FUNCS: &[(&str, Func)] = &[
    ("and", |a, _| Ok(a.iter().find(|v| !v.truth()).or(a.last()).cloned().unwrap_or(Value::Nil))),
    ("or", |a, _| Ok(a.iter().find(|v| v.truth()).or(a.last()).cloned().unwrap_or(Value::Nil))),
    ("not", |a, _| Ok(Value::Bool(!one(a)?.truth()))),
    ("len", |a, _| len(one(a)?)),
    ("index", index),
    ("slice", slice),
    ("print", |a, _| Ok(Value::Str(print(a)))),
    ("println", |a, _| Ok(Value::Str(a.iter().map(Value::to_string).collect::<Vec<_>>().join(" ") + "\n"))),
    ("printf", |a, _| Ok(Value::Str(sprintf(first_str(a)?, &a[1..])))),
    ("eq", |a, _| eq(a)),
    ("ne", |a, _| Ok(Value::Bool(compare(two(a)?.0, two(a)?.1)? != std::cmp::Ordering::Equal))),
    ("lt", |a, _| ordered(a, |o| o.is_lt())),
    ("le", |a, _| ordered(a, |o| o.is_le())),
    ("gt", |a, _| ordered(a, |o| o.is_gt())),
    ("ge", |a, _| ordered(a, |o| o.is_ge())),
    ("html", |a, _| Ok(Value::Str(html(&print(a))))),
    ("urlquery", |a, _| Ok(Value::Str(query_escape(&print(a))))),
    ("query", |a, env| Ok(Value::List(env.query(one(a)?.as_str()?)?))),
    ("first", |a, _| match one(a)? {
        Value::List(l) => l.first().cloned().ok_or("first() called on vector with no elements".into()),
        other => Err(format!("first() called on {}", other.type_name())),
    }),
    ("label", |a, _| Ok(label(two(a)?.1, two(a)?.0.as_str()?))),
    ("value", |a, _| Ok(field(one(a)?, "Value"))),
    ("strvalue", |a, _| Ok(label(one(a)?, "__value__"))),
    ("sortByLabel", sort_by_label),
    ("args", |a, _| Ok(Value::Map(a.iter().enumerate().map(|(i, v)| (format!("arg{i}"), v.clone())).collect()))),
    ("reReplaceAll", |a, _| {
        let [pat, repl, text] = a else { return Err(arity(3, a)) };
        Ok(Value::Str(regex(pat)?.replace_all(text.as_str()?, repl.as_str()?).into_owned()))
    }),
    ("match", |a, _| Ok(Value::Bool(regex(two(a)?.0)?.is_match(two(a)?.1.as_str()?)))),
    ("safeHtml", |a, _| Ok(Value::Str(one(a)?.as_str()?.to_string()))),
    ("title", |a, _| Ok(Value::Str(title(one(a)?.as_str()?)))),
    ("toUpper", |a, _| Ok(Value::Str(one(a)?.as_str()?.to_uppercase()))),
    ("toLower", |a, _| Ok(Value::Str(one(a)?.as_str()?.to_lowercase()))),
    ("graphLink", |a, _| Ok(Value::Str(link(one(a)?.as_str()?, 0)))),
    ("tableLink", |a, _| Ok(Value::Str(link(one(a)?.as_str()?, 1)))),
    ("humanize", |a, _| Ok(Value::Str(humanize(one(a)?.to_float()?)))),
    ("humanize1024", |a, _| Ok(Value::Str(humanize1024(one(a)?.to_float()?)))),
    ("humanizeDuration", |a, _| Ok(Value::Str(humanize_duration(one(a)?.to_float()?)))),
    ("humanizePercentage", |a, _| {
        Ok(Value::Str(format!("{}%", format_float(one(a)?.to_float()? * 100.0, 'g', Some(4)))))
    }),
    ("humanizeTimestamp", |a, _| Ok(Value::Str(humanize_timestamp(one(a)?.to_float()?)))),
    ("toTime", |a, _| Ok(Value::Str(humanize_timestamp(one(a)?.to_float()?)))),
    ("parseDuration", |a, _| {
        let d = cardinal_model::parse_duration(one(a)?.as_str()?)?;
        Ok(Value::Float(d.as_secs_f64()))
    }),
    ("externalURL", |_, env| Ok(Value::Str(env.external_url().to_string()))),
    ("pathPrefix", |_, env| Ok(Value::Str(path_prefix(env.external_url())))),
    ("stripPort", |a, _| Ok(Value::Str(strip_port(one(a)?.as_str()?).to_string()))),
    ("stripDomain", |a, _| Ok(Value::Str(strip_domain(one(a)?.as_str()?)))),
];

pub fn lookup(name: &str) -> Option<Func> {
    FUNCS.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
}

fn arity(n: usize, a: &[Value]) -> String {
    format!("wrong number of args: want {n} got {}", a.len())
}

fn one(a: &[Value]) -> Result<&Value, String> {
    match a {
        [v] => Ok(v),
        _ => Err(arity(1, a)),
    }
}

fn two(a: &[Value]) -> Result<(&Value, &Value), String> {
    match a {
        [x, y] => Ok((x, y)),
        _ => Err(arity(2, a)),
    }
}

fn first_str(a: &[Value]) -> Result<&str, String> {
    a.first().ok_or(arity(1, a))?.as_str()
}

fn len(v: &Value) -> Result<Value, String> {
    Ok(Value::Int(match v {
        Value::Str(s) => s.len(),
        Value::List(l) => l.len(),
        Value::Map(m) => m.len(),
        other => return Err(format!("len of type {}", other.type_name())),
    } as i64))
}

/// `index m "k"` gives "" for a missing key of a label map, as Go's zero value.
fn index(a: &[Value], _: &dyn Env) -> Result<Value, String> {
    let (v, keys) = a.split_first().ok_or(arity(1, a))?;
    let mut cur = v.clone();
    for k in keys {
        cur = match (&cur, k) {
            (Value::Map(m), Value::Str(k)) => m.get(k).cloned().unwrap_or(Value::Str(String::new())),
            (Value::List(l), Value::Int(i)) => {
                l.get(usize::try_from(*i).unwrap_or(usize::MAX)).cloned().ok_or(format!("index out of range: {i}"))?
            }
            (c, k) => return Err(format!("can't index item of type {} with {}", c.type_name(), k.type_name())),
        };
    }
    Ok(cur)
}

fn slice(a: &[Value], _: &dyn Env) -> Result<Value, String> {
    let (v, bounds) = a.split_first().ok_or(arity(1, a))?;
    let n = match v {
        Value::Str(s) => s.len(),
        Value::List(l) => l.len(),
        other => return Err(format!("can't slice item of type {}", other.type_name())),
    };
    let b: Vec<usize> = bounds.iter().map(|b| b.to_float().map(|f| f as usize)).collect::<Result<_, _>>()?;
    let (i, j) = (b.first().copied().unwrap_or(0), b.get(1).copied().unwrap_or(n));
    if i > j || j > n {
        return Err(format!("index out of range: {j}"));
    }
    Ok(match v {
        Value::Str(s) => Value::Str(s.get(i..j).ok_or("slice splits a character")?.to_string()),
        Value::List(l) => Value::List(l[i..j].to_vec()),
        _ => unreachable!("checked above"),
    })
}

/// Go's `fmt.Sprint`: a space between operands when neither is a string.
fn print(a: &[Value]) -> String {
    let mut out = String::new();
    for (i, v) in a.iter().enumerate() {
        if i > 0 && !matches!(v, Value::Str(_)) && !matches!(a[i - 1], Value::Str(_)) {
            out.push(' ');
        }
        out.push_str(&v.to_string());
    }
    out
}

/// Compares basic values. Unlike Go, an int and a float compare by value, so
/// `gt $value 1` works as users expect rather than failing.
fn compare(x: &Value, y: &Value) -> Result<std::cmp::Ordering, String> {
    use Value::*;
    let o = match (x, y) {
        (Int(a), Int(b)) => a.cmp(b),
        (Int(_) | Float(_), Int(_) | Float(_)) => {
            x.to_float()?.partial_cmp(&y.to_float()?).unwrap_or(std::cmp::Ordering::Less)
        }
        (Str(a), Str(b)) => a.cmp(b),
        (Missing | Nil, Str(b)) => "".cmp(b.as_str()),
        (Str(a), Missing | Nil) => a.as_str().cmp(""),
        (Bool(a), Bool(b)) => a.cmp(b),
        _ => return Err("incompatible types for comparison".into()),
    };
    Ok(o)
}

fn eq(a: &[Value]) -> Result<Value, String> {
    let (x, rest) = a.split_first().ok_or(arity(2, a))?;
    if rest.is_empty() {
        return Err(arity(2, a));
    }
    for y in rest {
        if compare(x, y)? == std::cmp::Ordering::Equal {
            return Ok(Value::Bool(true));
        }
    }
    Ok(Value::Bool(false))
}

fn ordered(a: &[Value], f: fn(std::cmp::Ordering) -> bool) -> Result<Value, String> {
    let (x, y) = two(a)?;
    if matches!(x, Value::Bool(_)) {
        return Err("invalid type for comparison".into());
    }
    Ok(Value::Bool(f(compare(x, y)?)))
}

fn html(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&#34;").replace('\'', "&#39;")
}

/// Go's `url.QueryEscape`.
pub fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn field(v: &Value, name: &str) -> Value {
    match v {
        Value::Map(m) => m.get(name).cloned().unwrap_or(Value::Missing),
        _ => Value::Missing,
    }
}

fn label(sample: &Value, name: &str) -> Value {
    match field(sample, "Labels") {
        Value::Map(m) => m.get(name).cloned().unwrap_or(Value::Str(String::new())),
        _ => Value::Str(String::new()),
    }
}

fn sort_by_label(a: &[Value], _: &dyn Env) -> Result<Value, String> {
    let (name, list) = two(a)?;
    let Value::List(l) = list else { return Err(format!("sortByLabel called on {}", list.type_name())) };
    let name = name.as_str()?;
    let mut l = l.clone();
    l.sort_by_key(|s| label(s, name).to_string());
    Ok(Value::List(l))
}

fn regex(v: &Value) -> Result<regex::Regex, String> {
    regex::Regex::new(v.as_str()?).map_err(|e| e.to_string())
}

/// Go's deprecated `strings.Title`: upper-cases the first letter of each word.
fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev_sep = true;
    for c in s.chars() {
        if prev_sep {
            out.extend(c.to_uppercase())
        } else {
            out.push(c)
        }
        prev_sep = !(c.is_alphanumeric() || c == '_');
    }
    out
}

/// Prometheus's `strutil.GraphLinkForExpression` (tab 0) and `TableLinkForExpression` (1).
pub fn link(expr: &str, tab: u8) -> String {
    format!("/graph?g0.expr={}&g0.tab={tab}", query_escape(expr))
}

fn g4(v: f64) -> String {
    format_float(v, 'g', Some(4))
}

fn scaled(mut v: f64, base: f64, prefixes: &[&str]) -> String {
    let mut prefix = "";
    for p in prefixes {
        if v.abs() < base {
            break;
        }
        prefix = p;
        v /= base;
    }
    format!("{}{prefix}", g4(v))
}

const SMALL: &[&str] = &["m", "u", "n", "p", "f", "a", "z", "y"];

fn small(mut v: f64, unit: &str) -> String {
    let mut prefix = "";
    for p in SMALL {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    format!("{}{prefix}{unit}", g4(v))
}

pub fn humanize(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return g4(v);
    }
    if v.abs() >= 1.0 { scaled(v, 1000.0, &["k", "M", "G", "T", "P", "E", "Z", "Y"]) } else { small(v, "") }
}

pub fn humanize1024(v: f64) -> String {
    if v.abs() <= 1.0 || !v.is_finite() {
        return g4(v);
    }
    scaled(v, 1024.0, &["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"])
}

pub fn humanize_duration(v: f64) -> String {
    if !v.is_finite() {
        return g4(v);
    }
    if v == 0.0 {
        return format!("{}s", g4(v));
    }
    if v.abs() < 1.0 {
        return small(v, "s");
    }
    let sign = if v < 0.0 { "-" } else { "" };
    let whole = v.abs() as i64;
    let (s, m, h, d) = (whole % 60, whole / 60 % 60, whole / 3600 % 24, whole / 86400);
    match (d, h, m) {
        (0, 0, 0) => format!("{sign}{}s", g4(v.abs())),
        (0, 0, _) => format!("{sign}{m}m {s}s"),
        (0, _, _) => format!("{sign}{h}h {m}m {s}s"),
        _ => format!("{sign}{d}d {h}h {m}m {s}s"),
    }
}

/// Go's `fmt.Sprint(time.Time)` in UTC: `2006-01-02 15:04:05.999999999 +0000 UTC`.
pub fn humanize_timestamp(v: f64) -> String {
    if !v.is_finite() {
        return g4(v);
    }
    // Prometheus goes through model.Time, so the time is truncated to milliseconds.
    let ms = ((v * 1e9) as i64).div_euclid(1_000_000);
    format!("{} +0000 UTC", cardinal_model::gotime::utc_millis(ms, "%Y-%m-%d %H:%M:%S"))
}

fn path_prefix(url: &str) -> String {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    after_scheme.find('/').map_or(String::new(), |i| after_scheme[i..].trim_end_matches('/').to_string())
}

/// `host:port` → `host` (also for `[v6]:port`); anything else unchanged.
fn strip_port(s: &str) -> &str {
    if let Some(rest) = s.strip_prefix('[') {
        return rest.split_once("]:").map_or(s, |(h, _)| h);
    }
    match s.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') && p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => s,
    }
}

/// `host.domain:port` → `host:port`; IP addresses unchanged.
fn strip_domain(s: &str) -> String {
    let host = strip_port(s);
    if host.parse::<std::net::IpAddr>().is_ok() {
        return s.to_string();
    }
    let port = &s[host.len()..];
    format!("{}{port}", host.split('.').next().unwrap_or(host))
}
