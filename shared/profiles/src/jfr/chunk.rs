//! One JFR chunk: its header, its metadata (the classes and their fields, which say how
//! every value is laid out), its constant pools (stack traces, methods, classes, symbols,
//! thread states, strings — what events refer to by index) and a walk over its events.
//!
//! Layout (JDK 11+, format 2.x): a 68-byte big-endian header (`FLR\0`, version, chunk
//! size, constant-pool and metadata offsets, start and duration in nanoseconds and ticks,
//! ticks per second, features), then events, each `size | type | fields…` in varints.
//! Type 0 is the metadata event, 1 a constant-pool (checkpoint) event; events may refer
//! to pool entries written later in the chunk, so pools are read before any event.

use super::reader::{Bad, Reader, Result, Str, bad};
use rustc_hash::FxHashMap;

const MAGIC: &[u8; 4] = b"FLR\0";
pub const HEADER: usize = 68;
const METADATA: i64 = 0;
const CONSTANT_POOL: i64 = 1;
/// Deepest nesting of inline (non-pooled) struct values and metadata elements: real
/// recordings nest a few levels; a crafted class that contains itself would not end.
const MAX_DEPTH: u32 = 32;

pub struct Header {
    pub size: usize,
    pub start_nanos: i64,
    pub duration_nanos: i64,
    pub ticks_per_second: i64,
}

#[derive(Debug, Clone)]
pub struct Field {
    pub name: String,
    pub class: i64,
    pub pooled: bool,
    pub array: bool,
}

#[derive(Debug, Clone)]
pub struct Class {
    pub name: String,
    pub fields: Vec<Field>,
    /// Set for the primitive types, which have no fields.
    prim: Option<Prim>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Prim {
    Bool,
    Byte,
    Char,
    Short,
    Int,
    Long,
    Float,
    Double,
    String,
}

fn prim(name: &str) -> Option<Prim> {
    Some(match name {
        "boolean" => Prim::Bool,
        "byte" => Prim::Byte,
        "char" => Prim::Char,
        "short" => Prim::Short,
        "int" => Prim::Int,
        "long" => Prim::Long,
        "float" => Prim::Float,
        "double" => Prim::Double,
        "java.lang.String" => Prim::String,
        _ => return None,
    })
}

/// How to step over a value without looking at it: its encoding flattened (structs
/// inline), worked out once per class, so skipping costs no lookups.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    Byte,
    Varint,
    Bytes4,
    Bytes8,
    Str,
    Array(Box<[Op]>),
}

/// A value as read, kept only for the pool entries and event fields that matter.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Int(i64),
    Float(f64),
    Str(Option<String>),
    /// An index into the pool of the field's class.
    Ref(i64),
    Array(Vec<Value>),
    Obj(Vec<Value>),
}

impl Value {
    pub fn int(&self) -> Option<i64> {
        match self {
            Value::Int(v) | Value::Ref(v) => Some(*v),
            _ => None,
        }
    }
}

/// Per field of a class, the ops that skip it; `None` for a class whose fields nest
/// without end (a crafted class containing itself) or name unknown classes.
type Skips = Option<std::rc::Rc<[Box<[Op]>]>>;

/// The chunk's classes, by id, and how to skip a value of each (worked out for a class
/// when first needed: a recording describes hundreds, a chunk uses tens).
#[derive(Default)]
pub struct Metadata {
    pub classes: FxHashMap<i64, Class>,
    skips: std::cell::RefCell<FxHashMap<i64, Skips>>,
}

impl Metadata {
    pub fn class_id(&self, name: &str) -> Option<i64> {
        self.classes.iter().find(|(_, c)| c.name == name).map(|(id, _)| *id)
    }

    fn class(&self, id: i64) -> Result<&Class> {
        self.classes.get(&id).ok_or_else(|| Bad(format!("unknown class id {id}")))
    }

    /// Reads a value of class `id` (a whole struct, with nested ones inline).
    pub fn read(&self, r: &mut Reader, id: i64, depth: u32) -> Result<Value> {
        let c = self.class(id)?;
        if let Some(p) = c.prim {
            return read_prim(r, p);
        }
        if depth > MAX_DEPTH {
            return bad(format!("values nested deeper than {MAX_DEPTH} at byte {}", r.pos));
        }
        let mut out = Vec::with_capacity(c.fields.len());
        for f in &c.fields {
            out.push(self.read_field(r, f, depth + 1)?);
        }
        Ok(Value::Obj(out))
    }

    pub fn read_field(&self, r: &mut Reader, f: &Field, depth: u32) -> Result<Value> {
        if f.array {
            let n = r.count(1)?;
            let mut items = Vec::with_capacity(n);
            for _ in 0..n {
                items.push(self.read_one(r, f, depth)?);
            }
            return Ok(Value::Array(items));
        }
        self.read_one(r, f, depth)
    }

    fn read_one(&self, r: &mut Reader, f: &Field, depth: u32) -> Result<Value> {
        if f.pooled {
            return Ok(Value::Ref(r.varlong()?));
        }
        self.read(r, f.class, depth)
    }

    /// The ops that skip each field of class `id`.
    fn skips(&self, id: i64) -> Result<std::rc::Rc<[Box<[Op]>]>> {
        let cached = self.skips.borrow().get(&id).cloned();
        let skips = match cached {
            Some(s) => s,
            None => {
                let c = self.class(id)?;
                let compiled: Option<Vec<Box<[Op]>>> = c
                    .fields
                    .iter()
                    .map(|f| {
                        let mut ops = Vec::new();
                        self.field_ops(f, 0, &mut ops).then(|| ops.into_boxed_slice())
                    })
                    .collect();
                let s: Skips = compiled.map(Into::into);
                self.skips.borrow_mut().insert(id, s.clone());
                s
            }
        };
        skips.ok_or_else(|| Bad(format!("class {id} nests deeper than {MAX_DEPTH} or names unknown classes")))
    }

    /// The ops that skip field `i` of class `id`.
    pub fn field_skip(&self, id: i64, i: usize) -> Result<Box<[Op]>> {
        let skips = self.skips(id)?;
        skips.get(i).cloned().ok_or_else(|| Bad(format!("no field {i} in class {id}")))
    }

    /// Steps over a whole value of class `id`.
    pub fn skip(&self, r: &mut Reader, id: i64) -> Result<()> {
        if let Some(p) = self.class(id)?.prim {
            return read_prim(r, p).map(drop);
        }
        self.skips(id)?.iter().try_for_each(|ops| skip(r, ops))
    }

    /// Appends the ops of one field; false if its classes nest without end (or are unknown).
    fn field_ops(&self, f: &Field, depth: u32, out: &mut Vec<Op>) -> bool {
        if f.array {
            let mut inner = Vec::new();
            let ok = self.one_ops(f, depth, &mut inner);
            out.push(Op::Array(inner.into_boxed_slice()));
            return ok;
        }
        self.one_ops(f, depth, out)
    }

    fn one_ops(&self, f: &Field, depth: u32, out: &mut Vec<Op>) -> bool {
        if f.pooled {
            out.push(Op::Varint);
            return true;
        }
        let Some(c) = self.classes.get(&f.class) else { return false };
        if let Some(p) = c.prim {
            out.push(match p {
                Prim::Bool | Prim::Byte => Op::Byte,
                Prim::Char | Prim::Short | Prim::Int | Prim::Long => Op::Varint,
                Prim::Float => Op::Bytes4,
                Prim::Double => Op::Bytes8,
                Prim::String => Op::Str,
            });
            return true;
        }
        depth < MAX_DEPTH && c.fields.iter().all(|inner| self.field_ops(inner, depth + 1, out))
    }
}

/// Steps over a value by its ops.
pub fn skip(r: &mut Reader, ops: &[Op]) -> Result<()> {
    for op in ops {
        match op {
            Op::Byte => drop(r.bytes(1)?),
            Op::Varint => drop(r.varlong()?),
            Op::Bytes4 => drop(r.bytes(4)?),
            Op::Bytes8 => drop(r.bytes(8)?),
            Op::Str => drop(r.string()?),
            Op::Array(inner) => {
                for _ in 0..r.count(1)? {
                    skip(r, inner)?;
                }
            }
        }
    }
    Ok(())
}

fn read_prim(r: &mut Reader, p: Prim) -> Result<Value> {
    Ok(match p {
        Prim::Bool | Prim::Byte => Value::Int(i64::from(r.u8()?)),
        Prim::Char | Prim::Short | Prim::Int | Prim::Long => Value::Int(r.varlong()?),
        Prim::Float => Value::Float(f64::from(f32::from_bits(r.be_i32()? as u32))),
        Prim::Double => Value::Float(f64::from_bits(r.be_i64()? as u64)),
        Prim::String => match r.string()? {
            Str::Null => Value::Str(None),
            Str::Text(t) => Value::Str(Some(t.into_owned())),
            Str::Pooled(i) => Value::Ref(i),
        },
    })
}

/// Reads the chunk header at `pos`.
pub fn header(data: &[u8], pos: usize) -> Result<Header> {
    let mut r = Reader::new(data, pos);
    if r.bytes(4)? != MAGIC {
        return bad(format!("no JFR chunk at byte {pos} (bad magic)"));
    }
    let major = r.be_u16()?;
    let _minor = r.be_u16()?;
    if major != 2 {
        return bad(format!("JFR format version {major} is not supported (2.x, JDK 11 and later)"));
    }
    let size = r.be_i64()?;
    let (_cp, _meta) = (r.be_i64()?, r.be_i64()?);
    let (start_nanos, duration_nanos, _start_ticks, ticks_per_second) =
        (r.be_i64()?, r.be_i64()?, r.be_i64()?, r.be_i64()?);
    let features = r.be_i32()?;
    if features & 1 == 0 {
        return bad("uncompressed JFR integers are not supported (every JDK since 11 compresses them)");
    }
    let size = usize::try_from(size).ok().filter(|s| *s >= HEADER);
    let Some(size) = size.filter(|s| pos.checked_add(*s).is_some_and(|end| end <= data.len())) else {
        return bad(format!("truncated JFR: the chunk at byte {pos} is longer than the {} bytes sent", data.len()));
    };
    if ticks_per_second <= 0 {
        return bad(format!("chunk at byte {pos}: ticks per second is {ticks_per_second}"));
    }
    Ok(Header { size, start_nanos, duration_nanos, ticks_per_second })
}

/// An event's position: where its fields start, and where the next event starts.
pub struct EventAt {
    pub kind: i64,
    pub fields: usize,
    pub end: usize,
}

/// The events of the chunk at `[start, end)`, in order.
pub fn events(data: &[u8], start: usize, end: usize) -> impl Iterator<Item = Result<EventAt>> + '_ {
    let mut pos = start + HEADER;
    std::iter::from_fn(move || {
        if pos >= end {
            return None;
        }
        let at = pos;
        let mut r = Reader::new(&data[..end], pos);
        let next = r.varint().and_then(|size| {
            let size = usize::try_from(size).ok().filter(|s| *s > 0 && at + s <= end);
            let Some(size) = size else { return bad(format!("event at byte {at} has an impossible size")) };
            Ok(EventAt { kind: r.varlong()?, fields: r.pos, end: at + size })
        });
        match next {
            Ok(e) => {
                pos = e.end;
                Some(Ok(e))
            }
            Err(e) => {
                pos = end;
                Some(Err(e))
            }
        }
    })
}

/// Where a chunk's metadata and constant pools are: the positions of its metadata events
/// (the last is the most complete) and of its constant-pool events, in one pass.
pub struct Index {
    pub metadata: Option<EventAt>,
    pub pools: Vec<EventAt>,
}

pub fn index(data: &[u8], start: usize, end: usize) -> Result<Index> {
    let mut out = Index { metadata: None, pools: Vec::new() };
    for e in events(data, start, end) {
        let e = e?;
        match e.kind {
            METADATA => out.metadata = Some(e),
            CONSTANT_POOL => out.pools.push(e),
            _ => {}
        }
    }
    Ok(out)
}

/// Reads a metadata event: its string table, then its element tree, keeping only the
/// classes and their fields (`root` → `metadata` → `class` → `field`).
pub fn metadata(data: &[u8], e: &EventAt) -> Result<Metadata> {
    let mut r = Reader::new(&data[..e.end], e.fields);
    let (_start, _duration, _id) = (r.varlong()?, r.varlong()?, r.varlong()?);
    let n = r.count(1)?;
    let mut strings = Vec::with_capacity(n);
    for _ in 0..n {
        strings.push(match r.string()? {
            Str::Text(t) => t,
            _ => std::borrow::Cow::Borrowed(""),
        });
    }
    let mut meta = Metadata::default();
    element(&mut r, &strings, 0, Place::Top, &mut meta)?;
    Ok(meta)
}

/// Where in the metadata tree an element is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    /// The tree's root element itself.
    Top,
    /// Its children.
    Root,
    Metadata,
    /// Inside the class with this id.
    Class(i64),
    Other,
}

fn element(
    r: &mut Reader,
    strings: &[std::borrow::Cow<str>],
    depth: u32,
    at: Place,
    meta: &mut Metadata,
) -> Result<()> {
    if depth > MAX_DEPTH {
        return bad(format!("metadata nested deeper than {MAX_DEPTH}"));
    }
    let s = |r: &mut Reader| -> Result<&str> {
        let i = r.varint()?;
        usize::try_from(i)
            .ok()
            .and_then(|i| strings.get(i))
            .map(|s| &**s)
            .ok_or_else(|| Bad(format!("metadata string index {i} out of range")))
    };
    let name = s(r)?;
    let (mut a_name, mut a_id, mut a_class, mut pooled, mut array) = ("", None, None, false, false);
    for _ in 0..r.count(2)? {
        let (k, v) = (s(r)?, s(r)?);
        match k {
            "name" => a_name = v,
            "id" => a_id = v.parse::<i64>().ok(),
            "class" => a_class = v.parse::<i64>().ok(),
            "constantPool" => pooled = v == "true",
            "dimension" => array = v != "0",
            _ => {}
        }
    }
    let inner = match (at, name) {
        (Place::Top, _) => Place::Root,
        (Place::Root, "metadata") => Place::Metadata,
        (Place::Metadata, "class") => {
            let id = a_id.ok_or_else(|| Bad(format!("class {a_name} has no id")))?;
            let class = Class { name: a_name.to_string(), fields: Vec::new(), prim: prim(a_name) };
            meta.classes.insert(id, class);
            Place::Class(id)
        }
        (Place::Class(id), "field") => {
            let field = Field { name: a_name.to_string(), class: a_class.unwrap_or(-1), pooled, array };
            meta.classes.get_mut(&id).expect("inserted above").fields.push(field);
            Place::Other
        }
        _ => Place::Other,
    };
    for _ in 0..r.count(3)? {
        element(r, strings, depth + 1, inner, meta)?;
    }
    Ok(())
}

/// The constant pools events refer to: per class, index → value. Only the classes in
/// `keep` are kept; the others are stepped over.
#[derive(Default)]
pub struct Pools {
    by_class: FxHashMap<i64, FxHashMap<i64, Value>>,
}

impl Pools {
    pub fn read(data: &[u8], events: &[EventAt], meta: &Metadata, keep: &[i64]) -> Result<Pools> {
        let mut by_class: FxHashMap<i64, FxHashMap<i64, Value>> = FxHashMap::default();
        for e in events {
            let mut r = Reader::new(&data[..e.end], e.fields);
            let (_start, _duration, _delta) = (r.varlong()?, r.varlong()?, r.varlong()?);
            let _flush = r.u8()?;
            let pools = r.count(2)?;
            for _ in 0..pools {
                let class = r.varlong()?;
                let n = r.count(1)?;
                let kept = keep.contains(&class);
                for _ in 0..n {
                    let key = r.varlong()?;
                    if kept {
                        let v = meta.read(&mut r, class, 0)?;
                        by_class.entry(class).or_default().insert(key, v);
                    } else {
                        meta.skip(&mut r, class)?;
                    }
                }
            }
        }
        Ok(Pools { by_class })
    }

    pub fn get(&self, class: Option<i64>, key: i64) -> Option<&Value> {
        self.by_class.get(&class?)?.get(&key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_names_what_is_wrong() {
        let mut h = vec![0u8; HEADER];
        h[..4].copy_from_slice(b"FLR\0");
        h[5] = 2;
        h[8..16].copy_from_slice(&(HEADER as i64 + 10).to_be_bytes());
        h[56..64].copy_from_slice(&1_000_000_000i64.to_be_bytes());
        h[67] = 1;
        assert!(header(&h, 0).err().unwrap().0.starts_with("truncated JFR"));
        h.extend([0; 10]);
        assert_eq!(header(&h, 0).unwrap().size, HEADER + 10);
        h[67] = 0;
        assert!(header(&h, 0).err().unwrap().0.contains("uncompressed"));
        assert!(header(b"PK\x03\x04", 0).err().unwrap().0.contains("bad magic"));
    }
}
