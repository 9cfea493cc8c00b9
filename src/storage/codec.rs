//! JSON values in redb tables, decoded fallibly.

use super::StoreError;
use redb::ReadableTable;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Encodes a value for storage.
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|e| StoreError::Corrupt(format!("cannot encode: {e}")))
}

/// Decodes a stored value, naming the table on failure.
pub fn decode<T: DeserializeOwned>(table: &str, bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes)
        .map_err(|e| StoreError::Corrupt(format!("a row in {table} cannot be read: {e}")))
}

/// Reads and decodes the value under `key`.
pub fn get<'k, K, T, Tab>(
    table: &Tab,
    name: &str,
    key: K::SelfType<'k>,
) -> Result<Option<T>, StoreError>
where
    K: redb::Key + 'static,
    T: DeserializeOwned,
    Tab: ReadableTable<K, &'static [u8]>,
{
    match table.get(key)? {
        Some(v) => decode(name, v.value()).map(Some),
        None => Ok(None),
    }
}
