//! Shopify: `X-Shopify-Hmac-Sha256` is the base64 HMAC-SHA256 of the raw body keyed with the
//! app's secret. `orders/paid` awards; `refunds/create` takes back; the delivery id is
//! `X-Shopify-Webhook-Id`. Amounts are decimal strings in the order's currency.

use super::{HookError, header, unreadable};
use crate::domain::money::{Currency, Money};
use crate::domain::shop::{
    Delivery, PaidOrder, Refund, RefundAmount, ShopEvent, decimal_minor, parse_id,
};
use axum::http::HeaderMap;
use serde::Deserialize;

/// The signature header.
pub const SIGNATURE: &str = "x-shopify-hmac-sha256";
/// The topic header, e.g. `orders/paid`.
pub const TOPIC: &str = "x-shopify-topic";
/// The delivery id header; the same on every retry of one delivery.
pub const WEBHOOK_ID: &str = "x-shopify-webhook-id";

/// Checks the signature over the raw body.
pub fn verify(secret: &str, signature: Option<&str>, body: &[u8]) -> Result<(), HookError> {
    super::base64_mac(secret, signature, body)
}

/// The signature header's value for `body`, as Shopify signs.
pub fn sign(secret: &str, body: &[u8]) -> String {
    super::base64_sign(secret, body)
}

#[derive(Deserialize)]
struct Order {
    id: u64,
    email: Option<String>,
    #[serde(default)]
    contact_email: Option<String>,
    #[serde(default)]
    customer: Option<Customer>,
    total_price: String,
    currency: String,
    #[serde(default)]
    note_attributes: Option<Vec<super::Field>>,
}

#[derive(Deserialize)]
struct Customer {
    email: Option<String>,
}

#[derive(Deserialize)]
struct RefundBody {
    order_id: u64,
    #[serde(default)]
    transactions: Vec<Transaction>,
}

#[derive(Deserialize)]
struct Transaction {
    kind: String,
    status: String,
    amount: String,
    currency: Option<String>,
}

/// Reads a verified delivery.
pub fn parse(headers: &HeaderMap, body: &[u8]) -> Result<Delivery, HookError> {
    let id = header(headers, WEBHOOK_ID)
        .ok_or_else(|| unreadable("X-Shopify-Webhook-Id is missing"))
        .and_then(|id| parse_id("X-Shopify-Webhook-Id", id).map_err(unreadable))?;
    let topic = header(headers, TOPIC).unwrap_or_default();
    let event = match topic {
        "orders/paid" => paid(serde_json::from_slice(body).map_err(unreadable)?),
        "refunds/create" => refund(serde_json::from_slice(body).map_err(unreadable)?),
        other => ShopEvent::Ignored(format!("topic {other}")),
    };
    Ok(Delivery { id, event })
}

fn paid(o: Order) -> ShopEvent {
    let Ok(currency) = Currency::parse(&o.currency) else {
        return ShopEvent::Ignored(format!("unknown currency {:?}", o.currency));
    };
    let amount =
        decimal_minor(&o.total_price, currency).and_then(|minor| Money::purchase(minor, currency));
    let Ok(amount) = amount else {
        return ShopEvent::Ignored(format!("order total {:?}", o.total_price));
    };
    let email = o
        .email
        .filter(|e| !e.is_empty())
        .or(o.contact_email.filter(|e| !e.is_empty()))
        .or(o.customer.and_then(|c| c.email));
    ShopEvent::Paid(PaidOrder {
        order_id: o.id.to_string(),
        email,
        amount,
        card: super::card_in_list(o.note_attributes.as_deref().unwrap_or_default()),
    })
}

fn refund(r: RefundBody) -> ShopEvent {
    let mut total: i64 = 0;
    for t in r
        .transactions
        .iter()
        .filter(|t| t.kind == "refund" && t.status == "success")
    {
        let minor = t
            .currency
            .as_deref()
            .map(Currency::parse)
            .and_then(Result::ok)
            .and_then(|c| decimal_minor(&t.amount, c).ok());
        match minor {
            Some(m) => total = total.saturating_add(m),
            None => return ShopEvent::Ignored(format!("refund amount {:?}", t.amount)),
        }
    }
    if total == 0 {
        return ShopEvent::Ignored("refund of no money (restock or note only)".into());
    }
    ShopEvent::Refunded(Refund {
        order_id: r.order_id.to_string(),
        amount: RefundAmount::This(total),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_base64_hmac_of_the_body() {
        // RFC 4231 case 2, in Shopify's encoding.
        let sig = "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM=";
        assert_eq!(
            verify("Jefe", Some(sig), b"what do ya want for nothing?"),
            Ok(())
        );
        assert_eq!(
            verify("Jefe", Some(sig), b"what do ya want for nothing!"),
            Err(HookError::BadSignature)
        );
        assert_eq!(
            verify("jefe", Some(sig), b"what do ya want for nothing?"),
            Err(HookError::BadSignature)
        );
        assert_eq!(verify("Jefe", None, b""), Err(HookError::BadSignature));
        assert_eq!(
            verify("Jefe", Some("not base64!"), b""),
            Err(HookError::BadSignature)
        );
    }

    fn headers(topic: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(TOPIC, topic.parse().unwrap_or_else(|_| unreachable!()));
        h.insert(
            WEBHOOK_ID,
            "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"
                .parse()
                .unwrap_or_else(|_| unreachable!()),
        );
        h
    }

    #[test]
    fn paid_orders_and_refunds() {
        let body = br#"{"id":820982911946154508,"email":"Jon@Example.com","total_price":"254.98","currency":"USD"}"#;
        let d = parse(&headers("orders/paid"), body).unwrap_or_else(|e| panic!("{e}"));
        let ShopEvent::Paid(o) = d.event else {
            panic!("not paid")
        };
        assert_eq!(o.order_id, "820982911946154508");
        assert_eq!(o.amount.amount_minor, 25498);
        assert_eq!(o.email.as_deref(), Some("Jon@Example.com"));
        let body = br#"{"id":1,"order_id":820982911946154508,"transactions":[
            {"kind":"refund","status":"success","amount":"10.00","currency":"USD"},
            {"kind":"refund","status":"failure","amount":"99.00","currency":"USD"}]}"#;
        let d = parse(&headers("refunds/create"), body).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            d.event,
            ShopEvent::Refunded(Refund {
                order_id: "820982911946154508".into(),
                amount: RefundAmount::This(1000)
            })
        );
        let d = parse(&headers("orders/create"), b"{}").unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(d.event, ShopEvent::Ignored(_)));
        assert!(parse(&headers("orders/paid"), b"{").is_err());
    }

    #[test]
    fn the_card_number_comes_from_a_note_attribute() {
        use crate::hooks::tests::{BAD_CARD, CARD, card_of, fixture, valid};
        let mut v = fixture("shopify-orders-paid.json");
        let body = |v: &serde_json::Value| serde_json::to_vec(v).unwrap_or_default();
        assert_eq!(card_of(parse(&headers("orders/paid"), &body(&v))), None);
        v["note_attributes"] = serde_json::json!([
            {"name": "gift_message", "value": "Happy birthday"},
            {"name": "Loyalty card", "value": CARD}
        ]);
        assert_eq!(card_of(parse(&headers("orders/paid"), &body(&v))), valid());
        v["note_attributes"][1]["value"] = serde_json::json!(BAD_CARD);
        assert!(matches!(
            card_of(parse(&headers("orders/paid"), &body(&v))),
            Some(crate::domain::shop::GivenCard::Invalid(_))
        ));
        v["note_attributes"] = serde_json::Value::Null;
        assert_eq!(card_of(parse(&headers("orders/paid"), &body(&v))), None);
    }
}
