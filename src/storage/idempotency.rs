//! Idempotency records: the request's fingerprint and the entry its answer is rebuilt from.

use super::tables::IDEMPOTENCY;
use super::{StoreError, records};
use crate::domain::DomainError;
use crate::domain::idempotency::{IdempotencyKey, IdempotencyRecord};
use redb::{ReadTransaction, ReadableTable, WriteTransaction};
use time::OffsetDateTime;

/// A keyed request: who sent it, the key, and a hash of what was asked.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Keyed {
    /// Keys are scoped per client (API key id, staff session).
    pub scope: String,
    /// The key.
    pub key: IdempotencyKey,
    /// Hash of method, path and body.
    pub fingerprint: String,
}

/// The stored record for the same request, or a mismatch error for a different one.
pub fn lookup(tx: &WriteTransaction, req: &Keyed) -> Result<Option<IdempotencyRecord>, StoreError> {
    let table = tx.open_table(IDEMPOTENCY)?;
    let found = match table.get((req.scope.as_str(), req.key.as_str()))? {
        Some(v) => Some(records::decode_idempotency(v.value())?),
        None => None,
    };
    match found {
        Some(rec) if rec.fingerprint == req.fingerprint => Ok(Some(rec)),
        Some(_) => Err(DomainError::IdempotencyMismatch.into()),
        None => Ok(None),
    }
}

/// Keeps a reference to the answer so that a retry gets it again.
pub fn remember(
    tx: &WriteTransaction,
    req: &Keyed,
    status: u16,
    seq: u64,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let rec = IdempotencyRecord {
        fingerprint: req.fingerprint.clone(),
        status,
        seq,
        created_at: now,
    };
    tx.open_table(IDEMPOTENCY)?.insert(
        (req.scope.as_str(), req.key.as_str()),
        records::encode_idempotency(&rec)?.as_slice(),
    )?;
    Ok(())
}

/// Most records one prune transaction removes, so the writer is never held for long.
pub const PRUNE_BATCH: usize = 10_000;

/// Up to `PRUNE_BATCH` keys of records made before `cutoff` (unreadable ones too).
pub fn expired(
    tx: &ReadTransaction,
    cutoff: OffsetDateTime,
) -> Result<Vec<(String, String)>, StoreError> {
    let table = tx.open_table(IDEMPOTENCY)?;
    let mut out = Vec::new();
    for row in table.iter()? {
        let (k, v) = row?;
        let old = records::decode_idempotency(v.value()).map_or(true, |r| r.created_at < cutoff);
        if old {
            let (scope, key) = k.value();
            out.push((scope.to_owned(), key.to_owned()));
            if out.len() == PRUNE_BATCH {
                break;
            }
        }
    }
    Ok(out)
}

/// Removes the given records if they are still older than `cutoff`.
pub fn remove_expired(
    tx: &WriteTransaction,
    keys: &[(String, String)],
    cutoff: OffsetDateTime,
) -> Result<usize, StoreError> {
    let mut table = tx.open_table(IDEMPOTENCY)?;
    let mut n = 0;
    for (scope, key) in keys {
        let old = match table.get((scope.as_str(), key.as_str()))? {
            Some(v) => {
                records::decode_idempotency(v.value()).map_or(true, |r| r.created_at < cutoff)
            }
            None => false,
        };
        if old {
            table.remove((scope.as_str(), key.as_str()))?;
            n += 1;
        }
    }
    Ok(n)
}
