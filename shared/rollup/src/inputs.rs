//! A rule's per-input state, in a table whose slots follow the order inputs first came
//! in. A scrape appends a target's series in the same order every time, so finding each
//! input by the slot its series remembers walks the table in order, which the CPU
//! prefetches; a hash map's order is random, and at 100k inputs each lookup was a miss
//! to memory, most of what a rollup added to an append. The key map behind the table is
//! used only when the slot is unknown or stale (a new series, a restart, a series that
//! feeds several rules).

use rustc_hash::FxHashMap;

/// What a rule keeps per input series: 24 bytes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Input {
    pub last_v: f64,
    pub last_t: i64,
    pub group: u32,
    /// The rule's flush count when the input was last seen: inputs age by flushes, not by
    /// wall-clock time, so a collector that was down does not forget its inputs.
    pub seen: u32,
}

/// Inputs by label hash (the key), in slots.
#[derive(Clone, Debug, Default)]
pub struct Inputs {
    slots: Vec<(u64, Input)>,
    /// Key to slot. A slot not in it is free.
    index: FxHashMap<u64, u32>,
    free: Vec<u32>,
}

/// The group of a free slot.
const FREE: u32 = u32::MAX;

impl Inputs {
    /// The input with `key`, looked for first at `*slot`, which is set to where it is.
    pub fn get_mut(&mut self, key: u64, slot: &mut u32) -> Option<&mut Input> {
        let at = match self.slots.get(*slot as usize) {
            Some((k, i)) if *k == key && i.group != FREE => *slot,
            _ => *self.index.get(&key)?,
        };
        *slot = at;
        Some(&mut self.slots[at as usize].1)
    }

    /// Sets the input with `key`, adding it if new; returns its slot.
    pub fn insert(&mut self, key: u64, input: Input) -> u32 {
        if let Some(&at) = self.index.get(&key) {
            self.slots[at as usize].1 = input;
            return at;
        }
        let at = match self.free.pop() {
            Some(at) => {
                self.slots[at as usize] = (key, input);
                at
            }
            None => {
                self.slots.push((key, input));
                (self.slots.len() - 1) as u32
            }
        };
        self.index.insert(key, at);
        at
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Every input with its key, in slot order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &Input)> {
        self.slots.iter().filter(|(_, i)| i.group != FREE).map(|(k, i)| (*k, i))
    }

    /// Keeps the inputs `keep` accepts; the others' slots are reused by later inputs.
    pub fn retain(&mut self, mut keep: impl FnMut(&Input) -> bool) {
        for (at, (key, input)) in self.slots.iter_mut().enumerate() {
            if input.group != FREE && !keep(input) {
                input.group = FREE;
                self.index.remove(key);
                self.free.push(at as u32);
            }
        }
    }

    /// Approximate memory: the slots, the key map's entries and control bytes, the free
    /// list.
    pub fn state_bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<(u64, Input)>()
            + self.index.capacity() * (std::mem::size_of::<(u64, u32)>() + 1)
            + self.free.capacity() * 4
    }
}

/// The same inputs under the same keys, wherever their slots are.
impl PartialEq for Inputs {
    fn eq(&self, other: &Inputs) -> bool {
        let other_input = |k: u64| other.index.get(&k).map(|&at| &other.slots[at as usize].1);
        self.len() == other.len() && self.iter().all(|(k, i)| other_input(k) == Some(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(group: u32) -> Input {
        Input { last_v: 1.0, last_t: 2, group, seen: 0 }
    }

    #[test]
    fn a_slot_is_found_from_a_right_hint_a_wrong_one_or_none() {
        let mut t = Inputs::default();
        let (a, b) = (t.insert(10, input(0)), t.insert(20, input(1)));
        assert_eq!((a, b), (0, 1), "slots follow arrival");
        let mut slot = b;
        assert_eq!(t.get_mut(20, &mut slot).map(|i| i.group), Some(1));
        let mut slot = a;
        assert_eq!(t.get_mut(20, &mut slot).map(|i| i.group), Some(1), "a wrong hint falls back to the key");
        assert_eq!(slot, b, "and is corrected");
        let mut slot = 99;
        assert_eq!(t.get_mut(10, &mut slot).map(|i| i.group), Some(0));
        assert_eq!(slot, a);
        assert!(t.get_mut(30, &mut slot).is_none());
    }

    #[test]
    fn a_freed_slot_is_not_found_and_is_reused() {
        let mut t = Inputs::default();
        t.insert(10, input(0));
        t.insert(20, input(1));
        t.retain(|i| i.group != 0);
        let mut slot = 0;
        assert!(t.get_mut(10, &mut slot).is_none(), "a hint at a freed slot finds nothing");
        assert_eq!((t.len(), t.iter().count()), (1, 1));
        assert_eq!(t.insert(30, input(2)), 0, "the freed slot is reused");
        let mut slot = 0;
        assert_eq!(t.get_mut(30, &mut slot).map(|i| i.group), Some(2));
        let mut other = Inputs::default();
        other.insert(30, input(2));
        other.insert(20, input(1));
        assert_eq!(t, other, "equal whatever the slots");
        other.insert(40, input(3));
        assert_ne!(t, other);
    }
}
