//! Metric metadata (TYPE, HELP, UNIT) as targets expose it, for `/api/v1/metadata`.
//! Recorded per target, allocating only when it changes, and forgotten with the series
//! cache when a target stops exposing a family.

use cardinal_exposition::{MetricType, unescape_help};
use parking_lot::Mutex;
use std::collections::HashMap;

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MetricMeta {
    pub kind: &'static str,
    pub help: String,
    pub unit: String,
}

struct Entry {
    kind: MetricType,
    /// HELP as exposed (escaped), compared byte for byte to spot changes cheaply.
    help_raw: Vec<u8>,
    unit: Vec<u8>,
    last_iter: u64,
}

/// One target's metadata, by family name.
#[derive(Default)]
pub struct Metadata(Mutex<HashMap<String, Entry>>);

/// Which field a metadata line sets.
pub enum Field<'a> {
    Type(MetricType),
    Help(&'a [u8]),
    Unit(&'a [u8]),
}

impl Metadata {
    /// Records one TYPE/HELP/UNIT line seen in scrape `iter`.
    pub fn note(&self, name: &[u8], field: Field<'_>, iter: u64) {
        let Ok(name) = std::str::from_utf8(name) else { return };
        let mut map = self.0.lock();
        let e = match map.get_mut(name) {
            Some(e) => e,
            None => map.entry(name.to_string()).or_insert(Entry {
                kind: MetricType::Unknown,
                help_raw: Vec::new(),
                unit: Vec::new(),
                last_iter: iter,
            }),
        };
        e.last_iter = iter;
        match field {
            Field::Type(k) => e.kind = k,
            Field::Help(h) if e.help_raw != h => e.help_raw = h.to_vec(),
            Field::Unit(u) if e.unit != u => e.unit = u.to_vec(),
            _ => {}
        }
    }

    /// Forgets families not exposed for `keep` scrapes.
    pub fn evict(&self, iter: u64, keep: u64) {
        self.0.lock().retain(|_, e| iter - e.last_iter <= keep);
    }

    /// How many families are remembered.
    pub fn family_count(&self) -> usize {
        self.0.lock().len()
    }

    pub fn snapshot(&self) -> Vec<(String, MetricMeta)> {
        self.0
            .lock()
            .iter()
            .map(|(name, e)| {
                let meta = MetricMeta {
                    kind: e.kind.as_str(),
                    help: unescape_help(&e.help_raw),
                    unit: String::from_utf8_lossy(&e.unit).into_owned(),
                };
                (name.clone(), meta)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_changes_and_forgets_what_is_gone() {
        let m = Metadata::default();
        m.note(b"a", Field::Type(MetricType::Counter), 1);
        m.note(b"a", Field::Help(br"Requests\nserved."), 1);
        m.note(b"b", Field::Type(MetricType::Gauge), 1);
        let snap: HashMap<String, MetricMeta> = m.snapshot().into_iter().collect();
        assert_eq!(snap["a"], MetricMeta { kind: "counter", help: "Requests\nserved.".into(), unit: String::new() });
        m.note(b"a", Field::Type(MetricType::Counter), 20);
        m.evict(20, 10);
        let names: Vec<String> = m.snapshot().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["a"]);
    }
}
