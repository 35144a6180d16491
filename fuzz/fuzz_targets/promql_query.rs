//! Any text as a PromQL query through our engine: parsed within the bounds of
//! `cardinal_model::promql_text`, then evaluated over a small head as an instant query and
//! a range query, with a short timeout and a small sample limit. It must answer or refuse,
//! never panic, overflow its stack or run past its limits.
#![no_main]
use cardinal_model::Labels;
use cardinal_promql::{Engine, engine::parse};
use cardinal_tsdb::Head;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use std::time::Duration;

/// Two metrics, a counter with a reset and a gauge with a stale marker, over 10 minutes.
fn head() -> &'static Head {
    static HEAD: OnceLock<Head> = OnceLock::new();
    HEAD.get_or_init(|| {
        let h = Head::new();
        for (name, pod) in [("x", "a"), ("x", "b"), ("y", "a")] {
            let (s, _) = h.get_or_create(&Labels::from_pairs([("__name__", name), ("pod", pod), ("le", "1")]));
            for i in 0..40i64 {
                let v = if name == "x" { (i % 17) as f64 } else if i == 30 { cardinal_model::stale_nan() } else { i as f64 };
                h.append(&s, i * 15_000, v).unwrap();
            }
        }
        h
    })
}

fuzz_target!(|data: &[u8]| {
    // libfuzzer-sys's hook aborts at any panic, before `parse_expr` can turn one inside
    // promql-parser into an error as the daemons do; a panic that escapes is still a crash
    // (libfuzzer-sys aborts on it when the input returns).
    static QUIET: std::sync::Once = std::sync::Once::new();
    QUIET.call_once(|| std::panic::set_hook(Box::new(|_| {})));
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(expr) = parse(text) else { return };
    // A few ms and samples: enough to reach every operation, and cheap enough that a
    // runaway input costs the fuzzer little.
    let engine = Engine { timeout: Duration::from_millis(3), max_samples: 5_000, ..Engine::default() };
    let _ = engine.instant(head(), &expr, 300_000);
    let _ = engine.range(head(), &expr, 0, 600_000, 60_000);
});
