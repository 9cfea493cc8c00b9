//! How fast the admin dashboard renders with 100,000 members and 1,000,000 ledger entries.
//!
//! The data is written through the library (the same storage code the server uses, with
//! entries spread over the past year), then the real binary serves it and a logged-in
//! client asks for `/admin`. Ceilings measured in the same run: one full pass over the
//! ledger (`fealty verify`), which is what the dashboard would cost without its running
//! aggregates, and `/healthz`, the cheapest request there is.

#![expect(clippy::unwrap_used, reason = "a benchmark fails loudly")]

#[path = "seed.rs"]
mod seed;

use fealty::storage;
use seed::{ENTRIES, MEMBERS};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const REQUESTS: usize = 25;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    let bin = env!("CARGO_BIN_EXE_fealty");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (seeded, seeding) = seed::seeded(dir.path()).await;
    seed::copy_data(&seeded, &data);
    let size = std::fs::metadata(data.join(storage::DB_FILE))
        .unwrap()
        .len();

    // The seeding store's writer thread lets go of the file a moment after the last handle drops.
    let (mut server, base) = loop {
        let mut child = Command::new(bin)
            .args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(&data)
            .env("FEALTY_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        match lines.find_map(|l| l.ok()?.strip_prefix("listening on ").map(str::to_owned)) {
            Some(url) => {
                // Keep reading, or the server's next line (the setup link) hits a closed pipe.
                std::thread::spawn(move || lines.for_each(drop));
                break (child, url);
            }
            None => {
                let _ = child.wait();
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    };

    let mut add = Command::new(bin)
        .args([
            "user",
            "add",
            "--username",
            "owner",
            "--role",
            "owner",
            "--password-stdin",
            "--data",
        ])
        .arg(&data)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    add.stdin
        .take()
        .unwrap()
        .write_all(b"bench-password\n")
        .unwrap();
    assert!(add.wait().unwrap().success());

    let client = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let res = client
        .post(format!("{base}/admin/login"))
        .form(&[("username", "owner"), ("password", "bench-password")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303, "log-in failed");

    let time_get = async |path: &str| {
        let mut times = Vec::new();
        for _ in 0..REQUESTS {
            let start = Instant::now();
            let res = client.get(format!("{base}{path}")).send().await.unwrap();
            assert_eq!(res.status(), 200, "{path}");
            let body = res.text().await.unwrap();
            times.push(start.elapsed());
            assert!(!body.is_empty());
        }
        median(times)
    };
    let dashboard = time_get("/admin").await;
    let members_page = time_get("/admin/members").await;
    let health = time_get("/healthz").await;
    let page = client
        .get(format!("{base}/admin"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let members_shown = page
        .split("id=\"stat-members\" data-value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap_or("?")
        .to_owned();

    let start = Instant::now();
    let verify = Command::new(bin)
        .args(["verify", "--data"])
        .arg(&data)
        .output()
        .unwrap();
    let scan = start.elapsed();
    assert!(
        verify.status.success(),
        "verify failed: {}",
        String::from_utf8_lossy(&verify.stderr)
    );
    server.kill().unwrap();
    let _ = server.wait();

    println!(
        "data: {MEMBERS} members, {ENTRIES} ledger entries over 365 days; file {:.0} MiB; seeded in {:.1} s",
        size as f64 / 1048576.0,
        seeding.as_secs_f64()
    );
    println!("dashboard shows {members_shown} members");
    println!(
        "ceiling, full ledger pass (fealty verify): {:.0} ms",
        ms(scan)
    );
    println!(
        "ceiling, GET /healthz median:              {:.2} ms",
        ms(health)
    );
    println!(
        "GET /admin (dashboard) median:  {:.1} ms = {:.4} x full ledger pass = {:.0} x /healthz",
        ms(dashboard),
        ms(dashboard) / ms(scan),
        ms(dashboard) / ms(health)
    );
    println!(
        "GET /admin/members median:      {:.1} ms = {:.4} x full ledger pass",
        ms(members_page),
        ms(members_page) / ms(scan)
    );
    let ok = dashboard.as_secs_f64() < 0.05 * scan.as_secs_f64();
    println!(
        "dashboard under 5% of a ledger pass: {}",
        if ok { "yes" } else { "NO" }
    );
}
