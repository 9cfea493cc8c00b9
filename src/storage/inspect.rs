//! Reading what `fealty status` shows from a database, without changing it: inside the running
//! server's read transaction, or from the file opened read-only when no server runs (no
//! migration, no repair, no compaction).

use super::tables::META;
use super::{DB_FILE, StoreError};
use crate::domain::ledger_check::CheckState;
use crate::domain::status::Database;
use redb::{DatabaseError, ReadTransaction, ReadableDatabase};
use std::path::Path;

/// The schema version recorded in the file (0 for a new one).
pub fn schema_version(tx: &ReadTransaction) -> Result<u64, StoreError> {
    match tx.open_table(META) {
        Ok(t) => Ok(t.get(super::schema::VERSION_KEY)?.map_or(0, |v| v.value())),
        Err(redb::TableError::TableDoesNotExist(_)) => Ok(0),
        Err(e) => Err(e.into()),
    }
}

/// The schema and counts as of `tx`.
pub fn database(tx: &ReadTransaction) -> Result<Database, StoreError> {
    let counts = super::snapshot::counts(tx)?;
    Ok(Database::Read {
        schema: schema_version(tx)?,
        members: counts.members,
        entries: counts.entries,
        last_seq: counts.last_seq,
    })
}

/// The file in `data_dir`, opened read-only: one that a crash left needing repair is reported
/// as such rather than repaired.
pub fn file(data_dir: &Path) -> Database {
    let path = data_dir.join(DB_FILE);
    let builder = super::open::builder();
    let db = match super::open::quietly(|| builder.open_read_only(&path)) {
        Ok(Ok(db)) => db,
        Ok(Err(DatabaseError::RepairAborted)) => return Database::NeedsRepair,
        Ok(Err(e)) => return Database::Unreadable(e.to_string()),
        Err(panic) => return Database::Unreadable(panic),
    };
    let read = db
        .begin_read()
        .map_err(StoreError::from)
        .and_then(|tx| database(&tx));
    read.unwrap_or_else(|e| Database::Unreadable(e.to_string()))
}

/// The scheduled ledger checks' state in the file in `data_dir`, opened read-only (`None` when
/// it cannot be read).
pub fn ledger_check(data_dir: &Path) -> Option<CheckState> {
    let builder = super::open::builder();
    let db = super::open::quietly(|| builder.open_read_only(data_dir.join(DB_FILE)))
        .ok()?
        .ok()?;
    let tx = db.begin_read().ok()?;
    match tx.open_table(super::tables::SETTINGS) {
        Ok(_) => super::ledger_check::load(&tx).ok(),
        // A new file: nothing checked yet.
        Err(redb::TableError::TableDoesNotExist(_)) => Some(CheckState::default()),
        Err(_) => None,
    }
}

/// The database file's size in bytes (0 if it cannot be read).
pub fn file_size(data_dir: &Path) -> u64 {
    std::fs::metadata(data_dir.join(DB_FILE)).map_or(0, |m| m.len())
}
