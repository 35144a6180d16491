//! The README's first command, at a small scale: the demo starts the three parts, prints
//! the reduction line and the profile-derived CPU per region, and stops them all by itself.

use std::process::Command;

fn free_port() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().to_string()
}

#[test]
fn the_demo_shows_the_cardinality_drop_and_stops_cleanly() {
    let out = Command::new(env!("CARGO_BIN_EXE_demo"))
        // Until the first report with every region (~20 s here; a loaded 2-core machine
        // takes longer), or 120 s at most, when the checks below say what was missing.
        .args(["--pods", "40", "--workloads", "5", "--interval", "1s", "--until-complete", "--exit-after", "120s"])
        .args(["--collector", &free_port(), "--master", &free_port(), "--workload", &free_port()])
        .output()
        .expect("run the demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let line =
        stdout.lines().find(|l| l.starts_with("collector ") && l.contains(" series → master ")).unwrap_or_else(|| {
            panic!("no reduction line in:\n{stdout}");
        });
    let numbers: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit() && c != ',')
        .filter(|s| !s.is_empty() && s.chars().any(|c| c.is_ascii_digit()))
        .map(|s| s.replace(',', "").parse().unwrap())
        .collect();
    assert!(numbers[0] >= 40 * 337, "{line}");
    assert!(numbers[1] < numbers[0] / 5, "{line}");
    // The profiles reach the master as per-region counters (their rate is still ramping
    // up this early, so only their presence is checked). The last report is the one the
    // demo stopped at.
    let cores = stdout.lines().rfind(|l| l.contains("cores by region:")).unwrap_or_else(|| panic!("{stdout}"));
    for region in ["eu ", "us ", "ap "] {
        assert!(cores.contains(region), "{cores}");
    }
    assert!(stdout.contains("master stopped") && stdout.contains("collector stopped"), "{stdout}");
}
