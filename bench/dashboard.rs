//! How fast the admin dashboard renders with 100,000 members and 1,000,000 ledger entries.
//!
//! The data is written through the library (the same storage code the server uses, with
//! entries spread over the past year), then the real binary serves it and a logged-in
//! client asks for `/admin`. Ceilings measured in the same run: one full pass over the
//! ledger (`fealty verify`), which is what the dashboard would cost without its running
//! aggregates, and `/healthz`, the cheapest request there is.

#![expect(clippy::unwrap_used, reason = "a benchmark fails loudly")]

use fealty::domain::actor::Actor;
use fealty::domain::ledger::EntryKind;
use fealty::domain::member::{MemberId, NewMember};
use fealty::domain::reward::Reward;
use fealty::domain::text::PersonName;
use fealty::storage::ledger::Posting;
use fealty::storage::{self, Store};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use time::OffsetDateTime;

const MEMBERS: usize = 100_000;
const ENTRIES: usize = 1_000_000;
const BATCH: usize = 20_000;
const REQUESTS: usize = 25;

/// A small deterministic generator, so every run seeds the same data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

async fn seed(data: &std::path::Path) -> Duration {
    let start = Instant::now();
    let store = Store::open(data).unwrap();
    let now = OffsetDateTime::now_utc();
    let year = time::Duration::days(365);
    let mut rng = Rng(0x5eed_f00d);
    let rewards: Vec<Reward> = ["Free coffee", "Cake", "Tote bag"]
        .iter()
        .zip([50i64, 120, 400])
        .enumerate()
        .map(|(i, (name, cost))| Reward {
            id: format!("01JREWARD00000000000000000{i}"),
            name: (*name).to_owned(),
            cost,
            active: true,
            created_at: now - year,
        })
        .collect();
    let saved = rewards.clone();
    store
        .write(move |tx| {
            for r in &saved {
                storage::rewards::save(tx, r, "reward.create", &Actor::System, r.created_at)?;
            }
            Ok(())
        })
        .await
        .unwrap();

    let mut ids: Vec<MemberId> = Vec::with_capacity(MEMBERS);
    for chunk in 0..MEMBERS.div_ceil(BATCH) {
        let n = BATCH.min(MEMBERS - chunk * BATCH);
        let created: Vec<i64> = (0..n).map(|_| rng.below(365 * 86_400) as i64).collect();
        let made = store
            .write(move |tx| {
                let mut out = Vec::new();
                for (i, secs) in created.into_iter().enumerate() {
                    let new = NewMember {
                        name: Some(
                            PersonName::parse(&format!("Member {}", chunk * BATCH + i)).unwrap(),
                        ),
                        ..NewMember::default()
                    };
                    let at = now - year + time::Duration::seconds(secs);
                    out.push(storage::members::create(tx, new, &Actor::System, at)?.id);
                }
                Ok(out)
            })
            .await
            .unwrap();
        ids.extend(made);
    }

    // Entries in time order over the past year, mostly earning, with redemptions a balance affords.
    let mut balances = vec![0i64; MEMBERS];
    let step = 365.0 * 86_400.0 / ENTRIES as f64;
    for chunk in 0..ENTRIES.div_ceil(BATCH) {
        let n = BATCH.min(ENTRIES - chunk * BATCH);
        let mut postings = Vec::with_capacity(n);
        for i in 0..n {
            let k = chunk * BATCH + i;
            let m = rng.below(MEMBERS as u64) as usize;
            let at = now - year + time::Duration::seconds_f64(k as f64 * step);
            let reward = &rewards[rng.below(rewards.len() as u64) as usize];
            let roll = rng.below(100);
            let (kind, points, reward_id) = if roll < 15 && balances[m] >= reward.cost {
                (EntryKind::Redeem, -reward.cost, Some(reward.id.clone()))
            } else if roll < 18 {
                (EntryKind::Adjust, 1 + rng.below(20) as i64, None)
            } else {
                (EntryKind::Earn, 1 + rng.below(60) as i64, None)
            };
            balances[m] += points;
            postings.push((
                Posting {
                    member_id: ids[m].clone(),
                    kind,
                    points,
                    reason: (kind == EntryKind::Adjust).then(|| "bench".to_owned()),
                    reference: None,
                    reward_id,
                    amount: None,
                    reverses: None,
                },
                at,
            ));
        }
        store
            .write(move |tx| {
                for (p, at) in postings {
                    storage::ledger::post(tx, p, &Actor::System, None, at)?;
                }
                Ok(())
            })
            .await
            .unwrap();
    }
    drop(store);
    start.elapsed()
}

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
    std::fs::create_dir_all(&data).unwrap();
    let seeding = seed(&data).await;
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
