//! API keys.

use super::tables::API_KEYS;
use super::{StoreError, audit, codec};
use crate::domain::DomainError;
use crate::domain::actor::Actor;
use crate::domain::api_key::ApiKeyRecord;
use redb::{ReadTransaction, ReadableTable, WriteTransaction};
use time::OffsetDateTime;

/// A key by its public id.
pub fn get(tx: &ReadTransaction, id: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
    codec::get(&tx.open_table(API_KEYS)?, "api_keys", id)
}

/// Every key, revoked ones included.
pub fn list(tx: &ReadTransaction) -> Result<Vec<ApiKeyRecord>, StoreError> {
    let table = tx.open_table(API_KEYS)?;
    let mut out = Vec::new();
    for row in table.iter()? {
        let (_, v) = row?;
        out.push(codec::decode("api_keys", v.value())?);
    }
    Ok(out)
}

/// Stores a new key.
pub fn insert(tx: &WriteTransaction, key: &ApiKeyRecord, actor: &Actor) -> Result<(), StoreError> {
    tx.open_table(API_KEYS)?
        .insert(key.id.as_str(), codec::encode(key)?.as_slice())?;
    audit::record(
        tx,
        actor,
        "apikey.create",
        &key.id,
        serde_json::json!({ "name": key.name, "scopes": key.scopes }),
        key.created_at,
    )
}

/// Revokes a key; revoking twice is harmless.
pub fn revoke(
    tx: &WriteTransaction,
    id: &str,
    actor: &Actor,
    now: OffsetDateTime,
) -> Result<ApiKeyRecord, StoreError> {
    let mut table = tx.open_table(API_KEYS)?;
    let mut key: ApiKeyRecord =
        codec::get(&table, "api_keys", id)?.ok_or(DomainError::NotFound("API key"))?;
    if key.revoked_at.is_none() {
        key.revoked_at = Some(now);
        table.insert(id, codec::encode(&key)?.as_slice())?;
        drop(table);
        audit::record(tx, actor, "apikey.revoke", id, serde_json::json!({}), now)?;
    }
    Ok(key)
}
