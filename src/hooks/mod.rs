//! Signed webhooks from online shops: each provider is one module with a signature check over
//! the raw body and a parser from its JSON into one [`Delivery`].

pub mod attempts;
pub mod etsy;
pub mod sample;
pub mod shopify;
pub mod square;
pub mod stripe;
pub mod woocommerce;

use crate::domain::shop::{Delivery, GivenCard, Provider, card_in_fields};
use axum::http::HeaderMap;

/// The largest body a shop may send; Shopify's largest orders stay well under it.
pub const MAX_BODY: usize = 256 * 1024;

/// Why a delivery was not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HookError {
    /// No signature, or one that does not match the body and secret (or is too old).
    #[error("the signature is missing or does not match")]
    BadSignature,
    /// Signed, but not a delivery this server can read.
    #[error("{0}")]
    Unreadable(String),
}

/// Checks a delivery's signature as `provider` documents it; `url` is the address the shop
/// posts to (Square signs it with the body), `now` is Unix seconds.
pub fn verify(
    provider: Provider,
    secret: &str,
    url: &str,
    headers: &HeaderMap,
    body: &[u8],
    now: i64,
) -> Result<(), HookError> {
    match provider {
        Provider::Shopify => shopify::verify(secret, header(headers, shopify::SIGNATURE), body),
        Provider::Stripe => stripe::verify(secret, header(headers, stripe::SIGNATURE), body, now),
        Provider::Square => square::verify(secret, url, header(headers, square::SIGNATURE), body),
        Provider::WooCommerce => {
            woocommerce::verify(secret, header(headers, woocommerce::SIGNATURE), body)
        }
        // Etsy posts nothing; `/hooks/etsy` is not served, and nothing signed is taken for it.
        Provider::Etsy => Err(HookError::BadSignature),
    }
}

/// Checks a delivery's signature, then reads it: what every delivery goes through before it
/// is applied (or, for the owner's test, tried).
pub fn check(
    provider: Provider,
    secret: &str,
    url: &str,
    headers: &HeaderMap,
    body: &[u8],
    now: i64,
) -> Result<Delivery, HookError> {
    verify(provider, secret, url, headers, body, now)?;
    parse(provider, headers, body)
}

/// Reads a verified delivery.
pub fn parse(provider: Provider, headers: &HeaderMap, body: &[u8]) -> Result<Delivery, HookError> {
    match provider {
        Provider::Shopify => shopify::parse(headers, body),
        Provider::Stripe => stripe::parse(body),
        Provider::Square => square::parse(body),
        Provider::WooCommerce => woocommerce::parse(headers, body),
        Provider::Etsy => Err(unreadable("Etsy sends no webhooks")),
    }
}

/// Whether a delivery is a shop's unsigned "is this address alive?" check (WooCommerce's
/// ping when a webhook is saved), to be answered 200 with nothing applied.
pub fn is_ping(provider: Provider, headers: &HeaderMap, body: &[u8]) -> bool {
    provider == Provider::WooCommerce && woocommerce::is_ping(headers, body)
}

/// A header's value as text, if present and visible ASCII.
fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Whether `expected` is the HMAC-SHA256 of `message` keyed with `secret`, compared in
/// constant time.
fn mac_matches(secret: &str, message: &[u8], expected: &[u8]) -> bool {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    ring::hmac::verify(&key, message, expected).is_ok()
}

/// The HMAC-SHA256 of `message` keyed with `secret`, as a shop signs.
fn mac(secret: &str, message: &[u8]) -> Vec<u8> {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    ring::hmac::sign(&key, message).as_ref().to_vec()
}

/// A base64 HMAC-SHA256 signature header's value (Shopify, WooCommerce, Square).
fn base64_sign(secret: &str, message: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(mac(secret, message))
}

/// Checks a base64 HMAC-SHA256 signature header (Shopify, WooCommerce, Square) over `message`.
fn base64_mac(secret: &str, signature: Option<&str>, message: &[u8]) -> Result<(), HookError> {
    use base64::Engine as _;
    let given = signature
        .and_then(|s| {
            base64::engine::general_purpose::STANDARD
                .decode(s.trim())
                .ok()
        })
        .ok_or(HookError::BadSignature)?;
    if mac_matches(secret, message, &given) {
        Ok(())
    } else {
        Err(HookError::BadSignature)
    }
}

/// One named field an order carries: Shopify's note attributes (`name`, `value`) and
/// WooCommerce's meta data (`key`, `value`); a value of another shape is kept but never a card.
#[derive(serde::Deserialize)]
struct Field {
    #[serde(alias = "key", default)]
    name: Option<String>,
    #[serde(default)]
    value: serde_json::Value,
}

/// A field's value as text: a string, or a number (typed into a numeric checkout field).
fn text(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The loyalty card number among named fields.
fn card_in<'a>(
    fields: impl IntoIterator<Item = (&'a str, &'a serde_json::Value)>,
) -> Option<GivenCard> {
    let texts: Vec<(&str, String)> = fields
        .into_iter()
        .filter_map(|(k, v)| text(v).map(|t| (k, t)))
        .collect();
    card_in_fields(texts.iter().map(|(k, v)| (*k, v.as_str())))
}

/// The loyalty card number among a list of named fields.
fn card_in_list(fields: &[Field]) -> Option<GivenCard> {
    card_in(
        fields
            .iter()
            .filter_map(|f| f.name.as_deref().map(|n| (n, &f.value))),
    )
}

fn unreadable(e: impl std::fmt::Display) -> HookError {
    HookError::Unreadable(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A delivery body kept under `tests/fixtures/hooks/`, in the provider's documented shape.
    pub(crate) fn fixture(name: &str) -> serde_json::Value {
        let path = format!("{}/tests/fixtures/hooks/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// A valid card number (Luhn check digit 2) and the same with a wrong check digit.
    pub(crate) const CARD: &str = "400000000002";
    pub(crate) const BAD_CARD: &str = "400000000007";

    /// The card a paid delivery carries.
    pub(crate) fn card_of(d: Result<Delivery, HookError>) -> Option<GivenCard> {
        match d.map(|d| d.event) {
            Ok(crate::domain::shop::ShopEvent::Paid(o)) => o.card,
            other => panic!("not a paid order: {other:?}"),
        }
    }

    pub(crate) fn valid() -> Option<GivenCard> {
        crate::domain::card::CardNumber::parse(CARD)
            .ok()
            .map(GivenCard::Valid)
    }

    #[test]
    fn hmac_matches_rfc_4231_case_2() {
        let tag = hex::decode("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
            .unwrap_or_default();
        assert!(mac_matches("Jefe", b"what do ya want for nothing?", &tag));
        assert!(!mac_matches("Jefe", b"what do ya want for nothing!", &tag));
        assert!(!mac_matches(
            "Jefe",
            b"what do ya want for nothing?",
            &tag[..31]
        ));
    }
}
