//! Go text/template's parser: a tree of text, actions and the control structures
//! (`if`/`else if`, `range`, `with`, `define`/`template`/`block`, `break`/`continue`).

use super::lex::{Spanned, Tok, lex};
use std::collections::HashMap;

#[derive(Clone, Debug)]
pub enum Node {
    Text(String),
    Action(Pipe),
    If(Pipe, Vec<Node>, Vec<Node>),
    Range(Pipe, Vec<Node>, Vec<Node>),
    With(Pipe, Vec<Node>, Vec<Node>),
    Template(String, Option<Pipe>),
    Break,
    Continue,
}

/// `$a, $b := cmd | cmd`. `assign` is `=` rather than `:=`.
#[derive(Clone, Debug)]
pub struct Pipe {
    pub decl: Vec<String>,
    pub assign: bool,
    pub cmds: Vec<Vec<Arg>>,
    pub line: usize,
}

#[derive(Clone, Debug)]
pub enum Arg {
    Dot,
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Field(Vec<String>),
    Var(String, Vec<String>),
    Func(String),
    Sub(Box<Pipe>, Vec<String>),
}

/// A parsed template: the main tree and the ones it `define`s.
#[derive(Clone, Debug, Default)]
pub struct Tree {
    pub root: Vec<Node>,
    pub defines: HashMap<String, Vec<Node>>,
}

pub fn parse(src: &str) -> Result<Tree, String> {
    let tokens = lex(src)?;
    let mut p = Parser { toks: tokens, pos: 0, defines: HashMap::new(), loops: 0 };
    let (root, end) = p.list()?;
    if let Some(kw) = end {
        return Err(format!("{}: unexpected {{{{{kw}}}}}", p.line()));
    }
    Ok(Tree { root, defines: p.defines })
}

struct Parser {
    toks: Vec<Spanned>,
    pos: usize,
    defines: HashMap<String, Vec<Node>>,
    /// Depth of `range` bodies, where `break` and `continue` are allowed.
    loops: usize,
}

/// What ended a list: `end`, `else` (with what follows it on the line).
type Ending = Option<&'static str>;

impl Parser {
    fn line(&self) -> usize {
        self.toks.get(self.pos.min(self.toks.len().saturating_sub(1))).map_or(1, |t| t.1)
    }

    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|t| &t.0)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).map(|t| t.0.clone());
        self.pos += 1;
        t
    }

    fn expect(&mut self, want: Tok, context: &str) -> Result<(), String> {
        match self.next() {
            Some(t) if t == want => Ok(()),
            other => Err(format!("{}: unexpected {other:?} in {context}", self.line())),
        }
    }

    /// Nodes up to the end of input or an `{{end}}`/`{{else}}`, which is returned.
    fn list(&mut self) -> Result<(Vec<Node>, Ending), String> {
        let mut nodes = Vec::new();
        while let Some(t) = self.next() {
            match t {
                Tok::Text(s) => nodes.push(Node::Text(s)),
                Tok::Open => match self.action()? {
                    Step::Node(n) => nodes.push(n),
                    Step::Define => {}
                    Step::End(kw) => return Ok((nodes, Some(kw))),
                },
                other => return Err(format!("{}: unexpected {other:?}", self.line())),
            }
        }
        Ok((nodes, None))
    }

    fn action(&mut self) -> Result<Step, String> {
        let kw = match self.peek() {
            Some(Tok::Ident(k)) => k.clone(),
            _ => return Ok(Step::Node(Node::Action(self.pipe_to_close("command")?))),
        };
        match kw.as_str() {
            "end" => {
                self.pos += 1;
                self.expect(Tok::Close, "end")?;
                Ok(Step::End("end"))
            }
            "else" => {
                self.pos += 1;
                Ok(Step::End("else"))
            }
            "if" | "range" | "with" => {
                self.pos += 1;
                Ok(Step::Node(self.control(&kw)?))
            }
            "define" | "block" => {
                self.pos += 1;
                self.define(&kw).map(|n| n.map_or(Step::Define, Step::Node))
            }
            "template" => {
                self.pos += 1;
                let name = self.string("template")?;
                let pipe = if self.peek() == Some(&Tok::Close) { None } else { Some(self.pipe()?) };
                self.expect(Tok::Close, "template")?;
                Ok(Step::Node(Node::Template(name, pipe)))
            }
            "break" | "continue" if self.loops > 0 => {
                self.pos += 1;
                self.expect(Tok::Close, &kw)?;
                Ok(Step::Node(if kw == "break" { Node::Break } else { Node::Continue }))
            }
            "break" | "continue" => Err(format!("{}: {{{{{kw}}}}} outside {{{{range}}}}", self.line())),
            _ => Ok(Step::Node(Node::Action(self.pipe_to_close("command")?))),
        }
    }

    /// `if`/`range`/`with` after the keyword, through its `{{end}}`.
    fn control(&mut self, kw: &str) -> Result<Node, String> {
        let pipe = self.pipe_to_close(kw)?;
        if kw == "range" {
            self.loops += 1;
        }
        let body = self.list();
        if kw == "range" {
            self.loops -= 1;
        }
        let (body, end) = body?;
        let otherwise = match end {
            Some("end") => Vec::new(),
            Some(_) => self.else_branch(kw)?,
            None => return Err(format!("{}: unexpected EOF in {kw}", self.line())),
        };
        Ok(match kw {
            "if" => Node::If(pipe, body, otherwise),
            "range" => Node::Range(pipe, body, otherwise),
            _ => Node::With(pipe, body, otherwise),
        })
    }

    /// After `{{else`: either `}}` and a list to `{{end}}`, or `if`/`with` chaining.
    fn else_branch(&mut self, kw: &str) -> Result<Vec<Node>, String> {
        if let Some(Tok::Ident(chained)) = self.peek().cloned()
            && (chained == "if" || chained == "with")
            && kw != "range"
        {
            self.pos += 1;
            // `{{else if x}}…{{end}}` shares the outer `{{end}}`.
            return Ok(vec![self.control(&chained)?]);
        }
        self.expect(Tok::Close, "else")?;
        match self.list()? {
            (nodes, Some("end")) => Ok(nodes),
            (_, Some(_)) => Err(format!("{}: expected end; found {{{{else}}}}", self.line())),
            (_, None) => Err(format!("{}: unexpected EOF in {kw}", self.line())),
        }
    }

    /// `define "name"` (stored) or `block "name" pipe` (stored and executed here).
    fn define(&mut self, kw: &str) -> Result<Option<Node>, String> {
        let name = self.string(kw)?;
        let pipe = if kw == "block" { Some(self.pipe()?) } else { None };
        self.expect(Tok::Close, kw)?;
        let (body, end) = self.list()?;
        if end != Some("end") {
            return Err(format!("{}: unexpected EOF in {kw}", self.line()));
        }
        self.defines.insert(name.clone(), body);
        Ok(pipe.map(|p| Node::Template(name, Some(p))))
    }

    fn string(&mut self, context: &str) -> Result<String, String> {
        match self.next() {
            Some(Tok::Str(s)) => Ok(s),
            other => Err(format!("{}: unexpected {other:?} in {context}: expected a quoted name", self.line())),
        }
    }

    fn pipe_to_close(&mut self, context: &str) -> Result<Pipe, String> {
        let p = self.pipe()?;
        self.expect(Tok::Close, context)?;
        Ok(p)
    }

    fn pipe(&mut self) -> Result<Pipe, String> {
        let line = self.line();
        let (decl, assign) = self.declarations();
        let mut cmds = vec![self.command()?];
        while self.peek() == Some(&Tok::Pipe) {
            self.pos += 1;
            cmds.push(self.command()?);
        }
        Ok(Pipe { decl, assign, cmds, line })
    }

    /// `$x :=`, `$i, $e :=` or `$x =` at the start of a pipeline, if there.
    fn declarations(&mut self) -> (Vec<String>, bool) {
        let save = self.pos;
        let mut names = Vec::new();
        while let Some(Tok::Var(name, chain)) = self.peek().cloned() {
            if !chain.is_empty() {
                break;
            }
            self.pos += 1;
            names.push(name);
            match self.peek() {
                Some(Tok::Comma) if names.len() == 1 => self.pos += 1,
                Some(Tok::Declare) => {
                    self.pos += 1;
                    return (names, false);
                }
                Some(Tok::Assign) => {
                    self.pos += 1;
                    return (names, true);
                }
                _ => break,
            }
        }
        self.pos = save;
        (Vec::new(), false)
    }

    fn command(&mut self) -> Result<Vec<Arg>, String> {
        let mut args = Vec::new();
        while let Some(t) = self.peek() {
            if matches!(t, Tok::Close | Tok::Pipe | Tok::RParen) {
                break;
            }
            args.push(self.operand()?);
        }
        if args.is_empty() {
            return Err(format!("{}: missing value for command", self.line()));
        }
        Ok(args)
    }

    fn operand(&mut self) -> Result<Arg, String> {
        let line = self.line();
        Ok(match self.next() {
            Some(Tok::Dot) => Arg::Dot,
            Some(Tok::Field(f)) => Arg::Field(f),
            Some(Tok::Var(v, f)) => Arg::Var(v, f),
            Some(Tok::Str(s)) => Arg::Str(s),
            Some(Tok::Num(n)) => number(&n).ok_or(format!("{line}: bad number syntax: {n:?}"))?,
            Some(Tok::Ident(i)) => match i.as_str() {
                "true" => Arg::Bool(true),
                "false" => Arg::Bool(false),
                "nil" => Arg::Nil,
                _ => Arg::Func(i),
            },
            Some(Tok::LParen) => {
                let p = self.pipe()?;
                self.expect(Tok::RParen, "parenthesized pipeline")?;
                let chain = match self.peek() {
                    Some(Tok::Chain(c)) => {
                        let c = c.clone();
                        self.pos += 1;
                        c
                    }
                    _ => Vec::new(),
                };
                Arg::Sub(Box::new(p), chain)
            }
            other => return Err(format!("{line}: unexpected {other:?} in operand")),
        })
    }
}

enum Step {
    Node(Node),
    Define,
    End(&'static str),
}

/// Go's number literals as templates accept them: decimal, hex, octal, binary, floats.
fn number(s: &str) -> Option<Arg> {
    let (neg, digits) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let clean = digits.replace('_', "");
    let int = if let Some(h) = clean.strip_prefix("0x").or(clean.strip_prefix("0X")) {
        i64::from_str_radix(h, 16).ok()
    } else if let Some(b) = clean.strip_prefix("0b").or(clean.strip_prefix("0B")) {
        i64::from_str_radix(b, 2).ok()
    } else if let Some(o) = clean.strip_prefix("0o").or(clean.strip_prefix("0O")) {
        i64::from_str_radix(o, 8).ok()
    } else if clean.len() > 1 && clean.starts_with('0') && clean.bytes().all(|b| b.is_ascii_digit()) {
        i64::from_str_radix(&clean[1..], 8).ok()
    } else {
        clean.parse::<i64>().ok()
    };
    if let Some(i) = int {
        return Some(Arg::Int(if neg { -i } else { i }));
    }
    let f: f64 = clean.parse().ok().filter(|_| clean.bytes().all(|b| b.is_ascii_digit() || b".eE+-".contains(&b)))?;
    Some(Arg::Float(if neg { -f } else { f }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_control_structures() {
        let t = parse("{{ if gt $value 1.0 }}a{{ else if .x }}b{{ else }}c{{ end }}").unwrap();
        let Node::If(_, then, otherwise) = &t.root[0] else { panic!("{t:?}") };
        assert!(matches!(&then[0], Node::Text(s) if s == "a"));
        assert!(matches!(&otherwise[0], Node::If(_, _, e) if matches!(&e[0], Node::Text(s) if s == "c")));
        let t = parse("{{ define \"x\" }}X{{ end }}{{ range $i, $e := . }}{{ break }}{{ end }}").unwrap();
        assert!(t.defines.contains_key("x"));
        assert!(matches!(&t.root[0], Node::Range(p, _, _) if p.decl == ["i", "e"]));
    }

    #[test]
    fn reads_go_numbers() {
        assert!(matches!(number("0x10"), Some(Arg::Int(16))));
        assert!(matches!(number("-2"), Some(Arg::Int(-2))));
        assert!(matches!(number("1.5e3"), Some(Arg::Float(f)) if f == 1500.0));
        assert!(matches!(number("1e21"), Some(Arg::Float(f)) if f == 1e21));
        assert!(number("1x").is_none());
    }

    #[test]
    fn reports_what_go_reports() {
        assert!(parse("{{ if . }}x").unwrap_err().contains("unexpected EOF"));
        assert!(parse("{{ end }}").unwrap_err().contains("unexpected {{end}}"));
        assert!(parse("{{ break }}").unwrap_err().contains("outside {{range}}"));
        assert!(parse("{{ }}").unwrap_err().contains("missing value for command"));
    }
}
