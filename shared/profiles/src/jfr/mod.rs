//! Java Flight Recorder uploads (`/ingest?format=jfr`, as pyroscope-java sends them): a
//! streaming reader of the chunks ([`chunk`]) and Pyroscope's mapping of JFR events to
//! profile types (grafana/jfr-parser's `pprof` package):
//!
//! | event | profile types | value |
//! |---|---|---|
//! | `jdk.ExecutionSample` (thread not sleeping) | `process_cpu:cpu:nanoseconds:cpu:nanoseconds` (and `wall:…` when the recording's `event` setting is `wall`) | one sampling interval |
//! | `profiler.WallClockSample` | `wall:wall:nanoseconds:wall:nanoseconds` | `samples` intervals |
//! | `jdk.ObjectAllocationInNewTLAB` | `memory:alloc_in_new_tlab_objects:count:space:bytes`, `…_bytes:bytes:space:bytes` | 1, `tlabSize` |
//! | `jdk.ObjectAllocationOutsideTLAB` | `memory:alloc_outside_tlab_objects:…`, `…_bytes:…` | 1, `allocationSize` |
//! | `jdk.ObjectAllocationSample` | `memory:alloc_sample_objects:…`, `…_bytes:…` | 1, `weight` |
//! | `jdk.JavaMonitorEnter` | `mutex:contentions:count:mutex:count`, `mutex:delay:nanoseconds:mutex:count` | 1, duration |
//! | `jdk.ThreadPark` | `block:contentions:count:block:count`, `block:delay:nanoseconds:block:count` | 1, duration |
//! | `profiler.LiveObject` | `memory:live:count:objects:count` | 1 |
//! | `profiler.Malloc` | `memory:malloc_objects:count::`, `memory:malloc_bytes:bytes::` | 1, `size` |
//!
//! Where we differ, it is to be exact: the sampling interval is the upload's `sampleRate`
//! or else the recording's own `period` setting (jfr-parser counts 0 without
//! `sampleRate`); durations are converted from ticks with the chunk's ticks per second;
//! and an event's `contextId` selects labels from the upload's `labels` snapshot for
//! every event type that has one (jfr-parser: executions, TLAB allocations, monitors).
//! Events of other types are stepped over; events whose type the metadata does not
//! describe are skipped and counted.

mod chunk;
mod reader;

use crate::Rejection;
use crate::profile::{Group, Profile, ProfileType, Stacks};
use bytes::Bytes;
use chunk::{Metadata, Pools, Value};
use reader::Reader;
use rustc_hash::FxHashMap;

/// pyroscope-java's `labels` multipart field: per event `contextId`, label name and value
/// ids into `strings`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct LabelsSnapshot {
    #[prost(map = "int64, message", tag = "1")]
    pub contexts: std::collections::HashMap<i64, LabelsContext>,
    #[prost(map = "int64, string", tag = "2")]
    pub strings: std::collections::HashMap<i64, String>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct LabelsContext {
    #[prost(map = "int64, int64", tag = "1")]
    pub labels: std::collections::HashMap<i64, i64>,
}

/// What the caller knows of a recording beyond its bytes.
pub struct Context {
    /// Labels for every series of the profile.
    pub labels: Vec<(String, String)>,
    /// The upload's `sampleRate`, if it sent one.
    pub sample_rate: Option<u32>,
    /// The end time (ms) to use when the chunks carry none.
    pub fallback_end_ms: i64,
}

/// The kinds of events that become profiles, each with the profile types it feeds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Kind {
    Cpu,
    Wall,
    InTlab,
    OutTlab,
    AllocSample,
    Lock,
    Park,
    Live,
    Malloc,
}

impl Kind {
    fn of_event(name: &str) -> Option<Kind> {
        Some(match name {
            "jdk.ExecutionSample" => Kind::Cpu,
            "profiler.WallClockSample" => Kind::Wall,
            "jdk.ObjectAllocationInNewTLAB" => Kind::InTlab,
            "jdk.ObjectAllocationOutsideTLAB" => Kind::OutTlab,
            "jdk.ObjectAllocationSample" => Kind::AllocSample,
            "jdk.JavaMonitorEnter" => Kind::Lock,
            "jdk.ThreadPark" => Kind::Park,
            "profiler.LiveObject" => Kind::Live,
            "profiler.Malloc" => Kind::Malloc,
            _ => return None,
        })
    }

    /// Pyroscope's profile types for this kind: `(name, sample type, unit, period type,
    /// period unit)`, one per value the event gives.
    fn types(self) -> &'static [[&'static str; 5]] {
        match self {
            Kind::Cpu => &[["process_cpu", "cpu", "nanoseconds", "cpu", "nanoseconds"]],
            Kind::Wall => &[["wall", "wall", "nanoseconds", "wall", "nanoseconds"]],
            Kind::InTlab => &[
                ["memory", "alloc_in_new_tlab_objects", "count", "space", "bytes"],
                ["memory", "alloc_in_new_tlab_bytes", "bytes", "space", "bytes"],
            ],
            Kind::OutTlab => &[
                ["memory", "alloc_outside_tlab_objects", "count", "space", "bytes"],
                ["memory", "alloc_outside_tlab_bytes", "bytes", "space", "bytes"],
            ],
            Kind::AllocSample => &[
                ["memory", "alloc_sample_objects", "count", "space", "bytes"],
                ["memory", "alloc_sample_bytes", "bytes", "space", "bytes"],
            ],
            Kind::Lock => &[
                ["mutex", "contentions", "count", "mutex", "count"],
                ["mutex", "delay", "nanoseconds", "mutex", "count"],
            ],
            Kind::Park => &[
                ["block", "contentions", "count", "block", "count"],
                ["block", "delay", "nanoseconds", "block", "count"],
            ],
            Kind::Live => &[["memory", "live", "count", "objects", "count"]],
            Kind::Malloc => {
                &[["memory", "malloc_objects", "count", "", ""], ["memory", "malloc_bytes", "bytes", "", ""]]
            }
        }
    }

    /// The field holding the event's second value (bytes or a duration in ticks).
    fn weight_field(self) -> Option<&'static str> {
        match self {
            Kind::InTlab => Some("tlabSize"),
            Kind::OutTlab => Some("allocationSize"),
            Kind::AllocSample => Some("weight"),
            Kind::Lock | Kind::Park => Some("duration"),
            Kind::Malloc => Some("size"),
            _ => None,
        }
    }
}

/// A recording as kept for function filters, which walk it again.
#[derive(Clone, Debug)]
pub struct Recording {
    body: Bytes,
    contexts: Contexts,
    sample_rate: Option<u32>,
    /// Events whose type the recording's metadata does not describe: stepped over.
    pub skipped_events: u64,
}

/// Each `contextId`'s labels, as series labels.
type Contexts = FxHashMap<i64, Vec<(String, String)>>;

/// Decodes a recording into a [`Profile`]: per set of context labels, the total of each
/// profile type its events feed.
pub fn decode(body: Bytes, snapshot: Option<LabelsSnapshot>, ctx: Context) -> Result<Profile, Rejection> {
    let contexts = contexts(snapshot)?;
    let mut acc = Totals::new(&contexts, None);
    let settings = walk(&body, ctx.sample_rate, &mut acc)?;
    if acc.types.is_empty() {
        return Err(bad(
            "the recording holds no event Pyroscope maps to a profile (execution samples, allocations, locks, …)",
        ));
    }
    let mut labels = ctx.labels;
    if let Some(event) = settings.event {
        labels.push(("jfr_event".into(), event));
        labels.sort();
    }
    let end_ms = settings.end_ms.unwrap_or(ctx.fallback_end_ms);
    let (types, groups) = acc.finish();
    let skipped_events = settings.skipped_events;
    if skipped_events > 0 {
        tracing::debug!(skipped_events, "JFR events of types the metadata does not describe were skipped");
    }
    let recording = Recording { body, contexts, sample_rate: ctx.sample_rate, skipped_events };
    Ok(Profile { labels, end_ms, types, groups, stacks: Stacks::Jfr(recording) })
}

/// Per group (in `groups`' order) and type, the totals of events whose stack contains
/// `function` (`package.Class.method`).
pub(crate) fn function_totals(
    rec: &Recording,
    function: &str,
    groups: &[Group],
    types: &[ProfileType],
) -> Vec<Vec<f64>> {
    let mut acc = Totals::new(&rec.contexts, Some(function));
    // The recording decoded once already; a failure now can only mean less to count.
    let _ = walk(&rec.body, rec.sample_rate, &mut acc);
    groups
        .iter()
        .map(|g| {
            types
                .iter()
                .map(|t| {
                    let (gi, ti) = (acc.group_of(&g.labels), acc.type_of(t));
                    gi.zip(ti).map_or(0.0, |(gi, ti)| acc.sums.get(&(gi, ti)).copied().unwrap_or(0.0))
                })
                .collect()
        })
        .collect()
}

fn bad(msg: impl Into<String>) -> Rejection {
    Rejection::BadRequest("invalid_jfr", format!("invalid JFR: {}", msg.into()))
}

/// What a walk learned besides the events.
#[derive(Default)]
struct Settings {
    /// async-profiler's `event` setting (`cpu`, `itimer`, `wall`, …).
    event: Option<String>,
    end_ms: Option<i64>,
    skipped_events: u64,
}

/// One event that feeds profiles, as its chunk gave it.
struct Event {
    kind: Kind,
    /// The value of each of the kind's profile types; for executions and wall samples, a
    /// number of sampling intervals, worked into nanoseconds once the chunk's settings are
    /// known.
    values: [f64; 2],
    context: i64,
    stack: Option<i64>,
}

/// Where a value sits among its class's fields: `(class id, field index)`.
#[derive(Clone, Copy, Default)]
struct At {
    class: Option<i64>,
    field: usize,
}

impl At {
    fn of(meta: &Metadata, class: &str, field: &str) -> At {
        let class = meta.class_id(class);
        let field =
            class.and_then(|c| meta.classes[&c].fields.iter().position(|f| f.name == field)).unwrap_or(usize::MAX);
        At { class, field }
    }

    /// The field of pool entry `id`.
    fn get<'p>(&self, pools: &'p Pools, id: i64) -> Option<&'p Value> {
        match pools.get(self.class, id)? {
            Value::Obj(fields) => fields.get(self.field),
            _ => None,
        }
    }
}

/// A chunk's pools, and where in them stacks, frames, methods, classes and names are.
struct ChunkPools {
    pools: Pools,
    frames: At,
    frame_method: usize,
    method_class: At,
    method_name: At,
    class_name: At,
    symbol: At,
    state_name: At,
    string_class: Option<i64>,
}

impl ChunkPools {
    /// The classes to keep of the chunk's pools, and where to find things in them.
    fn layout(meta: &Metadata) -> ChunkPools {
        let frame_method = meta
            .class_id("jdk.types.StackFrame")
            .and_then(|c| meta.classes[&c].fields.iter().position(|f| f.name == "method"))
            .unwrap_or(usize::MAX);
        ChunkPools {
            pools: Pools::default(),
            frames: At::of(meta, "jdk.types.StackTrace", "frames"),
            frame_method,
            method_class: At::of(meta, "jdk.types.Method", "type"),
            method_name: At::of(meta, "jdk.types.Method", "name"),
            class_name: At::of(meta, "java.lang.Class", "name"),
            symbol: At::of(meta, "jdk.types.Symbol", "string"),
            state_name: At::of(meta, "jdk.types.ThreadState", "name"),
            string_class: meta.class_id("java.lang.String"),
        }
    }

    /// The pools to keep: thread states (and the strings they may use), and for a function
    /// filter the stacks, methods, classes and symbols too; the rest are stepped over.
    fn kept_classes(&self, stacks: bool) -> Vec<i64> {
        let mut keep = vec![self.state_name.class, self.string_class];
        if stacks {
            keep.extend([self.frames.class, self.method_class.class, self.class_name.class, self.symbol.class]);
        }
        keep.into_iter().flatten().collect()
    }

    /// Whether stack `id` has a frame of `function` (`package.Class.method`).
    fn stack_has(&self, id: i64, function: &str) -> bool {
        let Some(Value::Array(frames)) = self.frames.get(&self.pools, id) else { return false };
        frames.iter().any(|f| {
            let Value::Obj(f) = f else { return false };
            f.get(self.frame_method).and_then(Value::int).is_some_and(|m| self.method_name_is(m, function))
        })
    }

    fn method_name_is(&self, method: i64, function: &str) -> bool {
        let class = self.method_class.get(&self.pools, method).and_then(Value::int);
        let name = self.method_name.get(&self.pools, method).and_then(Value::int);
        let class_name = class.and_then(|c| self.class_name.get(&self.pools, c)).and_then(Value::int);
        let (Some(class_name), Some(method_name)) =
            (class_name.and_then(|s| self.symbol(s)), name.and_then(|n| self.symbol(n)))
        else {
            return false;
        };
        // Class names are stored in their binary form (`java/lang/String`).
        class_name.len() + 1 + method_name.len() == function.len()
            && function.ends_with(method_name)
            && function.as_bytes()[class_name.len()] == b'.'
            && class_name.bytes().zip(function.bytes()).all(|(a, b)| a == b || (a == b'/' && b == b'.'))
    }

    fn symbol(&self, id: i64) -> Option<&str> {
        self.text(self.symbol.get(&self.pools, id)?)
    }

    fn is_sleeping(&self, state: Option<i64>) -> bool {
        state.and_then(|s| self.state_name.get(&self.pools, s)).and_then(|v| self.text(v)) == Some("STATE_SLEEPING")
    }

    fn text<'v>(&'v self, v: &'v Value) -> Option<&'v str> {
        match v {
            Value::Str(Some(s)) => Some(s),
            Value::Ref(i) => match self.pools.get(self.string_class, *i)? {
                Value::Str(Some(s)) => Some(s),
                _ => None,
            },
            _ => None,
        }
    }
}

/// What each field of an event class is for: a value the mapping reads, or ops to skip.
enum Slot {
    Stack,
    State,
    Context,
    Weight,
    Samples,
    Skip(Box<[chunk::Op]>),
}

/// How to read one event class: its kind, and its fields' slots in order.
struct EventShape {
    kind: Kind,
    slots: Vec<(Slot, usize)>,
}

/// Walks every chunk of `body` into `acc`: each event that feeds a profile, and the
/// chunk's settings (async-profiler's `event`, each event type's `period`).
fn walk(body: &[u8], sample_rate: Option<u32>, acc: &mut Totals) -> Result<Settings, Rejection> {
    let mut settings = Settings::default();
    let mut pos = 0;
    if body.is_empty() {
        return Err(bad("the recording is empty"));
    }
    while pos < body.len() {
        let h = chunk::header(body, pos).map_err(|e| bad(e.0))?;
        let end = pos + h.size;
        let index = chunk::index(body, pos, end).map_err(|e| bad(e.0))?;
        let Some(meta_at) = &index.metadata else {
            return Err(bad(format!("the chunk at byte {pos} has no metadata")));
        };
        let meta = chunk::metadata(body, meta_at).map_err(|e| bad(e.0))?;
        let mut cp = ChunkPools::layout(&meta);
        cp.pools = Pools::read(body, &index.pools, &meta, &cp.kept_classes(acc.function.is_some()))
            .map_err(|e| bad(format!("constant pool: {}", e.0)))?;
        let shapes = shapes(&meta);
        let active = meta.class_id("jdk.ActiveSetting");
        let mut periods = FxHashMap::default();
        for e in chunk::events(body, pos, end) {
            let e = e.map_err(|e| bad(e.0))?;
            if Some(e.kind) == active {
                read_setting(body, &e, &meta, &cp, &mut settings, &mut periods);
                continue;
            }
            let Some(shape) = shapes.get(&e.kind) else {
                let described = e.kind <= 1 || meta.classes.contains_key(&e.kind);
                settings.skipped_events += u64::from(!described);
                continue;
            };
            let mut r = Reader::new(&body[..e.end], e.fields);
            let at = |x: reader::Bad| bad(format!("event at byte {}: {}", e.fields, x.0));
            let fields = read_fields(shape, &mut r).map_err(at)?;
            if shape.kind == Kind::Cpu && cp.is_sleeping(fields.state) {
                continue;
            }
            let values = match shape.kind {
                Kind::Cpu | Kind::Wall => [fields.samples.unwrap_or(1) as f64, 0.0],
                Kind::Lock | Kind::Park => [1.0, ticks_to_ns(fields.weight.unwrap_or(0), h.ticks_per_second)],
                _ => [1.0, fields.weight.unwrap_or(0) as f64],
            };
            acc.add(
                &cp,
                &Event { kind: shape.kind, values, context: fields.context.unwrap_or(0), stack: fields.stack },
            );
        }
        // The sampling interval: the upload's `sampleRate`, or the recording's own period
        // for the event type, or 10 ms (async-profiler's default) for one without either.
        let interval = |kind: Kind| match sample_rate {
            Some(rate) => 1e9 / f64::from(rate),
            None => {
                shapes.iter().find(|(_, s)| s.kind == kind).and_then(|(id, _)| periods.get(id).copied()).unwrap_or(1e7)
            }
        };
        acc.end_chunk(interval(Kind::Cpu), interval(Kind::Wall), settings.event.as_deref() == Some("wall"));
        if h.start_nanos > 0 {
            let end_ms = h.start_nanos.saturating_add(h.duration_nanos.max(0)) / 1_000_000;
            settings.end_ms = Some(settings.end_ms.map_or(end_ms, |e: i64| e.max(end_ms)));
        }
        pos = end;
    }
    Ok(settings)
}

fn ticks_to_ns(ticks: i64, per_second: i64) -> f64 {
    (i128::from(ticks.max(0)) * 1_000_000_000 / i128::from(per_second)) as f64
}

/// The event classes that become profiles, by id, with their fields' slots.
fn shapes(meta: &Metadata) -> FxHashMap<i64, EventShape> {
    let mut out = FxHashMap::default();
    for (id, c) in &meta.classes {
        let Some(kind) = Kind::of_event(&c.name) else { continue };
        let mut slots = Vec::with_capacity(c.fields.len());
        for (i, f) in c.fields.iter().enumerate() {
            let slot = match f.name.as_str() {
                "stackTrace" if f.pooled => Slot::Stack,
                "state" if f.pooled => Slot::State,
                "contextId" => Slot::Context,
                "samples" if kind == Kind::Wall => Slot::Samples,
                name if Some(name) == kind.weight_field() => Slot::Weight,
                _ => match meta.field_skip(*id, i) {
                    Ok(ops) => Slot::Skip(ops),
                    // A class that cannot be read: its events are left out as undescribed.
                    Err(_) => {
                        slots.clear();
                        break;
                    }
                },
            };
            slots.push((slot, i));
        }
        if slots.len() == c.fields.len() {
            out.insert(*id, EventShape { kind, slots });
        }
    }
    out
}

/// The values of one event that the mapping reads.
#[derive(Default)]
struct Fields {
    stack: Option<i64>,
    state: Option<i64>,
    context: Option<i64>,
    weight: Option<i64>,
    samples: Option<i64>,
}

/// Reads an event's fields by its shape: the numbers it needs (each a varint: a pool
/// index, a long or an int), the rest stepped over.
fn read_fields(shape: &EventShape, r: &mut Reader) -> reader::Result<Fields> {
    let mut out = Fields::default();
    for (slot, _) in &shape.slots {
        let target = match slot {
            Slot::Skip(ops) => {
                chunk::skip(r, ops)?;
                continue;
            }
            Slot::Stack => &mut out.stack,
            Slot::State => &mut out.state,
            Slot::Context => &mut out.context,
            Slot::Weight => &mut out.weight,
            Slot::Samples => &mut out.samples,
        };
        *target = Some(r.varlong()?);
    }
    Ok(out)
}

/// Reads one `jdk.ActiveSetting` event: async-profiler's `event` setting, or an event
/// type's sampling `period` (in nanoseconds, by event class).
fn read_setting(
    body: &[u8],
    e: &chunk::EventAt,
    meta: &Metadata,
    cp: &ChunkPools,
    settings: &mut Settings,
    periods: &mut FxHashMap<i64, f64>,
) {
    let c = &meta.classes[&e.kind];
    let at = |name: &str| c.fields.iter().position(|f| f.name == name);
    let (Some(id_at), Some(name_at), Some(value_at)) = (at("id"), at("name"), at("value")) else { return };
    let mut r = Reader::new(&body[..e.end], e.fields);
    let Ok(Value::Obj(v)) = meta.read(&mut r, e.kind, 0) else { return };
    let text = |i: usize| v.get(i).and_then(|x| cp.text(x)).map(str::to_string);
    match (v.get(id_at).and_then(Value::int), text(name_at), text(value_at)) {
        (_, Some(name), Some(value)) if name == "event" => settings.event = Some(value),
        (Some(id), Some(name), Some(value)) if name == "period" => {
            if let Some(ns) = period_ns(&value) {
                periods.insert(id, ns);
            }
        }
        _ => {}
    }
}

/// A JFR period setting (`10 ms`, `20ms`, `1 s`) in nanoseconds.
fn period_ns(s: &str) -> Option<f64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = s.split_at(split);
    let n: f64 = n.parse().ok()?;
    let scale = match unit.trim() {
        "ns" => 1.0,
        "us" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        _ => return None,
    };
    (n > 0.0).then_some(n * scale)
}

/// Totals per (group, type), as events come; with `function`, of the events whose stack
/// runs through it only.
struct Totals<'c> {
    contexts: &'c Contexts,
    function: Option<&'c str>,
    types: Vec<ProfileType>,
    type_of_kind: FxHashMap<Kind, usize>,
    groups: Vec<Vec<(String, String)>>,
    group_of_context: FxHashMap<i64, usize>,
    sums: FxHashMap<(usize, usize), f64>,
    /// This chunk's sampling intervals per (group, kind), for executions and wall samples.
    intervals: FxHashMap<(usize, Kind), f64>,
}

impl<'c> Totals<'c> {
    fn new(contexts: &'c Contexts, function: Option<&'c str>) -> Self {
        Totals {
            contexts,
            function,
            types: Vec::new(),
            type_of_kind: FxHashMap::default(),
            groups: Vec::new(),
            group_of_context: FxHashMap::default(),
            sums: FxHashMap::default(),
            intervals: FxHashMap::default(),
        }
    }

    fn add(&mut self, cp: &ChunkPools, e: &Event) {
        if let Some(f) = self.function
            && !e.stack.is_some_and(|s| cp.stack_has(s, f))
        {
            return;
        }
        let group = self.group(e.context);
        if matches!(e.kind, Kind::Cpu | Kind::Wall) {
            self.first_type(e.kind);
            *self.intervals.entry((group, e.kind)).or_default() += e.values[0];
            return;
        }
        let first = self.first_type(e.kind);
        for (i, v) in e.values.iter().take(e.kind.types().len()).enumerate() {
            *self.sums.entry((group, first + i)).or_default() += v;
        }
    }

    /// Works the chunk's sampling intervals into nanoseconds; executions count as wall
    /// time too when async-profiler sampled wall-clock time.
    fn end_chunk(&mut self, cpu_ns: f64, wall_ns: f64, wall_from_cpu: bool) {
        let mut intervals: Vec<((usize, Kind), f64)> = self.intervals.drain().collect();
        if wall_from_cpu {
            let cpu: Vec<_> = intervals
                .iter()
                .filter(|((_, k), _)| *k == Kind::Cpu)
                .map(|((g, _), n)| ((*g, Kind::Wall), *n))
                .collect();
            intervals.extend(cpu);
        }
        for ((group, kind), n) in intervals {
            let ns = if kind == Kind::Cpu { cpu_ns } else { wall_ns };
            let t = self.first_type(kind);
            *self.sums.entry((group, t)).or_default() += n * ns;
        }
    }

    fn first_type(&mut self, kind: Kind) -> usize {
        if let Some(t) = self.type_of_kind.get(&kind) {
            return *t;
        }
        let first = self.types.len();
        for [name, sample_type, sample_unit, period_type, period_unit] in kind.types() {
            self.types.push(ProfileType {
                name: name.to_string(),
                sample_type: sample_type.to_string(),
                sample_unit: sample_unit.to_string(),
                period_type: period_type.to_string(),
                period_unit: period_unit.to_string(),
            });
        }
        self.type_of_kind.insert(kind, first);
        first
    }

    /// The group of a context's labels (contexts with the same labels share one; 0 and
    /// ids the snapshot lacks have none), created if new.
    fn group(&mut self, context: i64) -> usize {
        if let Some(g) = self.group_of_context.get(&context) {
            return *g;
        }
        let labels = self.contexts.get(&context).cloned().unwrap_or_default();
        let g = match self.groups.iter().position(|l| *l == labels) {
            Some(g) => g,
            None => {
                self.groups.push(labels);
                self.groups.len() - 1
            }
        };
        self.group_of_context.insert(context, g);
        g
    }

    fn group_of(&self, labels: &[(String, String)]) -> Option<usize> {
        self.groups.iter().position(|l| l == labels)
    }

    fn type_of(&self, t: &ProfileType) -> Option<usize> {
        self.types.iter().position(|x| x == t)
    }

    fn finish(self) -> (Vec<ProfileType>, Vec<Group>) {
        let groups = self
            .groups
            .iter()
            .enumerate()
            .map(|(g, labels)| Group {
                labels: labels.clone(),
                totals: (0..self.types.len()).map(|t| self.sums.get(&(g, t)).copied().unwrap_or(0.0)).collect(),
            })
            .collect();
        (self.types, groups)
    }
}

/// The labels pyroscope-java recorded for each `contextId`, as series labels: a label map
/// whose names collide once translated is refused, naming both.
fn contexts(snapshot: Option<LabelsSnapshot>) -> Result<Contexts, Rejection> {
    let Some(s) = snapshot else { return Ok(Contexts::default()) };
    let text = |id: &i64| s.strings.get(id).map(String::as_str).unwrap_or("");
    let mut out = Contexts::default();
    for (id, c) in &s.contexts {
        let mut pairs: Vec<(&str, &str)> = c.labels.iter().map(|(k, v)| (text(k), text(v))).collect();
        pairs.sort_unstable();
        out.insert(*id, crate::labels::series_labels(pairs)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
