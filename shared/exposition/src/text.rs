//! Writing the Prometheus text format (0.0.4).

use cardinal_model::number::write_go_g;
use std::fmt::Write;

/// Content-Type of the classic text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// `# TYPE name kind`.
pub fn write_type(out: &mut String, name: &str, kind: &str) {
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// A summary's or histogram's `_sum` and `_count` samples.
pub fn write_sum_and_count(out: &mut String, name: &str, labels: &[(&str, &str)], sum: f64, count: u64) {
    write_sample(out, &format!("{name}_sum"), labels.iter().copied(), sum, None);
    write_sample(out, &format!("{name}_count"), labels.iter().copied(), count as f64, None);
}

/// A family's `# HELP` and `# TYPE` lines.
pub fn write_header(out: &mut String, name: &str, kind: &str, help: &str) {
    write_help(out, name, help);
    write_type(out, name, kind);
}

/// `# HELP name text`, escaping `\` and newlines as the format requires.
pub fn write_help(out: &mut String, name: &str, help: &str) {
    out.push_str("# HELP ");
    out.push_str(name);
    out.push(' ');
    for c in help.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('\n');
}

/// A family of one unlabelled sample, HELP and TYPE included: a daemon's own metrics.
pub fn metric(out: &mut String, name: &str, kind: &str, help: &str, value: f64) {
    write_help(out, name, help);
    write_type(out, name, kind);
    write_sample(out, name, std::iter::empty(), value, None);
}

/// [`metric`] for a counter kept in an atomic.
pub fn counter(out: &mut String, name: &str, help: &str, c: &std::sync::atomic::AtomicU64) {
    metric(out, name, "counter", help, c.load(std::sync::atomic::Ordering::Relaxed) as f64);
}

/// One sample line: `name{a="1",b="2"} value [timestamp]`. Labels are written in the
/// order given; empty-valued labels are written too (federation's `instance=""`).
pub fn write_sample<'a>(
    out: &mut String,
    name: &str,
    labels: impl IntoIterator<Item = (&'a str, &'a str)>,
    value: f64,
    timestamp: Option<i64>,
) {
    write_series(out, name, labels);
    out.push(' ');
    write_go_g(out, value);
    if let Some(ts) = timestamp {
        let _ = write!(out, " {ts}");
    }
    out.push('\n');
}

/// A series as both text formats write it: `name{a="1",b="2"}`, or the bare name.
pub fn write_series<'a>(out: &mut String, name: &str, labels: impl IntoIterator<Item = (&'a str, &'a str)>) {
    out.push_str(name);
    let mut first = true;
    for (n, v) in labels {
        out.push(if first { '{' } else { ',' });
        first = false;
        out.push_str(n);
        out.push_str("=\"");
        escape_label_value(out, v);
        out.push('"');
    }
    if !first {
        out.push('}');
    }
}

/// Escapes `\`, `"` and newline in a label value.
pub fn escape_label_value(out: &mut String, v: &str) {
    if !v.contains(['\\', '"', '\n']) {
        out.push_str(v);
        return;
    }
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_federate_style_lines() {
        let mut s = String::new();
        write_type(&mut s, "up", "untyped");
        write_sample(&mut s, "up", [("job", "a\"b\\c\nd"), ("instance", "")], 1.0, Some(1795263584878));
        write_sample(&mut s, "x", std::iter::empty(), 1795263151.0, None);
        assert_eq!(
            s,
            "# TYPE up untyped\nup{job=\"a\\\"b\\\\c\\nd\",instance=\"\"} 1 1795263584878\nx 1.795263151e+09\n"
        );
    }
}
