//! `demo compare` at a small scale: it runs both sides, prints every row of the table
//! with a ratio, and the two masters hold the same rollup series, right to the mesh's rates.

use std::process::Command;

const ROWS: [&str; 10] = [
    "collector RSS (peak)",
    "collector CPU seconds",
    "rule groups, one round",
    "/federate latency",
    "/federate bytes (gzip)",
    "master RSS (peak)",
    "master CPU seconds",
    "master disk bytes/sample",
    "dashboard query (median)",
    "dashboard query (slowest)",
];

#[test]
fn compare_prints_the_side_by_side_table_with_agreeing_rollups() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_demo"))
        .args(["compare", "--pods", "20", "--workloads", "4", "--interval", "2s", "--measure", "16s"])
        .arg(format!("--data-dir={}", dir.path().display()))
        .output()
        .expect("run demo compare");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert!(out.status.success(), "demo compare failed: {}", String::from_utf8_lossy(&out.stderr));
    // Without it (recorded as a skip), only our side is compared with the exact rates.
    let prometheus = e2e::prometheus::find_tool("prometheus").is_some();
    for name in ROWS {
        let row =
            stdout.lines().find(|l| l.starts_with(&format!("| {name} "))).unwrap_or_else(|| panic!("no row {name}"));
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let ours = cells[2].split_whitespace().next().unwrap().replace(',', "");
        // CPU seconds come in 10 ms ticks: an idle daemon may show none in the window.
        let least = if name.ends_with("CPU seconds") { 0.0 } else { f64::MIN_POSITIVE };
        assert!(ours.parse::<f64>().is_ok_and(|v| v >= least), "{name}: our figure {:?}", cells[2]);
        if prometheus {
            // A ratio, or `n/a` where Prometheus's figure is zero (an idle master can use
            // no 10 ms CPU tick in the window): never a division by zero.
            let theirs_zero = cells[3].split_whitespace().next().is_some_and(|v| v.replace(',', "").parse() == Ok(0.0));
            let ratio_ok = cells[4].parse::<f64>().is_ok_and(|r| r > 0.0 && r.is_finite());
            assert!(ratio_ok || (theirs_zero && cells[4] == "n/a"), "{name}: ratio {:?} ({:?})", cells[4], cells[3]);
        }
    }
    let rates = stdout.lines().find(|l| l.starts_with("rollups, cardinal:")).expect("our rollups line");
    assert!(rates.contains("mesh request rate off the exact by"), "{rates}");
    if prometheus {
        assert!(stdout.contains("rollups, prometheus:"), "{stdout}");
        assert!(stdout.contains("0 series on only one side"), "{stdout}");
    }
}
