//! The settings row and the one-time setup token.

use super::tables::SETTINGS;
use super::{StoreError, codec};
use crate::domain::settings::Settings;
use redb::{ReadTransaction, ReadableTable, WriteTransaction};

const KEY: &str = "settings";
const SETUP_KEY: &str = "setup_token_sha256";
const LOGO_KEY: &str = "logo";

/// The settings (defaults until the owner changes them).
pub fn load(tx: &ReadTransaction) -> Result<Settings, StoreError> {
    Ok(codec::get(&tx.open_table(SETTINGS)?, "settings", KEY)?.unwrap_or_default())
}

/// The settings inside a write.
pub fn load_for_update(tx: &WriteTransaction) -> Result<Settings, StoreError> {
    Ok(codec::get(&tx.open_table(SETTINGS)?, "settings", KEY)?.unwrap_or_default())
}

/// Saves the settings.
pub fn save(tx: &WriteTransaction, s: &Settings) -> Result<(), StoreError> {
    tx.open_table(SETTINGS)?
        .insert(KEY, codec::encode(s)?.as_slice())?;
    Ok(())
}

/// Replaces the setup token's hash.
pub fn set_setup_token(tx: &WriteTransaction, sha256: &str) -> Result<(), StoreError> {
    tx.open_table(SETTINGS)?
        .insert(SETUP_KEY, sha256.as_bytes())?;
    Ok(())
}

/// The setup token's hash, if one is outstanding.
pub fn setup_token(tx: &WriteTransaction) -> Result<Option<String>, StoreError> {
    Ok(tx
        .open_table(SETTINGS)?
        .get(SETUP_KEY)?
        .map(|v| String::from_utf8_lossy(v.value()).into_owned()))
}

/// The setup token's hash in a read.
pub fn setup_token_read(tx: &ReadTransaction) -> Result<Option<String>, StoreError> {
    Ok(tx
        .open_table(SETTINGS)?
        .get(SETUP_KEY)?
        .map(|v| String::from_utf8_lossy(v.value()).into_owned()))
}

/// Forgets the setup token once it was used.
pub fn clear_setup_token(tx: &WriteTransaction) -> Result<(), StoreError> {
    tx.open_table(SETTINGS)?.remove(SETUP_KEY)?;
    Ok(())
}

/// Stores the logo's bytes (its type is in the settings).
pub fn set_logo(tx: &WriteTransaction, bytes: &[u8]) -> Result<(), StoreError> {
    tx.open_table(SETTINGS)?.insert(LOGO_KEY, bytes)?;
    Ok(())
}

/// The logo's bytes, if one was uploaded.
pub fn logo(tx: &ReadTransaction) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(tx
        .open_table(SETTINGS)?
        .get(LOGO_KEY)?
        .map(|v| v.value().to_vec()))
}
