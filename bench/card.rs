//! The card page against the API and `/healthz`: requests per second of each through the real
//! binary, measured in the same run with the same clients, and the card page's ratio to
//! `/healthz` beside its target. Also prints the size of the binary measured.

#![expect(clippy::unwrap_used, reason = "a benchmark fails loudly")]

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Concurrent keep-alive connections.
const CLIENTS: usize = 32;
/// How long each page is loaded, per round.
const WINDOW: Duration = Duration::from_secs(3);
/// Rounds: the pages take turns, so a noisy moment on the shared machine hits all of them.
const ROUNDS: usize = 2;
/// Card page requests per second ÷ `/healthz` requests per second, at least.
const TARGET_RATIO: f64 = 0.25;
/// The release binary's size in MB, at most.
const TARGET_MB: f64 = 15.0;

type Http = Client<HttpConnector, Empty<Bytes>>;

/// Requests per second of `CLIENTS` clients getting `url` for `WINDOW`; every answer must be 200.
async fn rate(http: &Http, url: &str, auth: Option<&str>) -> f64 {
    let start = Instant::now();
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (http, url, auth) = (http.clone(), url.to_owned(), auth.map(str::to_owned));
            tokio::spawn(async move {
                let mut n = 0u64;
                while start.elapsed() < WINDOW {
                    let mut req = axum::http::Request::get(&url);
                    if let Some(a) = &auth {
                        req = req.header("authorization", format!("Bearer {a}"));
                    }
                    let res = http.request(req.body(Empty::new()).unwrap()).await.unwrap();
                    assert_eq!(res.status(), 200, "GET {url}");
                    res.into_body().collect().await.unwrap();
                    n += 1;
                }
                n
            })
        })
        .collect();
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    total as f64 / start.elapsed().as_secs_f64()
}

#[tokio::main]
async fn main() {
    // FEALTY_BENCH_BIN=path runs another build (an earlier release, say) for a comparison.
    let bin = std::env::var("FEALTY_BENCH_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_fealty").to_owned());
    let bin = bin.as_str();
    let mb = std::fs::metadata(bin).unwrap().len() as f64 / 1e6;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");

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

    // A member with a name, a few rewards and some activity, so the page shows what a real one does.
    let api = reqwest::Client::new();
    for (name, cost) in [("Free coffee", 50), ("Cake", 120), ("Tote bag", 400)] {
        let res = api
            .post(format!("{base}/api/v1/rewards"))
            .bearer_auth(&key)
            .json(&serde_json::json!({ "name": name, "cost": cost }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201, "creating a reward");
    }
    let member: serde_json::Value = api
        .post(format!("{base}/api/v1/members"))
        .bearer_auth(&key)
        .json(&serde_json::json!({ "name": "Ada Lovelace" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = member["id"].as_str().unwrap().to_owned();
    let token = member["card_token"].as_str().unwrap().to_owned();
    for i in 0..10 {
        let res = api
            .post(format!("{base}/api/v1/members/{id}/transactions"))
            .bearer_auth(&key)
            .header("Idempotency-Key", format!("seed-{i}"))
            .json(&serde_json::json!({ "kind": "earn", "points": 7 }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201, "seeding activity");
    }

    let http: Http = Client::builder(TokioExecutor::new()).build_http();
    let pages = [
        ("/healthz", format!("{base}/healthz"), None),
        (
            "GET /api/v1/members/{id}",
            format!("{base}/api/v1/members/{id}"),
            Some(key.as_str()),
        ),
        ("card page /c/{token}", format!("{base}/c/{token}"), None),
    ];
    // Warm up connections and lazily built state before measuring.
    for (_, url, auth) in &pages {
        rate(&http, url, *auth).await;
    }
    let mut rates = [0.0f64; 3];
    for _ in 0..ROUNDS {
        for (r, (_, url, auth)) in rates.iter_mut().zip(&pages) {
            *r += rate(&http, url, *auth).await / ROUNDS as f64;
        }
    }
    server.kill().unwrap();
    let _ = server.wait();

    println!("{CLIENTS} clients, {ROUNDS} rounds of {WINDOW:?} per page, taking turns");
    for ((name, _, _), r) in pages.iter().zip(rates) {
        println!("{name}: {r:.0} req/s");
    }
    println!(
        "card page / healthz: {:.3} (target >= {TARGET_RATIO})",
        rates[2] / rates[0]
    );
    println!("card page / API member: {:.3}", rates[2] / rates[1]);
    println!("release binary: {mb:.1} MB (target <= {TARGET_MB:.0} MB)");
}
