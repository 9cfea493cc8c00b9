//! Every table as JSON lines from one read transaction, and back: the body of a backup.
//!
//! Each line is `["table", key, value]`; byte values are base64. Which tables, and how their
//! rows are written and read, comes from the table registry (`tables::REGISTRY`); sessions are
//! left out on purpose: a restored server must not accept cookies issued by the old one.

use super::StoreError;
use super::tables::{self, LEDGER, MEMBERS};
use redb::{ReadTransaction, ReadableTableMetadata, WriteTransaction};
use serde_json::{Value, json};
use std::io::Write;

/// What a snapshot holds, for the backup's header.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Counts {
    /// Members.
    pub members: u64,
    /// Ledger entries.
    pub entries: u64,
    /// The last ledger sequence (0 for none).
    pub last_seq: u64,
    /// The last entry's hash (the genesis hash for none).
    pub last_hash: String,
}

/// The counts of the snapshot `tx` would write.
pub fn counts(tx: &ReadTransaction) -> Result<Counts, StoreError> {
    let ledger = tx.open_table(LEDGER)?;
    let (last_seq, last_hash) = super::ledger::last(&ledger)?;
    Ok(Counts {
        members: tx.open_table(MEMBERS)?.len()?,
        entries: ledger.len()?,
        last_seq,
        last_hash: last_hash.to_hex(),
    })
}

fn line(w: &mut impl Write, table: &str, k: Value, v: Value) -> Result<(), StoreError> {
    let io = |e: std::io::Error| StoreError::Db(format!("cannot write the snapshot: {e}"));
    serde_json::to_writer(&mut *w, &json!([table, k, v]))
        .map_err(|e| StoreError::Db(format!("cannot write the snapshot: {e}")))?;
    w.write_all(b"\n").map_err(io)
}

fn write_tables(
    tx: &ReadTransaction,
    w: &mut impl Write,
    which: impl Fn(&tables::Table) -> bool,
) -> Result<(), StoreError> {
    for t in tables::REGISTRY.iter().filter(|t| which(t)) {
        (t.dump)(tx, &mut |k, v| line(w, &t.name, k, v))?;
    }
    Ok(())
}

/// The small tables that change without touching the ledger (a new reward, key, staff account
/// or setting): shipped whole between snapshots whenever they change.
pub const SMALL_TABLES: [&str; 4] = ["rewards", "api_keys", "staff", "settings"];

/// Writes the small tables as JSON lines.
pub fn write_small(tx: &ReadTransaction, w: &mut impl Write) -> Result<(), StoreError> {
    write_tables(tx, w, |t| SMALL_TABLES.contains(&t.name.as_str()))
}

/// Empties the small tables before shipped copies replace them.
pub fn clear_small(tx: &WriteTransaction) -> Result<(), StoreError> {
    for t in tables::REGISTRY
        .iter()
        .filter(|t| SMALL_TABLES.contains(&t.name.as_str()))
    {
        (t.clear)(tx)?;
    }
    Ok(())
}

/// Writes every table that backups carry as JSON lines.
pub fn write(tx: &ReadTransaction, w: &mut impl Write) -> Result<(), StoreError> {
    write_tables(tx, w, |t| t.backed_up)
}

fn bad(what: &str) -> StoreError {
    StoreError::Corrupt(format!("snapshot line unreadable: {what}"))
}

/// Writes one snapshot line into `tx`.
pub fn load_line(tx: &WriteTransaction, text: &str) -> Result<(), StoreError> {
    let row: Value = serde_json::from_str(text).map_err(|e| bad(&e.to_string()))?;
    let (name, k, v) = match row.as_array().map(Vec::as_slice) {
        Some([t, k, v]) => (
            t.as_str().ok_or_else(|| bad("expected a table name"))?,
            k,
            v,
        ),
        _ => return Err(bad("expected [table, key, value]")),
    };
    match tables::by_name(name) {
        Some(t) if t.backed_up || tables::RETIRED.iter().any(|r| r.name == name) => {
            (t.load)(tx, k, v)
        }
        _ => Err(bad(&format!("unknown table {name}"))),
    }
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests fail loudly")]
    use super::*;
    use redb::{ReadableDatabase, TableHandle};

    #[test]
    fn every_table_in_the_file_is_registered_and_all_but_sessions_are_backed_up() {
        let dir = tempfile::tempdir().unwrap();
        let db = redb::Database::create(dir.path().join("t.redb")).unwrap();
        crate::storage::schema::migrate(&db).unwrap();
        let tx = db.begin_write().unwrap();
        let in_file: Vec<String> = tx
            .list_tables()
            .unwrap()
            .map(|h| h.name().to_owned())
            .collect();
        drop(tx);
        let registered: Vec<&str> = tables::REGISTRY.iter().map(|t| t.name.as_str()).collect();
        for name in &in_file {
            assert!(
                registered.contains(&name.as_str()),
                "table {name} is in the file but not in the registry"
            );
        }
        for name in &registered {
            assert!(
                in_file.iter().any(|n| n == name),
                "{name} was never created"
            );
        }
        let not_backed_up: Vec<&str> = tables::REGISTRY
            .iter()
            .filter(|t| !t.backed_up)
            .map(|t| t.name.as_str())
            .collect();
        assert_eq!(not_backed_up, ["sessions"]);
    }

    #[test]
    fn a_snapshot_carries_a_row_of_every_backed_up_table_and_loads_back() {
        let dir = tempfile::tempdir().unwrap();
        let db = redb::Database::create(dir.path().join("a.redb")).unwrap();
        crate::storage::schema::migrate(&db).unwrap();
        let mut lines = Vec::new();
        write(&db.begin_read().unwrap(), &mut lines).unwrap();
        let text = String::from_utf8(lines).unwrap();
        // A new database has its schema version: the meta table is carried.
        assert!(text.contains("[\"meta\",\"schema_version\",5]"), "{text}");
        let copy = redb::Database::create(dir.path().join("b.redb")).unwrap();
        let tx = copy.begin_write().unwrap();
        for l in text.lines() {
            load_line(&tx, l).unwrap();
        }
        tx.commit().unwrap();
        assert!(load_line(&copy.begin_write().unwrap(), r#"["sessions","k","AA=="]"#).is_err());
    }
}
