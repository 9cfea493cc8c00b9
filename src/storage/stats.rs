//! The running totals row.

use super::tables::STATS;
use super::{StoreError, codec};
use crate::domain::stats::Totals;
use redb::{ReadTransaction, WriteTransaction};

const KEY: &str = "totals";

/// Reads the totals.
pub fn load(tx: &ReadTransaction) -> Result<Totals, StoreError> {
    Ok(codec::get(&tx.open_table(STATS)?, "stats", KEY)?.unwrap_or_default())
}

/// Reads the totals inside a write.
pub fn load_for_update(tx: &WriteTransaction) -> Result<Totals, StoreError> {
    Ok(codec::get(&tx.open_table(STATS)?, "stats", KEY)?.unwrap_or_default())
}

/// Writes the totals.
pub fn save(tx: &WriteTransaction, totals: &Totals) -> Result<(), StoreError> {
    tx.open_table(STATS)?
        .insert(KEY, codec::encode(totals)?.as_slice())?;
    Ok(())
}
