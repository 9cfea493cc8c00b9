//! Etsy, which sends no order webhooks: the owner's credentials for polling its Open API v3,
//! how often to poll, and the cursor that makes every receipt count once.

use super::DomainError;

/// The app's API key as Etsy requires it in `x-api-key`: `keystring:shared_secret` (Etsy
/// rejects a keystring alone since February 2026).
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct EtsyKey(String);

impl EtsyKey {
    /// Parses a key as pasted from Etsy's "Your Apps" page.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let s = raw.trim();
        let part = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_graphic() && b != b':');
        match s.split_once(':') {
            Some((key, secret)) if s.len() <= 255 && part(key) && part(secret) => {
                Ok(Self(s.to_owned()))
            }
            _ => Err(DomainError::invalid(
                "api_key",
                "must be the app's keystring and shared secret joined by a colon (keystring:secret)",
            )),
        }
    }

    /// The `x-api-key` header value.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The keystring alone: the OAuth `client_id`.
    pub fn client_id(&self) -> &str {
        self.0.split_once(':').map_or(&self.0, |(k, _)| k)
    }
}

impl std::fmt::Debug for EtsyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EtsyKey(..)")
    }
}

/// An Etsy shop's numeric id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct ShopId(u64);

impl ShopId {
    /// Parses a shop id: digits only, not zero.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let s = raw.trim();
        match s.parse::<u64>() {
            Ok(n) if n > 0 && s.bytes().all(|b| b.is_ascii_digit()) => Ok(Self(n)),
            _ => Err(DomainError::invalid(
                "shop_id",
                "must be the shop's numeric id, as in Etsy's shop settings",
            )),
        }
    }

    /// The id.
    pub fn get(self) -> u64 {
        self.0
    }
}

/// An OAuth access or refresh token: 1 to 1024 visible ASCII characters, never shown back.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct OAuthToken(String);

impl OAuthToken {
    /// Parses a token; `what` names the field in the error.
    pub fn parse(what: &'static str, raw: &str) -> Result<Self, DomainError> {
        let s = raw.trim();
        if (1..=1024).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_graphic()) {
            Ok(Self(s.to_owned()))
        } else {
            Err(DomainError::invalid(
                what,
                "must be the token Etsy issued: 1 to 1024 visible ASCII characters",
            ))
        }
    }

    /// The token, to send.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for OAuthToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OAuthToken(..)")
    }
}

/// How often Etsy is polled, in whole minutes: 1 minute to 24 hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct PollEvery(u32);

impl PollEvery {
    /// Five minutes: new orders show within minutes, and Etsy's rate limits are far away.
    pub const DEFAULT: PollEvery = PollEvery(5);

    /// Parses a number of minutes.
    pub fn minutes(n: i64) -> Result<Self, DomainError> {
        match u32::try_from(n) {
            Ok(m) if (1..=1440).contains(&m) => Ok(Self(m)),
            _ => Err(DomainError::invalid(
                "poll_minutes",
                "must be 1 to 1440 minutes (24 hours)",
            )),
        }
    }

    /// The minutes.
    pub fn get(self) -> u32 {
        self.0
    }

    /// As a duration.
    pub fn duration(self) -> std::time::Duration {
        std::time::Duration::from_secs(u64::from(self.0) * 60)
    }
}

impl Default for PollEvery {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Where polling has got to: the last `updated_timestamp` fully applied, and the receipts
/// applied at exactly that second, so a receipt updated in the same second as the last one
/// is neither skipped nor counted again.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Cursor {
    /// Unix seconds.
    pub updated: i64,
    /// Receipt ids applied at `updated`.
    pub ids: Vec<u64>,
}

impl Cursor {
    /// Whether a receipt last changed at `updated` still has to be applied.
    pub fn is_new(&self, updated: i64, receipt: u64) -> bool {
        updated > self.updated || (updated == self.updated && !self.ids.contains(&receipt))
    }

    /// Records a receipt as applied; an older one (a page out of order) moves nothing back.
    pub fn advance(&mut self, updated: i64, receipt: u64) {
        if updated > self.updated {
            self.updated = updated;
            self.ids.clear();
        }
        if updated == self.updated && !self.ids.contains(&receipt) {
            self.ids.push(receipt);
        }
    }
}

/// The wait after `failures` failed polls in a row: the interval, doubling with each failure,
/// up to an hour (or the interval, when that is longer).
pub fn backoff(every: std::time::Duration, failures: u32) -> std::time::Duration {
    let cap = every.max(std::time::Duration::from_secs(3600));
    let factor = 1u32 << failures.saturating_sub(1).min(16);
    every.saturating_mul(factor).min(cap)
}

/// What an HTTP status from Etsy means, in words for the owner.
pub fn status_words(status: u16) -> String {
    match status {
        401 => "Etsy refused the token; connect again".into(),
        403 => "Etsy refused the API key or the token lacks transactions_r; connect again".into(),
        404 => "Etsy knows no such shop; check the shop id".into(),
        429 => "Etsy asked us to slow down (rate limit)".into(),
        500..=599 => format!("Etsy is failing (HTTP {status}); trying again later"),
        s => format!("Etsy answered HTTP {s}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn key_needs_keystring_and_secret() {
        let k =
            EtsyKey::parse(" exJeyZtXODeekHfX8VRgMQ:a1b2c3d4e5 ").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(k.expose(), "exJeyZtXODeekHfX8VRgMQ:a1b2c3d4e5");
        assert_eq!(k.client_id(), "exJeyZtXODeekHfX8VRgMQ");
        assert_eq!(format!("{k:?}"), "EtsyKey(..)");
        for bad in [
            "",
            "exJeyZtXODeekHfX8VRgMQ",
            ":a1b2",
            "abc:",
            "a:b:c",
            "a b:c",
        ] {
            assert!(EtsyKey::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn shop_ids_and_intervals() {
        assert_eq!(ShopId::parse("12345678").map(ShopId::get), Ok(12_345_678));
        for bad in ["", "0", "-1", "12a", "+5", " "] {
            assert!(ShopId::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(PollEvery::minutes(1).map(PollEvery::get), Ok(1));
        assert_eq!(PollEvery::minutes(1440).map(PollEvery::get), Ok(1440));
        for bad in [0, -5, 1441, i64::MAX] {
            assert!(PollEvery::minutes(bad).is_err(), "{bad} accepted");
        }
        assert!(OAuthToken::parse("access_token", "").is_err());
        assert!(OAuthToken::parse("access_token", "12345678.VJTv9qyjwJbYlARxdFmEEQ").is_ok());
    }

    #[test]
    fn cursor_keeps_same_second_receipts() {
        let mut c = Cursor::default();
        assert!(c.is_new(100, 1));
        c.advance(100, 1);
        assert!(!c.is_new(100, 1));
        assert!(c.is_new(100, 2), "same second, other receipt");
        assert!(!c.is_new(99, 3));
        c.advance(100, 2);
        c.advance(99, 3);
        assert_eq!(
            c,
            Cursor {
                updated: 100,
                ids: vec![1, 2]
            }
        );
        c.advance(101, 1);
        assert_eq!(
            c,
            Cursor {
                updated: 101,
                ids: vec![1]
            }
        );
        assert!(c.is_new(101, 2));
    }

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        let five = Duration::from_secs(300);
        assert_eq!(backoff(five, 1), five);
        assert_eq!(backoff(five, 2), five * 2);
        assert_eq!(backoff(five, 4), five * 8);
        assert_eq!(backoff(five, 40), Duration::from_secs(3600));
        let day = Duration::from_secs(86_400);
        assert_eq!(backoff(day, 3), day);
        assert_eq!(status_words(401), "Etsy refused the token; connect again");
    }
}
