//! The profile model the rules read: one upload, split Pyroscope's way into one series
//! per sample type and per set of pprof sample labels, each with its total.

use bytes::Bytes;

/// A profile type as Pyroscope names it; [`ProfileType::id`] is `__profile_type__`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProfileType {
    pub name: String,
    pub sample_type: String,
    pub sample_unit: String,
    pub period_type: String,
    pub period_unit: String,
}

impl ProfileType {
    pub fn id(&self) -> String {
        format!("{}:{}:{}:{}:{}", self.name, self.sample_type, self.sample_unit, self.period_type, self.period_unit)
    }
}

/// One uploaded profile, decoded and validated.
#[derive(Clone, Debug)]
pub struct Profile {
    /// Labels every series of the profile carries: `service_name`, the uploader's labels,
    /// `pyroscope_spy`.
    pub labels: Vec<(String, String)>,
    /// When the profile ends (ms since the epoch): its recorded samples carry this time.
    pub end_ms: i64,
    pub types: Vec<ProfileType>,
    /// The split by pprof sample labels; each group has one total per type.
    pub groups: Vec<Group>,
    pub(crate) stacks: Stacks,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Group {
    pub labels: Vec<(String, String)>,
    pub totals: Vec<f64>,
}

/// What a function filter reads: the stacks themselves.
#[derive(Clone, Debug)]
pub(crate) enum Stacks {
    /// The decompressed pprof, scanned again for filters.
    Pprof(Bytes),
    /// Folded stacks (`a;b;c`) with their values, already scaled.
    Folded(Vec<(String, f64)>),
    /// A Java Flight Recording, walked again for filters.
    Jfr(crate::jfr::Recording),
}

impl Profile {
    /// Events the decoder could not read and stepped over (a recording's events of types
    /// its metadata does not describe).
    pub fn skipped_events(&self) -> u64 {
        match &self.stacks {
            Stacks::Jfr(rec) => rec.skipped_events,
            _ => 0,
        }
    }

    /// Per group and type, the total of the stacks that contain `function` anywhere:
    /// the function's inclusive ("total") value.
    pub fn function_totals(&self, function: &str) -> Vec<Vec<f64>> {
        match &self.stacks {
            Stacks::Pprof(bytes) => crate::pprof::function_totals(bytes, function, &self.groups, self.types.len()),
            Stacks::Folded(stacks) => {
                let total = stacks.iter().filter(|(s, _)| s.split(';').any(|f| f == function)).map(|(_, v)| v).sum();
                vec![vec![total]]
            }
            Stacks::Jfr(rec) => crate::jfr::function_totals(rec, function, &self.groups, &self.types),
        }
    }
}

/// Pyroscope's name for a profile: from the upload name's suffix where pyroscope-go put
/// one (`app.cpu`, `app.alloc_space`, …), else from the period or sample type.
pub fn profile_name(app_suffix: Option<&str>, period_type: &str, sample_type: &str) -> String {
    let by_kind = |k: &str| -> Option<&'static str> {
        Some(match k {
            "wall" => "wall",
            "goroutine" | "goroutines" => "goroutines",
            "space" | "objects" => "memory",
            k if k.contains("cpu") => "process_cpu",
            k if k.starts_with("alloc_") || k.starts_with("inuse_") => "memory",
            k if k.starts_with("mutex_") => "mutex",
            k if k.starts_with("block_") => "block",
            _ => return None,
        })
    };
    app_suffix
        .and_then(by_kind)
        .or_else(|| by_kind(period_type))
        .or_else(|| by_kind(sample_type))
        .map(str::to_string)
        .unwrap_or_else(|| cardinal_model::labels::to_label_name(sample_type).into_owned())
}

/// The suffixes pyroscope-go appends to the application name, one per profile kind.
pub const APP_SUFFIXES: &[&str] = &[
    "cpu",
    "alloc_objects",
    "alloc_space",
    "inuse_objects",
    "inuse_space",
    "goroutines",
    "mutex_count",
    "mutex_duration",
    "block_count",
    "block_duration",
    "itimer",
    "wall",
];

/// Splits `app.name.cpu` into the service name and a known kind suffix.
pub fn split_app_name(app: &str) -> (&str, Option<&str>) {
    match app.rsplit_once('.') {
        Some((base, suffix)) if APP_SUFFIXES.contains(&suffix) && !base.is_empty() => (base, Some(suffix)),
        _ => (app, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_pyroscope() {
        assert_eq!(profile_name(Some("cpu"), "cpu", "samples"), "process_cpu");
        assert_eq!(profile_name(None, "cpu", "samples"), "process_cpu");
        assert_eq!(profile_name(Some("alloc_space"), "space", "alloc_space"), "memory");
        assert_eq!(profile_name(None, "space", "inuse_objects"), "memory");
        assert_eq!(profile_name(Some("mutex_count"), "contentions", "contentions"), "mutex");
        assert_eq!(profile_name(Some("block_duration"), "contentions", "delay"), "block");
        assert_eq!(profile_name(None, "wall", "wall"), "wall");
        assert_eq!(profile_name(None, "goroutine", "goroutine"), "goroutines");
        assert_eq!(profile_name(None, "events", "my events"), "my_events");
    }

    #[test]
    fn app_names_lose_only_known_suffixes() {
        assert_eq!(split_app_name("checkout.cpu"), ("checkout", Some("cpu")));
        assert_eq!(split_app_name("my.app"), ("my.app", None));
        assert_eq!(split_app_name(".cpu"), (".cpu", None));
    }
}
