//! Stripe: `Stripe-Signature: t=<unix seconds>,v1=<hex>[,v1=...]`, each `v1` the hex
//! HMAC-SHA256 of `"{t}.{body}"` keyed with the endpoint's signing secret; a timestamp more
//! than five minutes away is refused. `checkout.session.completed` (when `payment_status` is
//! `paid`) and `charge.succeeded` award, both keyed by the payment intent so they award once;
//! `charge.refunded` carries the cumulative `amount_refunded`. Amounts are minor units,
//! currencies lower-case. The event `id` is the delivery id.

use super::{HookError, mac_matches, unreadable};
use crate::domain::money::{Currency, Money};
use crate::domain::shop::{Delivery, PaidOrder, Refund, RefundAmount, ShopEvent, parse_id};
use serde::Deserialize;

/// The signature header.
pub const SIGNATURE: &str = "stripe-signature";
/// How far the signed time may be from ours, in seconds (Stripe's libraries' default).
pub const TOLERANCE: i64 = 300;

/// Checks the signature header over the raw body at Unix time `now`.
pub fn verify(
    secret: &str,
    signature: Option<&str>,
    body: &[u8],
    now: i64,
) -> Result<(), HookError> {
    let header = signature.ok_or(HookError::BadSignature)?;
    let mut t = None;
    let mut sigs = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = Some(v),
            Some(("v1", v)) => sigs.push(v),
            _ => {}
        }
    }
    let t = t.ok_or(HookError::BadSignature)?;
    let when: i64 = t.parse().map_err(|_| HookError::BadSignature)?;
    if when.abs_diff(now) > TOLERANCE.unsigned_abs() {
        return Err(HookError::BadSignature);
    }
    let signed = signed(t, body);
    // Any one of several: Stripe signs with each active secret while one is being rolled.
    let ok = sigs
        .iter()
        .filter_map(|s| hex::decode(s).ok())
        .any(|given| mac_matches(secret, &signed, &given));
    if ok {
        Ok(())
    } else {
        Err(HookError::BadSignature)
    }
}

/// The signature header's value for `body` signed at Unix time `now`, as Stripe signs.
pub fn sign(secret: &str, body: &[u8], now: i64) -> String {
    let t = now.to_string();
    format!(
        "t={t},v1={}",
        hex::encode(super::mac(secret, &signed(&t, body)))
    )
}

/// What Stripe signs: the timestamp as sent, a dot, then the body.
fn signed(t: &str, body: &[u8]) -> Vec<u8> {
    let mut signed = Vec::with_capacity(t.len() + 1 + body.len());
    signed.extend_from_slice(t.as_bytes());
    signed.push(b'.');
    signed.extend_from_slice(body);
    signed
}

#[derive(Deserialize)]
struct Event {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    data: Data,
}

#[derive(Deserialize)]
struct Data {
    object: serde_json::Value,
}

#[derive(Deserialize)]
struct Session {
    id: String,
    payment_status: String,
    amount_total: Option<i64>,
    currency: Option<String>,
    payment_intent: Option<String>,
    customer_details: Option<Details>,
    customer_email: Option<String>,
    #[serde(default)]
    metadata: Option<Metadata>,
}

/// Stripe's `metadata`: string keys and (as Stripe stores them) string values.
type Metadata = std::collections::BTreeMap<String, serde_json::Value>;

fn card(metadata: Option<&Metadata>) -> Option<crate::domain::shop::GivenCard> {
    super::card_in(metadata?.iter().map(|(k, v)| (k.as_str(), v)))
}

#[derive(Deserialize)]
struct Details {
    email: Option<String>,
}

#[derive(Deserialize)]
struct Charge {
    id: String,
    amount: i64,
    #[serde(default)]
    amount_refunded: i64,
    currency: String,
    payment_intent: Option<String>,
    billing_details: Option<Details>,
    receipt_email: Option<String>,
    #[serde(default)]
    paid: bool,
    #[serde(default)]
    metadata: Option<Metadata>,
}

/// Reads a verified event.
pub fn parse(body: &[u8]) -> Result<Delivery, HookError> {
    let e: Event = serde_json::from_slice(body).map_err(unreadable)?;
    let id = parse_id("id", &e.id).map_err(unreadable)?;
    let object = e.data.object;
    let event = match e.kind.as_str() {
        "checkout.session.completed" => {
            session(serde_json::from_value(object).map_err(unreadable)?)
        }
        "charge.succeeded" => charge_paid(serde_json::from_value(object).map_err(unreadable)?),
        "charge.refunded" => {
            let c: Charge = serde_json::from_value(object).map_err(unreadable)?;
            ShopEvent::Refunded(Refund {
                order_id: c.payment_intent.unwrap_or(c.id),
                amount: RefundAmount::Total(c.amount_refunded),
            })
        }
        other => ShopEvent::Ignored(format!("event {other}")),
    };
    Ok(Delivery { id, event })
}

fn money(amount: i64, currency: &str) -> Option<Money> {
    Currency::parse(currency)
        .and_then(|c| Money::purchase(amount, c))
        .ok()
}

fn session(s: Session) -> ShopEvent {
    if s.payment_status != "paid" {
        return ShopEvent::Ignored(format!("checkout session {}", s.payment_status));
    }
    let amount = s
        .amount_total
        .zip(s.currency.as_deref())
        .and_then(|(a, c)| money(a, c));
    let Some(amount) = amount else {
        return ShopEvent::Ignored("checkout session without an amount".into());
    };
    ShopEvent::Paid(PaidOrder {
        card: card(s.metadata.as_ref()),
        order_id: s.payment_intent.unwrap_or(s.id),
        email: s
            .customer_details
            .and_then(|d| d.email)
            .or(s.customer_email),
        amount,
    })
}

fn charge_paid(c: Charge) -> ShopEvent {
    let Some(amount) = money(c.amount, &c.currency).filter(|_| c.paid) else {
        return ShopEvent::Ignored("charge not paid or without an amount".into());
    };
    ShopEvent::Paid(PaidOrder {
        card: card(c.metadata.as_ref()),
        order_id: c.payment_intent.unwrap_or(c.id),
        email: c.billing_details.and_then(|d| d.email).or(c.receipt_email),
        amount,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = br#"{"id":"evt_1"}"#;
    // Computed independently: HMAC-SHA256("whsec_test", "1700000000.{\"id\":\"evt_1\"}").
    const SIG: &str = "c89214b5b5da833daed6f0b8c5bb6bd58cea9022bd80ccc78230f3942d632925";

    #[test]
    fn signature_with_timestamp_and_several_v1() {
        let h = format!("t=1700000000,v1={SIG}");
        assert_eq!(verify("whsec_test", Some(&h), BODY, 1_700_000_000), Ok(()));
        assert_eq!(verify("whsec_test", Some(&h), BODY, 1_700_000_300), Ok(()));
        let bad = Err(HookError::BadSignature);
        assert_eq!(verify("whsec_test", Some(&h), BODY, 1_700_000_301), bad);
        assert_eq!(verify("whsec_test", Some(&h), BODY, 1_699_999_699), bad);
        assert_eq!(verify("whsec_other", Some(&h), BODY, 1_700_000_000), bad);
        assert_eq!(
            verify("whsec_test", Some(&h), br#"{"id":"evt_2"}"#, 1_700_000_000),
            bad
        );
        let several = format!("t=1700000000,v1={},v1={SIG},v0=abc", "00".repeat(32));
        assert_eq!(
            verify("whsec_test", Some(&several), BODY, 1_700_000_000),
            Ok(())
        );
        let v0_only = format!("t=1700000000,v0={SIG}");
        assert_eq!(
            verify("whsec_test", Some(&v0_only), BODY, 1_700_000_000),
            bad
        );
        let other_t = format!("t=1700000001,v1={SIG}");
        assert_eq!(
            verify("whsec_test", Some(&other_t), BODY, 1_700_000_000),
            bad
        );
        assert_eq!(verify("whsec_test", None, BODY, 1_700_000_000), bad);
    }

    #[test]
    fn session_and_charge_name_the_same_payment() {
        let session = br#"{"id":"evt_a","type":"checkout.session.completed","data":{"object":{
            "id":"cs_1","payment_status":"paid","amount_total":1999,"currency":"eur",
            "payment_intent":"pi_1","customer_details":{"email":"a@example.com"}}}}"#;
        let charge = br#"{"id":"evt_b","type":"charge.succeeded","data":{"object":{
            "id":"ch_1","amount":1999,"amount_refunded":0,"currency":"eur","paid":true,
            "payment_intent":"pi_1","billing_details":{"email":"a@example.com"}}}}"#;
        let (ShopEvent::Paid(a), ShopEvent::Paid(b)) = (
            parse(session).unwrap_or_else(|e| panic!("{e}")).event,
            parse(charge).unwrap_or_else(|e| panic!("{e}")).event,
        ) else {
            panic!("not paid")
        };
        assert_eq!(a, b);
        assert_eq!(a.amount.currency.as_str(), "EUR");
        let refunded = br#"{"id":"evt_c","type":"charge.refunded","data":{"object":{
            "id":"ch_1","amount":1999,"amount_refunded":500,"currency":"eur","paid":true,
            "payment_intent":"pi_1"}}}"#;
        assert_eq!(
            parse(refunded).unwrap_or_else(|e| panic!("{e}")).event,
            ShopEvent::Refunded(Refund {
                order_id: "pi_1".into(),
                amount: RefundAmount::Total(500)
            })
        );
        let unpaid = br#"{"id":"evt_d","type":"checkout.session.completed","data":{"object":{
            "id":"cs_2","payment_status":"unpaid","amount_total":1999,"currency":"eur"}}}"#;
        assert!(matches!(
            parse(unpaid).map(|d| d.event),
            Ok(ShopEvent::Ignored(_))
        ));
    }

    #[test]
    fn the_card_number_comes_from_metadata() {
        use crate::hooks::tests::{CARD, card_of, fixture, valid};
        let body = |v: &serde_json::Value| serde_json::to_vec(v).unwrap_or_default();
        for name in [
            "stripe-checkout-session-completed.json",
            "stripe-charge-succeeded.json",
        ] {
            let mut v = fixture(name);
            assert_eq!(card_of(parse(&body(&v))), None, "{name}");
            v["data"]["object"]["metadata"] =
                serde_json::json!({"order_ref": "A-17", "loyalty_card": CARD});
            assert_eq!(card_of(parse(&body(&v))), valid(), "{name}");
            v["data"]["object"]["metadata"] = serde_json::Value::Null;
            assert_eq!(card_of(parse(&body(&v))), None, "{name}");
        }
    }
}
