//! The head's ways to a series, by id and by label-set hash: sharded hash tables of
//! series handles alone, 8 bytes an entry, keyed by a field each series carries. A map
//! storing the key beside the handle took 24 bytes an entry (32 with a collision list)
//! before the table's own slack, for every series in the head.

use super::{MemSeries, SeriesRef};
use hashbrown::HashTable;
use parking_lot::{RwLock, RwLockWriteGuard};

/// Enough shards that concurrent scrapers creating series rarely meet on one.
const SHARDS: usize = 64;

pub struct SeriesTable {
    shards: Box<[RwLock<HashTable<SeriesRef>>]>,
    key: fn(&MemSeries) -> u64,
}

/// Spreads a key over the table: ids are sequential and label hashes already random, and
/// an odd multiplier keeps both apart in the low bits while filling the high ones.
fn mix(k: u64) -> u64 {
    k.wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

impl SeriesTable {
    pub fn new(key: fn(&MemSeries) -> u64) -> Self {
        SeriesTable { shards: (0..SHARDS).map(|_| RwLock::default()).collect(), key }
    }

    fn shard(&self, k: u64) -> &RwLock<HashTable<SeriesRef>> {
        &self.shards[(mix(k) >> 40) as usize % SHARDS]
    }

    /// The series under key `k` that `eq` accepts.
    pub fn find(&self, k: u64, mut eq: impl FnMut(&MemSeries) -> bool) -> Option<SeriesRef> {
        let key = self.key;
        self.shard(k).read().find(mix(k), |s| key(s) == k && eq(s)).cloned()
    }

    /// The series under key `k`, for a key only one series has (its id).
    pub fn get(&self, k: u64) -> Option<SeriesRef> {
        self.find(k, |_| true)
    }

    /// The shard of key `k`, held for writing: what a find-then-insert holds so that two
    /// callers cannot both insert the same series.
    pub fn lock(&self, k: u64) -> Locked<'_> {
        Locked { shard: self.shard(k).write(), key: self.key, k }
    }

    pub fn insert(&self, s: SeriesRef) {
        let k = (self.key)(&s);
        self.lock(k).insert(s);
    }

    /// Removes `s` itself, not another series under the same key.
    pub fn remove(&self, s: &MemSeries) {
        let k = (self.key)(s);
        if let Ok(e) = self.shard(k).write().find_entry(mix(k), |x| std::ptr::eq(&**x, s)) {
            e.remove();
        }
    }

    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.read().len()).sum()
    }

    /// Every series, a shard at a time.
    pub fn for_each(&self, mut f: impl FnMut(&SeriesRef)) {
        for shard in self.shards.iter() {
            shard.read().iter().for_each(&mut f);
        }
    }
}

pub struct Locked<'a> {
    shard: RwLockWriteGuard<'a, HashTable<SeriesRef>>,
    key: fn(&MemSeries) -> u64,
    k: u64,
}

impl Locked<'_> {
    pub fn find(&self, mut eq: impl FnMut(&MemSeries) -> bool) -> Option<SeriesRef> {
        let (key, k) = (self.key, self.k);
        self.shard.find(mix(k), |s| key(s) == k && eq(s)).cloned()
    }

    pub fn insert(&mut self, s: SeriesRef) {
        let key = self.key;
        self.shard.insert_unique(mix(self.k), s, |x| mix(key(x)));
    }
}
