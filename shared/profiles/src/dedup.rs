//! Remembers the uploads recorded recently, so a client retrying an upload whose answer
//! it missed does not count the profile twice.

use std::collections::{HashMap, VecDeque};

/// How long an upload is remembered. SDKs retry within seconds; ten minutes covers a
/// long outage of the path back to the client.
pub const WINDOW_MS: i64 = 10 * 60 * 1000;
/// At most this many uploads are remembered (≈ 40 MB), the oldest forgotten first.
const MAX_ENTRIES: usize = 1 << 20;

#[derive(Default)]
pub struct Dedup {
    seen: HashMap<u64, i64>,
    order: VecDeque<(i64, u64)>,
}

impl Dedup {
    pub fn contains(&self, id: u64) -> bool {
        self.seen.contains_key(&id)
    }

    pub fn insert(&mut self, id: u64, now: i64) {
        self.expire(now);
        self.seen.insert(id, now);
        self.order.push_back((now, id));
    }

    fn expire(&mut self, now: i64) {
        while let Some(&(t, id)) = self.order.front() {
            if t > now - WINDOW_MS && self.order.len() < MAX_ENTRIES {
                break;
            }
            self.order.pop_front();
            if self.seen.get(&id) == Some(&t) {
                self.seen.remove(&id);
            }
        }
    }

    pub fn len(&self) -> usize {
        self.seen.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uploads_are_forgotten_after_the_window() {
        let mut d = Dedup::default();
        d.insert(1, 0);
        d.insert(2, WINDOW_MS / 2);
        assert!(d.contains(1) && d.contains(2));
        d.insert(3, WINDOW_MS);
        assert!(!d.contains(1) && d.contains(2) && d.contains(3));
        assert_eq!(d.len(), 2);
    }
}
