//! Executes a parsed template against a value, as Go's text/template does: pipelines
//! pass their value as the last argument, variables are scoped to their control
//! structure, `range` iterates lists, maps (in key order) and integers.

use super::funcs::{self, Env};
use super::parse::{Arg, Node, Pipe, Tree};
use super::value::Value;

/// Nesting limit for `{{template}}` calls, so a recursive template fails instead of
/// overflowing the stack.
const MAX_DEPTH: usize = 100;

enum Flow {
    Normal,
    Break,
    Continue,
}

pub struct Exec<'a> {
    tree: &'a Tree,
    env: &'a dyn Env,
    vars: Vec<(String, Value)>,
    depth: usize,
}

pub fn execute(tree: &Tree, env: &dyn Env, data: &Value) -> Result<String, String> {
    let mut out = String::new();
    let mut ex = Exec { tree, env, vars: vec![(String::new(), data.clone())], depth: 0 };
    ex.walk(&tree.root, data, &mut out)?;
    Ok(out)
}

impl Exec<'_> {
    fn walk(&mut self, nodes: &[Node], dot: &Value, out: &mut String) -> Result<Flow, String> {
        for n in nodes {
            let flow = self.node(n, dot, out)?;
            if !matches!(flow, Flow::Normal) {
                return Ok(flow);
            }
        }
        Ok(Flow::Normal)
    }

    fn node(&mut self, n: &Node, dot: &Value, out: &mut String) -> Result<Flow, String> {
        match n {
            Node::Text(s) => out.push_str(s),
            Node::Action(p) => {
                let v = self.pipe(p, dot)?;
                if p.decl.is_empty() {
                    out.push_str(&v.to_string());
                }
            }
            Node::If(p, then, otherwise) => {
                let mark = self.vars.len();
                let v = self.pipe(p, dot)?;
                let flow = self.walk(if v.truth() { then } else { otherwise }, dot, out);
                self.vars.truncate(mark);
                return flow;
            }
            Node::With(p, then, otherwise) => {
                let mark = self.vars.len();
                let v = self.pipe(p, dot)?;
                let flow = if v.truth() { self.walk(then, &v, out) } else { self.walk(otherwise, dot, out) };
                self.vars.truncate(mark);
                return flow;
            }
            Node::Range(p, body, otherwise) => return self.range(p, body, otherwise, dot, out),
            Node::Template(name, p) => self.call_template(name, p.as_ref(), dot, out)?,
            Node::Break => return Ok(Flow::Break),
            Node::Continue => return Ok(Flow::Continue),
        }
        Ok(Flow::Normal)
    }

    fn range(
        &mut self,
        p: &Pipe,
        body: &[Node],
        otherwise: &[Node],
        dot: &Value,
        out: &mut String,
    ) -> Result<Flow, String> {
        let mark = self.vars.len();
        let v = self.commands(p, dot)?;
        let items: Vec<(Value, Value)> = match v {
            Value::List(l) => l.into_iter().enumerate().map(|(i, v)| (Value::Int(i as i64), v)).collect(),
            Value::Map(m) => m.into_iter().map(|(k, v)| (Value::Str(k), v)).collect(),
            Value::Int(n) => (0..n.max(0)).map(|i| (Value::Int(i), Value::Int(i))).collect(),
            Value::Missing | Value::Nil => Vec::new(),
            other => return Err(format!("range can't iterate over {other}")),
        };
        if items.is_empty() {
            let flow = self.walk(otherwise, dot, out);
            self.vars.truncate(mark);
            return flow.map(|_| Flow::Normal);
        }
        for (key, elem) in items {
            match p.decl.as_slice() {
                [] => {}
                [e] => self.vars.push((e.clone(), elem.clone())),
                [k, e, ..] => {
                    self.vars.push((k.clone(), key));
                    self.vars.push((e.clone(), elem.clone()));
                }
            }
            let flow = self.walk(body, &elem, out);
            self.vars.truncate(mark);
            if matches!(flow?, Flow::Break) {
                break;
            }
        }
        Ok(Flow::Normal)
    }

    fn call_template(&mut self, name: &str, p: Option<&Pipe>, dot: &Value, out: &mut String) -> Result<(), String> {
        let body = self.tree.defines.get(name).ok_or(format!("no such template {name:?}"))?;
        if self.depth >= MAX_DEPTH {
            return Err(format!("exceeded maximum template depth ({MAX_DEPTH})"));
        }
        let data = match p {
            Some(p) => self.pipe(p, dot)?,
            None => Value::Nil,
        };
        let mut inner =
            Exec { tree: self.tree, env: self.env, vars: vec![(String::new(), data.clone())], depth: self.depth + 1 };
        inner.walk(body, &data, out)?;
        Ok(())
    }

    /// A pipeline's value, with its declarations or assignment carried out.
    fn pipe(&mut self, p: &Pipe, dot: &Value) -> Result<Value, String> {
        let v = self.commands(p, dot)?;
        for name in &p.decl {
            if p.assign {
                let slot = self
                    .vars
                    .iter_mut()
                    .rev()
                    .find(|(n, _)| n == name)
                    .ok_or(format!("undefined variable: ${name}"))?;
                slot.1 = v.clone();
            } else {
                self.vars.push((name.clone(), v.clone()));
            }
        }
        Ok(v)
    }

    fn commands(&mut self, p: &Pipe, dot: &Value) -> Result<Value, String> {
        let mut last: Option<Value> = None;
        for cmd in &p.cmds {
            last = Some(self.command(cmd, dot, last).map_err(|e| at(p.line, e))?);
        }
        Ok(last.unwrap_or(Value::Missing))
    }

    fn command(&mut self, args: &[Arg], dot: &Value, fin: Option<Value>) -> Result<Value, String> {
        if let Arg::Func(name) = &args[0] {
            let mut vals = Vec::with_capacity(args.len());
            for a in &args[1..] {
                vals.push(self.arg(a, dot)?);
            }
            vals.extend(fin);
            return self.call(name, &vals);
        }
        if args.len() > 1 || fin.is_some() {
            return Err(format!("can't give argument to non-function {:?}", args[0]));
        }
        self.arg(&args[0], dot)
    }

    fn call(&mut self, name: &str, args: &[Value]) -> Result<Value, String> {
        let f = funcs::lookup(name).ok_or(format!("function {name:?} not defined"))?;
        f(args, self.env).map_err(|e| format!("error calling {name}: {e}"))
    }

    fn arg(&mut self, a: &Arg, dot: &Value) -> Result<Value, String> {
        Ok(match a {
            Arg::Dot => dot.clone(),
            Arg::Nil => Value::Nil,
            Arg::Bool(b) => Value::Bool(*b),
            Arg::Int(i) => Value::Int(*i),
            Arg::Float(f) => Value::Float(*f),
            Arg::Str(s) => Value::Str(s.clone()),
            Arg::Field(chain) => fields(dot, chain)?,
            Arg::Var(name, chain) => {
                let v =
                    self.vars.iter().rev().find(|(n, _)| n == name).ok_or(format!("undefined variable: ${name}"))?;
                fields(&v.1, chain)?
            }
            Arg::Func(name) => self.call(name, &[])?,
            Arg::Sub(p, chain) => {
                let v = self.pipe(p, dot)?;
                fields(&v, chain)?
            }
        })
    }
}

fn at(line: usize, e: String) -> String {
    if e.starts_with("line ") { e } else { format!("line {line}: {e}") }
}

/// Follows a field chain, cloning only the value it ends on (`$labels.job` copies one
/// string, not the whole label map).
fn fields(v: &Value, chain: &[String]) -> Result<Value, String> {
    let mut cur = v;
    for name in chain {
        cur = match cur {
            // Label maps are Go `map[string]string`: a missing key is the zero value "".
            Value::Map(m) => match m.get(name) {
                Some(next) => next,
                None => return Ok(Value::Str(String::new())),
            },
            Value::Missing | Value::Nil => return Err(format!("nil pointer evaluating interface {{}}.{name}")),
            other => return Err(format!("can't evaluate field {name} in type {}", other.type_name())),
        };
    }
    Ok(cur.clone())
}
