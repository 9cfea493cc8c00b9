//! The schema version and the forward-only migrations that reach it.

use super::tables::*;
use super::{StoreError, aggregates, codec, migrate_v5, stats};
use crate::domain::dashboard::bucket_of;
use crate::domain::ledger::{EntryKind, GENESIS_HASH, LedgerEntry};
use crate::domain::member::Member;
use crate::domain::stats::{RewardTally, Totals};
use redb::{Database, ReadTransaction, ReadableTable, ReadableTableMetadata, WriteTransaction};
use std::collections::HashMap;

/// The version this build writes.
pub const CURRENT: u64 = 5;

/// The oldest version this build migrates from (every released one).
pub const OLDEST: u64 = 1;

/// The key in `meta` that holds the schema version.
pub(crate) const VERSION_KEY: &str = "schema_version";

/// Brings the database up to `CURRENT`, one step at a time; refuses a newer file. Returns the
/// version the file was at.
pub fn migrate(db: &Database) -> Result<u64, StoreError> {
    let mut from = None;
    loop {
        let tx = db.begin_write()?;
        let version = version(&tx)?;
        if version > CURRENT {
            return Err(StoreError::TooNew {
                found: version,
                supported: CURRENT,
            });
        }
        let from = *from.get_or_insert(version);
        if version == CURRENT {
            return Ok(from);
        }
        let next = version + 1;
        match next {
            1 => migrate_to_v1(&tx)?,
            2 => migrate_to_v2(&tx)?,
            3 => migrate_to_v3(&tx)?,
            4 => migrate_to_v4(&tx)?,
            5 => {
                // Large: it commits in chunks of its own, then the version is recorded below.
                drop(tx);
                migrate_v5::migrate(db)?;
                let tx = db.begin_write()?;
                tx.open_table(META)?.insert(VERSION_KEY, next)?;
                tx.commit()?;
                tracing::info!(version = next, "database migrated");
                continue;
            }
            _ => unreachable_version(next)?,
        }
        tx.open_table(META)?.insert(VERSION_KEY, next)?;
        tx.commit()?;
        tracing::info!(version = next, "database migrated");
    }
}

fn unreachable_version(v: u64) -> Result<(), StoreError> {
    Err(StoreError::Db(format!(
        "no migration to schema version {v}"
    )))
}

/// A migration an open is about to run: from the file's schema to this build's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migration {
    /// The schema the file is in.
    pub from: u64,
    /// The schema this build writes.
    pub to: u64,
}

/// The migration opening this file would run, if any (none for a new, current or newer file).
pub fn pending(tx: &ReadTransaction) -> Result<Option<Migration>, StoreError> {
    let from = version_read(tx)?;
    Ok((from > 0 && from < CURRENT).then_some(Migration { from, to: CURRENT }))
}

/// The version recorded in a read of the file (0 for a new one).
pub fn version_read(tx: &ReadTransaction) -> Result<u64, StoreError> {
    match tx.open_table(META) {
        Ok(t) => Ok(t.get(VERSION_KEY)?.map(|v| v.value()).unwrap_or(0)),
        Err(redb::TableError::TableDoesNotExist(_)) => Ok(0),
        Err(e) => Err(e.into()),
    }
}

/// The version recorded in `tx` (0 for a new file).
pub fn version(tx: &WriteTransaction) -> Result<u64, StoreError> {
    Ok(tx
        .open_table(META)?
        .get(VERSION_KEY)?
        .map(|v| v.value())
        .unwrap_or(0))
}

/// v1: every table of the first release.
pub fn migrate_to_v1(tx: &WriteTransaction) -> Result<(), StoreError> {
    create_since(tx, 1)?;
    tx.open_table(MEMBER_LEDGER_V4)?;
    Ok(())
}

/// A ledger row as schema 1–4 wrote it (JSON), for the migrations that read those.
fn legacy(bytes: &[u8]) -> Result<LedgerEntry, StoreError> {
    migrate_v5::legacy_entry(bytes, GENESIS_HASH)
        .map_err(|e| StoreError::Corrupt(format!("a row in ledger cannot be read: {e}")))
}

/// v2: running totals for stats, built once from the ledger so later reads never scan it.
pub fn migrate_to_v2(tx: &WriteTransaction) -> Result<(), StoreError> {
    let mut totals = Totals {
        members: tx.open_table(MEMBERS)?.len()? as i64,
        ..Totals::default()
    };
    let ledger = tx.open_table(LEDGER)?;
    let mut kinds = std::collections::HashMap::<u64, EntryKind>::new();
    for row in ledger.iter()? {
        let (_, v) = row?;
        let entry = legacy(v.value())?;
        let reversed = entry.body.reverses.and_then(|s| kinds.get(&s).copied());
        totals.record(entry.body.kind, entry.body.points, reversed)?;
        kinds.insert(entry.body.seq, entry.body.kind);
    }
    drop(ledger);
    stats::save(tx, &totals)
}

/// v3: sessions, and the dashboard's aggregates (per hour, per reward, top and active members),
/// built once from the ledger and the members; totals are rebuilt to count transactions.
pub fn migrate_to_v3(tx: &WriteTransaction) -> Result<(), StoreError> {
    create_since(tx, 3)?;
    let mut totals = Totals::default();
    let mut hours: HashMap<u64, Totals> = HashMap::new();
    let mut tallies: HashMap<String, RewardTally> = HashMap::new();
    let members = tx.open_table(MEMBERS)?;
    let mut all = Vec::new();
    for row in members.iter()? {
        let (_, v) = row?;
        let m: Member = codec::decode("members", v.value())?;
        totals.members += 1;
        hours
            .entry(bucket_of(m.created_at.unix_timestamp()))
            .or_default()
            .members += 1;
        all.push(m);
    }
    drop(members);
    for m in &all {
        aggregates::reindex_member(tx, None, m)?;
    }
    let ledger = tx.open_table(LEDGER)?;
    let mut originals = HashMap::<u64, (EntryKind, Option<String>)>::new();
    for row in ledger.iter()? {
        let (_, v) = row?;
        let e = legacy(v.value())?;
        let b = &e.body;
        let original = b.reverses.and_then(|s| originals.get(&s).cloned());
        let reversed = original.as_ref().map(|o| o.0);
        totals.record(b.kind, b.points, reversed)?;
        hours
            .entry(bucket_of(b.created_at.unix_timestamp()))
            .or_default()
            .record(b.kind, b.points, reversed)?;
        // Reversals written before v3 do not name the reward; the original does.
        let reward = b.reward_id.clone().or_else(|| original.and_then(|o| o.1));
        if let Some(r) = reward
            && (b.kind == EntryKind::Redeem || reversed == Some(EntryKind::Redeem))
        {
            tallies.entry(r).or_default().record(b.kind, b.points)?;
        }
        originals.insert(b.seq, (b.kind, b.reward_id.clone()));
    }
    drop(ledger);
    stats::save(tx, &totals)?;
    let mut table = tx.open_table(HOURLY)?;
    for (h, t) in &hours {
        table.insert(*h, codec::encode(t)?.as_slice())?;
    }
    drop(table);
    let mut table = tx.open_table(REWARD_TALLY)?;
    for (r, t) in &tallies {
        table.insert(r.as_str(), codec::encode(t)?.as_slice())?;
    }
    Ok(())
}

/// Opens every table of the current schema, creating the empty ones (after a restore, whose
/// snapshot holds only tables with rows).
pub fn ensure_tables(tx: &WriteTransaction) -> Result<(), StoreError> {
    create_all(tx)
}

/// v4: customers' passwords and printed blank cards.
pub fn migrate_to_v4(tx: &WriteTransaction) -> Result<(), StoreError> {
    create_since(tx, 4)
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests fail loudly")]
    use super::*;
    use crate::domain::actor::Actor;
    use crate::domain::ledger::{EntryBody, EntryHash};
    use crate::domain::ledger_hash::HashInput;
    use time::OffsetDateTime;

    /// An entry as schema 1–4 sealed it: hash input 1.
    fn entry(seq: u64, kind: EntryKind, points: i64, after: i64, prev: EntryHash) -> LedgerEntry {
        seal_v1(
            EntryBody {
                seq,
                member_id: "01JD2Z3Q8M6V4T0X9K1N5R7B2C".into(),
                kind,
                points,
                balance_after: after,
                reason: None,
                source: Actor::System,
                reference: None,
                idempotency_key: None,
                reverses: (kind == EntryKind::Reversal).then_some(1),
                reward_id: None,
                amount: None,
                created_at: OffsetDateTime::UNIX_EPOCH,
            },
            prev,
        )
    }

    fn seal_v1(body: EntryBody, prev: EntryHash) -> LedgerEntry {
        LedgerEntry {
            hash: EntryHash(HashInput::JsonV1.hash(&prev.0, &body)),
            body,
            prev_hash: prev,
            hash_input: HashInput::JsonV1,
        }
    }

    /// The JSON row schema 1–4 stored for `e`.
    fn v4_row(e: &LedgerEntry) -> Vec<u8> {
        let text = String::from_utf8(HashInput::JsonV1.bytes(&e.prev_hash.0, &e.body)).unwrap();
        let body = text.split_once('\n').unwrap().1;
        let mut v: serde_json::Value = serde_json::from_str(body).unwrap();
        v["prev_hash"] = e.prev_hash.to_hex().into();
        v["hash"] = e.hash.to_hex().into();
        serde_json::to_vec(&v).unwrap()
    }

    fn member(id: &str, lifetime: i64, active: Option<OffsetDateTime>) -> Member {
        use crate::domain::card::{CardNumber, CardToken};
        use crate::domain::member::{MemberId, MemberStatus};
        Member {
            id: MemberId::parse(id).unwrap(),
            card_number: CardNumber::from_random(7),
            card_token: CardToken::from_random([1; 16]),
            name: None,
            email: None,
            phone: None,
            marketing_consent_at: None,
            marketing_consent_text: None,
            erasure_requested_at: None,
            status: MemberStatus::Active,
            balance: lifetime,
            lifetime_earned: lifetime,
            created_at: OffsetDateTime::UNIX_EPOCH,
            updated_at: OffsetDateTime::UNIX_EPOCH,
            last_activity_at: active,
            tier: Default::default(),
            referral_code: None,
            referral: None,
            referrals: Default::default(),
            birthday: None,
            birthday_awarded: None,
            lots: None,
            purchased: false,
            notices: Default::default(),
        }
    }

    #[test]
    fn v1_databases_gain_totals_and_dashboard_aggregates_built_from_the_ledger() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::create(dir.path().join("v1.redb")).unwrap();
        // A database as the first release left it: v1 tables, a ledger, no totals.
        let tx = db.begin_write().unwrap();
        migrate_to_v1(&tx).unwrap();
        tx.open_table(META).unwrap().insert(VERSION_KEY, 1).unwrap();
        let m = member(
            "01JD2Z3Q8M6V4T0X9K1N5R7B2C",
            0,
            Some(OffsetDateTime::UNIX_EPOCH),
        );
        tx.open_table(MEMBERS)
            .unwrap()
            .insert(m.id.as_str(), codec::encode(&m).unwrap().as_slice())
            .unwrap();
        let e1 = entry(1, EntryKind::Earn, 100, 100, GENESIS_HASH);
        let mut redeem = entry(2, EntryKind::Redeem, -30, 70, e1.hash).body;
        redeem.reward_id = Some("coffee".into());
        let e2 = seal_v1(redeem, e1.hash);
        let e3 = entry(3, EntryKind::Reversal, -100, -30, e2.hash);
        let mut ledger = tx.open_table(LEDGER).unwrap();
        for e in [&e1, &e2, &e3] {
            ledger.insert(e.body.seq, v4_row(e).as_slice()).unwrap();
        }
        drop(ledger);
        tx.commit().unwrap();

        assert_eq!(migrate(&db).unwrap(), 1);

        // Schema 5 reads the same entries, hashes intact, from compact records.
        let rx = redb::ReadableDatabase::begin_read(&db).unwrap();
        let table = rx.open_table(LEDGER).unwrap();
        for e in [&e1, &e2, &e3] {
            let back = crate::storage::ledger::entry(&table, e.body.seq)
                .unwrap()
                .unwrap();
            assert_eq!(&back, e);
            assert!(back.hash_is_valid());
        }
        drop(table);
        drop(rx);

        let tx = db.begin_write().unwrap();
        assert_eq!(version(&tx).unwrap(), CURRENT);
        let totals = stats::load_for_update(&tx).unwrap();
        assert_eq!(
            (
                totals.members,
                totals.earned,
                totals.redeemed,
                totals.transactions
            ),
            (1, 0, 30, 3),
            "the reversal of the earn counts against earned"
        );
        tx.commit().unwrap();
        let rx = redb::ReadableDatabase::begin_read(&db).unwrap();
        let hours = aggregates::hours_since(&rx, OffsetDateTime::UNIX_EPOCH).unwrap();
        assert_eq!(hours.len(), 1);
        assert_eq!((hours[0].1.members, hours[0].1.transactions), (1, 3));
        let tallies = aggregates::reward_tallies(&rx).unwrap();
        assert_eq!(
            tallies,
            vec![(
                "coffee".to_owned(),
                RewardTally {
                    count: 1,
                    points: 30
                }
            )]
        );
        assert_eq!(
            aggregates::active_since(&rx, OffsetDateTime::UNIX_EPOCH).unwrap(),
            1
        );
    }

    #[test]
    fn a_newer_database_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::create(dir.path().join("new.redb")).unwrap();
        let tx = db.begin_write().unwrap();
        tx.open_table(META)
            .unwrap()
            .insert(VERSION_KEY, CURRENT + 1)
            .unwrap();
        tx.commit().unwrap();
        match migrate(&db) {
            Err(StoreError::TooNew { found, supported }) => {
                assert_eq!((found, supported), (CURRENT + 1, CURRENT));
            }
            other => panic!("expected TooNew, got {other:?}"),
        }
    }
}
