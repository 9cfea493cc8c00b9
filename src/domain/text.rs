//! Small free-text values: names, reasons, references, phone numbers.

use super::DomainError;

/// Trims `raw` and checks its length and that it holds no control characters.
pub fn clean(field: &'static str, raw: &str, max_chars: usize) -> Result<String, DomainError> {
    let s = raw.trim();
    if s.is_empty() {
        return Err(DomainError::invalid(field, "must not be empty"));
    }
    if s.chars().count() > max_chars {
        return Err(DomainError::invalid(
            field,
            format!("must be at most {max_chars} characters"),
        ));
    }
    if s.chars().any(char::is_control) {
        return Err(DomainError::invalid(
            field,
            "must not contain control characters",
        ));
    }
    Ok(s.to_owned())
}

/// A person's name as shown on the card and in search.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct PersonName(String);

impl PersonName {
    /// Parses a name: 1 to 100 characters after trimming.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        clean("name", raw, 100).map(Self)
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Lower-cased words used by the search index.
    pub fn search_words(&self) -> Vec<String> {
        let mut words: Vec<String> = self.0.split_whitespace().map(str::to_lowercase).collect();
        words.sort();
        words.dedup();
        words
    }
}

/// A phone number, kept as `+` and digits.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Phone(String);

impl Phone {
    /// Parses a phone number: digits with optional `+`, spaces, dashes, dots and brackets.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let s = raw.trim();
        let mut out = String::new();
        for (i, c) in s.chars().enumerate() {
            match c {
                '0'..='9' => out.push(c),
                '+' if i == 0 => out.push(c),
                ' ' | '-' | '.' | '(' | ')' => {}
                _ => return Err(DomainError::invalid("phone", "must contain only digits")),
            }
        }
        let digits = out.trim_start_matches('+').len();
        if !(5..=20).contains(&digits) {
            return Err(DomainError::invalid("phone", "must have 5 to 20 digits"));
        }
        Ok(Self(out))
    }

    /// The normalised number.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(
            PersonName::parse("  Anna Smith ").map(|n| n.0),
            Ok("Anna Smith".into())
        );
        assert!(PersonName::parse("   ").is_err());
        assert!(PersonName::parse(&"x".repeat(101)).is_err());
        assert!(PersonName::parse("a\u{0}b").is_err());
    }

    #[test]
    fn search_words_are_lowercase_and_unique() {
        let n = PersonName::parse("Anna ANNA Smith").map(|n| n.search_words());
        assert_eq!(n, Ok(vec!["anna".to_string(), "smith".to_string()]));
    }

    #[test]
    fn phones_are_normalised() {
        assert_eq!(
            Phone::parse("+44 (20) 7946-0958").map(|p| p.0),
            Ok("+442079460958".into())
        );
        assert!(Phone::parse("call me").is_err());
        assert!(Phone::parse("123").is_err());
    }
}
