//! `sort_by_label` and `sort_by_label_desc`: a vector ordered by the values of the given
//! labels in natural order (digit runs compared as numbers, as Prometheus's `natsort`
//! does), then by the whole label set.

use crate::value::Sample;
use cardinal_model::Labels;
use std::cmp::Ordering;

pub fn sort(v: &mut [Sample], by: &[String], desc: bool) {
    v.sort_by(|a, b| {
        let o = compare(&a.labels, &b.labels, by);
        if desc { o.reverse() } else { o }
    });
}

fn compare(a: &Labels, b: &Labels, by: &[String]) -> Ordering {
    for name in by {
        let (x, y) = (a.get(name).unwrap_or(""), b.get(name).unwrap_or(""));
        if x != y {
            return if natural_less(x, y) { Ordering::Less } else { Ordering::Greater };
        }
    }
    a.cmp(b)
}

/// Whether `a` comes before `b` in natural order: the strings cut into runs of digits
/// and of other characters, compared run by run, two digit runs by their numbers. When
/// one string's runs are all equal to the start of the other's, the one that ends there
/// comes first.
fn natural_less(a: &str, b: &str) -> bool {
    let (ra, rb) = (runs(a), runs(b));
    for (i, x) in ra.iter().enumerate() {
        let Some(y) = rb.get(i) else { return false };
        let numbers = x.parse::<i64>().ok().zip(y.parse::<i64>().ok());
        let equal = match numbers {
            Some((m, n)) if m != n => return m < n,
            Some(_) => true,
            None => x == y,
        };
        if !equal {
            return x < y;
        }
        if i == ra.len() - 1 {
            return true;
        }
        if i == rb.len() - 1 {
            return false;
        }
    }
    false
}

/// `s` cut into maximal runs of ASCII digits and of everything else.
fn runs(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let bytes = s.as_bytes();
    for i in 1..=bytes.len() {
        if i == bytes.len() || bytes[i].is_ascii_digit() != bytes[start].is_ascii_digit() {
            out.push(&s[start..i]);
            start = i;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digit_runs_compare_as_numbers() {
        assert!(natural_less("cpu2", "cpu10"));
        assert!(!natural_less("cpu10", "cpu2"));
        assert!(natural_less("a", "b"));
        assert!(natural_less("abc", "abc1"), "a string ending where the other goes on comes first");
        assert!(!natural_less("abc1", "abc"));
        assert!(natural_less("10.0.0.2:9100", "10.0.0.10:9100"));
        assert_eq!(runs("ab12c"), ["ab", "12", "c"]);
        assert!(runs("").is_empty());
    }
}
