//! Etsy: no webhooks, so receipts are read from `GET /v3/application/shops/{shop_id}/receipts`
//! and each becomes the deliveries the webhook shops send. A paid receipt earns on its
//! `grandtotal` (what the buyer paid, after discounts, with shipping and tax), as the other
//! shops' order totals do; its `refunds` count as the receipt's running refund total. Money
//! is `{amount, divisor, currency_code}`: `amount / divisor` in the currency's major unit.

use super::{HookError, unreadable};
use crate::domain::money::{Currency, Money};
use crate::domain::shop::{self, Delivery, PaidOrder, Refund, RefundAmount, ShopEvent};
use serde::Deserialize;

/// One page of `getShopReceipts`.
#[derive(Debug, Deserialize)]
pub struct Page {
    /// The receipts, as Etsy sent them.
    pub results: Vec<Receipt>,
}

/// The parts of a receipt that matter here.
#[derive(Debug, Clone, Deserialize)]
pub struct Receipt {
    /// The receipt (order) id.
    pub receipt_id: u64,
    /// When it last changed (Unix seconds): what the cursor follows.
    pub updated_timestamp: i64,
    #[serde(default)]
    buyer_email: Option<String>,
    #[serde(default)]
    is_paid: bool,
    #[serde(default)]
    grandtotal: Option<EtsyMoney>,
    #[serde(default)]
    refunds: Vec<EtsyRefund>,
    /// The buyer's note to the seller: where a card number can come, as in a Square note.
    #[serde(default)]
    message_from_buyer: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
struct EtsyRefund {
    amount: EtsyMoney,
}

/// Etsy's money: `amount / divisor` major units of `currency_code`.
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct EtsyMoney {
    amount: i64,
    divisor: i64,
    currency_code: CurrencyCode,
}

#[derive(Debug, Clone, Copy)]
struct CurrencyCode(Option<Currency>);

impl<'de> Deserialize<'de> for CurrencyCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Ok(Self(Currency::parse(&raw).ok()))
    }
}

impl EtsyMoney {
    /// In minor units of its currency, if the divisor divides it exactly into them.
    pub fn minor(self) -> Option<(i64, Currency)> {
        let currency = self.currency_code.0?;
        let scale = 10i64.checked_pow(currency.exponent())?;
        if self.divisor <= 0 || self.amount < 0 {
            return None;
        }
        let scaled = i128::from(self.amount) * i128::from(scale);
        let divisor = i128::from(self.divisor);
        (scaled % divisor == 0)
            .then(|| i64::try_from(scaled / divisor).ok())
            .flatten()
            .map(|m| (m, currency))
    }
}

/// Reads one page of receipts.
pub fn parse_page(body: &[u8]) -> Result<Page, HookError> {
    serde_json::from_slice(body).map_err(unreadable)
}

/// What a receipt asks for, in order: its payment (if paid), then its refunds so far. Each
/// delivery id carries the receipt's `updated_timestamp`, so a changed receipt is a new
/// delivery; an order still awards once.
pub fn deliveries(r: &Receipt) -> Vec<Delivery> {
    let order_id = r.receipt_id.to_string();
    let at = r.updated_timestamp;
    let mut out = Vec::new();
    if !r.is_paid {
        out.push(Delivery {
            id: format!("{order_id}@{at}"),
            event: ShopEvent::Ignored(format!("receipt {order_id} not paid")),
        });
        return out;
    }
    let paid = r.grandtotal.and_then(EtsyMoney::minor);
    let event = match paid.map(|(m, c)| Money::purchase(m, c)) {
        Some(Ok(amount)) => ShopEvent::Paid(PaidOrder {
            order_id: order_id.clone(),
            email: r.buyer_email.clone().filter(|e| !e.is_empty()),
            amount,
            card: r.message_from_buyer.as_deref().and_then(shop::card_in_note),
        }),
        _ => ShopEvent::Ignored(format!("receipt {order_id}: unreadable grandtotal")),
    };
    out.push(Delivery {
        id: format!("{order_id}@{at}"),
        event,
    });
    if !r.refunds.is_empty() {
        let mut total: i64 = 0;
        for refund in &r.refunds {
            match refund.amount.minor() {
                Some((m, _)) => total = total.saturating_add(m),
                None => {
                    total = -1;
                    break;
                }
            }
        }
        let event = if total < 0 {
            ShopEvent::Ignored(format!("receipt {order_id}: unreadable refund amount"))
        } else {
            ShopEvent::Refunded(Refund {
                order_id,
                amount: RefundAmount::Total(total),
            })
        };
        out.push(Delivery {
            id: format!("{}@{at}/refunds", r.receipt_id),
            event,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receipt(json: &str) -> Receipt {
        serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}"))
    }

    fn money(amount: i64, divisor: i64, code: &str) -> Option<(i64, String)> {
        let m: EtsyMoney = serde_json::from_value(serde_json::json!({
            "amount": amount, "divisor": divisor, "currency_code": code
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        m.minor().map(|(m, c)| (m, c.as_str().to_owned()))
    }

    #[test]
    fn amounts_become_minor_units() {
        assert_eq!(money(2599, 100, "USD"), Some((2599, "USD".into())));
        assert_eq!(money(2599, 100, "usd"), Some((2599, "USD".into())));
        assert_eq!(money(25990, 1000, "EUR"), Some((2599, "EUR".into())));
        assert_eq!(money(1500, 1, "JPY"), Some((1500, "JPY".into())));
        assert_eq!(money(15, 10, "eur"), Some((150, "EUR".into())));
        // Fractions of a cent, no divisor, a negative amount or no currency: not read.
        assert_eq!(money(25999, 1000, "EUR"), None);
        assert_eq!(money(2599, 0, "EUR"), None);
        assert_eq!(money(-5, 100, "EUR"), None);
        assert_eq!(money(5, 100, "EURO"), None);
    }

    #[test]
    fn a_paid_receipt_earns_its_grand_total_and_refunds_are_a_running_total() {
        let r = receipt(
            r#"{"receipt_id":1390521,"buyer_email":"Jane@Example.com","is_paid":true,
            "status":"Partially Refunded","create_timestamp":1700000000,"updated_timestamp":1700000500,
            "total_price":{"amount":4000,"divisor":100,"currency_code":"EUR"},
            "grandtotal":{"amount":3650,"divisor":100,"currency_code":"eur"},
            "refunds":[{"amount":{"amount":1000,"divisor":100,"currency_code":"EUR"}},
                       {"amount":{"amount":250,"divisor":100,"currency_code":"EUR"}}]}"#,
        );
        let d = deliveries(&r);
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].id, "1390521@1700000500");
        let ShopEvent::Paid(p) = &d[0].event else {
            panic!("not paid: {:?}", d[0])
        };
        assert_eq!(
            (p.amount.amount_minor, p.amount.currency.as_str()),
            (3650, "EUR")
        );
        assert_eq!(p.order_id, "1390521");
        assert_eq!(p.email.as_deref(), Some("Jane@Example.com"));
        assert_eq!(p.card, None);
        assert_eq!(
            d[1].event,
            ShopEvent::Refunded(Refund {
                order_id: "1390521".into(),
                amount: RefundAmount::Total(1250)
            })
        );
    }

    #[test]
    fn the_card_number_comes_from_the_buyer_s_note_in_its_documented_form() {
        let with = |note: &str| {
            let r = receipt(&format!(
                r#"{{"receipt_id":9,"is_paid":true,"updated_timestamp":5,
                "grandtotal":{{"amount":100,"divisor":100,"currency_code":"EUR"}},
                "message_from_buyer":{note}}}"#
            ));
            match &deliveries(&r)[0].event {
                ShopEvent::Paid(p) => p.card.clone(),
                other => panic!("not paid: {other:?}"),
            }
        };
        assert_eq!(
            with(r#""Gift wrap please\nloyalty_card: 4000 0000 0002""#),
            shop::card_in_note("loyalty_card: 4000 0000 0002")
        );
        assert!(with(r#""loyalty_card: 4000 0000 0002""#).is_some());
        assert_eq!(with(r#""call me on 4000 0000 0002""#), None);
    }

    #[test]
    fn an_unpaid_receipt_changes_nothing() {
        let r = receipt(
            r#"{"receipt_id":7,"is_paid":false,"updated_timestamp":5,
            "grandtotal":{"amount":100,"divisor":100,"currency_code":"EUR"}}"#,
        );
        let d = deliveries(&r);
        assert!(matches!(
            d.as_slice(),
            [Delivery {
                event: ShopEvent::Ignored(_),
                ..
            }]
        ));
        assert!(parse_page(br#"{"count":1,"results":[{"receipt_id":"x"}]}"#).is_err());
        let page = parse_page(br#"{"count":0,"results":[]}"#).unwrap_or_else(|e| panic!("{e}"));
        assert!(page.results.is_empty());
    }
}
