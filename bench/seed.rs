//! Seeds a data directory with 100,000 members and 1,000,000 ledger entries over the past
//! year, through the same storage code the server uses. Shared by the benchmarks.

#![expect(clippy::unwrap_used, reason = "a benchmark fails loudly")]

use fealty::domain::actor::Actor;
use fealty::domain::ledger::{EntryKind, Reason};
use fealty::domain::member::{MemberId, NewMember};
use fealty::domain::reward::Reward;
use fealty::domain::text::PersonName;
use fealty::storage::ledger::Posting;
use fealty::storage::{self, Store};
use std::time::{Duration, Instant};
use time::OffsetDateTime;

/// Members seeded.
pub const MEMBERS: usize = 100_000;
/// Entries seeded.
pub const ENTRIES: usize = 1_000_000;
const BATCH: usize = 20_000;
/// Entries per transaction: the writer's largest batch, so the file grows as a busy server's would.
const ENTRY_BATCH: usize = 512;

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

/// Seeds `data`; returns how long it took.
pub async fn seed(data: &std::path::Path) -> Duration {
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
    for chunk in 0..ENTRIES.div_ceil(ENTRY_BATCH) {
        let n = ENTRY_BATCH.min(ENTRIES - chunk * ENTRY_BATCH);
        let mut postings = Vec::with_capacity(n);
        for i in 0..n {
            let k = chunk * ENTRY_BATCH + i;
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
                    reason: (kind == EntryKind::Adjust)
                        .then(|| Reason::parse("bench").ok())
                        .flatten(),
                    reference: None,
                    reward_id,
                    amount: None,
                    reverses: None,
                    category: None,
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

/// The seeded data directory: with `FEALTY_BENCH_SEEDED=DIR` it is kept in DIR (seeded there
/// once, reused by later runs: seeding takes minutes and the data is the same every time),
/// else seeded under `scratch`. Returns it and how long seeding took (zero when reused).
pub async fn seeded(scratch: &std::path::Path) -> (std::path::PathBuf, Duration) {
    let dir = std::env::var_os("FEALTY_BENCH_SEEDED")
        .map_or_else(|| scratch.join("seeded"), std::path::PathBuf::from);
    if dir.join(storage::DB_FILE).exists() {
        return (dir, Duration::ZERO);
    }
    std::fs::create_dir_all(&dir).unwrap();
    let took = seed(&dir).await;
    // Let the seeding store's writer thread release the file.
    std::thread::sleep(Duration::from_millis(500));
    (dir, took)
}

/// Copies a seeded data directory's database, so each run starts from the same data.
pub fn copy_data(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    std::fs::copy(from.join(storage::DB_FILE), to.join(storage::DB_FILE)).unwrap();
}
