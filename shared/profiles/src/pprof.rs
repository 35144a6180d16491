//! pprof decoding by scanning the message in place: one pass collects the top-level
//! fields as slices, a second sums sample values per group of sample labels. Nothing is
//! built per location or function unless a rule filters on a function name.

use crate::Rejection;
use crate::profile::{Group, Profile, ProfileType, Stacks, profile_name};
use crate::wire::{Field, Fields, WireError, repeated_varints};
use bytes::Bytes;
use cardinal_model::labels::to_label_name;
use std::collections::{HashMap, HashSet};

/// Sample labels that identify a request, not a workload: Pyroscope does not split on them.
const UNSPLIT_LABELS: &[&str] = &["trace_id", "span_id", "profile_id"];

/// One year in nanoseconds: a `time_nanos` before 1971 means the profiler did not set it.
const UNSET_TIME_NANOS: i64 = 365 * 86_400 * 1_000_000_000;

/// What the caller knows of a pprof beyond its bytes.
pub struct Context<'a> {
    /// The kind suffix of the upload name (`cpu` in `app.cpu`), if any.
    pub app_suffix: Option<&'a str>,
    /// Labels for every series of the profile.
    pub labels: Vec<(String, String)>,
    /// The end time (ms) to use when the profile carries none.
    pub fallback_end_ms: i64,
}

/// The top-level fields of a profile, as slices of its bytes.
#[derive(Default)]
struct Scan<'a> {
    sample_types: Vec<(u64, u64)>,
    samples: Vec<&'a [u8]>,
    locations: Vec<&'a [u8]>,
    functions: Vec<&'a [u8]>,
    strings: Vec<&'a [u8]>,
    time_nanos: i64,
    duration_nanos: i64,
    period_type: Option<(u64, u64)>,
}

/// Decodes an uncompressed pprof into a [`Profile`].
pub fn decode(bytes: Bytes, ctx: Context<'_>) -> Result<Profile, Rejection> {
    let bad = |e: WireError| Rejection::BadRequest("invalid_profile", format!("invalid pprof: {}", e.0));
    let scan = scan(&bytes).map_err(bad)?;
    if scan.sample_types.is_empty() {
        return Err(Rejection::BadRequest("invalid_profile", "invalid pprof: the profile has no sample types".into()));
    }
    let types = profile_types(&scan, ctx.app_suffix).map_err(bad)?;
    let groups = sum_samples(&scan, None).map_err(bad)?;
    let end_ms = if scan.time_nanos > UNSET_TIME_NANOS {
        scan.time_nanos.saturating_add(scan.duration_nanos.max(0)) / 1_000_000
    } else {
        ctx.fallback_end_ms
    };
    Ok(Profile { labels: ctx.labels, end_ms, types, groups, stacks: Stacks::Pprof(bytes) })
}

/// Per group (in `groups`' order) and type, the total of samples whose stack contains
/// `function`.
pub(crate) fn function_totals(bytes: &[u8], function: &str, groups: &[Group], types: usize) -> Vec<Vec<f64>> {
    let zero = || vec![vec![0.0; types]; groups.len()];
    // The bytes decoded once already; a failure here cannot happen, and zero is safe.
    let Ok(scan) = scan(bytes) else { return zero() };
    let Ok(locations) = locations_calling(&scan, function) else { return zero() };
    if locations.is_empty() {
        return zero();
    }
    let Ok(found) = sum_samples(&scan, Some(&locations)) else { return zero() };
    groups
        .iter()
        .map(|g| found.iter().find(|f| f.labels == g.labels).map_or_else(|| vec![0.0; types], |f| f.totals.clone()))
        .collect()
}

fn scan(buf: &[u8]) -> Result<Scan<'_>, WireError> {
    let mut s = Scan::default();
    for field in Fields::new(buf) {
        match field? {
            Field::Bytes(1, b) => s.sample_types.push(first_two(b)?),
            Field::Bytes(2, b) => s.samples.push(b),
            Field::Bytes(4, b) => s.locations.push(b),
            Field::Bytes(5, b) => s.functions.push(b),
            Field::Bytes(6, b) => s.strings.push(b),
            Field::Varint(9, v) => s.time_nanos = v as i64,
            Field::Varint(10, v) => s.duration_nanos = v as i64,
            Field::Bytes(11, b) => s.period_type = Some(first_two(b)?),
            Field::Varint(1 | 2 | 4 | 5 | 6 | 11, _) | Field::Bytes(9 | 10, _) => {
                return Err(WireError("field with a wrong wire type"));
            }
            _ => {}
        }
    }
    Ok(s)
}

/// Fields 1 and 2 of a message, both integers: a `ValueType`'s type and unit, a
/// `Label`'s key and string, a `Function`'s id and name.
fn first_two(b: &[u8]) -> Result<(u64, u64), WireError> {
    let (mut one, mut two) = (0, 0);
    for f in Fields::new(b) {
        match f? {
            Field::Varint(1, v) => one = v,
            Field::Varint(2, v) => two = v,
            _ => {}
        }
    }
    Ok((one, two))
}

fn string<'a>(scan: &Scan<'a>, i: u64) -> Result<&'a str, WireError> {
    let b = scan.strings.get(i as usize).ok_or(WireError("string index out of range"))?;
    std::str::from_utf8(b).map_err(|_| WireError("string is not UTF-8"))
}

fn profile_types(scan: &Scan<'_>, app_suffix: Option<&str>) -> Result<Vec<ProfileType>, WireError> {
    let period = scan.period_type;
    scan.sample_types
        .iter()
        .map(|&(t, u)| {
            let (pt, pu) = period.unwrap_or((t, u));
            let (sample_type, period_type) = (string(scan, t)?, string(scan, pt)?);
            Ok(ProfileType {
                name: profile_name(app_suffix, period_type, sample_type),
                sample_type: sample_type.to_string(),
                sample_unit: string(scan, u)?.to_string(),
                period_type: period_type.to_string(),
                period_unit: string(scan, pu)?.to_string(),
            })
        })
        .collect()
}

/// Sums sample values per set of sample labels; with `only`, just the samples whose
/// stack has one of those locations.
fn sum_samples(scan: &Scan<'_>, only: Option<&HashSet<u64>>) -> Result<Vec<Group>, WireError> {
    let n = scan.sample_types.len();
    let unsplit: Vec<u64> = (0..scan.strings.len() as u64)
        .filter(|&i| UNSPLIT_LABELS.iter().any(|l| scan.strings[i as usize] == l.as_bytes()))
        .collect();
    let mut index: HashMap<Vec<(u64, u64)>, usize> = HashMap::new();
    let mut sums: Vec<Vec<i64>> = Vec::new();
    let mut unlabelled = None;
    let (mut values, mut labels, mut locs) = (Vec::with_capacity(n), Vec::new(), Vec::new());
    for sample in &scan.samples {
        read_sample(sample, &mut values, &mut labels, only.map(|_| &mut locs))?;
        if values.len() != n {
            return Err(WireError("a sample's value count differs from the number of sample types"));
        }
        if let Some(set) = only
            && !locs.iter().any(|l| set.contains(l))
        {
            continue;
        }
        labels.retain(|(k, _)| !unsplit.contains(k));
        labels.sort_unstable();
        let g = match (labels.is_empty(), unlabelled) {
            // Most samples carry no labels: no hashing for them.
            (true, Some(g)) => g,
            _ => *index.entry(labels.clone()).or_insert_with(|| {
                sums.push(vec![0; n]);
                sums.len() - 1
            }),
        };
        if labels.is_empty() {
            unlabelled = Some(g);
        }
        for (s, v) in sums[g].iter_mut().zip(&values) {
            *s = s.saturating_add(*v);
        }
    }
    let mut groups = Vec::with_capacity(sums.len());
    for (key, g) in index {
        let labels = key
            .iter()
            .map(|&(k, v)| Ok((to_label_name(string(scan, k)?).into_owned(), string(scan, v)?.to_string())))
            .collect::<Result<Vec<_>, WireError>>()?;
        groups.push(Group { labels, totals: sums[g].iter().map(|&v| v as f64).collect() });
    }
    groups.sort_by(|a, b| a.labels.cmp(&b.labels));
    Ok(groups)
}

/// Reads one `Sample`: its values, its string labels (key, value indexes) and, when
/// asked, its location ids.
fn read_sample(
    b: &[u8],
    values: &mut Vec<i64>,
    labels: &mut Vec<(u64, u64)>,
    mut locs: Option<&mut Vec<u64>>,
) -> Result<(), WireError> {
    values.clear();
    labels.clear();
    if let Some(l) = locs.as_deref_mut() {
        l.clear();
    }
    for f in Fields::new(b) {
        let f = f?;
        match f {
            Field::Varint(1, _) | Field::Bytes(1, _) => {
                if let Some(l) = locs.as_deref_mut() {
                    repeated_varints(&f, |v| l.push(v))?;
                }
            }
            Field::Varint(2, _) | Field::Bytes(2, _) => repeated_varints(&f, |v| values.push(v as i64))?,
            Field::Bytes(3, l) => {
                if let Some(pair) = string_label(l)? {
                    labels.push(pair);
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// A sample label's key and string value; numeric labels do not split profiles.
fn string_label(b: &[u8]) -> Result<Option<(u64, u64)>, WireError> {
    let (key, str) = first_two(b)?;
    Ok((key != 0 && str != 0).then_some((key, str)))
}

/// Ids of the locations whose frames (inlined ones too) are `function`.
fn locations_calling(scan: &Scan<'_>, function: &str) -> Result<HashSet<u64>, WireError> {
    let mut functions = HashSet::new();
    for f in &scan.functions {
        let (id, name) = first_two(f)?;
        if scan.strings.get(name as usize).is_some_and(|s| *s == function.as_bytes()) {
            functions.insert(id);
        }
    }
    let mut locations = HashSet::new();
    if functions.is_empty() {
        return Ok(locations);
    }
    for l in &scan.locations {
        let mut id = 0;
        let mut calls = false;
        for field in Fields::new(l) {
            match field? {
                Field::Varint(1, v) => id = v,
                Field::Bytes(4, line) => calls |= line_function(line)?.is_some_and(|f| functions.contains(&f)),
                _ => {}
            }
        }
        if calls {
            locations.insert(id);
        }
    }
    Ok(locations)
}

fn line_function(b: &[u8]) -> Result<Option<u64>, WireError> {
    for f in Fields::new(b) {
        if let Field::Varint(1, v) = f? {
            return Ok(Some(v));
        }
    }
    Ok(None)
}
