//! Burns CPU under the Pyroscope Rust SDK (`pyroscope` with the `pyroscope_pprofrs`
//! backend from crates.io), as an application would: the SDK's defaults but for the
//! server and tags, two phases under dynamic tags (`phase` a for one share of the time,
//! b for the other). Prints the CPU time and wall time each phase took, as JSON, once the
//! agent has uploaded its last report.
//!     rust-burner <server> <seconds>

use pyroscope::PyroscopeAgent;
use pyroscope_pprofrs::{pprof_backend, PprofConfig};
use std::time::{Duration, Instant};

/// This thread's time on a CPU, in ns (the first field of its schedstat).
fn thread_cpu_ns() -> u64 {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").expect("schedstat");
    stat.split_whitespace().next().and_then(|v| v.parse().ok()).expect("cpu time")
}

fn burn(d: Duration) -> f64 {
    let until = Instant::now() + d;
    let mut x = 0.0f64;
    while Instant::now() < until {
        for i in 0..10_000 {
            x += (i as f64).sqrt();
        }
    }
    x
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let server = &args[1];
    let seconds: f64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(4.0);
    let agent = PyroscopeAgent::builder(server.as_str(), "rust-burner")
        .backend(pprof_backend(PprofConfig::new().sample_rate(100)))
        .tags([("region", "ap"), ("team", "ledger")].to_vec())
        .build()
        .expect("agent");
    let running = agent.start().expect("start");
    let (add_tag, remove_tag) = running.tag_wrapper();
    let (mut cpu, mut wall) = (Vec::new(), Vec::new());
    let mut sink = 0.0;
    for (phase, share) in [("a", 0.25), ("b", 0.75)] {
        let (c0, w0) = (thread_cpu_ns(), Instant::now());
        add_tag("phase".into(), phase.into()).expect("tag");
        sink += burn(Duration::from_secs_f64(seconds * share));
        remove_tag("phase".into(), phase.into()).expect("untag");
        cpu.push(format!("\"{phase}\": {}", thread_cpu_ns() - c0));
        wall.push(format!("\"{phase}\": {}", w0.elapsed().as_nanos()));
    }
    running.stop().expect("stop").shutdown();
    // Keeps the burn loop from being optimised away.
    eprintln!("{sink}");
    println!("{{\"cpu_ns\": {{{}}}, \"wall_ns\": {{{}}}}}", cpu.join(", "), wall.join(", "));
}
