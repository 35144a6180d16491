//! `demo remote-write` at a small scale: each side delivers exactly what was pushed (the
//! demo fails otherwise) and gets its row in the table.

use std::process::Command;

#[test]
fn remote_write_compare_drains_every_sample_once_on_each_side() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_demo"))
        .args(["remote-write", "--series", "300", "--samples", "40"])
        .arg(format!("--data-dir={}", dir.path().display()))
        .output()
        .expect("run demo remote-write");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert!(out.status.success(), "demo remote-write failed: {}", String::from_utf8_lossy(&out.stderr));
    let mut sides = vec!["cardinal"];
    if e2e::prometheus::find_tool("prometheus").is_some() {
        sides.push("prometheus");
    }
    for side in sides {
        let row = stdout.lines().find(|l| l.starts_with(&format!("| {side} |"))).expect("a row per side");
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        assert!(cells[2].parse::<f64>().is_ok_and(|v| v > 0.0), "{side}: samples/s {:?}", cells[2]);
    }
}
