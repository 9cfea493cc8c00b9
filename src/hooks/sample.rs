//! The delivery each shop sends when the owner asks it for a test, signed with the owner's
//! secret exactly as the shop signs it: what the Integrations page's "send a test event" tries.
//!
//! The bodies are each provider's documented example of the event that awards points (the
//! same ones the tests post): Shopify's sample `orders/paid` order (jon@example.com), the
//! `checkout.session.completed` event `stripe trigger` sends, Square's `payment.updated` with a
//! completed payment, and a paid WooCommerce order as `order.updated` delivers it.

use super::{shopify, square, stripe, woocommerce};
use crate::domain::shop::Provider;
use axum::http::{HeaderMap, HeaderName, HeaderValue};

const SHOPIFY: &str = include_str!("../../tests/fixtures/hooks/shopify-orders-paid.json");
const STRIPE: &str =
    include_str!("../../tests/fixtures/hooks/stripe-checkout-session-completed.json");
const SQUARE: &str = include_str!("../../tests/fixtures/hooks/square-payment-updated.json");
const WOOCOMMERCE: &str = include_str!("../../tests/fixtures/hooks/woocommerce-order-updated.json");

/// The delivery id a test carries where the shop sends it in a header.
const TEST_ID: &str = "fealty-test-event";

/// A test delivery: its headers and raw body.
pub struct Sample {
    /// The headers the shop sends, signature included.
    pub headers: HeaderMap,
    /// The raw body.
    pub body: &'static [u8],
}

/// `provider`'s test delivery to `url`, signed with `secret` at Unix time `now`; none for a
/// shop that sends no webhooks.
pub fn signed(provider: Provider, secret: &str, url: &str, now: i64) -> Option<Sample> {
    let mut headers = HeaderMap::new();
    let mut set = |name: &'static str, value: String| {
        // Every value here is a signature, topic or fixed id: visible ASCII.
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(HeaderName::from_static(name), v);
        }
    };
    let body = match provider {
        Provider::Shopify => {
            let body = SHOPIFY.as_bytes();
            set(shopify::TOPIC, "orders/paid".into());
            set(shopify::WEBHOOK_ID, TEST_ID.into());
            set(shopify::SIGNATURE, shopify::sign(secret, body));
            body
        }
        Provider::Stripe => {
            let body = STRIPE.as_bytes();
            set(stripe::SIGNATURE, stripe::sign(secret, body, now));
            body
        }
        Provider::Square => {
            let body = SQUARE.as_bytes();
            set(square::SIGNATURE, square::sign(secret, url, body));
            body
        }
        Provider::WooCommerce => {
            let body = WOOCOMMERCE.as_bytes();
            set(woocommerce::TOPIC, "order.updated".into());
            set(woocommerce::DELIVERY_ID, TEST_ID.into());
            set(woocommerce::SIGNATURE, woocommerce::sign(secret, body));
            body
        }
        Provider::Etsy => return None,
    };
    Some(Sample { headers, body })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::shop::ShopEvent;

    #[test]
    fn each_test_delivery_passes_its_own_check_as_a_paid_order() {
        let url = "https://rewards.example.com/hooks/x";
        for p in Provider::ALL.into_iter().filter(|p| p.takes_webhooks()) {
            let s = signed(p, "a-secret-of-some-length", url, 1_700_000_000)
                .unwrap_or_else(|| panic!("{p:?} has no test delivery"));
            let d = super::super::check(
                p,
                "a-secret-of-some-length",
                url,
                &s.headers,
                s.body,
                1_700_000_000,
            );
            assert!(
                matches!(d, Ok(ref d) if matches!(d.event, ShopEvent::Paid(_))),
                "{p:?}: {d:?}"
            );
            let wrong =
                super::super::check(p, "another-secret", url, &s.headers, s.body, 1_700_000_000);
            assert!(wrong.is_err(), "{p:?} accepted another secret");
        }
    }
}
