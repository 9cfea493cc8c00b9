//! Schema 5: ledger entries, idempotency records and audit rows move from JSON to compact
//! records; a member's history index is keyed by the id's 128 bits.
//!
//! The JSON rows of schema 1–4 are read through frozen copies of the types that wrote them, so
//! no later change to today's types can break this migration. Entries keep their hashes: they
//! are marked as covering hash input 1 (the JSON layout), and the chain continues across the
//! seam with hash input 2.
//!
//! The work is done in chunks, one transaction each, so memory stays flat whatever the size of
//! the ledger. The ledger and the audit trail are written into new tables beside the old ones
//! (densely packed; rewriting in place would leave every page mostly empty) and swapped in when
//! complete; a migration cut short carries on after the last row already converted.

use super::records::{self, AuditRow};
use super::tables::*;
use super::{StoreError, ledger};
use crate::domain::actor::Actor;
use crate::domain::idempotency::IdempotencyRecord;
use crate::domain::ledger::{EntryBody, EntryHash, EntryKind, GENESIS_HASH, LedgerEntry};
use crate::domain::ledger_hash::HashInput;
use crate::domain::money::{Currency, Money};
use crate::progress::{Progress, Unit};
use redb::{Database, ReadableTable, ReadableTableMetadata};
use serde::Deserialize;
use time::OffsetDateTime;

/// The schema this step reaches: files below it hold JSON ledger rows.
pub const VERSION: u64 = 5;

/// Rows converted per transaction.
const CHUNK: usize = 20_000;

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum KindV4 {
    Earn,
    Redeem,
    Adjust,
    Expire,
    Reversal,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ActorV4 {
    ApiKey { key_id: String },
    Staff { username: String },
    Cli,
    System,
}

#[derive(Deserialize)]
struct MoneyV4 {
    amount_minor: i64,
    currency: String,
}

/// A ledger entry as schema 1–4 stored it.
#[derive(Deserialize)]
struct EntryV4 {
    seq: u64,
    member_id: String,
    kind: KindV4,
    points: i64,
    balance_after: i64,
    #[serde(default)]
    reason: Option<String>,
    source: ActorV4,
    #[serde(default)]
    reference: Option<String>,
    #[serde(default)]
    idempotency_key: Option<String>,
    #[serde(default)]
    reverses: Option<u64>,
    #[serde(default)]
    reward_id: Option<String>,
    #[serde(default)]
    amount: Option<MoneyV4>,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    hash: String,
}

/// Reads a schema 1–4 ledger row (JSON) as an entry covering hash input 1.
pub fn legacy_entry(bytes: &[u8], prev_hash: EntryHash) -> Result<LedgerEntry, String> {
    let e: EntryV4 = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    let amount = match e.amount {
        Some(m) => Some(Money {
            amount_minor: m.amount_minor,
            currency: Currency::parse(&m.currency).map_err(|e| e.to_string())?,
        }),
        None => None,
    };
    Ok(LedgerEntry {
        body: EntryBody {
            seq: e.seq,
            member_id: e.member_id,
            kind: match e.kind {
                KindV4::Earn => EntryKind::Earn,
                KindV4::Redeem => EntryKind::Redeem,
                KindV4::Adjust => EntryKind::Adjust,
                KindV4::Expire => EntryKind::Expire,
                KindV4::Reversal => EntryKind::Reversal,
            },
            points: e.points,
            balance_after: e.balance_after,
            reason: e.reason,
            source: match e.source {
                ActorV4::ApiKey { key_id } => Actor::ApiKey { key_id },
                ActorV4::Staff { username } => Actor::Staff { username },
                ActorV4::Cli => Actor::Cli,
                ActorV4::System => Actor::System,
            },
            reference: e.reference,
            idempotency_key: e.idempotency_key,
            reverses: e.reverses,
            reward_id: e.reward_id,
            amount,
            created_at: e.created_at,
        },
        prev_hash,
        hash: EntryHash::parse_hex(&e.hash).ok_or("the hash is not 64 hex digits")?,
        hash_input: HashInput::JsonV1,
    })
}

/// The last sequence and hash of a schema 1–4 ledger (0 and the genesis hash for none).
pub fn legacy_last<T: ReadableTable<u64, &'static [u8]>>(
    table: &T,
) -> Result<(u64, EntryHash), StoreError> {
    match table.last()? {
        Some((k, v)) => legacy_entry(v.value(), GENESIS_HASH)
            .map(|e| (k.value(), e.hash))
            .map_err(|e| StoreError::Corrupt(format!("ledger entry {}: {e}", k.value()))),
        None => Ok((0, GENESIS_HASH)),
    }
}

#[derive(Deserialize)]
struct AnswerV4 {
    entry: AnswerEntryV4,
}

#[derive(Deserialize)]
struct AnswerEntryV4 {
    seq: u64,
}

/// An idempotency record as schema 1–4 stored it: the whole answer, not a reference.
#[derive(Deserialize)]
struct IdempotencyV4 {
    fingerprint: String,
    status: u16,
    response: AnswerV4,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
}

/// Reads a schema 1–4 idempotency record (JSON) as a reference to the entry it answered with.
pub fn legacy_idempotency(bytes: &[u8]) -> Result<IdempotencyRecord, String> {
    let r: IdempotencyV4 = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    Ok(IdempotencyRecord {
        fingerprint: r.fingerprint,
        status: r.status,
        seq: r.response.entry.seq,
        created_at: r.created_at,
    })
}

#[derive(Deserialize)]
struct AuditV4 {
    action: String,
    detail: serde_json::Value,
}

fn looks_like_json(bytes: &[u8]) -> bool {
    bytes.first() == Some(&b'{')
}

/// The converted ledger while it is built: rewriting rows in place would leave every page
/// mostly empty (the records are an eighth of the JSON), so rows are appended to a new table,
/// densely packed, which then replaces the old one.
const LEDGER_NEW: redb::TableDefinition<u64, &[u8]> = redb::TableDefinition::new("ledger_v5");
/// The converted audit trail while it is built, for the same reason.
const AUDIT_NEW: redb::TableDefinition<u64, &[u8]> = redb::TableDefinition::new("audit_v5");

/// Converts the ledger into `LEDGER_NEW`, a chunk per transaction, carrying on after the last
/// row already there; returns how many rows it converted.
fn convert_ledger(db: &Database, total: u64, progress: &Progress) -> Result<u64, StoreError> {
    let mut converted = 0u64;
    loop {
        let tx = db.begin_write()?;
        let mut new = tx.open_table(LEDGER_NEW)?;
        let (done, mut prev) = ledger::last(&new)?;
        let old = tx.open_table(LEDGER)?;
        let mut rows: Vec<(u64, Vec<u8>)> = Vec::with_capacity(CHUNK);
        for row in old.range(done + 1..)?.take(CHUNK) {
            let (k, v) = row?;
            rows.push((k.value(), v.value().to_vec()));
        }
        drop(old);
        let Some(&(last, _)) = rows.last() else {
            return Ok(converted);
        };
        for (seq, bytes) in &rows {
            if !looks_like_json(bytes) {
                // Already a record (a file restored half-way, or written by this schema).
                new.insert(*seq, bytes.as_slice())?;
                prev = records::entry_hash(*seq, bytes)?;
                continue;
            }
            match legacy_entry(bytes, prev) {
                Ok(entry) => {
                    if !entry.hash_is_valid() {
                        // Kept as it is: verify must still be able to name it.
                        tracing::warn!(seq, "entry does not match its hash; migrated unchanged");
                    }
                    prev = entry.hash;
                    new.insert(*seq, records::encode_entry(&entry)?.as_slice())?;
                    converted += 1;
                }
                Err(e) => {
                    // Kept as JSON, so `verify` names it as damaged and nothing is invented.
                    tracing::warn!(seq, error = %e, "ledger entry unreadable; kept as it was");
                    new.insert(*seq, bytes.as_slice())?;
                }
            }
        }
        drop(new);
        tx.commit()?;
        progress.set(last);
        // Progress every 100,000 entries or so: a line per chunk would flood the journal.
        if last / 100_000 != (last - rows.len() as u64) / 100_000 || last >= total {
            tracing::info!(done = last, total, "migrating to schema 5: ledger entries");
        }
    }
}

/// Replaces `old` by the table built beside it.
fn swap_in(
    db: &Database,
    old: redb::TableDefinition<u64, &[u8]>,
    new: redb::TableDefinition<u64, &[u8]>,
) -> Result<(), StoreError> {
    let tx = db.begin_write()?;
    // An empty ledger or audit trail left the new table uncreated.
    tx.open_table(new)?;
    tx.delete_table(old)?;
    tx.rename_table(new, old)
        .map_err(|e| StoreError::Db(format!("cannot put the converted table in place: {e}")))?;
    tx.commit()?;
    Ok(())
}

/// Builds the history index keyed by the member id's 128 bits from the ledger.
fn index_members(db: &Database, progress: &Progress) -> Result<(), StoreError> {
    let mut from = 1u64;
    loop {
        let tx = db.begin_write()?;
        let mut keys: Vec<(u128, u64)> = Vec::with_capacity(CHUNK);
        {
            let table = tx.open_table(LEDGER)?;
            let mut prev = GENESIS_HASH;
            for row in table.range(from..)?.take(CHUNK) {
                let (k, v) = row?;
                let seq = k.value();
                // Damaged rows have no member to index; verify reports them.
                if let Ok(e) = records::decode_entry(seq, v.value(), prev) {
                    keys.push((ledger::member_key(&e.body.member_id)?, seq));
                    prev = e.hash;
                }
                from = seq + 1;
            }
        }
        let done = keys.is_empty();
        let mut index = tx.open_table(MEMBER_ENTRIES)?;
        for k in keys {
            index.insert(k, ())?;
        }
        drop(index);
        tx.commit()?;
        progress.set(from - 1);
        if done {
            return Ok(());
        }
    }
}

/// Idempotency records become references to the entries they answered with, in place (the
/// table is small and short-lived), a chunk per transaction.
fn convert_idempotency(db: &Database) -> Result<(), StoreError> {
    let mut dropped = 0u64;
    loop {
        let tx = db.begin_write()?;
        let mut table = tx.open_table(IDEMPOTENCY)?;
        let mut rows: Vec<(String, String, Vec<u8>)> = Vec::new();
        for row in table.iter()? {
            let (k, v) = row?;
            if looks_like_json(v.value()) {
                let (scope, key) = k.value();
                rows.push((scope.to_owned(), key.to_owned(), v.value().to_vec()));
                if rows.len() == CHUNK {
                    break;
                }
            }
        }
        let done = rows.len() < CHUNK;
        for (scope, key, bytes) in rows {
            match legacy_idempotency(&bytes) {
                Ok(r) => {
                    table.insert(
                        (scope.as_str(), key.as_str()),
                        records::encode_idempotency(&r)?.as_slice(),
                    )?;
                }
                Err(_) => {
                    // A record whose answer cannot be read cannot answer a retry either.
                    table.remove((scope.as_str(), key.as_str()))?;
                    dropped += 1;
                }
            }
        }
        drop(table);
        tx.commit()?;
        if done {
            if dropped > 0 {
                tracing::warn!(dropped, "unreadable idempotency records dropped");
            }
            return Ok(());
        }
    }
}

/// Audit rows of point changes become references to their entries, in `AUDIT_NEW`.
fn convert_audit(db: &Database) -> Result<(), StoreError> {
    loop {
        let tx = db.begin_write()?;
        let mut new = tx.open_table(AUDIT_NEW)?;
        let from = new.last()?.map_or(0, |(k, _)| k.value() + 1);
        let old = tx.open_table(AUDIT)?;
        let mut rows: Vec<(u64, Vec<u8>)> = Vec::with_capacity(CHUNK);
        for row in old.range(from..)?.take(CHUNK) {
            let (k, v) = row?;
            let bytes = v.value();
            let reference = serde_json::from_slice::<AuditV4>(bytes)
                .ok()
                .filter(|rec| rec.action.starts_with("points."))
                .and_then(|rec| rec.detail.get("seq").and_then(serde_json::Value::as_u64));
            rows.push((
                k.value(),
                match reference {
                    Some(seq) => records::encode_audit(&AuditRow::Ledger(seq))?,
                    None => bytes.to_vec(),
                },
            ));
        }
        drop(old);
        if rows.is_empty() {
            return Ok(());
        }
        for (k, v) in rows {
            new.insert(k, v.as_slice())?;
        }
        drop(new);
        tx.commit()?;
    }
}

/// Runs the whole step; the caller records version 5 afterwards.
pub fn migrate(db: &Database) -> Result<(), StoreError> {
    let started = std::time::Instant::now();
    let total = {
        let tx = db.begin_write()?;
        create_since(&tx, 5)?;
        let n = tx.open_table(LEDGER)?.len()?;
        tx.commit()?;
        n
    };
    // On a terminal (an owner running `fealty serve` or a command by hand) the wait is shown.
    let progress = Progress::new("schema 5: ledger", Some(total), Unit::Items);
    let converted = convert_ledger(db, total, &progress)?;
    swap_in(db, LEDGER, LEDGER_NEW)?;
    progress.step("schema 5: index");
    progress.set(0);
    index_members(db, &progress)?;
    progress.finish();
    convert_idempotency(db)?;
    convert_audit(db)?;
    swap_in(db, AUDIT, AUDIT_NEW)?;
    let tx = db.begin_write()?;
    tx.delete_table(MEMBER_LEDGER_V4)?;
    tx.commit()?;
    tracing::info!(
        converted,
        seconds = started.elapsed().as_secs_f64(),
        "migrated to schema 5"
    );
    Ok(())
}
