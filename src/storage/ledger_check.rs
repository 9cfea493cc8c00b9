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

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests fail loudly")]
    use super::*;
    use crate::storage::Store;

    #[tokio::test]
    async fn the_state_is_kept_beside_the_settings_and_survives_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.read(load).await.unwrap(), CheckState::default());
        let at = time::macros::datetime!(2026-12-02 04:00 UTC);
        store
            .write(move |tx| update(tx, |s| s.repaired_at = Some(at)))
            .await
            .unwrap();
        let settings = store.read(crate::storage::settings::load).await.unwrap();
        store.close().unwrap();
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.read(load).await.unwrap().repaired_at, Some(at));
        assert_eq!(
            store.read(crate::storage::settings::load).await.unwrap(),
            settings,
            "the settings themselves are untouched"
        );
    }
}
