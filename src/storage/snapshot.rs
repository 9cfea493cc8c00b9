//! Every table as JSON lines from one read transaction, and back: the body of a backup.
//!
//! Format 2 (written now): each table opens with a section line
//! `{"table":"members","rows":3}`, then one line per row, `[key, value]`, where `value` is the
//! stored value itself when it is JSON (members, rewards, settings, …). A value that is not
//! JSON (a ledger entry, an idempotency record, an audit reference: compact binary records)
//! is `[key, readable, "base64"]`: a readable JSON view, then the stored bytes in base64, which
//! is what a restore loads. `docs/backup-format.md` describes it for people.
//!
//! Format 1 (still read): every line is `["table", key, value]`, byte values in base64.
//!
//! Which tables, and how their rows are read and written, comes from the table registry
//! (`tables::REGISTRY`); sessions are left out on purpose: a restored server must not accept
//! cookies issued by the old one.

use super::tables::{self, Cell, LEDGER, MEMBERS, Table};
use super::{StoreError, migrate_v5};
use base64::Engine as _;
use redb::{ReadTransaction, ReadableTableMetadata, WriteTransaction};
use serde_json::Value;
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

/// The counts of the snapshot `tx` would write (of a file in any schema this build migrates).
pub fn counts(tx: &ReadTransaction) -> Result<Counts, StoreError> {
    let ledger = tx.open_table(LEDGER)?;
    // A file about to be migrated (its safety copy) still holds schema 1–4's JSON rows.
    let (last_seq, last_hash) = if super::schema::version_read(tx)? < migrate_v5::VERSION {
        migrate_v5::legacy_last(&ledger)?
    } else {
        super::ledger::last(&ledger)?
    };
    Ok(Counts {
        members: tx.open_table(MEMBERS)?.len()?,
        entries: ledger.len()?,
        last_seq,
        last_hash: last_hash.to_hex(),
    })
}

/// The line that opens a table's rows.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Section {
    /// The table's name.
    pub table: String,
    /// How many row lines follow.
    pub rows: u64,
}

fn io(e: std::io::Error) -> StoreError {
    StoreError::Db(format!("cannot write the snapshot: {e}"))
}

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Writes a section line.
pub fn section(w: &mut impl Write, table: &str, rows: u64) -> Result<(), StoreError> {
    serde_json::to_writer(
        &mut *w,
        &Section {
            table: table.to_owned(),
            rows,
        },
    )
    .map_err(|e| StoreError::Db(format!("cannot write the snapshot: {e}")))?;
    w.write_all(b"\n").map_err(io)
}

/// Whether stored bytes can stand in a line as they are: JSON on one line, no outer spaces
/// (a restore takes the value's text back byte for byte).
fn inline_json(bytes: &[u8]) -> bool {
    let trimmed = bytes
        .first()
        .zip(bytes.last())
        .is_some_and(|(a, b)| !a.is_ascii_whitespace() && !b.is_ascii_whitespace());
    trimmed
        && !bytes.iter().any(|&b| b == b'\n' || b == b'\r')
        && serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok()
}

/// Writes one row line: `[key, value]`, or `[key, readable, "base64"]` for bytes that are not JSON.
pub fn row(
    w: &mut impl Write,
    table: &str,
    key: &Value,
    value: Cell<'_>,
) -> Result<(), StoreError> {
    let json_err = |e: serde_json::Error| StoreError::Db(format!("cannot write the snapshot: {e}"));
    w.write_all(b"[").map_err(io)?;
    serde_json::to_writer(&mut *w, key).map_err(json_err)?;
    w.write_all(b",").map_err(io)?;
    match value {
        Cell::Json(v) => serde_json::to_writer(&mut *w, &v).map_err(json_err)?,
        Cell::Bytes(b) if inline_json(b) => w.write_all(b).map_err(io)?,
        Cell::Bytes(b) => {
            serde_json::to_writer(&mut *w, &super::records::readable(table, key, b))
                .map_err(json_err)?;
            w.write_all(b",\"").map_err(io)?;
            w.write_all(B64.encode(b).as_bytes()).map_err(io)?;
            w.write_all(b"\"").map_err(io)?;
        }
    }
    w.write_all(b"]\n").map_err(io)
}

/// Writes one whole table: its section line and its rows.
fn write_table(tx: &ReadTransaction, t: &Table, w: &mut impl Write) -> Result<(), StoreError> {
    section(w, &t.name, (t.rows)(tx)?)?;
    (t.dump)(tx, &mut |k, v| row(w, &t.name, &k, v))
}

/// The small tables that change without touching the ledger (a new reward, key, staff account
/// or setting): shipped whole between snapshots whenever they change.
pub const SMALL_TABLES: [&str; 4] = ["rewards", "api_keys", "staff", "settings"];

/// Writes the small tables, each with its section line.
pub fn write_small(tx: &ReadTransaction, w: &mut impl Write) -> Result<(), StoreError> {
    for t in tables::REGISTRY
        .iter()
        .filter(|t| SMALL_TABLES.contains(&t.name.as_str()))
    {
        write_table(tx, t, w)?;
    }
    Ok(())
}

/// Writes every table that backups carry; `progress` counts rows.
///
/// A file not yet migrated (its safety copy) may still hold a retired table: it is carried too,
/// so the copy restores to the file as it was; a current file has none, and none is written.
pub fn write(
    tx: &ReadTransaction,
    w: &mut impl Write,
    progress: &crate::progress::Progress,
) -> Result<(), StoreError> {
    let mut retired = Vec::new();
    for t in tables::RETIRED.iter() {
        if (t.rows)(tx)? > 0 {
            retired.push(t);
        }
    }
    let carried = || {
        tables::REGISTRY
            .iter()
            .filter(|t| t.backed_up)
            .chain(retired.iter().copied())
    };
    let mut total = 0;
    for t in carried() {
        total += (t.rows)(tx)?;
    }
    progress.set_total(total);
    for t in carried() {
        section(w, &t.name, (t.rows)(tx)?)?;
        (t.dump)(tx, &mut |k, v| {
            progress.inc(1);
            row(w, &t.name, &k, v)
        })?;
    }
    Ok(())
}

fn bad(what: &str) -> StoreError {
    StoreError::Corrupt(format!("snapshot line unreadable: {what}"))
}

/// The next JSON value's text at the start of `s` (after spaces), and what follows it.
fn next_value(s: &str) -> Result<(&str, &str), StoreError> {
    let s = s.trim_start();
    let mut values = serde_json::Deserializer::from_str(s).into_iter::<serde::de::IgnoredAny>();
    match values.next() {
        Some(Ok(_)) => {
            let end = values.byte_offset();
            Ok((&s[..end], &s[end..]))
        }
        Some(Err(e)) => Err(bad(&e.to_string())),
        None => Err(bad("a value is missing")),
    }
}

/// A row line taken apart: its key, and its value as the text of the line or the stored bytes.
pub struct Row<'a> {
    /// The key.
    pub key: Value,
    /// The value's text exactly as in the line.
    pub value: &'a str,
    /// The stored bytes, when the line carries them (base64) beside a readable view.
    pub stored: Option<Vec<u8>>,
}

impl Row<'_> {
    /// The bytes to store: the carried bytes, or the value's text.
    pub fn bytes(&self) -> &[u8] {
        self.stored.as_deref().unwrap_or(self.value.as_bytes())
    }
}

/// Takes a row line apart without re-encoding its value.
pub fn split_row(text: &str) -> Result<Row<'_>, StoreError> {
    let inner = text
        .trim_end()
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .ok_or_else(|| bad("expected [key, value]"))?;
    let comma = |s: &str| -> Result<String, StoreError> {
        s.trim_start()
            .strip_prefix(',')
            .map(str::to_owned)
            .ok_or_else(|| bad("expected a comma"))
    };
    let (key, rest) = next_value(inner)?;
    let key: Value = serde_json::from_str(key).map_err(|e| bad(&e.to_string()))?;
    let after_key = comma(rest)?;
    let start = inner.len() - after_key.len();
    let (value, rest) = next_value(&inner[start..])?;
    let stored = if rest.trim().is_empty() {
        None
    } else {
        let (b64, end) =
            next_value(&comma(rest)?).map(|(b, e)| (b.to_owned(), e.trim().is_empty()))?;
        if !end {
            return Err(bad("expected at most [key, value, stored]"));
        }
        let text: String = serde_json::from_str(&b64).map_err(|e| bad(&e.to_string()))?;
        Some(B64.decode(text).map_err(|_| bad("bad base64"))?)
    };
    Ok(Row { key, value, stored })
}

/// Loads a format-2 body line by line, checking each table's row count.
#[derive(Default)]
pub struct Loader {
    table: Option<&'static Table>,
    expected: u64,
    seen: u64,
}

impl Loader {
    /// Writes one line (a section line or a row) into `tx`.
    pub fn line(&mut self, tx: &WriteTransaction, text: &str) -> Result<(), StoreError> {
        if text.starts_with('{') {
            self.close()?;
            let s: Section = serde_json::from_str(text).map_err(|e| bad(&e.to_string()))?;
            let t = carried(&s.table)?;
            *self = Self {
                table: Some(t),
                expected: s.rows,
                seen: 0,
            };
            return Ok(());
        }
        let t = self
            .table
            .ok_or_else(|| bad("a row before any table line"))?;
        let r = split_row(text)?;
        (t.load_raw)(tx, &r.key, r.bytes())?;
        self.seen += 1;
        Ok(())
    }

    fn close(&self) -> Result<(), StoreError> {
        match self.table {
            Some(t) if self.seen != self.expected => Err(StoreError::Corrupt(format!(
                "table {} should hold {} rows, the backup has {}",
                t.name, self.expected, self.seen
            ))),
            _ => Ok(()),
        }
    }

    /// Checks the last table's row count.
    pub fn finish(self) -> Result<(), StoreError> {
        self.close()
    }
}

/// The table a snapshot line names, if snapshots carry it (or carried it, for retired ones).
fn carried(name: &str) -> Result<&'static Table, StoreError> {
    match tables::by_name(name) {
        Some(t) if t.backed_up || tables::RETIRED.iter().any(|r| r.name == name) => Ok(t),
        _ => Err(bad(&format!("unknown table {name}"))),
    }
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

/// Empties one small table before a shipped copy replaces it.
pub fn clear_table(tx: &WriteTransaction, name: &str) -> Result<(), StoreError> {
    match tables::REGISTRY
        .iter()
        .find(|t| t.name == name && SMALL_TABLES.contains(&name))
    {
        Some(t) => (t.clear)(tx),
        None => Err(bad(&format!("{name} is not shipped whole"))),
    }
}

/// Inserts one row of a table snapshots carry.
pub fn load_row(tx: &WriteTransaction, table: &str, row: &Row<'_>) -> Result<(), StoreError> {
    (carried(table)?.load_raw)(tx, &row.key, row.bytes())
}

/// Writes one format-1 snapshot line (`["table", key, value]`) into `tx`.
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
    (carried(name)?.load)(tx, k, v)
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests fail loudly")]
    use super::*;
    use redb::{ReadableDatabase, TableHandle};

    #[test]
    fn every_table_in_the_file_is_registered_and_all_but_sessions_and_alerts_are_backed_up() {
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
        assert_eq!(
            not_backed_up,
            [
                "sessions",
                "alerts_active",
                "alert_messages",
                "event_deliveries",
                "event_due",
                "event_done",
                "notices_pending",
                "notices_done"
            ]
        );
    }

    #[test]
    fn a_snapshot_carries_a_row_of_every_backed_up_table_and_loads_back() {
        let dir = tempfile::tempdir().unwrap();
        let db = redb::Database::create(dir.path().join("a.redb")).unwrap();
        crate::storage::schema::migrate(&db).unwrap();
        let mut lines = Vec::new();
        let hidden = crate::progress::Progress::hidden();
        write(&db.begin_read().unwrap(), &mut lines, &hidden).unwrap();
        let text = String::from_utf8(lines).unwrap();
        // A new database has its schema version: the meta table is carried, under its section.
        assert!(
            text.contains("{\"table\":\"meta\",\"rows\":1}\n[\"schema_version\",5]\n"),
            "{text}"
        );
        let copy = redb::Database::create(dir.path().join("b.redb")).unwrap();
        let tx = copy.begin_write().unwrap();
        let mut loader = Loader::default();
        for l in text.lines() {
            loader.line(&tx, l).unwrap();
        }
        loader.finish().unwrap();
        tx.commit().unwrap();
        let again = copy.begin_write().unwrap();
        let mut short = Loader::default();
        short
            .line(&again, r#"{"table":"rewards","rows":2}"#)
            .unwrap();
        assert!(short.finish().is_err(), "a missing row is found");
        drop(again);
        assert!(load_line(&copy.begin_write().unwrap(), r#"["sessions","k","AA=="]"#).is_err());
    }

    #[test]
    fn rows_split_without_touching_the_value_text() {
        let r = split_row(r#"["a",{"b":[1,2],"c":"x,]"}]"#).unwrap();
        assert_eq!(r.key, Value::from("a"));
        assert_eq!(r.value, r#"{"b":[1,2],"c":"x,]"}"#);
        assert_eq!(r.bytes(), r#"{"b":[1,2],"c":"x,]"}"#.as_bytes());
        let r = split_row(r#"[7,{"seq":7},"AQID"]"#).unwrap();
        assert_eq!(r.bytes(), [1, 2, 3]);
        let r = split_row(r#"[["s","k"],null]"#).unwrap();
        assert_eq!(r.value, "null");
        for broken in ["[1]", "[1,2,3,4]", "1,2", "[1,2", r#"[1,{},"!!"]"#] {
            assert!(split_row(broken).is_err(), "{broken}");
        }
    }

    #[test]
    fn byte_values_that_are_not_json_on_one_line_are_carried_in_base64() {
        let mut out = Vec::new();
        row(
            &mut out,
            "rewards",
            &Value::from("k"),
            Cell::Bytes(b"{\"a\":1}"),
        )
        .unwrap();
        row(
            &mut out,
            "settings",
            &Value::from("h"),
            Cell::Bytes(b"ab12"),
        )
        .unwrap();
        row(&mut out, "rewards", &Value::from("p"), Cell::Bytes(b"{\n}")).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], r#"["k",{"a":1}]"#);
        assert_eq!(lines[1], r#"["h","ab12","YWIxMg=="]"#);
        assert_eq!(split_row(lines[2]).unwrap().bytes(), b"{\n}");
    }
}
