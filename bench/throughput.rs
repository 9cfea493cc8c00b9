//! Durable point transactions per second through the real binary, for 1, 32 and 64 clients,
//! beside the same workload on SQLite, in the same run.
//!
//! Prints each rate next to a ceiling measured in the same run: how many small
//! write+fsync cycles this disk does per second. One client cannot beat that
//! ceiling (every answer waits for its own fsync); 32 clients can, by sharing
//! commits (group commit). The SQLite baseline (bench/sqlite-baseline: WAL mode,
//! `synchronous=FULL`, one transaction per request) gets the same load from the same
//! generator; scripts/bench.sh builds it and names it in `FEALTY_SQLITE_BASELINE`.

#![expect(clippy::unwrap_used, reason = "a benchmark fails loudly")]

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
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

fn fsyncs_per_second(dir: &std::path::Path) -> f64 {
    let mut f = std::fs::File::create(dir.join("fsync-probe")).unwrap();
    let start = Instant::now();
    let mut n = 0;
    while start.elapsed() < Duration::from_secs(2) {
        f.write_all(&[0u8; 512]).unwrap();
        f.sync_data().unwrap();
        n += 1;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

/// A server under test, killed when dropped.
struct Server {
    child: Child,
    base: String,
    key: String,
}

impl Server {
    /// Starts `cmd` and waits for its `listening on URL` line.
    fn start(mut cmd: Command, key: String) -> Server {
        let mut child = cmd.stdout(Stdio::piped()).spawn().unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let base = loop {
            let line = lines.next().unwrap().unwrap();
            if let Some(url) = line.strip_prefix("listening on ") {
                break url.to_owned();
            }
        };
        Server { child, base, key }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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

/// The sequential run, then each concurrent one.
struct Rates {
    one: Run,
    many: Vec<(usize, Run)>,
}

impl Rates {
    fn runs(&self) -> impl Iterator<Item = (usize, Run)> + '_ {
        std::iter::once((1, self.one)).chain(self.many.iter().copied())
    }
}

/// Posts one earn and returns how long it took to be answered (durably).
async fn earn(client: &reqwest::Client, server: (&str, &str), member: &str, tag: String) -> Duration {
    let (base, key) = server;
    let start = Instant::now();
    let res = client
        .post(format!("{base}/api/v1/members/{member}/transactions"))
        .bearer_auth(key)
        .header("Idempotency-Key", tag)
        .json(&serde_json::json!({ "kind": "earn", "points": 1 }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    start.elapsed()
}

/// The workload: one client, then 32 and 64 clients each posting to their own member.
async fn load(server: &Server) -> Rates {
    let client = reqwest::Client::new();
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
    let target = (server.base.as_str(), server.key.as_str());

    let start = Instant::now();
    let mut latencies = Vec::with_capacity(SEQUENTIAL);
    for i in 0..SEQUENTIAL {
        latencies.push(earn(&client, target, &members[0], format!("s{i}")).await);
    }
    let one = Run::of(SEQUENTIAL, start.elapsed(), latencies);

    let mut many = Vec::new();
    for clients in RUNS {
        let start = Instant::now();
        let tasks: Vec<_> = members
            .iter()
            .take(clients)
            .enumerate()
            .map(|(c, m)| {
                let (client, m) = (client.clone(), m.clone());
                let (base, key) = (server.base.clone(), server.key.clone());
                tokio::spawn(async move {
                    let mut latencies = Vec::with_capacity(PER_CLIENT);
                    for i in 0..PER_CLIENT {
                        let tag = format!("r{clients}-c{c}-{i}");
                        latencies.push(earn(&client, (&base, &key), &m, tag).await);
                    }
                    latencies
                })
            })
            .collect();
        let mut latencies = Vec::with_capacity(clients * PER_CLIENT);
        for t in tasks {
            latencies.extend(t.await.unwrap());
        }
        many.push((
            clients,
            Run::of(clients * PER_CLIENT, start.elapsed(), latencies),
        ));
    }
    Rates { one, many }
}

fn fealty(bin: &str, data: &std::path::Path) -> Server {
    let key = Command::new(bin)
        .args(["apikey", "create", "--name", "bench", "--data"])
        .arg(data)
        .output()
        .unwrap();
    let key = String::from_utf8(key.stdout).unwrap().trim().to_owned();
    let mut cmd = Command::new(bin);
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(data)
        .env("FEALTY_LOG", "warn");
    Server::start(cmd, key)
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

#[tokio::main]
async fn main() {
    // FEALTY_BENCH_BIN=path runs another build (an earlier release, say) for a comparison.
    let bin = std::env::var("FEALTY_BENCH_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_fealty").to_owned());
    let baseline = std::env::var("FEALTY_SQLITE_BASELINE").ok();
    let dir = tempfile::tempdir().unwrap();
    let ceiling = fsyncs_per_second(dir.path());

    let ours = {
        let server = fealty(&bin, &dir.path().join("fealty"));
        load(&server).await
    };
    let theirs = match &baseline {
        Some(bin) => {
            let server = sqlite(bin, &dir.path().join("sqlite"));
            Some(load(&server).await)
        }
        None => None,
    };

    println!("disk ceiling: {ceiling:.0} fsyncs/s (write+fsync of 512 bytes)");
    println!("clients  fealty tx/s  x ceiling  p99 ms | sqlite tx/s  x ceiling  p99 ms | fealty / sqlite");
    let theirs_runs: Vec<Option<Run>> = match &theirs {
        Some(t) => t.runs().map(|(_, r)| Some(r)).collect(),
        None => ours.runs().map(|_| None).collect(),
    };
    for ((clients, run), other) in ours.runs().zip(theirs_runs) {
        let (sqlite, ratio) = match other {
            Some(o) => (
                format!("{:>11.0}  {:>9.2}  {:>6.1}", o.rate, o.rate / ceiling, ms(o.p99)),
                format!("{:.2}", run.rate / o.rate),
            ),
            None => (format!("{:>29}", "not run"), "-".to_owned()),
        };
        println!(
            "{clients:>7}  {:>11.0}  {:>9.2}  {:>6.1} | {sqlite} | {ratio}",
            run.rate,
            run.rate / ceiling,
            ms(run.p99)
        );
    }
    println!(
        "target: 1 client {:.2} x ceiling (>= {TARGET_ONE}); 64 clients {:.2} x ceiling (>= {TARGET_MANY}) with p99 {:.1} ms (< {TARGET_P99_MS})",
        ours.one.rate / ceiling,
        ours.many.last().map_or(0.0, |(_, r)| r.rate / ceiling),
        ours.many.last().map_or(0.0, |(_, r)| ms(r.p99)),
    );
    match (&theirs, ours.many.last()) {
        (Some(t), Some((_, run))) => {
            let base = t.many.last().map_or(f64::NAN, |(_, r)| r.rate);
            println!(
                "target: 64 clients fealty / sqlite {:.2} (>= {TARGET_VS_SQLITE})",
                run.rate / base
            );
        }
        _ => println!(
            "sqlite baseline not run: scripts/bench.sh builds it and sets FEALTY_SQLITE_BASELINE"
        ),
    }
}
