//! Reading a member import file (CSV), line by line, so a preview can show every problem at once.

use crate::domain::DomainError;
use crate::domain::card::CardNumber;
use crate::domain::email::Email;
use crate::domain::ledger::MAX_POINTS;
use crate::domain::member::NewMember;
use crate::domain::text::{PersonName, Phone};
use crate::service::ImportRow;

/// The columns an import file may have, in the order the export writes them.
pub const COLUMNS: [&str; 5] = ["name", "email", "phone", "card_number", "balance"];

/// A line that cannot be imported, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    /// The line in the file (the header is line 1).
    pub line: u64,
    /// What is wrong, for a person.
    pub message: String,
}

/// Every data line of the file, each parsed or refused; a bad header refuses the whole file.
pub fn parse_lines(text: &str) -> Result<Vec<Result<ImportRow, LineError>>, DomainError> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(true)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| file_error(1, &e.to_string()))?
        .clone();
    if let Some(h) = headers
        .iter()
        .find(|h| !COLUMNS.contains(&h.to_ascii_lowercase().as_str()))
    {
        return Err(file_error(
            1,
            &format!("unknown column {h:?}; expected {}", COLUMNS.join(",")),
        ));
    }
    let col = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
    let [name, email, phone, card, balance] = COLUMNS.map(col);
    let mut out = Vec::new();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                out.push(Err(LineError {
                    line,
                    message: e.to_string(),
                }));
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line());
        if record.len() > headers.len() {
            out.push(Err(LineError {
                line,
                message: format!(
                    "{} fields, but the header has {}",
                    record.len(),
                    headers.len()
                ),
            }));
            continue;
        }
        let get = |c: Option<usize>| c.and_then(|i| record.get(i)).filter(|s| !s.is_empty());
        let row = (|| {
            let member = NewMember {
                name: get(name).map(PersonName::parse).transpose()?,
                email: get(email).map(Email::parse).transpose()?,
                phone: get(phone).map(Phone::parse).transpose()?,
                marketing_consent: false,
                card_number: get(card).map(CardNumber::parse).transpose()?,
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
        out.push(row.map_err(|e| LineError {
            line,
            message: e.to_string(),
        }));
    }
    Ok(out)
}

/// Every row of the file, or the first line's problem.
pub fn parse(text: &str) -> Result<Vec<ImportRow>, DomainError> {
    parse_lines(text)?
        .into_iter()
        .map(|r| r.map_err(|e| file_error(e.line, &e.message)))
        .collect()
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
        let lines = parse_lines(text).unwrap();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].is_ok());
        assert_eq!(lines[1].as_ref().unwrap_err().line, 3);
        assert!(lines[2].as_ref().unwrap_err().message.contains("balance"));
        assert!(parse(text).unwrap_err().to_string().contains("line 3"));
    }

    #[test]
    fn an_unknown_column_refuses_the_file() {
        assert!(parse_lines("nom,email\n").is_err());
    }
}
