//! Realistic pprof profiles for benchmarks and tests: Go-shaped CPU profiles
//! (`samples/count` and `cpu/nanoseconds` at 100 Hz) whose stacks are paths in a call
//! tree over a shared set of locations, as a real service's profile has.

use crate::proto::{Function, Label, Line, Location, Profile, Sample, ValueType};

/// The sampling period of Go's CPU profiler: 10 ms.
pub const CPU_PERIOD_NS: i64 = 10_000_000;

/// The shape of a synthetic profile.
pub struct Shape {
    pub samples: usize,
    pub locations: usize,
    /// Sample label values cycled through (`handler="/api/0"` …); 0 for no labels.
    pub label_values: usize,
}

/// A CPU profile of `shape`, deterministic in `seed`. Every location has its own
/// function, named `pkg.fn<i>`.
pub fn cpu_profile(seed: u64, shape: &Shape, time_nanos: i64, duration_nanos: i64) -> Profile {
    let mut rng = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move |n: usize| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        (rng % n.max(1) as u64) as usize
    };
    let fixed = ["", "samples", "count", "cpu", "nanoseconds", "handler"];
    let mut strings: Vec<String> = fixed.iter().map(|s| s.to_string()).collect();
    let label_base = strings.len();
    strings.extend((0..shape.label_values).map(|i| format!("/api/{i}")));
    let fn_base = strings.len();
    strings.extend((0..shape.locations).map(|i| format!("pkg.fn{i}")));
    let location = (0..shape.locations as u64)
        .map(|i| Location { id: i + 1, line: vec![Line { function_id: i + 1, line: 10 + i as i64 }] })
        .collect();
    let function = (0..shape.locations as u64)
        .map(|i| Function { id: i + 1, name: (fn_base as u64 + i) as i64, system_name: (fn_base as u64 + i) as i64 })
        .collect();
    // A call tree: each location's caller is one of the 300 before it, so stacks (leaf to
    // root) share their callers as real ones do, about 17 frames deep on average.
    let caller: Vec<usize> = (0..shape.locations).map(|i| i.saturating_sub(1 + next(300))).collect();
    let sample = (0..shape.samples)
        .map(|_| {
            let mut stack = vec![next(shape.locations)];
            while let Some(&l) = stack.last().filter(|&&l| l > 0) {
                stack.push(caller[l]);
            }
            let count = 1 + next(20) as i64;
            let label = (shape.label_values > 0).then(|| Label {
                key: 5,
                str: (label_base + next(shape.label_values)) as i64,
                num: 0,
            });
            Sample {
                location_id: stack.into_iter().map(|l| l as u64 + 1).collect(),
                value: vec![count, count * CPU_PERIOD_NS],
                label: label.into_iter().collect(),
            }
        })
        .collect();
    Profile {
        sample_type: vec![ValueType { r#type: 1, unit: 2 }, ValueType { r#type: 3, unit: 4 }],
        sample,
        location,
        function,
        string_table: strings,
        time_nanos,
        duration_nanos,
        period_type: Some(ValueType { r#type: 3, unit: 4 }),
        period: CPU_PERIOD_NS,
    }
}

/// A profile with one sample of one type: the seed document's profiles, where only the
/// total matters. `kind` is `cpu` (nanoseconds) or `alloc_space` (bytes).
pub fn single_sample(kind: &str, value: i64) -> Profile {
    let (t, u, pt, pu) = match kind {
        "cpu" => ("cpu", "nanoseconds", "cpu", "nanoseconds"),
        _ => ("alloc_space", "bytes", "space", "bytes"),
    };
    Profile {
        sample_type: vec![ValueType { r#type: 1, unit: 2 }],
        sample: vec![Sample { location_id: vec![1], value: vec![value], label: vec![] }],
        location: vec![Location { id: 1, line: vec![Line { function_id: 1, line: 1 }] }],
        function: vec![Function { id: 1, name: 5, system_name: 5 }],
        string_table: ["", t, u, pt, pu, "main"].map(String::from).to_vec(),
        period_type: Some(ValueType { r#type: 3, unit: 4 }),
        ..Default::default()
    }
}
