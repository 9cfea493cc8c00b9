//! Every member (and, as JSON, every entry) written out as it is read from one read
//! transaction: nothing is collected, so memory stays flat whatever the size of the data.

use crate::domain::DomainError;
use crate::http::api::entry::EntryJson;
use crate::member_csv;
use crate::progress::Progress;
use crate::storage::{StoreError, ledger, members};
use redb::ReadTransaction;
use std::io::Write;

/// What an export writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One JSON document: `{"ledger": [...], "members": [...]}`.
    Json,
    /// Members only, as `member_csv::EXPORT_COLUMNS`.
    Csv,
}

impl Format {
    /// `json` or `csv`.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        match raw {
            "json" => Ok(Self::Json),
            "csv" => Ok(Self::Csv),
            other => Err(DomainError::invalid(
                "format",
                format!("unknown format {other:?}: use json or csv"),
            )),
        }
    }
}

/// Why an export stopped part way.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The database could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The output could not be written (a closed pipe, a full disk, a client that went away).
    #[error("cannot write the export: {0}")]
    Write(#[from] std::io::Error),
    /// A row could not be written as CSV.
    #[error("cannot write the export: {0}")]
    Csv(#[from] csv::Error),
    /// A row could not be encoded as JSON.
    #[error("cannot encode the export: {0}")]
    Json(#[from] serde_json::Error),
}

/// Writes the export to `out` from `tx`, counting rows on `progress`; returns the rows written.
pub fn write(
    tx: &ReadTransaction,
    format: Format,
    mut out: impl Write,
    progress: &Progress,
) -> Result<u64, ExportError> {
    let members = members::count(tx)?;
    let rows = match format {
        Format::Csv => {
            progress.set_total(members);
            let mut csv = member_csv::Export::new(&mut out)?;
            members::each(tx, |m| {
                progress.inc(1);
                csv.row(&m).map_err(ExportError::from)
            })?;
            csv.finish()?;
            members
        }
        Format::Json => {
            let entries = ledger::count(tx)?;
            progress.set_total(members + entries);
            json(tx, &mut out, progress)?;
            members + entries
        }
    };
    out.flush()?;
    Ok(rows)
}

/// The document exactly as `serde_json::to_string_pretty` of the whole of it would print it
/// (keys sorted, two-space indent, a final newline), written one element at a time.
fn json(
    tx: &ReadTransaction,
    out: &mut impl Write,
    progress: &Progress,
) -> Result<(), ExportError> {
    let mut array = Array::default();
    out.write_all(b"{\n  \"ledger\": ")?;
    ledger::each(tx, |e| {
        progress.inc(1);
        array.item(out, &EntryJson::from(&e))
    })?;
    array.end(out)?;
    out.write_all(b",\n  \"members\": ")?;
    members::each(tx, |m| {
        progress.inc(1);
        array.item(out, &m)
    })?;
    array.end(out)?;
    out.write_all(b"\n}\n")?;
    Ok(())
}

/// A JSON array at depth one of a pretty-printed document, written item by item.
#[derive(Default)]
struct Array {
    items: u64,
    scratch: Vec<u8>,
}

impl Array {
    fn item(
        &mut self,
        out: &mut impl Write,
        item: &impl serde::Serialize,
    ) -> Result<(), ExportError> {
        // Through a `Value`, as `json!` did, so object keys come out sorted as before.
        let value = serde_json::to_value(item)?;
        self.scratch.clear();
        serde_json::to_writer_pretty(&mut self.scratch, &value)?;
        out.write_all(if self.items == 0 {
            b"[\n    "
        } else {
            b",\n    "
        })?;
        // A JSON string never holds a raw newline, so every newline here is layout.
        let mut lines = self.scratch.split(|b| *b == b'\n');
        if let Some(first) = lines.next() {
            out.write_all(first)?;
        }
        for line in lines {
            out.write_all(b"\n    ")?;
            out.write_all(line)?;
        }
        self.items += 1;
        Ok(())
    }

    fn end(&mut self, out: &mut impl Write) -> Result<(), ExportError> {
        out.write_all(if self.items == 0 { b"[]" } else { b"\n  ]" })?;
        self.items = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests fail loudly")]
    use super::*;

    #[test]
    fn arrays_print_as_the_whole_document_would() {
        let ledger = [
            serde_json::json!({"b": 1, "a": {"x": [1, 2], "y": "line\nbreak"}}),
            serde_json::json!({"a": []}),
        ];
        let members: [serde_json::Value; 0] = [];
        let mut out = Vec::new();
        let mut array = Array::default();
        out.extend_from_slice(b"{\n  \"ledger\": ");
        for v in &ledger {
            array.item(&mut out, v).unwrap();
        }
        array.end(&mut out).unwrap();
        out.extend_from_slice(b",\n  \"members\": ");
        array.end(&mut out).unwrap();
        out.extend_from_slice(b"\n}\n");
        let whole = serde_json::to_string_pretty(&serde_json::json!({
            "members": members,
            "ledger": ledger,
        }))
        .unwrap()
            + "\n";
        assert_eq!(String::from_utf8(out).unwrap(), whole);
    }
}
