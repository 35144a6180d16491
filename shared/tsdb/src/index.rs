//! The postings index: for every label name and value, the sorted ids of the series
//! carrying it. Selecting by matchers is intersecting and subtracting these lists.

use crate::ids::IdList;
use crate::symbols::Symbols;
use cardinal_model::{MatchOp, Matcher};
use std::collections::HashMap;

/// Series ids are never reused, so every list stays sorted by appending.
pub type SeriesId = u64;

#[derive(Default)]
pub struct Postings {
    by_label: HashMap<u32, HashMap<u32, IdList>>,
    all: IdList,
}

impl Postings {
    /// Adds a series with the given (name, value) symbol pairs. Ids normally arrive in
    /// increasing order (an append); WAL replay may bring them out of order (an insert).
    pub fn add(&mut self, id: SeriesId, labels: &[(u32, u32)]) {
        self.all.insert(id);
        for (n, v) in labels {
            self.by_label.entry(*n).or_default().entry(*v).or_default().insert(id);
        }
    }

    /// Removes a batch of series (sorted ids) with their label pairs; each list they were
    /// on is filtered once, however many of them it held.
    pub fn remove(&mut self, ids: &[SeriesId], labels: impl Iterator<Item = (u32, u32)>) {
        let gone = |id: SeriesId| ids.binary_search(&id).is_ok();
        self.all.retain(|id| !gone(id));
        let pairs: rustc_hash::FxHashSet<(u32, u32)> = labels.collect();
        for (n, v) in pairs {
            let Some(values) = self.by_label.get_mut(&n) else { continue };
            if let Some(list) = values.get_mut(&v) {
                list.retain(|id| !gone(id));
                if list.is_empty() {
                    values.remove(&v);
                }
            }
            if values.is_empty() {
                self.by_label.remove(&n);
            }
        }
    }

    /// Ids of the series matching every matcher, sorted. A matcher that accepts the empty
    /// string also accepts series without the label, as in Prometheus.
    pub fn select(&self, matchers: &[Matcher], symbols: &Symbols) -> Vec<SeriesId> {
        let (positive, negative): (Vec<_>, Vec<_>) = matchers.iter().partition(|m| !m.matches_empty());
        // Exact matchers first: each is one ready list, and what they leave is usually
        // small enough that the others only filter it (`l!=""` would otherwise build the
        // union of every value's list, 300k ids for a label with 50 values).
        let (exact, other): (Vec<_>, Vec<_>) = positive.into_iter().partition(|m| m.op == MatchOp::Equal);
        let mut result: Option<Vec<SeriesId>> = None;
        for m in exact {
            let lists = self.lists_matching(m, symbols, true);
            result = Some(match (result, lists.first()) {
                (_, None) => Vec::new(),
                (None, Some(list)) => list.to_vec(),
                (Some(r), Some(list)) => intersect(&r, list),
            });
            if result.as_ref().is_some_and(Vec::is_empty) {
                return Vec::new();
            }
        }
        for m in other {
            let lists = self.lists_matching(m, symbols, true);
            result = Some(match result {
                None => merge(&lists),
                Some(r) => filter_by(r, &lists, true),
            });
        }
        let mut result = result.unwrap_or_else(|| self.all.to_vec());
        for m in &negative {
            // Accepts "": drop the series whose value for the label is set and rejected.
            result = filter_by(result, &self.lists_matching(m, symbols, false), false);
        }
        result
    }

    /// The lists for values of `m.name` that the matcher accepts (`want`) or rejects.
    fn lists_matching(&self, m: &Matcher, symbols: &Symbols, want: bool) -> Vec<&IdList> {
        let Some(name) = symbols.lookup(&m.name) else { return Vec::new() };
        let Some(values) = self.by_label.get(&name) else { return Vec::new() };
        if want && m.op == MatchOp::Equal {
            return symbols.lookup(&m.value).and_then(|v| values.get(&v)).into_iter().collect();
        }
        values.iter().filter(|(v, _)| m.matches(symbols.get(**v)) == want).map(|(_, l)| l).collect()
    }

    /// Every value of a label name with its series count.
    pub fn values_of(&self, name: u32) -> impl Iterator<Item = (u32, usize)> + '_ {
        self.by_label.get(&name).into_iter().flat_map(|m| m.iter().map(|(v, l)| (*v, l.len())))
    }

    /// Every label name with its number of distinct values.
    pub fn names(&self) -> impl Iterator<Item = (u32, usize)> + '_ {
        self.by_label.iter().map(|(n, v)| (*n, v.len()))
    }

    /// Number of distinct (name, value) pairs.
    pub fn label_pairs(&self) -> usize {
        self.by_label.values().map(HashMap::len).sum()
    }
}

/// The ids of `a` (sorted) also in `b`: by walking both, or, for an `a` much shorter than
/// `b`, by searching `b` for each.
fn intersect(a: &[SeriesId], b: &IdList) -> Vec<SeriesId> {
    if a.len() * 16 < b.len() {
        return a.iter().copied().filter(|id| b.contains(*id)).collect();
    }
    let mut b = b.iter().peekable();
    let mut out = Vec::new();
    for &id in a {
        while b.next_if(|x| *x < id).is_some() {}
        if b.next_if_eq(&id).is_some() {
            out.push(id);
        }
    }
    out
}

/// The `ids` (sorted) that are in one of `lists` (`keep`), or in none of them: a bit per id
/// of the span of `ids` marks the lists' members, so no union of the lists is built. Ids
/// too far apart for that (a long-lived series beside ones created a billion ids later)
/// go through the union.
fn filter_by(mut ids: Vec<SeriesId>, lists: &[&IdList], keep: bool) -> Vec<SeriesId> {
    let (Some(&lo), Some(&hi)) = (ids.first(), ids.last()) else { return ids };
    if lists.is_empty() {
        return if keep { Vec::new() } else { ids };
    }
    let listed: usize = lists.iter().map(|l| l.len()).sum();
    if (hi - lo) / 64 > (ids.len() + listed) as u64 {
        let union = merge(lists);
        ids.retain(|id| union.binary_search(id).is_ok() == keep);
        return ids;
    }
    let mut listed = IdBits::new(lo, hi);
    for l in lists {
        l.iter_from(l.lower_bound(lo)).take_while(|id| *id <= hi).for_each(|id| listed.set(id));
    }
    ids.retain(|id| listed.has(*id) == keep);
    ids
}

/// Sorted union of sorted lists.
fn merge(lists: &[&IdList]) -> Vec<SeriesId> {
    match lists {
        [] => Vec::new(),
        [one] => one.to_vec(),
        _ => {
            let total: usize = lists.iter().map(|l| l.len()).sum();
            let lo = lists.iter().filter_map(|l| l.first()).min().unwrap_or(0);
            let hi = lists.iter().filter_map(|l| l.last()).max().unwrap_or(0);
            if hi.saturating_sub(lo) / 64 <= total as u64 {
                return merge_dense(lists, lo, hi, total);
            }
            let mut out: Vec<SeriesId> = lists.iter().flat_map(|l| l.iter()).collect();
            out.sort_unstable();
            out.dedup();
            out
        }
    }
}

/// [`merge`] for ids close together (the usual case: ids are handed out in order), with a
/// bit per id of the span: `l!=""` over a label with 50 values unions 300k ids, and
/// sorting them was most of a rule's selection time.
fn merge_dense(lists: &[&IdList], lo: SeriesId, hi: SeriesId, total: usize) -> Vec<SeriesId> {
    let mut bits = IdBits::new(lo, hi);
    lists.iter().flat_map(|l| l.iter()).for_each(|id| bits.set(id));
    let mut out = Vec::with_capacity(total);
    for (w, mut word) in bits.words.into_iter().enumerate() {
        while word != 0 {
            out.push(lo + w as u64 * 64 + u64::from(word.trailing_zeros()));
            word &= word - 1;
        }
    }
    out
}

/// A set of ids within `[lo, hi]`, a bit each.
struct IdBits {
    lo: SeriesId,
    words: Vec<u64>,
}

impl IdBits {
    fn new(lo: SeriesId, hi: SeriesId) -> Self {
        IdBits { lo, words: vec![0; ((hi - lo) / 64 + 1) as usize] }
    }

    fn set(&mut self, id: SeriesId) {
        let at = id - self.lo;
        self.words[(at / 64) as usize] |= 1 << (at % 64);
    }

    fn has(&self, id: SeriesId) -> bool {
        let at = id - self.lo;
        (self.words[(at / 64) as usize] >> (at % 64)) & 1 == 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cardinal_model::MatchOp;

    fn setup() -> (Postings, Symbols) {
        let mut s = Symbols::default();
        let mut p = Postings::default();
        let series: [&[(&str, &str)]; 4] = [
            &[("__name__", "up"), ("job", "a")],
            &[("__name__", "up"), ("job", "b")],
            &[("__name__", "up")],
            &[("__name__", "down"), ("job", "a")],
        ];
        for (id, labels) in series.iter().enumerate() {
            let pairs: Vec<_> = labels.iter().map(|(n, v)| (s.intern(n), s.intern(v))).collect();
            p.add(id as u64, &pairs);
        }
        (p, s)
    }

    fn sel(p: &Postings, s: &Symbols, ms: &[(&str, MatchOp, &str)]) -> Vec<u64> {
        let ms: Vec<_> = ms.iter().map(|(n, op, v)| Matcher::new(*op, *n, *v).unwrap()).collect();
        p.select(&ms, s)
    }

    #[test]
    fn the_four_matcher_kinds() {
        let (p, s) = setup();
        assert_eq!(sel(&p, &s, &[("__name__", MatchOp::Equal, "up")]), [0, 1, 2]);
        assert_eq!(sel(&p, &s, &[("__name__", MatchOp::Equal, "up"), ("job", MatchOp::NotEqual, "a")]), [1, 2]);
        assert_eq!(sel(&p, &s, &[("job", MatchOp::Regex, "a|b")]), [0, 1, 3]);
        assert_eq!(sel(&p, &s, &[("__name__", MatchOp::Equal, "up"), ("job", MatchOp::NotRegex, "a|b")]), [2]);
        assert_eq!(sel(&p, &s, &[("job", MatchOp::Regex, ".*")]), [0, 1, 2, 3]);
        assert_eq!(sel(&p, &s, &[("job", MatchOp::Equal, "")]), [2]);
        assert_eq!(sel(&p, &s, &[("__name__", MatchOp::Equal, "nope")]), Vec::<u64>::new());
    }

    proptest::proptest! {
        /// Dense or sparse, overlapping or not, lists merge into their sorted union.
        #[test]
        fn merge_is_the_sorted_union(
            lists in proptest::collection::vec(proptest::collection::btree_set(0u64..5_000, 0..300), 0..6),
            sparse in proptest::bool::ANY,
        ) {
            let lists: Vec<IdList> =
                lists.iter().map(|l| l.iter().map(|id| if sparse { id * 1_000_003 } else { *id }).collect()).collect();
            let refs: Vec<&IdList> = lists.iter().collect();
            let want: Vec<u64> = lists.iter().flat_map(IdList::iter).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
            proptest::prop_assert_eq!(merge(&refs), want);
        }
    }

    proptest::proptest! {
        /// Any matchers select exactly the series whose label values (or "" for a label
        /// they lack) the matchers accept, whether ids are close together or far apart.
        #[test]
        fn select_agrees_with_matching_each_series(
            series in proptest::collection::vec((0u8..4, 0u8..4), 1..60),
            matchers in proptest::collection::vec((0u8..2, 0u8..4, 0u8..5), 1..4),
            stride in proptest::prop_oneof![proptest::strategy::Just(1u64), proptest::strategy::Just(1_000_000u64), proptest::strategy::Just(100_000_000u64)],
        ) {
            let (mut p, mut s) = (Postings::default(), Symbols::default());
            // Value 3 means the series lacks the label.
            let value = |v: u8| if v == 3 { String::new() } else { format!("v{v}") };
            for (i, (a, b)) in series.iter().enumerate() {
                let pairs: Vec<(u32, u32)> = [("a", *a), ("b", *b)]
                    .iter()
                    .filter(|(_, v)| *v != 3)
                    .map(|(n, v)| (s.intern(n), s.intern(&value(*v))))
                    .collect();
                p.add(i as u64 * stride, &pairs);
            }
            let ops = [MatchOp::Equal, MatchOp::NotEqual, MatchOp::Regex, MatchOp::NotRegex];
            let ms: Vec<Matcher> = matchers
                .iter()
                .map(|(n, op, v)| {
                    let v = if *v == 4 { "v1|v2".to_string() } else { value(*v) };
                    Matcher::new(ops[*op as usize], if *n == 0 { "a" } else { "b" }, &v).unwrap()
                })
                .collect();
            let want: Vec<u64> = series
                .iter()
                .enumerate()
                .filter(|(_, (a, b))| ms.iter().all(|m| m.matches(&value(if m.name == "a" { *a } else { *b }))))
                .map(|(i, _)| i as u64 * stride)
                .collect();
            proptest::prop_assert_eq!(p.select(&ms, &s), want);
        }
    }

    #[test]
    fn removal_cleans_up() {
        let (mut p, mut s) = setup();
        let pairs = [(s.intern("__name__"), s.intern("down")), (s.intern("job"), s.intern("a"))];
        p.remove(&[3], pairs.into_iter());
        assert_eq!(sel(&p, &s, &[("job", MatchOp::Equal, "a")]), [0]);
        assert_eq!(sel(&p, &s, &[("__name__", MatchOp::Equal, "down")]), Vec::<u64>::new());
    }
}
