//! The audit trail: who changed what, and when.

use super::records::{self, AuditRow};
use super::tables::{AUDIT, LEDGER};
use super::{StoreError, codec};
use crate::domain::actor::Actor;
use crate::domain::ledger::{EntryKind, LedgerEntry};
use redb::{ReadTransaction, ReadableTable, WriteTransaction};
use time::OffsetDateTime;

/// One recorded change.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AuditRecord {
    /// Sequence, from 1.
    pub seq: u64,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Who.
    pub actor: Actor,
    /// What, e.g. `member.create`.
    pub action: String,
    /// What it was done to, e.g. a member id.
    pub target: String,
    /// Details worth keeping.
    pub detail: serde_json::Value,
}

/// Appends a record in the same transaction as the change it describes.
pub fn record(
    tx: &WriteTransaction,
    actor: &Actor,
    action: &str,
    target: &str,
    detail: serde_json::Value,
    at: OffsetDateTime,
) -> Result<(), StoreError> {
    let mut table = tx.open_table(AUDIT)?;
    let seq = table.last()?.map(|(k, _)| k.value()).unwrap_or(0) + 1;
    let rec = AuditRecord {
        seq,
        at,
        actor: actor.clone(),
        action: action.to_owned(),
        target: target.to_owned(),
        detail,
    };
    let row = records::encode_audit(&AuditRow::Json(codec::encode(&rec)?))?;
    table.insert(seq, row.as_slice())?;
    Ok(())
}

/// Appends a record of a point change: a reference to its ledger entry, which already says
/// who, what and when.
pub fn record_entry(tx: &WriteTransaction, entry_seq: u64) -> Result<(), StoreError> {
    let mut table = tx.open_table(AUDIT)?;
    let seq = table.last()?.map(|(k, _)| k.value()).unwrap_or(0) + 1;
    table.insert(
        seq,
        records::encode_audit(&AuditRow::Ledger(entry_seq))?.as_slice(),
    )?;
    Ok(())
}

/// The action name of a point change of `kind`.
pub fn entry_action(kind: EntryKind) -> &'static str {
    match kind {
        EntryKind::Earn => "points.earn",
        EntryKind::Redeem => "points.redeem",
        EntryKind::Adjust => "points.adjust",
        EntryKind::Expire => "points.expire",
        EntryKind::Reversal => "points.reverse",
    }
}

/// The audit record of ledger entry `e`, as it was written before schema 5.
pub fn entry_record(seq: u64, e: &LedgerEntry) -> AuditRecord {
    AuditRecord {
        seq,
        at: e.body.created_at,
        actor: e.body.source.clone(),
        action: entry_action(e.body.kind).to_owned(),
        target: e.body.member_id.clone(),
        detail: serde_json::json!({ "seq": e.body.seq, "points": e.body.points }),
    }
}

/// Rebuilds audit record `seq` from its stored row.
fn decode<L: ReadableTable<u64, &'static [u8]>>(
    ledger: &L,
    seq: u64,
    bytes: &[u8],
) -> Result<AuditRecord, StoreError> {
    match records::decode_audit(bytes)? {
        AuditRow::Json(json) => codec::decode("audit", &json),
        AuditRow::Ledger(entry_seq) => super::ledger::entry(ledger, entry_seq)?
            .map(|e| entry_record(seq, &e))
            .ok_or_else(|| {
                StoreError::Corrupt(format!("audit row {seq} names missing entry {entry_seq}"))
            }),
    }
}

/// The newest `limit` records, newest first.
pub fn recent(tx: &ReadTransaction, limit: usize) -> Result<Vec<AuditRecord>, StoreError> {
    let table = tx.open_table(AUDIT)?;
    let ledger = tx.open_table(LEDGER)?;
    let mut out = Vec::new();
    for row in table.iter()?.rev().take(limit) {
        let (k, v) = row?;
        out.push(decode(&ledger, k.value(), v.value())?);
    }
    Ok(out)
}

/// Records newest first, before `before`, whose actor and action contain the given text.
pub fn search(
    tx: &ReadTransaction,
    actor: Option<&str>,
    action: Option<&str>,
    before: Option<u64>,
    limit: usize,
) -> Result<super::members::Page<AuditRecord>, StoreError> {
    let table = tx.open_table(AUDIT)?;
    let ledger = tx.open_table(LEDGER)?;
    let upper = before.unwrap_or(u64::MAX);
    let mut items = Vec::new();
    let mut more = false;
    for row in table.range(..upper)?.rev() {
        let (k, v) = row?;
        let rec = decode(&ledger, k.value(), v.value())?;
        let matches = actor.is_none_or(|a| rec.actor.to_string().contains(a))
            && action.is_none_or(|a| rec.action.contains(a));
        if !matches {
            continue;
        }
        if items.len() == limit {
            more = true;
            break;
        }
        items.push(rec);
    }
    let next = if more {
        items.last().map(|r: &AuditRecord| r.seq.to_string())
    } else {
        None
    };
    Ok(super::members::Page { items, next })
}
