//! Idempotency keys and the record kept for each.

use super::DomainError;

/// A client-chosen key that makes a retried request safe: 1 to 255 visible ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Parses a key from a header or a form.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        if raw.is_empty() || raw.len() > 255 || !raw.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(DomainError::invalid(
                "Idempotency-Key",
                "must be 1 to 255 visible ASCII characters",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The key text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What was answered the first time a key was used, kept to answer retries the same way: the
/// answer itself is rebuilt from the ledger entry it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    /// A hash (SHA-256, hex) of the request (method, path and body) the key was first used with.
    pub fingerprint: String,
    /// The HTTP status first answered.
    pub status: u16,
    /// The ledger entry the first answer was about.
    pub seq: u64,
    /// When the key was first used.
    pub created_at: time::OffsetDateTime,
}

/// How long idempotency records are kept by default: long enough for shops that retry
/// webhooks for days.
pub const DEFAULT_RETENTION_DAYS: i64 = 30;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_bounded_visible_ascii() {
        assert!(IdempotencyKey::parse("order-1234/refund").is_ok());
        assert!(IdempotencyKey::parse("").is_err());
        assert!(IdempotencyKey::parse("has space").is_err());
        assert!(IdempotencyKey::parse(&"k".repeat(256)).is_err());
        assert!(IdempotencyKey::parse("ünïcode").is_err());
    }
}
