//! A byte-level parser for the Prometheus text format (0.0.4) and OpenMetrics 1.0 text.
//!
//! The parser yields each sample's raw series bytes (`name{labels}` exactly as exposed)
//! and does not decode labels: the scrape loop looks the raw bytes up in its cache and
//! only calls [`parse_labels`] for a series it has not seen, so a known series costs no
//! allocation.

use cardinal_model::Label;
use std::fmt;

/// Which text format a body is in, from the target's Content-Type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    PromText,
    OpenMetrics,
}

impl Format {
    /// Picks the format as Prometheus does: OpenMetrics when the media type says so,
    /// the classic text format otherwise.
    pub fn from_content_type(ct: &str) -> Format {
        let media = ct.split(';').next().unwrap_or("").trim();
        if media.eq_ignore_ascii_case("application/openmetrics-text") { Format::OpenMetrics } else { Format::PromText }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricType {
    Counter,
    Gauge,
    Histogram,
    GaugeHistogram,
    Summary,
    Info,
    StateSet,
    Unknown,
}

impl MetricType {
    fn parse(s: &[u8]) -> Option<MetricType> {
        Some(match s {
            b"counter" => MetricType::Counter,
            b"gauge" => MetricType::Gauge,
            b"histogram" => MetricType::Histogram,
            b"gaugehistogram" => MetricType::GaugeHistogram,
            b"summary" => MetricType::Summary,
            b"info" => MetricType::Info,
            b"stateset" => MetricType::StateSet,
            b"untyped" | b"unknown" => MetricType::Unknown,
            _ => return None,
        })
    }

    /// The name `/api/v1/metadata` uses.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::GaugeHistogram => "gaugehistogram",
            MetricType::Summary => "summary",
            MetricType::Info => "info",
            MetricType::StateSet => "stateset",
            MetricType::Unknown => "unknown",
        }
    }
}

/// One sample line, borrowed from the body.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SampleRef<'a> {
    /// `name{labels}` as it appears in the body: the scrape cache key.
    pub series: &'a [u8],
    pub name: &'a [u8],
    /// The text between the braces (may be empty).
    pub labels: &'a [u8],
    pub value: f64,
    /// Milliseconds, when the line carries a timestamp.
    pub timestamp: Option<i64>,
    /// The OpenMetrics exemplar after `#`, its syntax checked.
    pub exemplar: Option<ExemplarRef<'a>>,
}

/// An exemplar as written: `# {trace_id="…"} value [timestamp]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ExemplarRef<'a> {
    /// The text between the braces (decode with [`parse_labels`]-like rules via
    /// [`parse_exemplar_labels`]).
    pub labels: &'a [u8],
    pub value: f64,
    /// Milliseconds, when given.
    pub timestamp: Option<i64>,
}

/// OpenMetrics caps an exemplar's label names and values at 128 characters together.
const EXEMPLAR_MAX_LABEL_CHARS: usize = 128;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Entry<'a> {
    Sample(SampleRef<'a>),
    Type {
        name: &'a [u8],
        kind: MetricType,
    },
    /// HELP text as written (escapes not undone: see [`unescape_help`]).
    Help {
        name: &'a [u8],
        text: &'a [u8],
    },
    Unit {
        name: &'a [u8],
        unit: &'a [u8],
    },
}

/// A parse error, naming the 1-based line it was found on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub msg: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.msg)
    }
}

impl std::error::Error for ParseError {}

/// Prometheus replaces exposed NaNs with this "normal" NaN so that no exposed value can
/// ever be mistaken for a staleness marker.
pub const NORMAL_NAN_BITS: u64 = 0x7ff8_0000_0000_0001;

pub struct Parser<'a> {
    buf: &'a [u8],
    pos: usize,
    line: usize,
    format: Format,
    eof_seen: bool,
}

impl<'a> Parser<'a> {
    pub fn new(buf: &'a [u8], format: Format) -> Self {
        Parser { buf, pos: 0, line: 0, format, eof_seen: false }
    }

    /// The next entry; `Ok(None)` at the end of a well-formed body.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<Entry<'a>>, ParseError> {
        loop {
            if self.pos >= self.buf.len() {
                if self.format == Format::OpenMetrics && !self.eof_seen {
                    return Err(self.err_at(self.line.max(1), "data does not end with # EOF".into()));
                }
                return Ok(None);
            }
            if self.eof_seen {
                return Err(self.err_at(self.line + 1, "unexpected data after # EOF".into()));
            }
            let start = self.pos;
            let end = memchr::memchr(b'\n', &self.buf[start..]).map_or(self.buf.len(), |i| start + i);
            self.pos = end + 1;
            self.line += 1;
            let mut line = &self.buf[start..end];
            if let [rest @ .., b'\r'] = line {
                line = rest;
            }
            if let Some(e) = self.parse_line(line)? {
                return Ok(Some(e));
            }
        }
    }

    fn err_at(&self, line: usize, msg: String) -> ParseError {
        ParseError { line, msg }
    }

    fn err(&self, msg: impl Into<String>) -> ParseError {
        self.err_at(self.line, msg.into())
    }

    fn parse_line(&mut self, line: &'a [u8]) -> Result<Option<Entry<'a>>, ParseError> {
        let trimmed = trim_start(line);
        if trimmed.is_empty() {
            return match self.format {
                Format::PromText => Ok(None),
                Format::OpenMetrics => Err(self.err("unexpected empty line")),
            };
        }
        if trimmed[0] == b'#' {
            return self.parse_comment(trimmed);
        }
        self.parse_sample(line).map(|s| Some(Entry::Sample(s)))
    }

    fn parse_comment(&mut self, line: &'a [u8]) -> Result<Option<Entry<'a>>, ParseError> {
        let rest = trim_start(&line[1..]);
        if self.format == Format::OpenMetrics && line == b"# EOF" {
            self.eof_seen = true;
            return Ok(None);
        }
        let (keyword, after) = split_token(rest);
        match keyword {
            b"HELP" | b"TYPE" | b"UNIT" => {}
            _ => return Ok(None), // a free-form comment
        }
        let (name, text) = split_token(trim_start(after));
        if !is_metric_name(name) {
            return Err(self.err(format!("invalid metric name in comment: {:?}", lossy(name))));
        }
        match keyword {
            b"TYPE" => {
                let kind = MetricType::parse(trim_end(trim_start(text)))
                    .ok_or_else(|| self.err(format!("invalid metric type {:?}", lossy(text))))?;
                Ok(Some(Entry::Type { name, kind }))
            }
            b"HELP" => Ok(Some(Entry::Help { name, text: trim_start(text) })),
            _ => Ok(Some(Entry::Unit { name, unit: trim_end(trim_start(text)) })),
        }
    }

    fn parse_sample(&self, line: &'a [u8]) -> Result<SampleRef<'a>, ParseError> {
        let name_end = line.iter().position(|c| !is_name_char(*c)).unwrap_or(line.len());
        let name = &line[..name_end];
        if name.is_empty() || !is_metric_name(name) {
            return Err(self.err(format!("{:?} is not a valid start token", lossy(first_token(line)))));
        }
        let mut pos = name_end;
        let mut labels: &[u8] = b"";
        if line.get(pos) == Some(&b'{') {
            let close = scan_labels(line, pos + 1).map_err(|m| self.err(m))?;
            labels = &line[pos + 1..close];
            pos = close + 1;
        }
        let series = &line[..pos];
        let rest = &line[pos..];
        if rest.first().is_some_and(|c| *c != b' ' && *c != b'\t') {
            return Err(self.err(format!("expected value after metric, got {:?}", lossy(first_token(rest)))));
        }
        let (value_tok, rest) = split_token(trim_start(rest));
        if value_tok.is_empty() {
            return Err(self.err("expected value after metric, got end of line"));
        }
        let value = parse_float(value_tok).ok_or_else(|| self.err(format!("invalid value {:?}", lossy(value_tok))))?;
        let value = if value.is_nan() { f64::from_bits(NORMAL_NAN_BITS) } else { value };
        let (timestamp, rest) = self.parse_timestamp(trim_start(rest))?;
        let rest = trim_start(rest);
        let has_exemplar = self.format == Format::OpenMetrics && rest.first() == Some(&b'#');
        if !rest.is_empty() && !has_exemplar {
            return Err(self.err(format!("expected next entry after timestamp, got {:?}", lossy(first_token(rest)))));
        }
        let exemplar = if has_exemplar { Some(self.parse_exemplar(trim_start(&rest[1..]))?) } else { None };
        Ok(SampleRef { series, name, labels, value, timestamp, exemplar })
    }

    /// `{labels} value [timestamp]` after a sample's `#`.
    fn parse_exemplar(&self, rest: &'a [u8]) -> Result<ExemplarRef<'a>, ParseError> {
        if rest.first() != Some(&b'{') {
            return Err(self.err(format!("expected exemplar labels, got {:?}", lossy(first_token(rest)))));
        }
        let close = scan_labels(rest, 1).map_err(|m| self.err(m))?;
        let labels = &rest[1..close];
        let (value_tok, after) = split_token(trim_start(&rest[close + 1..]));
        let value =
            parse_float(value_tok).ok_or_else(|| self.err(format!("invalid exemplar value {:?}", lossy(value_tok))))?;
        let (timestamp, after) = self.parse_timestamp(trim_start(after))?;
        if !trim_start(after).is_empty() {
            return Err(self.err(format!("unexpected {:?} after the exemplar", lossy(first_token(after)))));
        }
        Ok(ExemplarRef { labels, value, timestamp })
    }

    fn parse_timestamp(&self, rest: &'a [u8]) -> Result<(Option<i64>, &'a [u8]), ParseError> {
        if rest.is_empty() || rest[0] == b'#' {
            return Ok((None, rest));
        }
        let (tok, after) = split_token(rest);
        let bad = || self.err(format!("invalid timestamp {:?}", lossy(tok)));
        let ts = match self.format {
            Format::PromText => std::str::from_utf8(tok).ok().and_then(|s| s.parse::<i64>().ok()).ok_or_else(bad)?,
            Format::OpenMetrics => {
                let secs = parse_float(tok).filter(|f| f.is_finite()).ok_or_else(bad)?;
                (secs * 1000.0) as i64 // Prometheus truncates, it does not round
            }
        };
        Ok((Some(ts), after))
    }
}

/// Scans a label set starting just after `{`, validating its syntax, and returns the
/// index of the closing `}`.
fn scan_labels(line: &[u8], mut pos: usize) -> Result<usize, String> {
    loop {
        pos = skip_ws(line, pos);
        match line.get(pos) {
            Some(b'}') => return Ok(pos),
            None => return Err("unexpected end of line inside label set".into()),
            _ => {}
        }
        let name_start = pos;
        while pos < line.len() && (line[pos].is_ascii_alphanumeric() || line[pos] == b'_') {
            pos += 1;
        }
        if pos == name_start || line[name_start].is_ascii_digit() {
            return Err(format!("invalid label name at {:?}", lossy(first_token(&line[name_start..]))));
        }
        pos = skip_ws(line, pos);
        if line.get(pos) != Some(&b'=') {
            return Err(format!("expected equal after label name {:?}", lossy(&line[name_start..pos])));
        }
        pos = skip_ws(line, pos + 1);
        if line.get(pos) != Some(&b'"') {
            return Err("expected quoted label value".into());
        }
        pos = scan_quoted(line, pos + 1)?;
        pos = skip_ws(line, pos);
        match line.get(pos) {
            Some(b',') => pos += 1,
            Some(b'}') => return Ok(pos),
            _ => return Err("expected comma or closing brace after label value".into()),
        }
    }
}

/// Finds the end of a quoted value starting after the opening quote; returns the index
/// after the closing quote.
fn scan_quoted(line: &[u8], mut pos: usize) -> Result<usize, String> {
    loop {
        match memchr::memchr2(b'"', b'\\', &line[pos..]) {
            None => return Err("unterminated label value".into()),
            Some(i) if line[pos + i] == b'"' => return Ok(pos + i + 1),
            Some(i) => pos += i + 2, // skip the escaped character
        }
        if pos > line.len() {
            return Err("unterminated label value".into());
        }
    }
}

/// Decodes a sample's labels (the `labels` of a [`SampleRef`]) into `out`, sorted, with
/// the metric name as `__name__`. Rejects invalid UTF-8 and duplicate label names. Empty
/// values are kept: with `honor_labels` an exposed `instance=""` still counts as present.
pub fn parse_labels(name: &[u8], labels: &[u8], out: &mut Vec<Label>) -> Result<(), String> {
    out.clear();
    let name = std::str::from_utf8(name).map_err(|_| "invalid UTF-8 in metric name".to_string())?;
    out.push(Label::new(cardinal_model::labels::METRIC_NAME, name));
    let mut pos = 0;
    loop {
        pos = skip_ws(labels, pos);
        if pos >= labels.len() {
            break;
        }
        let name_start = pos;
        while pos < labels.len() && labels[pos] != b'=' && labels[pos] != b' ' && labels[pos] != b'\t' {
            pos += 1;
        }
        let lname = std::str::from_utf8(&labels[name_start..pos]).map_err(|_| "invalid UTF-8 in label name")?;
        pos = skip_ws(labels, pos) + 1; // '='
        pos = skip_ws(labels, pos) + 1; // opening quote
        let value_start = pos;
        let value_end = scan_quoted(labels, pos)? - 1;
        let value = unescape(&labels[value_start..value_end])?;
        if out.iter().any(|l| &*l.name == lname) {
            return Err(format!("duplicate label name {lname:?}"));
        }
        out.push(Label::new(lname, value));
        pos = skip_ws(labels, value_end + 1);
        if labels.get(pos) == Some(&b',') {
            pos += 1;
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(())
}

/// Decodes an exemplar's labels into `out`, sorted; refuses more than OpenMetrics's 128
/// characters of names and values together, as Prometheus does.
pub fn parse_exemplar_labels(labels: &[u8], out: &mut Vec<Label>) -> Result<(), String> {
    parse_labels(b"x", labels, out)?;
    out.retain(|l| &*l.name != cardinal_model::labels::METRIC_NAME);
    let chars: usize = out.iter().map(|l| l.name.chars().count() + l.value.chars().count()).sum();
    if chars > EXEMPLAR_MAX_LABEL_CHARS {
        return Err(format!("exemplar labels have {chars} runes, exceeding the limit of {EXEMPLAR_MAX_LABEL_CHARS}"));
    }
    Ok(())
}

/// Undoes the format's escapes (`\\`, `\"`, `\n`); other escapes stay literal, as in Prometheus.
fn unescape(raw: &[u8]) -> Result<String, String> {
    let invalid = |_| "invalid UTF-8 in label value".to_string();
    if memchr::memchr(b'\\', raw).is_none() {
        return std::str::from_utf8(raw).map(str::to_owned).map_err(invalid);
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'\\' && i + 1 < raw.len() {
            match raw[i + 1] {
                b'\\' => out.push(b'\\'),
                b'"' => out.push(b'"'),
                b'n' => out.push(b'\n'),
                other => out.extend_from_slice(&[b'\\', other]),
            }
            i += 2;
        } else {
            out.push(raw[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|e| invalid(e.utf8_error()))
}

/// HELP text with its escapes (`\\`, `\n`) undone.
pub fn unescape_help(raw: &[u8]) -> String {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match (raw[i], raw.get(i + 1)) {
            (b'\\', Some(b'\\')) => out.push(b'\\'),
            (b'\\', Some(b'n')) => out.push(b'\n'),
            (c, _) => {
                out.push(c);
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses a value as Go's `strconv.ParseFloat` would for the forms exporters emit:
/// decimals, exponents, `NaN`, `Inf`, `+Inf`, `-Inf` (case-insensitive).
pub fn parse_float(tok: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(tok).ok()?;
    // Rust accepts "infinity" and "nan" like Go; it rejects a lone sign, as Go does.
    s.parse::<f64>().ok()
}

fn is_name_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b':'
}

fn is_metric_name(s: &[u8]) -> bool {
    !s.is_empty() && !s[0].is_ascii_digit() && s.iter().all(|c| is_name_char(*c))
}

fn skip_ws(b: &[u8], mut pos: usize) -> usize {
    while pos < b.len() && (b[pos] == b' ' || b[pos] == b'\t') {
        pos += 1;
    }
    pos
}

fn trim_start(b: &[u8]) -> &[u8] {
    &b[skip_ws(b, 0)..]
}

fn trim_end(mut b: &[u8]) -> &[u8] {
    while let [rest @ .., b' ' | b'\t'] = b {
        b = rest;
    }
    b
}

/// Splits at the first space or tab.
fn split_token(b: &[u8]) -> (&[u8], &[u8]) {
    let end = b.iter().position(|c| *c == b' ' || *c == b'\t').unwrap_or(b.len());
    (&b[..end], &b[end..])
}

fn first_token(b: &[u8]) -> &[u8] {
    let t = split_token(b).0;
    &t[..t.len().min(64)]
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[cfg(test)]
mod tests;
