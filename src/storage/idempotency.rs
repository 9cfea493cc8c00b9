//! Stored answers for idempotency keys.

use super::tables::IDEMPOTENCY;
use super::{StoreError, codec};
use crate::domain::DomainError;
use crate::domain::idempotency::{IdempotencyKey, IdempotencyRecord};
use redb::WriteTransaction;
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
    let found: Option<IdempotencyRecord> = codec::get(
        &table,
        "idempotency",
        (req.scope.as_str(), req.key.as_str()),
    )?;
    match found {
        Some(rec) if rec.fingerprint == req.fingerprint => Ok(Some(rec)),
        Some(_) => Err(DomainError::IdempotencyMismatch.into()),
        None => Ok(None),
    }
}

/// Keeps the answer so that a retry gets it again.
pub fn remember(
    tx: &WriteTransaction,
    req: &Keyed,
    status: u16,
    response: serde_json::Value,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let rec = IdempotencyRecord {
        fingerprint: req.fingerprint.clone(),
        status,
        response,
        created_at: now,
    };
    tx.open_table(IDEMPOTENCY)?.insert(
        (req.scope.as_str(), req.key.as_str()),
        codec::encode(&rec)?.as_slice(),
    )?;
    Ok(())
}
