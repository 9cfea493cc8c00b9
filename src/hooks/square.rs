//! Square: `x-square-hmacsha256-signature` is the base64 HMAC-SHA256, keyed with the
//! subscription's signature key, of the notification URL exactly as configured in Square
//! followed by the raw body. `payment.updated` with the payment `COMPLETED` awards, keyed by
//! the payment's id: an order paid in several payments (a split bill) earns on each, and a
//! refund names the payment it gives back from; `refund.created` and
//! `refund.updated` with the refund `COMPLETED` take back that refund's amount. Amounts are
//! minor units. The event's `event_id` is the delivery id, except for a completed refund,
//! which is keyed by the refund's id so its later updates never take back twice.

use super::{HookError, unreadable};
use crate::domain::money::{Currency, Money};
use crate::domain::shop::{
    Delivery, PaidOrder, Refund, RefundAmount, ShopEvent, card_in_note, parse_id,
};
use serde::Deserialize;

/// The signature header.
pub const SIGNATURE: &str = "x-square-hmacsha256-signature";

/// Checks the signature over `url` followed by the raw body.
pub fn verify(
    secret: &str,
    url: &str,
    signature: Option<&str>,
    body: &[u8],
) -> Result<(), HookError> {
    super::base64_mac(secret, signature, &signed(url, body))
}

/// The signature header's value for `body` posted to `url`, as Square signs.
pub fn sign(secret: &str, url: &str, body: &[u8]) -> String {
    super::base64_sign(secret, &signed(url, body))
}

/// What Square signs: the notification URL, then the body.
fn signed(url: &str, body: &[u8]) -> Vec<u8> {
    let mut signed = Vec::with_capacity(url.len() + body.len());
    signed.extend_from_slice(url.as_bytes());
    signed.extend_from_slice(body);
    signed
}

#[derive(Deserialize)]
struct Event {
    event_id: String,
    #[serde(rename = "type")]
    kind: String,
    data: Data,
}

#[derive(Deserialize)]
struct Data {
    // Square's "send test event" has no object; it must still get a 200.
    #[serde(default)]
    object: Object,
}

#[derive(Deserialize, Default)]
struct Object {
    payment: Option<Payment>,
    refund: Option<SquareRefund>,
}

#[derive(Deserialize)]
struct Amount {
    amount: i64,
    currency: String,
}

#[derive(Deserialize)]
struct Payment {
    id: String,
    status: String,
    amount_money: Amount,
    buyer_email_address: Option<String>,
    #[serde(default)]
    note: Option<String>,
}

#[derive(Deserialize)]
struct SquareRefund {
    id: String,
    status: String,
    amount_money: Amount,
    payment_id: String,
}

/// Reads a verified event.
pub fn parse(body: &[u8]) -> Result<Delivery, HookError> {
    let e: Event = serde_json::from_slice(body).map_err(unreadable)?;
    let id = parse_id("event_id", &e.event_id).map_err(unreadable)?;
    let missing = |what: &str| unreadable(format!("{} without a {what}", e.kind));
    match e.kind.as_str() {
        "payment.created" | "payment.updated" => {
            let p = e.data.object.payment.ok_or_else(|| missing("payment"))?;
            Ok(Delivery { id, event: paid(p) })
        }
        "refund.created" | "refund.updated" => {
            let r = e.data.object.refund.ok_or_else(|| missing("refund"))?;
            if r.status != "COMPLETED" {
                return Ok(Delivery {
                    id,
                    event: ShopEvent::Ignored(format!("refund {}", r.status)),
                });
            }
            let id = parse_id("refund id", &format!("refund-{}", r.id)).map_err(unreadable)?;
            Ok(Delivery {
                id,
                event: ShopEvent::Refunded(Refund {
                    order_id: r.payment_id,
                    amount: RefundAmount::This(r.amount_money.amount),
                }),
            })
        }
        other => Ok(Delivery {
            id,
            event: ShopEvent::Ignored(format!("event {other}")),
        }),
    }
}

fn paid(p: Payment) -> ShopEvent {
    if p.status != "COMPLETED" {
        return ShopEvent::Ignored(format!("payment {}", p.status));
    }
    let amount = Currency::parse(&p.amount_money.currency)
        .and_then(|c| Money::purchase(p.amount_money.amount, c));
    let Ok(amount) = amount else {
        return ShopEvent::Ignored("payment without a usable amount".into());
    };
    ShopEvent::Paid(PaidOrder {
        order_id: p.id,
        email: p.buyer_email_address.filter(|e| !e.is_empty()),
        amount,
        card: p.note.as_deref().and_then(card_in_note),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    // The worked example in Square's own SDK tests (square-python-sdk,
    // tests/utilities/test_webhooks_helper.py).
    const BODY: &str = r#"{"merchant_id":"MLEFBHHSJGVHD","type":"webhooks.test_notification","event_id":"ac3ac95b-f97d-458c-a6e6-18981597e05f","created_at":"2022-07-13T20:30:59.037339943Z","data":{"type":"webhooks","id":"bc368e64-01aa-407e-b46e-3231809b1129"}}"#;
    const SIG: &str = "GF4YkrJgGBDZ9NIYbNXBnMzqb2HoL4RW/S6vkZ9/2N4=";
    const KEY: &str = "Ibxx_5AKakO-3qeNVR61Dw";
    const URL: &str = "https://webhook.site/679a4f3a-dcfa-49ee-bac5-9d0edad886b9";

    #[test]
    fn squares_worked_example() {
        assert_eq!(verify(KEY, URL, Some(SIG), BODY.as_bytes()), Ok(()));
        let bad = Err(HookError::BadSignature);
        let other_url = "https://webhook.site/79a4f3a-dcfa-49ee-bac5-9d0edad886b9";
        assert_eq!(verify(KEY, other_url, Some(SIG), BODY.as_bytes()), bad);
        assert_eq!(
            verify("MCmhFRxGX82xMwg5FsaoQA", URL, Some(SIG), BODY.as_bytes()),
            bad
        );
        assert_eq!(
            verify(
                KEY,
                URL,
                Some("1z2n3DEJJiUPKcPzQo1ftvbxGdw="),
                BODY.as_bytes()
            ),
            bad
        );
        let other_body = BODY.replace("2022-07-13", "2022-06-13");
        assert_eq!(verify(KEY, URL, Some(SIG), other_body.as_bytes()), bad);
        assert_eq!(verify(KEY, URL, None, BODY.as_bytes()), bad);
        // The body alone, without the URL, is not what Square signs.
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, KEY.as_bytes());
        let body_only = base64::engine::general_purpose::STANDARD
            .encode(ring::hmac::sign(&key, BODY.as_bytes()).as_ref());
        assert_eq!(verify(KEY, URL, Some(&body_only), BODY.as_bytes()), bad);
        // A test notification is signed but awards nothing.
        assert!(matches!(
            parse(BODY.as_bytes()).map(|d| d.event),
            Ok(ShopEvent::Ignored(_))
        ));
    }

    #[test]
    fn completed_payments_award_and_completed_refunds_take_back_once() {
        let payment = br#"{"merchant_id":"M","type":"payment.updated","event_id":"e1","data":{
            "type":"payment","id":"p1","object":{"payment":{"id":"p1","status":"COMPLETED",
            "amount_money":{"amount":1999,"currency":"EUR"},"order_id":"o1",
            "buyer_email_address":"a@example.com"}}}}"#;
        let d = parse(payment).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(d.id, "e1");
        let ShopEvent::Paid(o) = d.event else {
            panic!("not paid")
        };
        // Keyed by the payment, not the order: a split bill earns on each payment.
        assert_eq!((o.order_id.as_str(), o.amount.amount_minor), ("p1", 1999));
        assert_eq!(o.email.as_deref(), Some("a@example.com"));
        let approved = String::from_utf8_lossy(payment).replace("COMPLETED", "APPROVED");
        assert!(matches!(
            parse(approved.as_bytes()).map(|d| d.event),
            Ok(ShopEvent::Ignored(_))
        ));
        let refund = br#"{"merchant_id":"M","type":"refund.updated","event_id":"e2","data":{
            "type":"refund","id":"r1","object":{"refund":{"id":"r1","status":"COMPLETED",
            "amount_money":{"amount":500,"currency":"EUR"},"order_id":"o1","payment_id":"p1"}}}}"#;
        let d = parse(refund).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(d.id, "refund-r1");
        assert_eq!(
            d.event,
            ShopEvent::Refunded(Refund {
                order_id: "p1".into(),
                amount: RefundAmount::This(500)
            })
        );
        let pending = String::from_utf8_lossy(refund).replace("COMPLETED", "PENDING");
        let d = parse(pending.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(d.id, "e2");
        assert!(matches!(d.event, ShopEvent::Ignored(_)));
        assert!(parse(b"{").is_err());
    }

    #[test]
    fn the_card_number_comes_from_the_payment_note_in_its_documented_form() {
        use crate::hooks::tests::{CARD, card_of, fixture, valid};
        let mut v = fixture("square-payment-updated.json");
        v["data"]["object"]["payment"]["status"] = serde_json::json!("COMPLETED");
        let body = |v: &serde_json::Value| serde_json::to_vec(v).unwrap_or_default();
        assert_eq!(card_of(parse(&body(&v))), None);
        v["data"]["object"]["payment"]["note"] =
            serde_json::json!(format!("Table 4\nloyalty_card: {CARD}"));
        assert_eq!(card_of(parse(&body(&v))), valid());
        // Digits alone in a note are not taken for a card.
        v["data"]["object"]["payment"]["note"] = serde_json::json!(format!("ref {CARD}"));
        assert_eq!(card_of(parse(&body(&v))), None);
    }
}
