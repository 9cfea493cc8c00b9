//! Signed Shopify webhook deliveries through the real binary: how many the server accepts per
//! second from 32 concurrent senders, as a ratio to the durable earn rate through the API of the
//! same run, and a retry storm that must award each order exactly once.
//!
//! 1. Throughput: the API's earn rate at 32 clients (each posting to its own member), then 32
//!    senders posting signed `orders/paid` deliveries (distinct orders, the member matched by
//!    email, each sender its own member), then the earn rate again, each for a bounded time. The
//!    deliveries' rate is compared to the mean of the two earn runs taken around it, because
//!    absolute rates on a shared machine move from one minute to the next.
//! 2. The retry storm: 1,000 distinct deliveries, each sent three times with the same delivery
//!    id, all concurrently (the three copies of one delivery are in flight together). Every
//!    copy must get 200; then the API must show exactly one entry per order and the points
//!    summing to the orders' totals.
//!
//! The server's peak RSS (VmHWM) is printed beside the target.

#![expect(clippy::unwrap_used, reason = "a benchmark fails loudly")]

#[path = "proc.rs"]
mod proc;
#[path = "server.rs"]
mod server;

use base64::Engine as _;
use serde_json::{Value, json};
use server::Server;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Concurrent senders, and API clients for the earn rate they are compared to.
const SENDERS: usize = 32;
/// How long each throughput run lasts, at most.
const RUN_SECS: u64 = 10;
/// And how many requests each sender makes in it, at most.
const PER_SENDER: usize = 3000;
/// The retry storm: distinct deliveries, copies of each, and how many are in flight at once.
const STORM_ORDERS: usize = 1000;
const STORM_COPIES: usize = 3;
const STORM_CONCURRENCY: usize = 64;
/// The storm's orders are spread over this many members.
const STORM_MEMBERS: usize = 10;
const SECRET: &str = "shpss_bench_0123456789abcdef0123456789";

/// The server's peak RSS target (DESIGN.md, "The budget"; bench/RESULTS.md).
const TARGET_RSS_MIB: f64 = 100.0;

/// A signed Shopify `orders/paid` delivery built from the documented payload in the tests'
/// fixtures: its delivery id and its body.
struct Delivery {
    id: String,
    body: Vec<u8>,
}

fn paid(fixture: &Value, order: u64, email: &str, euros: u64, id: String) -> Delivery {
    let mut v = fixture.clone();
    v["id"] = json!(order);
    v["email"] = json!(email);
    v["contact_email"] = json!(email);
    v["total_price"] = json!(format!("{euros}.00"));
    v["currency"] = json!("EUR");
    Delivery {
        id,
        body: serde_json::to_vec(&v).unwrap(),
    }
}

/// Posts `delivery` signed as Shopify signs; returns whether it was a duplicate (panics unless 200).
async fn send(client: &reqwest::Client, server: &Server, delivery: &Delivery) -> bool {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, SECRET.as_bytes());
    let sig = base64::engine::general_purpose::STANDARD
        .encode(ring::hmac::sign(&key, &delivery.body).as_ref());
    let res = client
        .post(format!("{}/hooks/shopify", server.base))
        .header("Content-Type", "application/json")
        .header("X-Shopify-Topic", "orders/paid")
        .header("X-Shopify-Hmac-Sha256", sig)
        .header("X-Shopify-Webhook-Id", &delivery.id)
        .header("X-Shopify-Shop-Domain", "bench.myshopify.com")
        .body(delivery.body.clone())
        .send()
        .await
        .unwrap();
    let status = res.status();
    let ack: Value = res.json().await.unwrap();
    assert_eq!(status, 200, "delivery {}: {ack}", delivery.id);
    ack["duplicate"].as_bool().unwrap()
}

/// A request to the API with the bench's key.
fn api(
    client: &reqwest::Client,
    server: &Server,
    method: reqwest::Method,
    path: &str,
) -> reqwest::RequestBuilder {
    client
        .request(method, format!("{}/api/v1{path}", server.base))
        .bearer_auth(&server.key)
}

/// Makes a member with `email`; returns its id.
async fn member(client: &reqwest::Client, server: &Server, email: &str) -> String {
    let res = api(client, server, reqwest::Method::POST, "/members")
        .json(&json!({ "name": email, "email": email }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let m: Value = res.json().await.unwrap();
    m["id"].as_str().unwrap().to_owned()
}

/// `SENDERS` API clients, each earning 1 point for its own member, one request after another,
/// for `RUN_SECS`: the durable-transaction rate.
async fn earn_run(
    client: &reqwest::Client,
    server: &Arc<Server>,
    members: &[String],
    run: usize,
) -> f64 {
    let (client, server, members) = (client.clone(), server.clone(), Arc::new(members.to_vec()));
    let run_for = Duration::from_secs(RUN_SECS);
    server::rate(members.len(), run_for, PER_SENDER, move |c, n| {
        let (client, server, m) = (client.clone(), server.clone(), members[c].clone());
        async move {
            let res = api(
                &client,
                &server,
                reqwest::Method::POST,
                &format!("/members/{m}/transactions"),
            )
            .header("Idempotency-Key", format!("earn-{run}-{c}-{n}"))
            .json(&json!({ "kind": "earn", "points": 1 }))
            .send()
            .await
            .unwrap();
            assert_eq!(res.status(), 201);
        }
    })
    .await
}

/// `SENDERS` shops' senders, each posting signed deliveries of new orders by its own member's
/// email, one after another, for `RUN_SECS`; the rate of accepted deliveries.
async fn hook_run(client: &reqwest::Client, server: &Arc<Server>, fixture: &Arc<Value>) -> f64 {
    let (client, server, fixture) = (client.clone(), server.clone(), fixture.clone());
    let run_for = Duration::from_secs(RUN_SECS);
    server::rate(SENDERS, run_for, PER_SENDER, move |c, n| {
        let (client, server, fixture) = (client.clone(), server.clone(), fixture.clone());
        async move {
            let email = format!("sender-{c}@example.com");
            let order = 1_000_000 * (c as u64 + 1) + n as u64;
            let d = paid(&fixture, order, &email, 12, format!("bench-{order}"));
            assert!(
                !send(&client, &server, &d).await,
                "a new order came back duplicate"
            );
        }
    })
    .await
}

/// The storm's order `k`: its order id, member index and total in euros.
fn storm_order(k: usize) -> (u64, usize, u64) {
    (
        900_000_000 + k as u64,
        k % STORM_MEMBERS,
        (k % 20) as u64 + 1,
    )
}

/// Every entry of a member's history, paged through the API.
async fn history(client: &reqwest::Client, server: &Server, member: &str) -> Vec<Value> {
    let mut all = Vec::new();
    let mut cursor = String::new();
    loop {
        let page: Value = api(
            client,
            server,
            reqwest::Method::GET,
            &format!("/members/{member}/transactions?limit=100&cursor={cursor}"),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        all.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => return all,
        }
    }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

#[tokio::main]
async fn main() {
    let bin = std::env::var("FEALTY_BENCH_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_fealty").to_owned());
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/hooks/shopify-orders-paid.json"
    );
    let fixture: Arc<Value> =
        Arc::new(serde_json::from_str(&std::fs::read_to_string(fixture).unwrap()).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let server = Arc::new(Server::fealty(&bin, &dir.path().join("fealty")));
    let pid = server.child.id();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();

    let res = api(
        &client,
        &server,
        reqwest::Method::PUT,
        "/integrations/shopify",
    )
    .json(&json!({ "enabled": true, "secret": SECRET, "create_members": false }))
    .send()
    .await
    .unwrap();
    assert_eq!(
        res.status(),
        200,
        "enable Shopify: {}",
        res.text().await.unwrap()
    );
    let mut earners = Vec::new();
    for c in 0..SENDERS {
        member(&client, &server, &format!("sender-{c}@example.com")).await;
        earners.push(member(&client, &server, &format!("earner-{c}@example.com")).await);
    }
    let mut storm_members = Vec::new();
    for m in 0..STORM_MEMBERS {
        storm_members.push(member(&client, &server, &format!("storm-{m}@example.com")).await);
    }
    let idle = proc::vm_rss(pid);

    // 1. Throughput: earns, deliveries, earns, so the deliveries sit between their ceilings.
    let before = earn_run(&client, &server, &earners, 0).await;
    let hooks = hook_run(&client, &server, &fixture).await;
    let after = earn_run(&client, &server, &earners, 1).await;
    let ceiling = (before + after) / 2.0;

    // 2. The retry storm: request i is a copy of delivery i / 3, so copies race each other.
    let storm: Arc<Vec<Delivery>> = Arc::new(
        (0..STORM_ORDERS)
            .map(|k| {
                let (order, m, euros) = storm_order(k);
                paid(
                    &fixture,
                    order,
                    &format!("storm-{m}@example.com"),
                    euros,
                    format!("storm-{order}"),
                )
            })
            .collect(),
    );
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let workers: Vec<_> = (0..STORM_CONCURRENCY)
        .map(|_| {
            let (client, server, storm, next) =
                (client.clone(), server.clone(), storm.clone(), next.clone());
            tokio::spawn(async move {
                let mut fresh = 0;
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(d) = storm.get(i / STORM_COPIES) else {
                        return fresh;
                    };
                    if !send(&client, &server, d).await {
                        fresh += 1;
                    }
                }
            })
        })
        .collect();
    let mut fresh = 0;
    for w in workers {
        fresh += w.await.unwrap();
    }
    let storm_secs = start.elapsed().as_secs_f64();

    // What the API shows: one entry per order, the points of its total, nothing else.
    let expected: HashMap<String, i64> = (0..STORM_ORDERS)
        .map(|k| {
            let (order, _, euros) = storm_order(k);
            (order.to_string(), euros as i64)
        })
        .collect();
    let mut seen: HashMap<String, usize> = HashMap::new();
    let (mut entries, mut points, mut balances) = (0, 0, 0);
    for m in &storm_members {
        for e in history(&client, &server, m).await {
            entries += 1;
            points += e["points"].as_i64().unwrap();
            let reference = e["reference"].as_str().unwrap_or_default().to_owned();
            assert_eq!(
                Some(&e["points"].as_i64().unwrap()),
                expected.get(&reference),
                "entry {e}"
            );
            *seen.entry(reference).or_default() += 1;
        }
        let member: Value = api(
            &client,
            &server,
            reqwest::Method::GET,
            &format!("/members/{m}"),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        balances += member["balance"].as_i64().unwrap();
    }
    let expected_points: i64 = expected.values().sum();
    let peak = proc::vm_hwm(pid);
    drop(server);

    println!(
        "throughput: {SENDERS} concurrent clients, {RUN_SECS} s each run (at most {PER_SENDER} requests per client)"
    );
    println!("  API earns (durable tx/s), before: {before:>7.0}/s");
    println!("  signed Shopify orders/paid:       {hooks:>7.0}/s");
    println!("  API earns (durable tx/s), after:  {after:>7.0}/s");
    println!(
        "  deliveries / durable earns: {:.2} (against the mean of the two earn runs, {ceiling:.0}/s)",
        hooks / ceiling
    );
    println!(
        "retry storm: {STORM_ORDERS} deliveries x {STORM_COPIES} copies, {STORM_CONCURRENCY} in flight, in {storm_secs:.1} s: {} requests all 200, {fresh} applied, {} acknowledged as duplicates",
        STORM_ORDERS * STORM_COPIES,
        STORM_ORDERS * STORM_COPIES - fresh
    );
    let once = seen.len() == STORM_ORDERS && seen.values().all(|&n| n == 1);
    println!(
        "  through the API: {entries} new entries for {} distinct orders (each once: {once}), {points} points, balances {balances} (expected {STORM_ORDERS} entries, {expected_points} points)",
        seen.len()
    );
    println!(
        "server peak RSS: {:.1} MiB (idle after setup {:.1} MiB; target <= {TARGET_RSS_MIB:.0} MiB) {}",
        mib(peak),
        mib(idle),
        if mib(peak) <= TARGET_RSS_MIB {
            "ok"
        } else {
            "OVER"
        }
    );
    assert_eq!(fresh, STORM_ORDERS, "applied deliveries in the storm");
    assert_eq!(entries, STORM_ORDERS, "entries from the storm");
    assert!(once, "an order awarded other than once");
    assert_eq!(points, expected_points, "points from the storm");
    assert_eq!(balances, expected_points, "storm members' balances");
    println!("verdict: each of the {STORM_ORDERS} orders awarded exactly once");
}
