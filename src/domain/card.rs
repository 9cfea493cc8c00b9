//! Card numbers (what is printed and what a scanner types) and card tokens (the QR secret).

use super::DomainError;

/// Digits before the check digit.
const BODY_DIGITS: u32 = 11;

/// A 12-digit card number whose last digit is a Luhn check digit.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct CardNumber(String);

impl CardNumber {
    /// Parses what a person or a scanner typed: spaces and dashes are ignored, the check digit must hold.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let digits: String = raw.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
        if digits.len() != BODY_DIGITS as usize + 1 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(DomainError::invalid("card_number", "must be 12 digits"));
        }
        if !luhn_valid(&digits) {
            return Err(DomainError::invalid(
                "card_number",
                "check digit does not match; please re-check the number",
            ));
        }
        Ok(Self(digits))
    }

    /// Builds a card number from random input; the first digit is never 0 so scanners keep it whole.
    pub fn from_random(random: u64) -> Self {
        let span = 9 * 10u64.pow(BODY_DIGITS - 1);
        let body = 10u64.pow(BODY_DIGITS - 1) + random % span;
        let body = body.to_string();
        let check = luhn_check_digit(&body);
        Self(format!("{body}{check}"))
    }

    /// The digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The digits in groups of four, for printing.
    pub fn grouped(&self) -> String {
        let bytes = self.0.as_bytes();
        bytes
            .chunks(4)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// The Luhn check digit for `body` (ASCII digits).
pub fn luhn_check_digit(body: &str) -> char {
    // Doubling starts at the rightmost body digit, because the check digit will sit to its right.
    let sum: u32 = body
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 0 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    char::from(b'0' + ((10 - sum % 10) % 10) as u8)
}

/// Whether `digits` (ASCII digits, check digit last) passes the Luhn check.
pub fn luhn_valid(digits: &str) -> bool {
    match digits.split_at_checked(digits.len().saturating_sub(1)) {
        Some((body, check)) if !body.is_empty() => check.starts_with(luhn_check_digit(body)),
        _ => false,
    }
}

/// The secret in a card URL: 128 random bits, URL-safe base64 without padding.
#[derive(Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct CardToken(String);

impl CardToken {
    /// Encodes 16 random bytes as a token.
    pub fn from_random(bytes: [u8; 16]) -> Self {
        use base64::Engine as _;
        Self(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
    }

    /// Parses a token from a URL; anything of the wrong shape cannot be a token.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        if raw.len() == 22
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            Ok(Self(raw.to_owned()))
        } else {
            Err(DomainError::NotFound("card"))
        }
    }

    /// The token text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A printed card that no member has yet: it becomes theirs when staff or the customer claim it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BlankCard {
    /// The number printed on it.
    pub card_number: CardNumber,
    /// The token in its QR code.
    pub card_token: CardToken,
    /// When it was printed.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: time::OffsetDateTime,
}

impl std::fmt::Debug for CardToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CardToken([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_matches_known_numbers() {
        // Well-known Luhn test numbers.
        assert!(luhn_valid("79927398713"));
        assert!(!luhn_valid("79927398710"));
        assert_eq!(luhn_check_digit("7992739871"), '3');
        assert!(luhn_valid("4539578763621486"));
    }

    #[test]
    fn generated_numbers_parse_and_catch_typos() {
        for r in [0u64, 1, 42, u64::MAX, 123_456_789_012_345] {
            let n = CardNumber::from_random(r);
            assert_eq!(n.as_str().len(), 12);
            assert!(!n.as_str().starts_with('0'));
            assert_eq!(CardNumber::parse(n.as_str()), Ok(n.clone()));
            // A single changed digit is always caught.
            let mut digits: Vec<u8> = n.as_str().bytes().collect();
            digits[5] = if digits[5] == b'9' {
                b'0'
            } else {
                digits[5] + 1
            };
            let typo = String::from_utf8(digits).unwrap_or_default();
            assert!(CardNumber::parse(&typo).is_err());
        }
    }

    #[test]
    fn parse_ignores_spaces_and_dashes() {
        let n = CardNumber::from_random(7);
        let spaced = n.grouped();
        assert_eq!(CardNumber::parse(&spaced), Ok(n.clone()));
        assert_eq!(CardNumber::parse(&spaced.replace(' ', "-")), Ok(n));
        assert!(CardNumber::parse("12345").is_err());
        assert!(CardNumber::parse("abcdefghijkl").is_err());
    }

    #[test]
    fn tokens_are_22_url_safe_chars() {
        let t = CardToken::from_random([0xfb; 16]);
        assert_eq!(t.as_str().len(), 22);
        assert_eq!(CardToken::parse(t.as_str()), Ok(t.clone()));
        assert!(CardToken::parse("short").is_err());
        assert_eq!(format!("{t:?}"), "CardToken([redacted])");
    }
}
