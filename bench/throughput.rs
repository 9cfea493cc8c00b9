//! Durable point transactions per second through the real binary, for 1, 32 and 64 clients.
//!
//! Prints each rate next to a ceiling measured in the same run: how many small
//! write+fsync cycles this disk does per second. One client cannot beat that
//! ceiling (every answer waits for its own fsync); 32 clients can, by sharing
//! commits (group commit).

#![expect(clippy::unwrap_used, reason = "a benchmark fails loudly")]

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SEQUENTIAL: usize = 300;
const CLIENTS: usize = 64;
/// The concurrent runs: how many of the clients take part in each.
const RUNS: [usize; 2] = [32, 64];
const PER_CLIENT: usize = 60;

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

#[tokio::main]
async fn main() {
    // FEALTY_BENCH_BIN=path runs another build (an earlier release, say) for a comparison.
    let bin = std::env::var("FEALTY_BENCH_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_fealty").to_owned());
    let bin = bin.as_str();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let ceiling = fsyncs_per_second(dir.path());

    let key = Command::new(bin)
        .args(["apikey", "create", "--name", "bench", "--data"])
        .arg(&data)
        .output()
        .unwrap();
    let key = String::from_utf8(key.stdout).unwrap().trim().to_owned();
    let mut server = Command::new(bin)
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(&data)
        .env("FEALTY_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(server.stdout.take().unwrap()).lines();
    let base = loop {
        let line = lines.next().unwrap().unwrap();
        if let Some(url) = line.strip_prefix("listening on ") {
            break url.to_owned();
        }
    };

    let client = reqwest::Client::new();
    let mut members = Vec::new();
    for _ in 0..CLIENTS {
        let m: serde_json::Value = client
            .post(format!("{base}/api/v1/members"))
            .bearer_auth(&key)
            .json(&serde_json::json!({}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        members.push(m["id"].as_str().unwrap().to_owned());
    }
    let earn = {
        let (base, key) = (base.clone(), key.clone());
        move |client: reqwest::Client, member: String, tag: String| {
            let (base, key) = (base.clone(), key.clone());
            async move {
                let res = client
                    .post(format!("{base}/api/v1/members/{member}/transactions"))
                    .bearer_auth(&key)
                    .header("Idempotency-Key", tag)
                    .json(&serde_json::json!({ "kind": "earn", "points": 1 }))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.status(), 201);
            }
        }
    };

    let start = Instant::now();
    for i in 0..SEQUENTIAL {
        earn(client.clone(), members[0].clone(), format!("s{i}")).await;
    }
    let one = SEQUENTIAL as f64 / start.elapsed().as_secs_f64();

    let mut many = Vec::new();
    for clients in RUNS {
        let start = Instant::now();
        let tasks: Vec<_> = members
            .iter()
            .take(clients)
            .enumerate()
            .map(|(c, m)| {
                let (client, m, earn) = (client.clone(), m.clone(), earn.clone());
                tokio::spawn(async move {
                    for i in 0..PER_CLIENT {
                        earn(client.clone(), m.clone(), format!("r{clients}-c{c}-{i}")).await;
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        many.push((
            clients,
            (clients * PER_CLIENT) as f64 / start.elapsed().as_secs_f64(),
        ));
    }
    server.kill().unwrap();
    let _ = server.wait();

    println!("disk ceiling: {ceiling:.0} fsyncs/s (write+fsync of 512 bytes)");
    println!(
        "1 client:   {one:.0} durable transactions/s = {:.2} x ceiling",
        one / ceiling
    );
    for (clients, rate) in many {
        println!(
            "{clients} clients: {rate:.0} durable transactions/s = {:.2} x ceiling (group commit)",
            rate / ceiling
        );
    }
}
