//! The audit trail: who changed what, and when.

use super::tables::AUDIT;
use super::{StoreError, codec};
use crate::domain::actor::Actor;
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
    table.insert(seq, codec::encode(&rec)?.as_slice())?;
    Ok(())
}

/// The newest `limit` records, newest first.
pub fn recent(tx: &ReadTransaction, limit: usize) -> Result<Vec<AuditRecord>, StoreError> {
    let table = tx.open_table(AUDIT)?;
    let mut out = Vec::new();
    for row in table.iter()?.rev().take(limit) {
        let (_, v) = row?;
        out.push(codec::decode("audit", v.value())?);
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
    let upper = before.unwrap_or(u64::MAX);
    let mut items = Vec::new();
    let mut more = false;
    for row in table.range(..upper)?.rev() {
        let (_, v) = row?;
        let rec: AuditRecord = codec::decode("audit", v.value())?;
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
