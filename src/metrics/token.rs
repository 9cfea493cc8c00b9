//! The bearer token that opens `/metrics`.

use crate::crypto::{constant_time_eq, sha256_hex};

/// Fewest characters a metrics token may have: a scrape is not throttled, so guessing must be
/// hopeless on its own.
const MIN_LEN: usize = 20;

/// A metrics token, kept only as its digest.
#[derive(Clone)]
pub struct MetricsToken {
    digest: String,
}

impl std::fmt::Debug for MetricsToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MetricsToken(..)")
    }
}

impl MetricsToken {
    /// Takes a token of at least 20 visible ASCII characters (it travels in a header).
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        if raw.len() < MIN_LEN {
            return Err(format!(
                "the metrics token must be at least {MIN_LEN} characters (make one with: openssl rand -hex 32)"
            ));
        }
        if !raw.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("the metrics token may hold only visible ASCII characters".into());
        }
        Ok(Self {
            digest: sha256_hex(raw.as_bytes()),
        })
    }

    /// Whether `presented` is this token; the time taken does not depend on where they differ
    /// nor on the presented length (digests are compared).
    pub fn matches(&self, presented: &str) -> bool {
        constant_time_eq(&sha256_hex(presented.as_bytes()), &self.digest)
    }
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests fail loudly")]
    use super::MetricsToken;

    #[test]
    fn matches_only_itself() {
        let t = MetricsToken::parse(" 0123456789abcdef0123 \n").unwrap();
        assert!(t.matches("0123456789abcdef0123"));
        assert!(!t.matches("0123456789abcdef0124"));
        assert!(!t.matches(""));
    }

    #[test]
    fn refuses_short_or_unprintable_tokens() {
        assert!(MetricsToken::parse("short").is_err());
        assert!(MetricsToken::parse("0123456789 abcdef0123").is_err());
        assert!(
            !format!("{:?}", MetricsToken::parse("0123456789abcdef0123").unwrap()).contains("0123")
        );
    }
}
