//! Interned label strings. A series stores its labels as symbol ids (8 bytes a label
//! instead of two heap strings), which is most of why a head series costs a fraction of
//! Prometheus's. Symbols are reference-counted so that churned pod names are freed when
//! their last series leaves the head.

use std::collections::HashMap;
use std::sync::Arc;

#[derive(Default)]
pub struct Symbols {
    ids: HashMap<Arc<str>, u32>,
    strings: Vec<Option<Arc<str>>>,
    refs: Vec<u32>,
    free: Vec<u32>,
}

impl Symbols {
    /// The id of `s`, adding it if new; each call takes one reference.
    pub fn intern(&mut self, s: &str) -> u32 {
        if let Some(&id) = self.ids.get(s) {
            self.refs[id as usize] += 1;
            return id;
        }
        let arc: Arc<str> = Arc::from(s);
        let id = match self.free.pop() {
            Some(id) => {
                self.strings[id as usize] = Some(arc.clone());
                self.refs[id as usize] = 1;
                id
            }
            None => {
                self.strings.push(Some(arc.clone()));
                self.refs.push(1);
                (self.strings.len() - 1) as u32
            }
        };
        self.ids.insert(arc, id);
        id
    }

    /// Drops one reference; the string is freed with its last one.
    pub fn release(&mut self, id: u32) {
        let refs = &mut self.refs[id as usize];
        *refs -= 1;
        if *refs == 0
            && let Some(s) = self.strings[id as usize].take()
        {
            self.ids.remove(&s);
            self.free.push(id);
        }
    }

    /// The id of `s` if interned, without taking a reference.
    pub fn lookup(&self, s: &str) -> Option<u32> {
        self.ids.get(s).copied()
    }

    /// The interned string itself, shared: labels read from the head copy no text.
    pub fn shared(&self, id: u32) -> Arc<str> {
        self.strings.get(id as usize).and_then(|s| s.clone()).unwrap_or_else(|| Arc::from(""))
    }

    pub fn get(&self, id: u32) -> &str {
        self.strings.get(id as usize).and_then(|s| s.as_deref()).unwrap_or("")
    }

    /// One more than the largest id given out: the size of a table indexed by symbol.
    pub fn slots(&self) -> usize {
        self.strings.len()
    }

    /// Number of live symbols.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interning_is_refcounted_and_ids_are_reused() {
        let mut s = Symbols::default();
        let a = s.intern("pod-1");
        assert_eq!(s.intern("pod-1"), a);
        s.release(a);
        assert_eq!(s.lookup("pod-1"), Some(a));
        s.release(a);
        assert_eq!(s.lookup("pod-1"), None);
        assert_eq!(s.len(), 0);
        let b = s.intern("pod-2");
        assert_eq!(b, a, "freed ids are reused");
        assert_eq!(s.get(b), "pod-2");
    }
}
