//! Go text/template's lexer: text outside `{{ }}`, tokens inside, with `{{-`/`-}}`
//! trimming the neighbouring text's white space and `{{/* */}}` comments dropped.

#[derive(Clone, Debug, PartialEq)]
pub enum Tok {
    Text(String),
    Open,
    Close,
    Ident(String),
    /// `.a.b`: a field chain on dot.
    Field(Vec<String>),
    /// `$x.a.b`: a variable (`$` alone is the root) and a field chain on it.
    Var(String, Vec<String>),
    /// `.a` straight after `)`: a field chain on a parenthesised pipeline.
    Chain(Vec<String>),
    Dot,
    Str(String),
    Num(String),
    Pipe,
    LParen,
    RParen,
    Declare,
    Assign,
    Comma,
}

/// A token and the line it starts on (1-based), for error messages.
pub type Spanned = (Tok, usize);

pub fn lex(src: &str) -> Result<Vec<Spanned>, String> {
    let mut out: Vec<Spanned> = Vec::new();
    let mut rest = src;
    let mut line = 1;
    let mut trim_next_text = false;
    while !rest.is_empty() {
        let open = rest.find("{{").unwrap_or(rest.len());
        let mut text = &rest[..open];
        if trim_next_text {
            text = text.trim_start();
        }
        let after = &rest[open..];
        let trim_before = after.starts_with("{{- ") || after.starts_with("{{-\t") || after.starts_with("{{-\n");
        if trim_before {
            text = text.trim_end();
        }
        if !text.is_empty() {
            out.push((Tok::Text(text.to_string()), line));
        }
        line += rest[..open].matches('\n').count();
        if open == rest.len() {
            break;
        }
        let body_start = open + if trim_before { 3 } else { 2 };
        let (tokens, consumed, trim_after) = lex_action(&rest[body_start..], line)?;
        line += rest[body_start..body_start + consumed].matches('\n').count();
        if let Some(tokens) = tokens {
            out.push((Tok::Open, line));
            out.extend(tokens);
            out.push((Tok::Close, line));
        }
        trim_next_text = trim_after;
        rest = &rest[body_start + consumed..];
    }
    Ok(out)
}

/// Lexes one action up to and including `}}`. Returns its tokens (`None` for a
/// comment), the bytes consumed and whether it ended with ` -}}`.
fn lex_action(s: &str, line: usize) -> Result<(Option<Vec<Spanned>>, usize, bool), String> {
    let trimmed = s.trim_start();
    if let Some(comment) = trimmed.strip_prefix("/*") {
        let end = comment.find("*/").ok_or(format!("{line}: unclosed comment"))?;
        let tail = &comment[end + 2..];
        let (close_len, trim) = closing(tail).ok_or(format!("{line}: comment ends before closing delimiter"))?;
        let consumed = s.len() - tail.len() + close_len;
        return Ok((None, consumed, trim));
    }
    let b = s.as_bytes();
    let mut toks = Vec::new();
    let mut i = 0;
    loop {
        if i >= b.len() {
            return Err(format!("{line}: unclosed action"));
        }
        if let Some((len, trim)) = closing(&s[i..]) {
            return Ok((Some(toks), i + len, trim));
        }
        let c = b[i];
        let start = i;
        if let Some(tok) = punctuation(c) {
            i += 1;
            toks.push((tok, line));
            continue;
        }
        let tok = match c {
            b' ' | b'\t' | b'\r' | b'\n' => {
                i += 1;
                continue;
            }
            b':' if b.get(i + 1) == Some(&b'=') => {
                i += 2;
                Tok::Declare
            }
            b'"' | b'`' | b'\'' => {
                let (v, len) = quoted(&s[i..]).ok_or(format!("{line}: unterminated quoted string"))?;
                i += len;
                if c == b'\'' { Tok::Num(char_code(&v)) } else { Tok::Str(v) }
            }
            b'.' if !b.get(i + 1).is_some_and(|d| is_ident(*d)) => {
                i += 1;
                Tok::Dot
            }
            b'.' => {
                let (chain, len) = fields(&s[i..]);
                i += len;
                let after_paren = matches!(toks.last(), Some((Tok::RParen, _))) && start > 0 && b[start - 1] == b')';
                if after_paren { Tok::Chain(chain) } else { Tok::Field(chain) }
            }
            b'$' => {
                let name_len = s[i + 1..].bytes().take_while(|d| is_ident(*d)).count();
                let name = s[i + 1..i + 1 + name_len].to_string();
                i += 1 + name_len;
                let (chain, len) = fields(&s[i..]);
                i += len;
                Tok::Var(name, chain)
            }
            b'0'..=b'9' | b'-' | b'+' => {
                let len = s[i..]
                    .bytes()
                    .enumerate()
                    .take_while(|(k, d)| {
                        d.is_ascii_alphanumeric() || *d == b'.' || *d == b'_' || (*k == 0) || is_exp_sign(&b[i..], *k)
                    })
                    .count();
                i += len;
                Tok::Num(s[start..i].to_string())
            }
            d if is_ident(d) => {
                let len = s[i..].bytes().take_while(|d| is_ident(*d)).count();
                i += len;
                Tok::Ident(s[start..i].to_string())
            }
            _ => return Err(format!("{line}: unexpected {:?} in command", s[i..].chars().next().unwrap_or(' '))),
        };
        toks.push((tok, line));
    }
}

fn punctuation(c: u8) -> Option<Tok> {
    Some(match c {
        b'|' => Tok::Pipe,
        b'(' => Tok::LParen,
        b')' => Tok::RParen,
        b',' => Tok::Comma,
        b'=' => Tok::Assign,
        _ => return None,
    })
}

/// `}}` or ` -}}` at the start of `s`: its length and whether it trims.
fn closing(s: &str) -> Option<(usize, bool)> {
    if s.starts_with("}}") {
        return Some((2, false));
    }
    for ws in [" -}}", "\t-}}", "\n-}}"] {
        if s.starts_with(ws) {
            return Some((4, true));
        }
    }
    None
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// A sign straight after an exponent letter in a number literal (`1e-3`).
fn is_exp_sign(b: &[u8], k: usize) -> bool {
    matches!(b[k], b'-' | b'+') && k > 0 && matches!(b[k - 1], b'e' | b'E' | b'p' | b'P') && !b.starts_with(b"0x")
}

/// `.a.b.c` at the start of `s`: the names and the length.
fn fields(s: &str) -> (Vec<String>, usize) {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() && b[i] == b'.' && b.get(i + 1).is_some_and(|d| is_ident(*d)) {
        let len = s[i + 1..].bytes().take_while(|d| is_ident(*d)).count();
        out.push(s[i + 1..i + 1 + len].to_string());
        i += 1 + len;
    }
    (out, i)
}

/// A Go string, raw string or rune literal at the start of `s`: its value and length.
fn quoted(s: &str) -> Option<(String, usize)> {
    let q = s.chars().next()?;
    let mut out = String::new();
    let mut chars = s.char_indices().skip(1);
    while let Some((i, c)) = chars.next() {
        if c == q {
            return Some((out, i + 1));
        }
        if c == '\\' && q != '`' {
            let (_, e) = chars.next()?;
            out.push(match e {
                'n' => '\n',
                't' => '\t',
                'r' => '\r',
                '0' => '\0',
                other => other,
            });
        } else if c == '\n' && q != '`' {
            return None;
        } else {
            out.push(c);
        }
    }
    None
}

/// A rune literal is a number in Go templates.
fn char_code(v: &str) -> String {
    v.chars().next().map_or(0, |c| c as u32).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        lex(s).unwrap().into_iter().map(|(t, _)| t).collect()
    }

    #[test]
    fn lexes_actions_and_trims() {
        use Tok::*;
        assert_eq!(
            toks("a {{- $labels.job | printf \"%s\" -}} b"),
            vec![
                Text("a".into()),
                Open,
                Var("labels".into(), vec!["job".into()]),
                Pipe,
                Ident("printf".into()),
                Str("%s".into()),
                Close,
                Text("b".into())
            ]
        );
        assert_eq!(toks("{{/* c */}}x"), vec![Text("x".into())]);
        assert_eq!(toks("{{ (.A).b 1e-3 -2 'a' }}")[5..8], [Num("1e-3".into()), Num("-2".into()), Num("97".into())]);
        assert_eq!(toks("{{ (.A).b }}")[4], Chain(vec!["b".into()]));
        assert_eq!(toks("{{ $x := . }}")[1..4], [Var("x".into(), vec![]), Declare, Dot]);
    }

    #[test]
    fn reports_broken_actions() {
        assert!(lex("{{ .x ").unwrap_err().contains("unclosed action"));
        assert!(lex("{{ \"x }}").unwrap_err().contains("unterminated"));
        assert!(lex("a\n{{ # }}").unwrap_err().starts_with("2:"));
    }
}
