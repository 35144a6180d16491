//! The reported incident: a master scraping 2,000 series, `kill -9`'d, three bytes of its
//! WAL segment flipped (at a third, half and two thirds). On restart it must lose only the
//! records those bytes are in — one scrape each — keep every other sample, and go on
//! storing. (It used to cut everything after the first bad byte: three quarters of it.)

use e2e::{Daemon, TestTarget, wait_until};
use std::time::Duration;

const SERIES: usize = 2000;
/// 40 scrapes at 1 s on a loaded machine.
const WAIT: Duration = Duration::from_secs(120);

async fn stored_at(d: &Daemon, t: f64) -> f64 {
    d.scalar_at("sum(count_over_time(m[1h]))", Some(t)).await.unwrap_or(0.0)
}

#[tokio::test]
async fn flipped_bytes_cost_only_the_scrapes_they_touch() {
    let body: String = (0..SERIES).map(|i| format!("m{{i=\"{i}\"}} {i}\n")).collect();
    let target = TestTarget::start(&body).await;
    let cfg = format!(
        "global: {{scrape_interval: 1s}}\nscrape_configs:\n  - job_name: app\n    static_configs: [{{targets: ['{}']}}]\n",
        target.addr
    );
    let mut d = Daemon::start("master", &cfg, &[]).await;
    // Enough scrapes that the series definitions (the first record) are well inside the
    // first third of the segment, so each flip lands in a scrape's samples.
    wait_until(WAIT, || async {
        stored_at(&d, cardinal_model::now_ms() as f64 / 1000.0).await >= 40.0 * SERIES as f64
    })
    .await;
    let t = cardinal_model::now_ms() as f64 / 1000.0;
    let before = stored_at(&d, t).await;
    d.kill9();

    let wal = d.dir.path().join("data/wal");
    let segment = std::fs::read_dir(&wal)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().parse::<u32>().is_ok())
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .unwrap();
    let mut data = std::fs::read(&segment).unwrap();
    let n = data.len();
    for at in [n / 3, n / 2, 2 * n / 3] {
        data[at] ^= 0xff;
    }
    std::fs::write(&segment, &data).unwrap();

    d.restart().await;
    let after = stored_at(&d, t).await;
    // Each damaged record is one scrape: 2,000 samples (the scrape's own `up` and
    // friends are a separate record).
    assert!(after >= before - 3.0 * SERIES as f64, "{before} samples before, {after} after the restart");
    assert!(after < before, "three records were damaged: {before} before, {after} after");
    assert_eq!(std::fs::metadata(&segment).unwrap().len(), n as u64, "the segment is not cut");
    let (_, status) = d.get("/api/v1/status/tsdb").await;
    assert!(status.contains("skipped that record"), "the damage is reported: {status}");
    wait_until(WAIT, || async { stored_at(&d, cardinal_model::now_ms() as f64 / 1000.0).await > before }).await;
}
