//! The running totals row.

use super::tables::STATS;
use super::{StoreError, codec};
use crate::domain::stats::{RuleTotals, Totals};
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

const RULES_KEY: &str = "rules";

/// Reads what the referral and birthday rules gave.
pub fn rules(tx: &ReadTransaction) -> Result<RuleTotals, StoreError> {
    Ok(codec::get(&tx.open_table(STATS)?, "stats", RULES_KEY)?.unwrap_or_default())
}

/// Adds to what the referral and birthday rules gave, in the write that gives it.
pub fn add_rules(tx: &WriteTransaction, f: impl FnOnce(&mut RuleTotals)) -> Result<(), StoreError> {
    let mut t: RuleTotals =
        codec::get(&tx.open_table(STATS)?, "stats", RULES_KEY)?.unwrap_or_default();
    f(&mut t);
    tx.open_table(STATS)?
        .insert(RULES_KEY, codec::encode(&t)?.as_slice())?;
    Ok(())
}
