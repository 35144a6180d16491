//! PromQL text parsed within bounds. The parser builds a tree as deep as the expression
//! nests (`((((…))))`, or `a+a+a+…`), and the evaluator and the tree's own drop recurse
//! over it: a query of a few kilobytes could overflow a thread's stack and abort the
//! process. Prometheus has no bound; we refuse before any recursion can run away:
//!
//! - text longer than [`MAX_BYTES`];
//! - more than [`MAX_TOKENS`] tokens, counted before parsing (a tree has at most one
//!   node per token, so this bounds what the parser and drop recurse over);
//! - a tree deeper than [`MAX_DEPTH`], measured after parsing without recursion;
//! - a duration (range, offset, subquery step) longer than Go's `time.Duration` holds
//!   (292 years, where Prometheus's parser says "out of range"), or an `@` time beyond
//!   [`MAX_TIME_MS`], so that time arithmetic in evaluation cannot overflow.

use promql_parser::parser::{AtModifier, Expr, FunctionArgs, Offset, VectorSelector};
use std::time::{Duration, SystemTime};

/// Longest query text accepted (a dashboard's regex over a thousand pod names is ~50 KB).
pub const MAX_BYTES: usize = 256 << 10;
/// Most tokens a query may have: real queries have tens to hundreds.
pub const MAX_TOKENS: usize = 10_000;
/// Deepest nesting of expressions accepted: real queries nest under 20 levels; 256
/// keeps evaluation within a few hundred KiB of stack even in debug builds.
pub const MAX_DEPTH: usize = 256;

/// Longest duration accepted: Go's `time.Duration`, as Prometheus parses them.
pub const MAX_DURATION: Duration = Duration::from_nanos(i64::MAX as u64);
/// Latest (and, negated, earliest) time accepted anywhere, in ms: about 146 million
/// years, far inside `i64` so that adding ranges and offsets never overflows.
pub const MAX_TIME_MS: i64 = 1 << 62;

/// Parses a PromQL expression, refusing text past the bounds above with a message that
/// names the bound.
pub fn parse_expr(text: &str) -> Result<Expr, String> {
    if text.len() > MAX_BYTES {
        return Err(format!("query is {} bytes long, more than the {MAX_BYTES} accepted", text.len()));
    }
    let tokens = count_tokens(text);
    if tokens > MAX_TOKENS {
        return Err(format!("query has more than {MAX_TOKENS} tokens ({tokens})"));
    }
    let expr = parse_catching_panics(text)?;
    let depth = walk(&expr)?;
    if depth > MAX_DEPTH {
        return Err(format!("query nests {depth} expressions deep, more than the {MAX_DEPTH} accepted"));
    }
    Ok(expr)
}

/// The parser, with a panic inside it turned into a parse error: promql-parser 0.11
/// panics on some literals (found by fuzzing: `x[1e300]`, and in release builds
/// `(0x1155555555555555555555588)`, overflow a `Duration` in its actions). A query must get a 400, and a rule file an error,
/// not a dead connection or a dead reload task.
fn parse_catching_panics(text: &str) -> Result<Expr, String> {
    match std::panic::catch_unwind(|| promql_parser::parser::parse(text)) {
        Ok(parsed) => parsed,
        Err(panic) => {
            let why =
                panic.downcast_ref::<String>().cloned().or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()));
            Err(format!("the parser failed on this query: {}", why.unwrap_or_default()))
        }
    }
}

/// An upper bound on the lexer's token count: each run of name or number characters,
/// each string, and each other non-space character counts one.
fn count_tokens(text: &str) -> usize {
    let mut n = 0;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => continue,
            '#' => {
                while chars.next_if(|c| *c != '\n').is_some() {}
                continue;
            }
            '"' | '\'' | '`' => skip_string(&mut chars, c),
            c if is_word(c) => while chars.next_if(|c| is_word(*c)).is_some() {},
            _ => {}
        }
        n += 1;
    }
    n
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | ':' | '.')
}

fn skip_string(chars: &mut std::iter::Peekable<std::str::Chars>, quote: char) {
    while let Some(c) = chars.next() {
        match c {
            '\\' if quote != '`' => {
                chars.next();
            }
            c if c == quote => return,
            _ => {}
        }
    }
}

/// The tree's depth, walked with an explicit stack, checking its durations and times.
fn walk(root: &Expr) -> Result<usize, String> {
    let mut deepest = 0;
    let mut stack = vec![(root, 1)];
    while let Some((e, d)) = stack.pop() {
        deepest = deepest.max(d);
        check_times(e)?;
        stack.extend(children(e).into_iter().map(|c| (c, d + 1)));
    }
    Ok(deepest)
}

/// A node's operands.
fn children(e: &Expr) -> Vec<&Expr> {
    match e {
        Expr::Aggregate(a) => std::iter::once(a.expr.as_ref()).chain(a.param.as_deref()).collect(),
        Expr::Unary(u) => vec![&u.expr],
        Expr::Binary(b) => vec![&b.lhs, &b.rhs],
        Expr::Paren(p) => vec![&p.expr],
        Expr::Subquery(s) => vec![&s.expr],
        Expr::Call(c) => args(&c.args).collect(),
        Expr::MatrixSelector(_)
        | Expr::VectorSelector(_)
        | Expr::NumberLiteral(_)
        | Expr::StringLiteral(_)
        | Expr::Extension(_) => Vec::new(),
    }
}

/// Every series selector in the expression, range selectors' included
/// (`/api/v1/query_exemplars` answers for the series they select).
pub fn selectors(root: &Expr) -> Vec<&VectorSelector> {
    let (mut out, mut stack) = (Vec::new(), vec![root]);
    while let Some(e) = stack.pop() {
        match e {
            Expr::VectorSelector(vs) => out.push(vs),
            Expr::MatrixSelector(ms) => out.push(&ms.vs),
            _ => stack.extend(children(e)),
        }
    }
    out
}

/// A node's own durations and `@` time within bounds.
fn check_times(e: &Expr) -> Result<(), String> {
    let selector = |vs: &VectorSelector| check_modifiers(&vs.offset, &vs.at);
    match e {
        Expr::VectorSelector(vs) => selector(vs),
        Expr::MatrixSelector(ms) => check_duration(ms.range).and_then(|()| selector(&ms.vs)),
        Expr::Subquery(sq) => {
            check_duration(sq.range)?;
            sq.step.map_or(Ok(()), check_duration)?;
            check_modifiers(&sq.offset, &sq.at)
        }
        _ => Ok(()),
    }
}

fn check_modifiers(offset: &Option<Offset>, at: &Option<AtModifier>) -> Result<(), String> {
    if let Some(Offset::Pos(d) | Offset::Neg(d)) = offset {
        check_duration(*d)?;
    }
    if let Some(AtModifier::At(t)) = at {
        let ms = match t.duration_since(SystemTime::UNIX_EPOCH) {
            Ok(d) => d.as_millis(),
            Err(e) => e.duration().as_millis(),
        };
        if ms > MAX_TIME_MS as u128 {
            return Err("@ modifier time is out of range".into());
        }
    }
    Ok(())
}

fn check_duration(d: Duration) -> Result<(), String> {
    if d > MAX_DURATION {
        return Err(format!("duration of {} s is out of range (at most 292 years)", d.as_secs()));
    }
    Ok(())
}

fn args(a: &FunctionArgs) -> impl Iterator<Item = &Expr> {
    a.args.iter().map(|b| b.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_queries_parse() {
        for q in [
            "up",
            r#"histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{job="a"}[5m])))"#,
            "# a comment\nsum(x) / on() group_left count(y)",
            &format!("x{{pod=~\"{}\"}}", vec!["pod-abcdef"; 5000].join("|")),
        ] {
            assert!(parse_expr(q).is_ok(), "{q}");
        }
    }

    #[test]
    fn deep_long_and_wide_queries_are_refused_by_name() {
        let deep = format!("{}x{}", "(".repeat(300), ")".repeat(300));
        assert!(
            parse_expr(&deep).unwrap_err().contains("nests 301 expressions deep"),
            "{}",
            parse_expr(&deep).unwrap_err()
        );
        let chain = format!("x{}", "+x".repeat(6000));
        assert!(parse_expr(&chain).unwrap_err().contains("more than 10000 tokens"));
        let long = format!("x{{a=\"{}\"}}", "y".repeat(MAX_BYTES));
        assert!(parse_expr(&long).unwrap_err().contains("bytes long"));
        let at_depth = format!("{}x{}", "abs(".repeat(MAX_DEPTH - 1), ")".repeat(MAX_DEPTH - 1));
        assert!(parse_expr(&at_depth).is_ok());
    }

    #[test]
    fn durations_and_times_past_what_arithmetic_holds_are_refused() {
        for q in ["x[300y]", "x offset 300y", "x[5m:300y]", "max_over_time(x[300y:1m])", "x @ 1e17"] {
            let e = parse_expr(q).err().unwrap_or_default();
            assert!(e.contains("out of range"), "{q}: {e}");
        }
        for q in ["x[290y]", "x offset -290y", "x[1y:1ms]", "x @ 1e14", "x @ -1e14"] {
            assert!(parse_expr(q).is_ok(), "{q}");
        }
    }

    #[test]
    fn a_panic_in_the_parser_is_a_parse_error() {
        let e = parse_expr("x[1e300]").unwrap_err();
        assert!(e.starts_with("the parser failed on this query"), "{e}");
        assert!(parse_expr("(0x1155555555555555555555588)").is_err());
    }

    #[test]
    fn the_token_count_bounds_the_lexers() {
        assert_eq!(count_tokens(r#"sum by (a) (rate(x{b="c\"}"}[5m]))"#), 19);
        assert_eq!(count_tokens("a # (((((\n+ b"), 3);
    }
}
