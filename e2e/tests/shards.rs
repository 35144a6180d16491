//! Sharded collectors: three collectors split the mesh's pods with `hashmod` (each keeps
//! its share and carries a `shard` external label), a master federates them all and sums
//! the shards at query time. A fourth runs from the start as shard 3 of 3, keeping
//! nothing (as docs/ha.md says to deploy a new shard). Mid-run all four reload with
//! modulus 4, so most pods move to another collector. An input arriving
//! at its new shard must not count its history again (`shared/daemon/src/sharding.rs`):
//! the master's mesh-wide `increase()` over the whole run, across the move, counts exactly
//! (within 1%) what the pods served, as the collectors scraped it.

use e2e::istio::EDGES;
use e2e::rates::{self, near};
use e2e::small_mesh::{COUNTER, MESH, WAIT, now};
use e2e::{Daemon, Workload, shipped, wait_until};
use std::time::Duration;

/// Shard `shard` of `of`: the pods whose `instance` hashes to it.
fn collector_config(w: &Workload, shard: u64, of: u64) -> String {
    let cfg = e2e::small_mesh::collector_config(w, &format!("shard: '{shard}'"), "");
    cfg + &format!(
        "    relabel_configs:\n      - {{source_labels: [instance], modulus: {of}, target_label: __tmp_hash, action: hashmod}}\n      - {{source_labels: [__tmp_hash], regex: '{shard}', action: keep}}\n"
    )
}

async fn collector(w: &Workload, shard: u64, of: u64) -> Daemon {
    let files = e2e::small_mesh::rule_files();
    let files: Vec<(&str, &str)> = files.iter().map(|(n, t)| (*n, t.as_str())).collect();
    Daemon::start_with_files("collector", &collector_config(w, shard, of), &files, &["--web.enable-lifecycle"]).await
}

/// The rollup's inputs on `collectors`, summed: every pod's edges once all scrape.
async fn inputs(collectors: &[Daemon]) -> usize {
    let mut n = 0;
    for c in collectors {
        let (_, metrics) = c.get("/metrics").await;
        let line = "cardinal_rollup_input_series{rule=\"federate:istio_requests_total\"} ";
        n += metrics.lines().find_map(|l| l.strip_prefix(line)?.parse::<usize>().ok()).unwrap_or(0);
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_shards_become_four_and_the_mesh_wide_increase_stays_exact() {
    let workload = Workload::start(MESH, "127.0.0.1:0").await.unwrap();
    let mut shards = Vec::new();
    for shard in 0..4 {
        shards.push(collector(&workload, shard, 3).await);
    }
    let targets: Vec<String> = shards.iter().map(|s| s.addr.to_string()).collect();
    let cfg = shipped::master_config(targets.join("', '"), "4s");
    let cfg = cfg.replacen(
        "    metric_relabel_configs:\n",
        "    metric_relabel_configs:\n      - {action: labeldrop, regex: instance}\n",
        1,
    );
    let master = Daemon::start("master", &cfg, &[]).await;
    wait_until(WAIT, || async { inputs(&shards[..3]).await == MESH.pods * EDGES }).await;
    // From the first window written after every pod was seen.
    let from = (now() / 4.0).ceil() * 4.0 + 8.0;
    wait_until(WAIT, || async { rates::newest(&master, COUNTER).await > from + 40.0 }).await;

    println!("resharding: 3 → 4");
    for (shard, c) in shards.iter().enumerate() {
        assert_eq!(c.reload(&collector_config(&workload, shard as u64, 4)).await.0, 200);
    }
    wait_until(WAIT, || async { inputs(&shards[3..]).await > 0 }).await;
    let moved = now();
    println!("the fourth rolls up {} inputs", inputs(&shards[3..]).await);
    // A group series starting on its new shard is extrapolated back by at most half an
    // interval by `increase()` (as any series appearing mid-range), which misses about two
    // seconds of the new groups' requests: over this span, well under 1%.
    let after = Duration::from_secs(120);
    wait_until(after + WAIT, || async { rates::newest(&master, COUNTER).await > moved + after.as_secs_f64() }).await;

    let t2 = (rates::newest(&master, COUNTER).await * 1000.0) as i64;
    let t1 = (from * 1000.0) as i64;
    let all: Vec<&Daemon> = shards.iter().collect();
    let selector = format!("{COUNTER}{{reporter=\"source\"}}");
    let scraped = rates::scraped_rate(&all, &selector, Some(MESH.pods * EDGES), t1, t2).await;
    // Starting a millisecond before the first window's samples: no extrapolation there.
    let range = format!("{}ms", t2 - t1 + 1);
    let at = Some(t2 as f64 / 1000.0);
    let increase = master.scalar_at(&format!("sum(increase({COUNTER}[{range}]))"), at).await.unwrap();
    let span = (t2 - t1) as f64 / 1000.0;
    near("the mesh-wide increase() across the reshard", increase, scraped * span, 0.01);
    near("against the mesh's request rate", increase / span, MESH.total_request_rate(), 2.5 / span);
    let shards_seen = master.scalar(&format!("count(count by (shard) ({COUNTER}))")).await;
    assert_eq!(shards_seen, Some(4.0), "every shard federated");
}
