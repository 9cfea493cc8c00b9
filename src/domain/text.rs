//! Small free-text values: names, reasons, references, phone numbers, web addresses.

use super::DomainError;

/// Whether `c` is a Unicode format character (general category Cf): invisible characters
/// that change how the text around them is shown (bidi overrides such as U+202E, zero-width
/// spaces and joiners, the byte-order mark, tag characters).
///
/// The list is Cf as of Unicode 15.1; std has no general-category lookup.
pub fn is_format(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{0600}'..='\u{0605}'
            | '\u{061C}'
            | '\u{06DD}'
            | '\u{070F}'
            | '\u{0890}'..='\u{0891}'
            | '\u{08E2}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{110BD}'
            | '\u{110CD}'
            | '\u{13430}'..='\u{1343F}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0001}'
            | '\u{E0020}'..='\u{E007F}'
    )
}

/// Whether `c` may never appear inside free text: control characters (Cc), format characters
/// (Cf) and the line and paragraph separators, none of which a person means to store.
fn is_hidden(c: char) -> bool {
    c.is_control() || is_format(c) || matches!(c, '\u{2028}' | '\u{2029}')
}

/// Trims `raw` and checks its length and that it holds no control or format characters.
///
/// The rule every free-text value (names, reasons, references, labels) is parsed with.
pub fn clean(field: &'static str, raw: &str, max_chars: usize) -> Result<String, DomainError> {
    clean_allowing(field, raw, max_chars, |_, _| false)
}

/// `clean`, but a format character for which `allowed(text, index)` says yes is kept.
fn clean_allowing(
    field: &'static str,
    raw: &str,
    max_chars: usize,
    allowed: impl Fn(&[char], usize) -> bool,
) -> Result<String, DomainError> {
    // Counted before trimming so a huge value is refused without walking it twice.
    if raw.len() > max_chars.saturating_mul(4).saturating_add(1024) {
        return Err(too_long(field, max_chars));
    }
    let s = raw.trim();
    if s.is_empty() {
        return Err(DomainError::invalid(field, "must not be empty"));
    }
    let chars: Vec<char> = s.chars().collect();
    if chars.len() > max_chars {
        return Err(too_long(field, max_chars));
    }
    let hidden = chars
        .iter()
        .enumerate()
        .any(|(i, &c)| is_hidden(c) && !(is_format(c) && allowed(&chars, i)));
    if hidden {
        return Err(DomainError::invalid(
            field,
            "must not contain control or invisible formatting characters",
        ));
    }
    Ok(s.to_owned())
}

fn too_long(field: &'static str, max_chars: usize) -> DomainError {
    DomainError::invalid(field, format!("must be at most {max_chars} characters"))
}

/// Zero-width (non-)joiners shape Persian, Indic and other scripts and join emoji; in a name
/// they are kept only between two visible characters, where they cannot hide or reorder text.
fn joiner_between_letters(chars: &[char], i: usize) -> bool {
    let visible = |c: Option<&char>| c.is_some_and(|&c| !is_hidden(c) && !c.is_whitespace());
    matches!(chars.get(i), Some('\u{200C}' | '\u{200D}'))
        && i > 0
        && visible(chars.get(i - 1))
        && visible(chars.get(i + 1))
}

/// A person's name as shown on the card and in search.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct PersonName(String);

impl PersonName {
    /// Parses a name: 1 to 100 characters after trimming, no control or format characters
    /// except a zero-width (non-)joiner between two visible characters.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        clean_allowing("name", raw, 100, joiner_between_letters).map(Self)
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

/// A web address the server posts to, trimmed: `https://` or `http://`, a host, no spaces or
/// control characters, at most 2000 characters. A refusal names `field`.
pub fn web_address(field: &'static str, raw: &str) -> Result<String, DomainError> {
    let s = raw.trim();
    let bad = || {
        DomainError::invalid(
            field,
            "must be a web address starting with https:// (or http://)",
        )
    };
    let lower = s.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"))
        .ok_or_else(bad)?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = host.rsplit('@').next().unwrap_or_default();
    if s.len() > 2000
        || host.is_empty()
        || host.starts_with(':')
        || s.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(bad());
    }
    Ok(s.to_owned())
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
    fn names_in_any_script_pass() {
        for name in [
            "Αλέξανδρος Παπαδόπουλος",
            "王小明",
            "Çağla Şenoğlu",
            "İlker Işık",
            "José María O'Neil-García",
            "محمد علی",
            "Zoë d'Arc",
            // ZWNJ inside a Persian name, ZWJ inside an emoji sequence.
            "می\u{200C}خواهم",
            "Ann \u{1F469}\u{200D}\u{1F373}",
        ] {
            assert_eq!(
                PersonName::parse(name).map(|n| n.0),
                Ok(name.to_owned()),
                "{name}"
            );
        }
    }

    #[test]
    fn names_refuse_control_and_format_characters() {
        for bad in [
            "a\u{1b}[31mb",
            "a\u{7f}b",
            "a\u{85}b",
            "Ann\nSmith",
            "Ann\tSmith",
            "evil\u{202E}gpj.exe",
            "a\u{202A}b",
            "a\u{2066}b",
            "a\u{2069}b",
            "a\u{200B}b",
            "a\u{200E}b",
            "a\u{200F}b",
            "\u{FEFF}Ann",
            "a\u{00AD}b",
            "a\u{2028}b",
            "a\u{E0041}b",
            // Joiners alone, at an edge or beside a space.
            "\u{200D}",
            "Ann\u{200D}",
            "\u{200C}Ann",
            "Ann \u{200D}Lee",
        ] {
            assert!(PersonName::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn free_text_refuses_format_characters_and_huge_values() {
        assert!(clean("reason", "a\u{200D}b", 500).is_err(), "no joiner");
        assert!(clean("reason", "a\u{0}b", 500).is_err());
        assert!(clean("reason", &"x".repeat(900 * 1024), 500).is_err());
        assert!(clean("reason", &"é".repeat(500), 500).is_ok());
        assert!(clean("reason", &"é".repeat(501), 500).is_err());
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
