//! Label sets: sorted by name, unique names, no empty values — the invariant Prometheus
//! keeps for every stored series.

use std::fmt;
use std::sync::Arc;

pub const METRIC_NAME: &str = "__name__";

/// Label sets put in groups by the labels `keep` accepts, as an aggregation groups its
/// inputs: each group's labels, in the order of its first member, and each set's group.
pub fn group_by<'a>(sets: impl Iterator<Item = &'a Labels>, keep: impl Fn(&str) -> bool) -> (Vec<Labels>, Vec<usize>) {
    // xxh3 rather than SipHash, which showed in profiles of rule evaluation.
    let mut index: std::collections::HashMap<Labels, usize, xxhash_rust::xxh3::Xxh3Builder> = Default::default();
    let mut groups = Vec::new();
    let group_of = sets
        .map(|l| {
            *index.entry(l.keep(&keep)).or_insert_with_key(|key| {
                groups.push(key.clone());
                groups.len() - 1
            })
        })
        .collect();
    (groups, group_of)
}

/// One label. The strings are shared (`Arc<str>`): storage hands out the interned copies,
/// so reading a series' labels copies no text.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Default)]
pub struct Label {
    pub name: Arc<str>,
    pub value: Arc<str>,
}

impl Label {
    pub fn new(name: impl Into<Arc<str>>, value: impl Into<Arc<str>>) -> Self {
        Label { name: name.into(), value: value.into() }
    }
}

/// A sorted label set. Construct through [`Labels::from_pairs`] or [`LabelsBuilder`], which
/// keep the invariant. Shared and immutable: cloning one (which the query engine does per
/// series per step) is a reference-count increment, not a copy of every string.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Default)]
pub struct Labels(Arc<[Label]>);

impl Labels {
    pub fn empty() -> Self {
        Labels(Arc::from(Vec::new()))
    }

    /// Builds a set from pairs; later duplicates win, empty values are dropped.
    pub fn from_pairs<N: Into<Arc<str>>, V: Into<Arc<str>>>(pairs: impl IntoIterator<Item = (N, V)>) -> Self {
        let mut b = LabelsBuilder::new(Labels::empty());
        for (n, v) in pairs {
            b.set(n.into(), v.into());
        }
        b.build()
    }

    /// Wraps labels that are already sorted and unique (e.g. read back from storage).
    pub fn from_sorted(labels: Vec<Label>) -> Self {
        debug_assert!(labels.windows(2).all(|w| w[0].name < w[1].name));
        Labels(Arc::from(labels))
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.binary_search_by(|l| (*l.name).cmp(name)).ok().map(|i| &*self.0[i].value)
    }

    /// The metric name, `""` when absent.
    pub fn metric_name(&self) -> &str {
        self.get(METRIC_NAME).unwrap_or("")
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Label> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn as_slice(&self) -> &[Label] {
        &self.0
    }

    pub fn into_vec(self) -> Vec<Label> {
        self.0.to_vec()
    }

    /// A copy without the metric name, as PromQL functions and aggregations produce.
    /// The labels whose names `keep` accepts: an aggregation's group.
    pub fn keep(&self, keep: impl Fn(&str) -> bool) -> Labels {
        Labels(self.0.iter().filter(|l| keep(&l.name)).cloned().collect())
    }

    pub fn without_name(&self) -> Labels {
        if self.get(METRIC_NAME).is_none() {
            return self.clone();
        }
        Labels(self.0.iter().filter(|l| &*l.name != METRIC_NAME).cloned().collect())
    }

    /// Stable hash of the whole set, used to find a series by its labels.
    /// It is xxh3 of `name 0xff value 0xff …`, fed piece by piece: the WAL replay hashes a
    /// million label sets, and building each string first cost an allocation apiece.
    pub fn stable_hash(&self) -> u64 {
        let mut h = xxhash_rust::xxh3::Xxh3::new();
        for l in self.0.iter() {
            h.update(l.name.as_bytes());
            h.update(&[0xff]);
            h.update(l.value.as_bytes());
            h.update(&[0xff]);
        }
        h.digest()
    }
}

impl<'a> IntoIterator for &'a Labels {
    type Item = &'a Label;
    type IntoIter = std::slice::Iter<'a, Label>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// Prints as Prometheus's `Labels.String()`: `{__name__="up", job="a"}`, the form its
/// error messages and promtool's reports use.
impl fmt::Display for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, l) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}={:?}", l.name, l.value)?;
        }
        f.write_str("}")
    }
}

/// Edits a label set: set and delete by name, then `build` sorts and drops empty values.
#[derive(Clone, Debug)]
pub struct LabelsBuilder {
    labels: Vec<Label>,
}

impl LabelsBuilder {
    pub fn new(base: Labels) -> Self {
        LabelsBuilder { labels: base.0.to_vec() }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.labels.iter().find(|l| &*l.name == name).map(|l| &*l.value)
    }

    /// Sets `name` to `value`; an empty value deletes it, as in Prometheus.
    pub fn set(&mut self, name: impl Into<Arc<str>>, value: impl Into<Arc<str>>) -> &mut Self {
        let (name, value) = (name.into(), value.into());
        match self.labels.iter_mut().find(|l| l.name == name) {
            Some(l) => l.value = value,
            None => self.labels.push(Label { name, value }),
        }
        self
    }

    pub fn del(&mut self, name: &str) -> &mut Self {
        self.labels.retain(|l| &*l.name != name);
        self
    }

    pub fn retain(&mut self, mut keep: impl FnMut(&Label) -> bool) -> &mut Self {
        self.labels.retain(|l| keep(l));
        self
    }

    pub fn iter(&self) -> impl Iterator<Item = &Label> {
        self.labels.iter()
    }

    pub fn build(mut self) -> Labels {
        self.labels.retain(|l| !l.value.is_empty());
        self.labels.sort_by(|a, b| a.name.cmp(&b.name));
        Labels(Arc::from(self.labels))
    }
}

/// Prometheus's legacy metric-name rule: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
pub fn is_valid_metric_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && (b[0].is_ascii_alphabetic() || b[0] == b'_' || b[0] == b':')
        && b[1..].iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b':')
}

/// Prometheus's legacy label-name rule: `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn is_valid_label_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && (b[0].is_ascii_alphabetic() || b[0] == b'_')
        && b[1..].iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

/// Prometheus's `strutil.SanitizeLabelName`: every character a label name may not hold
/// becomes `_`, one per character (`app.kubernetes.io/name` → `app_kubernetes_io_name`).
/// For a name that follows a prefix, as discovery's `…_label_<name>`; see
/// [`to_label_name`] for one that stands alone.
pub fn sanitize_label_chars(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect()
}

/// A name from outside Prometheus (an OpenTelemetry attribute such as
/// `otel.scope.name`, a pprof label key such as `span id`) as a Prometheus label name, the
/// way Pyroscope ≤ 1.18 and OpenTelemetry's Prometheus exporter translate them: every
/// character a label name may not hold becomes `_`, and a leading digit gets a `_` before
/// it (`otel.scope.name` → `otel_scope_name`, `1x` → `_1x`). Valid names are unchanged.
pub fn to_label_name(s: &str) -> std::borrow::Cow<'_, str> {
    if is_valid_label_name(s) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = sanitize_label_chars(s);
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outside_names_become_label_names() {
        assert_eq!(to_label_name("otel.scope.name"), "otel_scope_name");
        assert_eq!(to_label_name("process.runtime.version"), "process_runtime_version");
        assert_eq!(to_label_name("thread name"), "thread_name");
        assert_eq!(to_label_name("1x"), "_1x");
        assert_eq!(sanitize_label_chars("sidecar.istio.io/inject"), "sidecar_istio_io_inject");
        assert_eq!(sanitize_label_chars("ünïcode-1"), "_n_code_1", "one _ a character, as Go's regexp replaces");
        assert_eq!(sanitize_label_chars("1x"), "1x", "no prefix: it follows one");
        assert_eq!(to_label_name(""), "_");
        assert!(matches!(to_label_name("service_name"), std::borrow::Cow::Borrowed("service_name")));
    }

    #[test]
    fn the_stable_hash_is_xxh3_of_the_joined_pairs() {
        // Rollup state files key inputs by it: it must not change across versions.
        let long = "v".repeat(1000);
        for l in [
            Labels::empty(),
            Labels::from_pairs([("__name__", "up"), ("job", "a")]),
            Labels::from_pairs([("a", &*long), ("b", &*long)]),
        ] {
            let joined: Vec<u8> =
                l.iter().flat_map(|l| [l.name.as_bytes(), b"\xff", l.value.as_bytes(), b"\xff"].concat()).collect();
            assert_eq!(l.stable_hash(), crate::stable_hash(&joined), "{l}");
        }
        assert_eq!(Labels::from_pairs([("__name__", "up")]).stable_hash(), 12_816_904_576_805_619_088_u64, "pinned");
    }

    #[test]
    fn builder_sorts_and_drops_empty() {
        let mut b = LabelsBuilder::new(Labels::from_pairs([("z", "1"), ("a", "2")]));
        b.set("m", "3").set("a", "").del("z");
        let l = b.build();
        assert_eq!(l.as_slice(), &[Label::new("m", "3")]);
    }

    #[test]
    fn display_is_prometheus_style() {
        let l = Labels::from_pairs([("__name__", "up"), ("job", "a\"b")]);
        assert_eq!(l.to_string(), r#"{__name__="up", job="a\"b"}"#);
        assert_eq!(Labels::empty().to_string(), "{}");
    }

    #[test]
    fn name_rules() {
        assert!(is_valid_metric_name("federate:x:rate1m"));
        assert!(!is_valid_metric_name("1x"));
        assert!(is_valid_label_name("_a1"));
        assert!(!is_valid_label_name("a:b"));
    }
}
