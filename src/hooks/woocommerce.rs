//! WooCommerce: `X-WC-Webhook-Signature` is the base64 HMAC-SHA256 of the raw body keyed with
//! the webhook's secret; the topic is in `X-WC-Webhook-Topic` and the delivery id in
//! `X-WC-Webhook-Delivery-ID`. WooCommerce has no "paid" topic: an `order.created` or
//! `order.updated` whose `date_paid` is set and whose status is `processing` or `completed`
//! awards. Refunds come as `order.updated` too, with the order's `refunds` (negative decimal
//! `total`s) or the status `refunded`; they count as the order's running refund total, so
//! however many updates repeat them, the points go back once. Amounts are decimal strings.

use super::{HookError, header, unreadable};
use crate::domain::money::{Currency, Money};
use crate::domain::shop::{
    Delivery, PaidOrder, Refund, RefundAmount, ShopEvent, decimal_minor, parse_id,
};
use axum::http::HeaderMap;
use serde::Deserialize;

/// The signature header.
pub const SIGNATURE: &str = "x-wc-webhook-signature";
/// The topic header, e.g. `order.updated`.
pub const TOPIC: &str = "x-wc-webhook-topic";
/// The delivery id header.
pub const DELIVERY_ID: &str = "x-wc-webhook-delivery-id";

/// Whether this is the unsigned ping WooCommerce sends when a webhook is saved: no signature
/// and a form body `webhook_id=N`. It must get a 200 or WooCommerce shows the webhook as
/// failing; it carries nothing to apply.
pub fn is_ping(headers: &HeaderMap, body: &[u8]) -> bool {
    let id = body.strip_prefix(b"webhook_id=").unwrap_or_default();
    !headers.contains_key(SIGNATURE)
        && (1..=20).contains(&id.len())
        && id.iter().all(u8::is_ascii_digit)
}

/// Checks the signature over the raw body.
pub fn verify(secret: &str, signature: Option<&str>, body: &[u8]) -> Result<(), HookError> {
    super::base64_mac(secret, signature, body)
}

/// The signature header's value for `body`, as WooCommerce signs.
pub fn sign(secret: &str, body: &[u8]) -> String {
    super::base64_sign(secret, body)
}

#[derive(Deserialize)]
struct Order {
    id: u64,
    status: String,
    currency: String,
    total: String,
    #[serde(default)]
    date_paid: Option<String>,
    #[serde(default)]
    billing: Option<Billing>,
    #[serde(default)]
    refunds: Vec<OrderRefund>,
    #[serde(default)]
    meta_data: Option<Vec<super::Field>>,
}

#[derive(Deserialize)]
struct Billing {
    email: Option<String>,
}

#[derive(Deserialize)]
struct OrderRefund {
    total: String,
}

/// Reads a verified delivery.
pub fn parse(headers: &HeaderMap, body: &[u8]) -> Result<Delivery, HookError> {
    let id = header(headers, DELIVERY_ID)
        .ok_or_else(|| unreadable("X-WC-Webhook-Delivery-ID is missing"))
        .and_then(|id| parse_id("X-WC-Webhook-Delivery-ID", id).map_err(unreadable))?;
    let topic = header(headers, TOPIC).unwrap_or_default();
    let event = match topic {
        "order.created" | "order.updated" => {
            order(serde_json::from_slice(body).map_err(unreadable)?)
        }
        other => ShopEvent::Ignored(format!("topic {other}")),
    };
    Ok(Delivery { id, event })
}

fn order(o: Order) -> ShopEvent {
    let Ok(currency) = Currency::parse(&o.currency) else {
        return ShopEvent::Ignored(format!("unknown currency {:?}", o.currency));
    };
    let Ok(total) = decimal_minor(&o.total, currency) else {
        return ShopEvent::Ignored(format!("order total {:?}", o.total));
    };
    let order_id = o.id.to_string();
    // The order's refunds list each refund's total as a negative amount ("-10.00").
    let mut refunded: i64 = 0;
    for r in &o.refunds {
        let minor = decimal_minor(r.total.strip_prefix('-').unwrap_or(&r.total), currency);
        match minor {
            Ok(m) => refunded = refunded.saturating_add(m),
            Err(_) => return ShopEvent::Ignored(format!("refund total {:?}", r.total)),
        }
    }
    if o.status == "refunded" {
        refunded = refunded.max(total);
    }
    if refunded > 0 {
        return ShopEvent::Refunded(Refund {
            order_id,
            amount: RefundAmount::Total(refunded),
        });
    }
    let paid = o.date_paid.as_deref().is_some_and(|d| !d.is_empty())
        && matches!(o.status.as_str(), "processing" | "completed");
    if !paid {
        return ShopEvent::Ignored(format!("order {} not paid", o.status));
    }
    let Ok(amount) = Money::purchase(total, currency) else {
        return ShopEvent::Ignored(format!("order total {:?}", o.total));
    };
    ShopEvent::Paid(PaidOrder {
        order_id,
        email: o.billing.and_then(|b| b.email).filter(|e| !e.is_empty()),
        amount,
        card: super::card_in_list(o.meta_data.as_deref().unwrap_or_default()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_base64_hmac_of_the_body() {
        // RFC 4231 case 2, in WooCommerce's encoding.
        let sig = "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM=";
        let msg = b"what do ya want for nothing?";
        assert_eq!(verify("Jefe", Some(sig), msg), Ok(()));
        let bad = Err(HookError::BadSignature);
        assert_eq!(
            verify("Jefe", Some(sig), b"what do ya want for nothing!"),
            bad
        );
        assert_eq!(verify("jefe", Some(sig), msg), bad);
        assert_eq!(verify("Jefe", None, msg), bad);
        assert_eq!(verify("Jefe", Some("not base64!"), msg), bad);
    }

    #[test]
    fn the_ping_is_unsigned_and_nothing_else_is_a_ping() {
        let none = HeaderMap::new();
        assert!(is_ping(&none, b"webhook_id=42"));
        assert!(!is_ping(&none, b"webhook_id="));
        assert!(!is_ping(&none, b"webhook_id=42&x=1"));
        assert!(!is_ping(&none, br#"{"id":42}"#));
        let mut signed = HeaderMap::new();
        signed.insert(SIGNATURE, "abc=".parse().unwrap_or_else(|_| unreachable!()));
        assert!(!is_ping(&signed, b"webhook_id=42"));
    }

    fn headers(topic: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(TOPIC, topic.parse().unwrap_or_else(|_| unreachable!()));
        h.insert(
            DELIVERY_ID,
            "7ac9c4ef4b2a1c3b6ee55b8eb2cc6f5d"
                .parse()
                .unwrap_or_else(|_| unreachable!()),
        );
        h
    }

    fn event(topic: &str, body: &str) -> ShopEvent {
        parse(&headers(topic), body.as_bytes())
            .unwrap_or_else(|e| panic!("{e}"))
            .event
    }

    #[test]
    fn paid_when_date_paid_and_processing_or_completed() {
        let paid = r#"{"id":727,"status":"processing","currency":"EUR","total":"29.35",
            "date_paid":"2017-03-22T16:28:08","billing":{"email":"john.doe@example.com"},"refunds":[]}"#;
        let ShopEvent::Paid(o) = event("order.updated", paid) else {
            panic!("not paid")
        };
        assert_eq!(o.order_id, "727");
        assert_eq!(o.amount.amount_minor, 2935);
        assert_eq!(o.amount.currency.as_str(), "EUR");
        assert_eq!(o.email.as_deref(), Some("john.doe@example.com"));
        assert!(matches!(event("order.created", paid), ShopEvent::Paid(_)));
        let pending = r#"{"id":727,"status":"pending","currency":"EUR","total":"29.35",
            "date_paid":null,"billing":{"email":"john.doe@example.com"}}"#;
        assert!(matches!(
            event("order.updated", pending),
            ShopEvent::Ignored(_)
        ));
        let on_hold = r#"{"id":727,"status":"on-hold","currency":"EUR","total":"29.35",
            "date_paid":"2017-03-22T16:28:08"}"#;
        assert!(matches!(
            event("order.updated", on_hold),
            ShopEvent::Ignored(_)
        ));
        assert!(matches!(
            event("product.updated", "{}"),
            ShopEvent::Ignored(_)
        ));
        assert!(parse(&headers("order.updated"), b"webhook_id=1").is_err());
    }

    #[test]
    fn refunds_count_as_the_orders_running_total() {
        let partial = r#"{"id":727,"status":"completed","currency":"EUR","total":"29.35",
            "date_paid":"2017-03-22T16:28:08",
            "refunds":[{"id":730,"reason":"","total":"-10.00"},{"id":731,"reason":"","total":"-0.35"}]}"#;
        assert_eq!(
            event("order.updated", partial),
            ShopEvent::Refunded(Refund {
                order_id: "727".into(),
                amount: RefundAmount::Total(1035)
            })
        );
        let full = r#"{"id":727,"status":"refunded","currency":"EUR","total":"29.35",
            "date_paid":"2017-03-22T16:28:08","refunds":[]}"#;
        assert_eq!(
            event("order.updated", full),
            ShopEvent::Refunded(Refund {
                order_id: "727".into(),
                amount: RefundAmount::Total(2935)
            })
        );
    }

    #[test]
    fn the_card_number_comes_from_meta_data() {
        use crate::hooks::tests::{CARD, card_of, fixture, valid};
        let mut v = fixture("woocommerce-order-updated.json");
        v["status"] = serde_json::json!("processing");
        v["date_paid"] = serde_json::json!("2017-03-22T16:28:08");
        v["refunds"] = serde_json::json!([]);
        let body = |v: &serde_json::Value| serde_json::to_vec(v).unwrap_or_default();
        assert_eq!(card_of(parse(&headers("order.updated"), &body(&v))), None);
        v["meta_data"] = serde_json::json!([
            {"id": 13106, "key": "_download_permissions_granted", "value": "yes"},
            {"id": 13107, "key": "_billing_something", "value": {"nested": true}},
            {"id": 13108, "key": "loyalty_card", "value": CARD}
        ]);
        assert_eq!(
            card_of(parse(&headers("order.updated"), &body(&v))),
            valid()
        );
        // A numeric checkout field sends a number.
        v["meta_data"][2]["value"] = serde_json::json!(400_000_000_002_u64);
        assert_eq!(
            card_of(parse(&headers("order.updated"), &body(&v))),
            valid()
        );
    }
}
