//! Durable point transactions per second through the real binary, for 1, 32 and 64 clients,
//! beside the same workload on SQLite, in the same run.
//!
//! Each level of load first measures a ceiling: how many small write+fsync cycles this
//! disk does per second. One client cannot beat that ceiling (every answer waits for its own
//! fsync); 32 clients can, by sharing commits (group commit). Then each server takes the same
//! load in turn, so every ratio compares measures taken seconds apart on a disk that others
//! share. The SQLite baseline (bench/sqlite-baseline: WAL mode, `synchronous=FULL`, one
//! transaction per request) is a package of its own; scripts/bench.sh builds it and names it
//! in `FEALTY_SQLITE_BASELINE`.

#![expect(clippy::unwrap_used, reason = "a benchmark fails loudly")]

#[path = "server.rs"]
mod server;

use server::Server;
use std::io::Write;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

const SEQUENTIAL: usize = 1000;
const CLIENTS: usize = 64;
/// The concurrent runs: how many of the clients take part in each.
const RUNS: [usize; 2] = [32, 64];
const PER_CLIENT: usize = 150;
/// The baseline accepts any key it is given; fealty makes its own.
const BASELINE_KEY: &str = "bench-baseline-key";

/// Targets from the issue that set them, printed beside the measures.
const TARGET_ONE: f64 = 0.4;
const TARGET_MANY: f64 = 2.0;
const TARGET_P99_MS: f64 = 25.0;
const TARGET_VS_SQLITE: f64 = 5.0;

/// How long each measure of the disk's ceiling takes.
const CEILING_SECS: u64 = 2;

fn fsyncs_per_second(dir: &std::path::Path) -> f64 {
    let mut f = std::fs::File::create(dir.join("fsync-probe")).unwrap();
    let start = Instant::now();
    let mut n = 0;
    while start.elapsed() < Duration::from_secs(CEILING_SECS) {
        f.write_all(&[0u8; 512]).unwrap();
        f.sync_data().unwrap();
        n += 1;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

/// One load: its rate and the 99th percentile of its request latencies.
#[derive(Clone, Copy)]
struct Run {
    rate: f64,
    p99: Duration,
}

impl Run {
    fn of(count: usize, elapsed: Duration, mut latencies: Vec<Duration>) -> Run {
        latencies.sort_unstable();
        let p99 = latencies
            .get((latencies.len() * 99).div_ceil(100).saturating_sub(1))
            .copied()
            .unwrap_or_default();
        Run {
            rate: count as f64 / elapsed.as_secs_f64(),
            p99,
        }
    }
}

/// Posts one earn and returns how long it took to be answered (durably).
async fn earn(client: &reqwest::Client, server: &Server, member: &str, tag: String) -> Duration {
    let start = Instant::now();
    let res = client
        .post(format!(
            "{}/api/v1/members/{member}/transactions",
            server.base
        ))
        .bearer_auth(&server.key)
        .header("Idempotency-Key", tag)
        .json(&serde_json::json!({ "kind": "earn", "points": 1 }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    start.elapsed()
}

/// Makes the members the clients post to, one each.
async fn members(client: &reqwest::Client, server: &Server) -> Vec<String> {
    let mut members = Vec::new();
    for _ in 0..CLIENTS {
        let m: serde_json::Value = client
            .post(format!("{}/api/v1/members", server.base))
            .bearer_auth(&server.key)
            .json(&serde_json::json!({}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        members.push(m["id"].as_str().unwrap().to_owned());
    }
    members
}

/// `clients` clients, each posting `count` earns to its own member, one after another.
async fn load(
    client: &reqwest::Client,
    server: &Arc<Server>,
    members: &[String],
    clients: usize,
    count: usize,
) -> Run {
    let start = Instant::now();
    let tasks: Vec<_> = members
        .iter()
        .take(clients)
        .enumerate()
        .map(|(c, m)| {
            let (client, server, m) = (client.clone(), server.clone(), m.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(count);
                for i in 0..count {
                    let tag = format!("r{clients}-c{c}-{i}");
                    latencies.push(earn(&client, &server, &m, tag).await);
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(clients * count);
    for t in tasks {
        latencies.extend(t.await.unwrap());
    }
    Run::of(clients * count, start.elapsed(), latencies)
}

fn sqlite(bin: &str, data: &std::path::Path) -> Server {
    let mut cmd = Command::new(bin);
    cmd.args(["--listen", "127.0.0.1:0", "--key", BASELINE_KEY, "--data"])
        .arg(data);
    Server::start(cmd, BASELINE_KEY.to_owned())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// One level of load: the disk's ceiling just before, then each server's run in turn, so
/// that every ratio compares measures taken a few seconds apart (the disk is shared).
struct Level {
    clients: usize,
    ceiling: f64,
    runs: Vec<Run>,
}

#[tokio::main]
async fn main() {
    // FEALTY_BENCH_BIN=path runs another build (an earlier release, say) instead; with
    // FEALTY_BENCH_COMPARE=path, that build runs too, in turn with this one.
    let bin = std::env::var("FEALTY_BENCH_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_fealty").to_owned());
    let dir = tempfile::tempdir().unwrap();
    let mut servers = vec![(
        "fealty",
        Arc::new(Server::fealty(&bin, &dir.path().join("fealty"))),
    )];
    if let Ok(other) = std::env::var("FEALTY_BENCH_COMPARE") {
        let server = Server::fealty(&other, &dir.path().join("compare"));
        servers.push(("compared build", Arc::new(server)));
    }
    let baseline = std::env::var("FEALTY_SQLITE_BASELINE").ok();
    if let Some(bin) = &baseline {
        servers.push(("sqlite", Arc::new(sqlite(bin, &dir.path().join("sqlite")))));
    }
    let client = reqwest::Client::new();
    let mut members_of = Vec::new();
    for (_, server) in &servers {
        members_of.push(members(&client, server).await);
    }

    let mut levels = Vec::new();
    for (clients, count) in [(1, SEQUENTIAL)]
        .into_iter()
        .chain(RUNS.map(|c| (c, PER_CLIENT)))
    {
        let ceiling = fsyncs_per_second(dir.path());
        let mut runs = Vec::new();
        for ((_, server), members) in servers.iter().zip(&members_of) {
            runs.push(load(&client, server, members, clients, count).await);
        }
        levels.push(Level {
            clients,
            ceiling,
            runs,
        });
    }
    drop(servers);

    let names: Vec<&str> = ["fealty"]
        .into_iter()
        .chain(
            std::env::var("FEALTY_BENCH_COMPARE")
                .ok()
                .map(|_| "compared build"),
        )
        .chain(baseline.as_ref().map(|_| "sqlite"))
        .collect();
    println!(
        "each level: the disk ceiling (write+fsync of 512 bytes, {CEILING_SECS} s), then each server in turn"
    );
    let mut head = format!("{:>7}  {:>15}", "clients", "ceiling fsync/s");
    for name in &names {
        head.push_str(&format!(" | {name:>14} tx/s  x ceiling  p99 ms"));
    }
    if baseline.is_some() {
        head.push_str(" | fealty / sqlite");
    }
    println!("{head}");
    for level in &levels {
        let mut row = format!("{:>7}  {:>15.0}", level.clients, level.ceiling);
        for run in &level.runs {
            row.push_str(&format!(
                " | {:>19.0}  {:>9.2}  {:>6.1}",
                run.rate,
                run.rate / level.ceiling,
                ms(run.p99)
            ));
        }
        if let (Some(ours), Some(theirs)) = (level.runs.first(), level.runs.last())
            && baseline.is_some()
        {
            row.push_str(&format!(" | {:>15.2}", ours.rate / theirs.rate));
        }
        println!("{row}");
    }
    let (first, last) = (&levels[0], &levels[levels.len() - 1]);
    println!(
        "target: 1 client {:.2} x ceiling (>= {TARGET_ONE}); {} clients {:.2} x ceiling (>= {TARGET_MANY}) with p99 {:.1} ms (< {TARGET_P99_MS})",
        first.runs[0].rate / first.ceiling,
        last.clients,
        last.runs[0].rate / last.ceiling,
        ms(last.runs[0].p99),
    );
    match (&baseline, last.runs.last()) {
        (Some(_), Some(theirs)) => println!(
            "target: {} clients fealty / sqlite {:.2} (>= {TARGET_VS_SQLITE})",
            last.clients,
            last.runs[0].rate / theirs.rate
        ),
        _ => println!(
            "sqlite baseline not run: scripts/bench.sh builds it and sets FEALTY_SQLITE_BASELINE"
        ),
    }
}
