//! A sorted list of series ids in 4 bytes an id rather than 8. Ids are handed out in
//! order and never reused, so along a sorted list their high 32 bits only ever step up,
//! once per four billion series created; the list keeps the low halves and, aside, where
//! each step up falls. Postings hold one id per label of every series, so this halves
//! the index's share of a head series' memory.

use crate::index::SeriesId;

#[derive(Default, Debug, Clone)]
pub struct IdList {
    low: Vec<u32>,
    /// `steps[k]` is the index of the first id whose high half exceeds `k`; empty while
    /// every id is below 2^32, which is every id for years of heavy churn.
    steps: Vec<u32>,
}

impl IdList {
    pub fn len(&self) -> usize {
        self.low.len()
    }

    pub fn is_empty(&self) -> bool {
        self.low.is_empty()
    }

    fn high_at(&self, i: usize) -> u64 {
        self.steps.partition_point(|s| *s as usize <= i) as u64
    }

    pub fn get(&self, i: usize) -> SeriesId {
        (self.high_at(i) << 32) | u64::from(self.low[i])
    }

    pub fn first(&self) -> Option<SeriesId> {
        (!self.is_empty()).then(|| self.get(0))
    }

    pub fn last(&self) -> Option<SeriesId> {
        (!self.is_empty()).then(|| self.get(self.len() - 1))
    }

    /// The index of the first id not below `id`.
    pub fn lower_bound(&self, id: SeriesId) -> usize {
        let high = id >> 32;
        // The ids with that high half lie between two steps.
        let from = if high == 0 { 0 } else { self.steps.get(high as usize - 1).map_or(self.len(), |s| *s as usize) };
        let to = self.steps.get(high as usize).map_or(self.len(), |s| *s as usize);
        from + self.low[from..to].partition_point(|l| *l < id as u32)
    }

    pub fn contains(&self, id: SeriesId) -> bool {
        let at = self.lower_bound(id);
        at < self.len() && self.get(at) == id
    }

    /// Adds `id`: a push when it is the largest (an append), an insert otherwise (WAL
    /// replay may bring ids out of order). Grows by half rather than doubling, so that a
    /// list's unused room averages a sixth of it, not a quarter.
    pub fn insert(&mut self, id: SeriesId) {
        let at = if self.last().is_none_or(|last| last < id) { self.len() } else { self.lower_bound(id) };
        if self.low.len() == self.low.capacity() {
            self.low.reserve_exact((self.low.len() / 2).max(4));
        }
        self.low.insert(at, id as u32);
        let high = (id >> 32) as usize;
        for (k, s) in self.steps.iter_mut().enumerate() {
            // Ids after `at` moved up one; the new id is the first above `k` when it lands
            // on a step it is above.
            if k < high {
                *s = (*s).min(at as u32)
            } else if *s as usize >= at {
                *s += 1
            }
        }
        while self.steps.len() < high {
            self.steps.push(at as u32);
        }
    }

    /// Keeps the ids `keep` accepts, in place; gives back room a large removal leaves.
    pub fn retain(&mut self, mut keep: impl FnMut(SeriesId) -> bool) {
        let (mut high, mut passed, mut kept) = (0u64, 0usize, 0usize);
        let mut steps = Vec::new();
        for i in 0..self.low.len() {
            while self.steps.get(passed).is_some_and(|s| *s as usize <= i) {
                high += 1;
                passed += 1;
            }
            if keep((high << 32) | u64::from(self.low[i])) {
                steps.resize(steps.len().max(high as usize), kept as u32);
                self.low[kept] = self.low[i];
                kept += 1;
            }
        }
        self.low.truncate(kept);
        self.steps = steps;
        if self.low.capacity() > kept + kept / 2 + 4 {
            self.low.shrink_to(kept + kept / 4);
        }
    }

    pub fn iter(&self) -> Iter<'_> {
        self.iter_from(0)
    }

    /// The ids from index `i` on.
    pub fn iter_from(&self, i: usize) -> Iter<'_> {
        let passed = self.steps.partition_point(|s| *s as usize <= i);
        Iter { low: &self.low, at: i, high: passed as u64, steps: &self.steps[passed..] }
    }

    /// The ids as a vector of full ids.
    pub fn to_vec(&self) -> Vec<SeriesId> {
        let mut out = Vec::with_capacity(self.len());
        out.extend(self.iter());
        out
    }
}

impl FromIterator<SeriesId> for IdList {
    /// From ids in increasing order.
    fn from_iter<I: IntoIterator<Item = SeriesId>>(ids: I) -> Self {
        let mut list = IdList::default();
        for id in ids {
            while list.steps.len() < (id >> 32) as usize {
                list.steps.push(list.low.len() as u32);
            }
            list.low.push(id as u32);
        }
        list
    }
}

pub struct Iter<'a> {
    low: &'a [u32],
    at: usize,
    high: u64,
    steps: &'a [u32],
}

impl Iterator for Iter<'_> {
    type Item = SeriesId;

    #[inline]
    fn next(&mut self) -> Option<SeriesId> {
        let low = *self.low.get(self.at)?;
        while let Some((&s, rest)) = self.steps.split_first()
            && s as usize <= self.at
        {
            self.high += 1;
            self.steps = rest;
        }
        self.at += 1;
        Some((self.high << 32) | u64::from(low))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.low.len() - self.at.min(self.low.len());
        (n, Some(n))
    }
}

impl ExactSizeIterator for Iter<'_> {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    const G: u64 = 1 << 32;

    proptest::proptest! {
        /// Inserted in any order, with ids on either side of any number of 2^32 steps,
        /// the list reads back as the sorted ids, finds each one, and keeps what
        /// `retain` keeps.
        #[test]
        fn reads_back_sorted_whatever_the_order(
            ids in proptest::collection::vec((0u64..4, 0u64..40), 0..80),
            probe in (0u64..4, 0u64..41),
        ) {
            let ids: Vec<u64> = ids.iter().map(|(h, l)| h * G + l * 1000).collect();
            let set: BTreeSet<u64> = ids.iter().copied().collect();
            let mut list = IdList::default();
            for id in &set {
                list.insert(*id);
            }
            let mut shuffled = IdList::default();
            for id in ids.iter().rev().chain(&ids) {
                if shuffled.iter().all(|x| x != *id) {
                    shuffled.insert(*id);
                }
            }
            let want: Vec<u64> = set.iter().copied().collect();
            proptest::prop_assert_eq!(list.to_vec(), want.clone());
            proptest::prop_assert_eq!(shuffled.to_vec(), want.clone());
            proptest::prop_assert_eq!(want.iter().copied().collect::<IdList>().to_vec(), want.clone());
            for (i, id) in want.iter().enumerate() {
                proptest::prop_assert_eq!(list.get(i), *id);
                proptest::prop_assert_eq!(list.lower_bound(*id), i);
                proptest::prop_assert!(list.contains(*id));
                proptest::prop_assert_eq!(list.iter_from(i).next(), Some(*id));
            }
            let probe = probe.0 * G + probe.1 * 1000 + 1;
            proptest::prop_assert_eq!(list.lower_bound(probe), want.partition_point(|id| *id < probe));
            proptest::prop_assert!(!list.contains(probe), "the probe is one past an id, never an id");
            list.retain(|id| id % 3000 != 0);
            proptest::prop_assert_eq!(list.to_vec(), want.into_iter().filter(|id| id % 3000 != 0).collect::<Vec<_>>());
        }
    }

    #[test]
    fn four_bytes_an_id() {
        let list: IdList = (0..1000).collect();
        assert_eq!(std::mem::size_of_val(&list.low[..]), 4000);
        assert!(list.steps.is_empty());
    }
}
