//! What the server keeps about its ledger checks: one JSON row in the settings table, so it
//! travels with backups and stays consistent with the ledger it describes after a restore.

use super::tables::SETTINGS;
use super::{StoreError, codec};
use crate::domain::ledger_check::CheckState;
use redb::{ReadTransaction, WriteTransaction};

const KEY: &str = "ledger_check";

/// The checks' state (empty before the first).
pub fn load(tx: &ReadTransaction) -> Result<CheckState, StoreError> {
    Ok(codec::get(&tx.open_table(SETTINGS)?, "settings", KEY)?.unwrap_or_default())
}

/// Applies `change` to the stored state inside a write.
pub fn update(
    tx: &WriteTransaction,
    change: impl FnOnce(&mut CheckState),
) -> Result<CheckState, StoreError> {
    let mut table = tx.open_table(SETTINGS)?;
    let mut state: CheckState = codec::get(&table, "settings", KEY)?.unwrap_or_default();
    change(&mut state);
    table.insert(KEY, codec::encode(&state)?.as_slice())?;
    Ok(state)
}
