//! The rollup state file: every rule's inputs, groups and open windows, written after each
//! flush and read at start, so a restart neither re-counts nor loses an output counter.
//!
//! Layout (little-endian): magic `CRLS`, version u32, the time it was saved (ms, i64;
//! from version 2), rule count u32, then per rule its key, flushed time, flush count,
//! groups, inputs and windows; a CRC-32 of everything before it ends the file. The file
//! is replaced atomically (write, fsync, rename).

use crate::rule::{Group, Input, Inputs, RuleState, rule_key};
use crate::window::Acc;
use cardinal_model::Labels;
use std::collections::HashMap;
use std::io;
use std::path::Path;

const MAGIC: &[u8; 4] = b"CRLS";
const VERSION: u32 = 2;

/// A rule's state as read back, before it is matched to a configured rule by key.
pub struct SavedRule {
    /// When the file was written: windows ending later were still open then.
    pub saved_at: i64,
    pub flushed: i64,
    pub flushes: u32,
    pub groups: Vec<Option<Group>>,
    pub inputs: Inputs,
    pub windows: Vec<(i64, Vec<Acc>)>,
}

impl SavedRule {
    /// Puts the saved state into a fresh state of the same rule.
    pub fn restore_into(self, state: &mut RuleState) {
        state.flushed = self.flushed;
        state.flushes = self.flushes;
        state.groups = self.groups;
        state.inputs = self.inputs;
        state.windows = self.windows;
        state.resume_until = i64::MIN;
        state.resume_cut_windows(self.saved_at);
        for (_, i) in state.inputs.iter() {
            if let Some(g) = state.groups[i.group as usize].as_mut() {
                g.inputs += 1;
            }
        }
        state.reindex();
    }
}

/// Builds a state file rule by rule, so that each rule is locked only while it is written.
pub struct Writer(Vec<u8>);

impl Writer {
    pub fn new(rules: usize, saved_at: i64) -> Writer {
        let mut w = Vec::with_capacity(1 << 16);
        w.extend_from_slice(MAGIC);
        put_u32(&mut w, VERSION);
        put_i64(&mut w, saved_at);
        put_u32(&mut w, rules as u32);
        Writer(w)
    }

    pub fn rule(&mut self, r: &RuleState) {
        encode_rule(&mut self.0, r);
    }

    pub fn finish(mut self) -> Vec<u8> {
        let crc = crc32fast::hash(&self.0);
        put_u32(&mut self.0, crc);
        self.0
    }
}

fn encode_rule(w: &mut Vec<u8>, r: &RuleState) {
    put_str(w, &rule_key(&r.rule));
    put_i64(w, r.flushed);
    put_u32(w, r.flushes);
    put_u32(w, r.groups.len() as u32);
    for g in &r.groups {
        match g {
            None => w.push(0),
            Some(g) => {
                w.push(1 | u8::from(g.emitted) << 1 | u8::from(g.resumed) << 2);
                put_u32(w, g.labels.len() as u32);
                for l in &g.labels {
                    put_str(w, &l.name);
                    put_str(w, &l.value);
                }
                put_f64(w, g.total);
            }
        }
    }
    put_u32(w, r.inputs.len() as u32);
    for (k, i) in r.inputs.iter() {
        put_u64(w, k);
        put_f64(w, i.last_v);
        put_i64(w, i.last_t);
        put_u32(w, i.group);
        put_u32(w, i.seen);
    }
    put_u32(w, r.windows.len() as u32);
    for (end, accs) in &r.windows {
        put_i64(w, *end);
        put_u32(w, accs.len() as u32);
        for a in accs {
            for f in [a.delta, a.sum_last, a.sum, a.min, a.max, a.last_v] {
                put_f64(w, f);
            }
            put_u32(w, a.series);
            put_u32(w, a.samples);
            put_i64(w, a.last_t);
        }
    }
}

/// Reads a state file's bytes into saved rules by key.
pub fn decode(data: &[u8]) -> Result<HashMap<String, SavedRule>, String> {
    let body_len = data.len().checked_sub(4).ok_or("file too short")?;
    let (body, crc) = data.split_at(body_len);
    if crc32fast::hash(body) != u32::from_le_bytes(crc.try_into().expect("4 bytes")) {
        return Err("checksum mismatch".into());
    }
    let mut r = Reader(body);
    if r.take(4)? != MAGIC {
        return Err("not a rollup state file".into());
    }
    let saved_at = match r.u32()? {
        // Version 1 did not record it: every open window counts as cut short.
        1 => i64::MIN,
        VERSION => r.i64()?,
        version => return Err(format!("unsupported version {version}")),
    };
    let mut out = HashMap::new();
    for _ in 0..r.u32()? {
        let key = r.str()?;
        out.insert(key, decode_rule(&mut r, saved_at)?);
    }
    if !r.0.is_empty() {
        return Err("trailing bytes".into());
    }
    Ok(out)
}

fn decode_rule(r: &mut Reader, saved_at: i64) -> Result<SavedRule, String> {
    let flushed = r.i64()?;
    let flushes = r.u32()?;
    let n = r.count(1)?;
    let mut groups = Vec::with_capacity(n);
    for _ in 0..n {
        let flags = r.take(1)?[0];
        if flags & 1 == 0 {
            groups.push(None);
            continue;
        }
        let mut labels = Vec::new();
        for _ in 0..r.count(8)? {
            labels.push((r.str()?, r.str()?));
        }
        let (labels, total) = (Labels::from_pairs(labels), r.f64()?);
        // Inputs per group are counted from the inputs at restore.
        groups.push(Some(Group { labels, total, inputs: 0, emitted: flags & 2 != 0, resumed: flags & 4 != 0 }));
    }
    let mut inputs = Inputs::default();
    for _ in 0..r.count(32)? {
        let key = r.u64()?;
        let i = Input { last_v: r.f64()?, last_t: r.i64()?, group: r.u32()?, seen: r.u32()? };
        if groups.get(i.group as usize).is_none_or(Option::is_none) {
            return Err(format!("input refers to missing group {}", i.group));
        }
        inputs.insert(key, i);
    }
    let mut windows = Vec::new();
    for _ in 0..r.count(12)? {
        let end = r.i64()?;
        let mut accs = Vec::new();
        for _ in 0..r.count(64)? {
            let [delta, sum_last, sum, min, max, last_v] = [r.f64()?, r.f64()?, r.f64()?, r.f64()?, r.f64()?, r.f64()?];
            let (series, samples, last_t) = (r.u32()?, r.u32()?, r.i64()?);
            accs.push(Acc { delta, sum_last, series, sum, samples, min, max, last_t, last_v });
        }
        windows.push((end, accs));
    }
    Ok(SavedRule { saved_at, flushed, flushes, groups, inputs, windows })
}

/// Replaces `path` with `data` so that a crash leaves either the old file or the new one.
pub fn write_atomic(path: &Path, data: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(data)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

fn put_u32(w: &mut Vec<u8>, v: u32) {
    w.extend_from_slice(&v.to_le_bytes());
}
fn put_u64(w: &mut Vec<u8>, v: u64) {
    w.extend_from_slice(&v.to_le_bytes());
}
fn put_i64(w: &mut Vec<u8>, v: i64) {
    w.extend_from_slice(&v.to_le_bytes());
}
fn put_f64(w: &mut Vec<u8>, v: f64) {
    w.extend_from_slice(&v.to_bits().to_le_bytes());
}
fn put_str(w: &mut Vec<u8>, s: &str) {
    put_u32(w, s.len() as u32);
    w.extend_from_slice(s.as_bytes());
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.0.len() < n {
            return Err("truncated".into());
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        Ok(self.take(N)?.try_into().expect("length checked"))
    }
    fn u32(&mut self) -> Result<u32, String> {
        self.array().map(u32::from_le_bytes)
    }
    fn u64(&mut self) -> Result<u64, String> {
        self.array().map(u64::from_le_bytes)
    }
    fn i64(&mut self) -> Result<i64, String> {
        self.array().map(i64::from_le_bytes)
    }
    fn f64(&mut self) -> Result<f64, String> {
        self.u64().map(f64::from_bits)
    }
    /// An element count, refused when the rest of the file cannot hold that many
    /// elements of at least `min_size` bytes (a corrupt count must not allocate).
    fn count(&mut self, min_size: usize) -> Result<usize, String> {
        let n = self.u32()? as usize;
        if n.saturating_mul(min_size) > self.0.len() {
            return Err("count exceeds the file".into());
        }
        Ok(n)
    }
    fn str(&mut self) -> Result<String, String> {
        let n = self.count(1)?;
        String::from_utf8(self.take(n)?.to_vec()).map_err(|_| "invalid UTF-8".to_string())
    }
}
