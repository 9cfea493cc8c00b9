//! Orders from online shops, in one shape whatever the shop: the rules for awarding them once,
//! taking points back on refunds, and matching the customer.

use super::DomainError;
use super::money::{Currency, Money};

/// An online shop whose orders earn points: four send signed webhooks, Etsy is polled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Provider {
    /// Shopify (`orders/paid`, `refunds/create`).
    Shopify,
    /// Stripe (`checkout.session.completed`, `charge.succeeded`, `charge.refunded`).
    Stripe,
    /// Square (`payment.updated`, `refund.created`, `refund.updated`).
    Square,
    /// WooCommerce (`order.created`, `order.updated`).
    WooCommerce,
    /// Etsy: no webhooks; its receipts are polled.
    Etsy,
}

impl Provider {
    /// Every provider, in the order pages list them.
    pub const ALL: [Provider; 5] = [
        Provider::Shopify,
        Provider::Stripe,
        Provider::Square,
        Provider::WooCommerce,
        Provider::Etsy,
    ];

    /// Whether the shop posts signed webhooks to `/hooks/{provider}` (Etsy is polled instead).
    pub fn takes_webhooks(self) -> bool {
        self != Provider::Etsy
    }

    /// The provider's name in URLs and records.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Shopify => "shopify",
            Provider::Stripe => "stripe",
            Provider::Square => "square",
            Provider::WooCommerce => "woocommerce",
            Provider::Etsy => "etsy",
        }
    }

    /// The provider's name for people.
    pub fn title(self) -> &'static str {
        match self {
            Provider::Shopify => "Shopify",
            Provider::Stripe => "Stripe",
            Provider::Square => "Square",
            Provider::WooCommerce => "WooCommerce",
            Provider::Etsy => "Etsy",
        }
    }

    /// Parses a provider's name as in `/hooks/{provider}` and `/api/v1/integrations/{provider}`.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == raw)
    }
}

/// How the owner set up one shop's webhooks.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Integration {
    /// Whether deliveries are taken at all (404 otherwise).
    pub enabled: bool,
    /// The signing secret the shop shows; never shown back.
    pub secret: Option<SigningSecret>,
    /// Create a member for an order whose email no one has, instead of parking it.
    #[serde(default)]
    pub create_members: bool,
}

/// A shop's webhook signing secret: 8 to 255 visible ASCII characters.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct SigningSecret(String);

impl SigningSecret {
    /// Parses a secret as pasted (surrounding white space dropped).
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let s = raw.trim();
        if (8..=255).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_graphic()) {
            Ok(Self(s.to_owned()))
        } else {
            Err(DomainError::invalid(
                "secret",
                "must be the shop's signing secret: 8 to 255 visible ASCII characters",
            ))
        }
    }

    /// The secret, to check a signature with.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningSecret(..)")
    }
}

/// The longest order or delivery id kept; longer ones are refused as not a real shop's.
pub const MAX_ID_LEN: usize = 200;

/// Checks an id a shop sent (order, delivery, event): 1 to 200 visible ASCII characters.
pub fn parse_id(what: &'static str, raw: &str) -> Result<String, DomainError> {
    let ok =
        !raw.is_empty() && raw.len() <= MAX_ID_LEN && raw.bytes().all(|b| b.is_ascii_graphic());
    if ok {
        Ok(raw.to_owned())
    } else {
        Err(DomainError::invalid(
            what,
            "must be 1 to 200 visible ASCII characters",
        ))
    }
}

/// A paid order: what earns points.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PaidOrder {
    /// The shop's order (or payment) id; an order awards once.
    pub order_id: String,
    /// The customer's email as the shop sent it, if any.
    pub email: Option<String>,
    /// What was paid, in minor units.
    pub amount: Money,
}

/// A refund: points go back in proportion to the money.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refund {
    /// The order refunded.
    pub order_id: String,
    /// How much of the order this refund gives back.
    pub amount: RefundAmount,
}

/// How a shop states a refund.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundAmount {
    /// This refund alone, in minor units (Shopify: one refund per delivery; Square: one
    /// refund, deduplicated by its id).
    This(i64),
    /// Everything refunded so far, in minor units (Stripe's `amount_refunded`; the sum of a
    /// WooCommerce order's `refunds`).
    Total(i64),
}

/// What a delivery asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShopEvent {
    /// An order was paid: award points.
    Paid(PaidOrder),
    /// Money was given back: take points back.
    Refunded(Refund),
    /// A topic or state that changes nothing (named for the delivery log).
    Ignored(String),
}

/// One signed delivery from a shop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The provider's delivery or event id; a delivery applies once.
    pub id: String,
    /// What it asks for.
    pub event: ShopEvent,
}

/// Parses a shop's decimal amount (`"12.50"`) in `currency` into minor units; more decimals
/// than the currency has, a sign or anything but digits and one dot is refused.
pub fn decimal_minor(raw: &str, currency: Currency) -> Result<i64, DomainError> {
    let bad = || DomainError::invalid("amount", format!("{raw:?} is not a decimal amount"));
    let (whole, frac) = raw.split_once('.').unwrap_or((raw, ""));
    let exp = usize::try_from(currency.exponent()).map_err(|_| bad())?;
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(frac) || frac.len() > exp || whole.len() > 15 {
        return Err(bad());
    }
    format!("{whole}{frac:0<exp$}").parse().map_err(|_| bad())
}

/// The points a refund takes back: the share of `earned` that the money refunded so far is of
/// the order, rounded down, less what earlier refunds took. Never negative, never more than
/// was earned.
pub fn points_to_take_back(
    earned: i64,
    order_minor: i64,
    refunded_minor: i64,
    taken_before: i64,
) -> i64 {
    if order_minor <= 0 || earned <= 0 {
        return 0;
    }
    let refunded = i128::from(refunded_minor.clamp(0, order_minor));
    let share = i128::from(earned) * refunded / i128::from(order_minor);
    let share = i64::try_from(share).unwrap_or(earned);
    (share - taken_before).clamp(0, earned)
}

/// A take-back split into what the balance can give and what the customer had already spent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TakeBack {
    /// Points taken from the balance now.
    pub taken: i64,
    /// Points that were already spent: recorded for the owner, not taken.
    pub shortfall: i64,
}

/// Takes `points` from `balance`, never below zero.
pub fn take_back(points: i64, balance: i64) -> TakeBack {
    let taken = points.clamp(0, balance.max(0));
    TakeBack {
        taken,
        shortfall: points.max(0) - taken,
    }
}

/// Who a paid order goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Match {
    /// The member whose email the order carries.
    Member(String),
    /// No one has it: create a member with it.
    Create,
    /// Kept aside until staff attach it to a member.
    Park(&'static str),
}

/// Decides who gets an order: the member with its email if one is active; otherwise a new
/// member when the owner asked for that and the email is usable; otherwise parked.
pub fn decide(email_ok: bool, holder: Option<(String, bool)>, create_members: bool) -> Match {
    match holder {
        Some((id, true)) => Match::Member(id),
        Some((_, false)) => Park("the member with this email is blocked or erased"),
        None if !email_ok => Park("the order has no usable email address"),
        None if create_members => Match::Create,
        None => Park("no member has this email address"),
    }
}

use Match::Park;

#[cfg(test)]
mod tests {
    use super::*;

    fn eur() -> Currency {
        Currency::parse("EUR").unwrap_or_else(|_| unreachable!())
    }

    #[test]
    fn decimals_become_minor_units() {
        assert_eq!(decimal_minor("12.50", eur()), Ok(1250));
        assert_eq!(decimal_minor("12.5", eur()), Ok(1250));
        assert_eq!(decimal_minor("12", eur()), Ok(1200));
        assert_eq!(decimal_minor("0.00", eur()), Ok(0));
        let jpy = Currency::parse("JPY").unwrap_or_else(|_| unreachable!());
        assert_eq!(decimal_minor("1500", jpy), Ok(1500));
        for bad in [
            "",
            "-1.00",
            "1.234",
            "1,50",
            "1.2.3",
            " 1",
            ".5",
            "1e3",
            "9999999999999999",
        ] {
            assert!(decimal_minor(bad, eur()).is_err(), "{bad:?} accepted");
        }
        assert!(decimal_minor("1.5", jpy).is_err());
    }

    #[test]
    fn refunds_take_back_in_proportion() {
        // 40 points on 40.00: a 10.00 refund takes 10, the rest takes the other 30.
        assert_eq!(points_to_take_back(40, 4000, 1000, 0), 10);
        assert_eq!(points_to_take_back(40, 4000, 4000, 10), 30);
        // Rounded down, and never more than earned even if more money comes back.
        assert_eq!(points_to_take_back(7, 1000, 333, 0), 2);
        assert_eq!(points_to_take_back(40, 4000, 9000, 0), 40);
        assert_eq!(points_to_take_back(40, 4000, 9000, 40), 0);
        // A cumulative total that went down (out of order) takes nothing back.
        assert_eq!(points_to_take_back(40, 4000, 1000, 20), 0);
        assert_eq!(points_to_take_back(0, 4000, 4000, 0), 0);
        assert_eq!(points_to_take_back(40, 0, 4000, 0), 0);
        assert_eq!(
            points_to_take_back(i64::MAX, i64::MAX, i64::MAX, 0),
            i64::MAX
        );
    }

    #[test]
    fn take_back_stops_at_zero() {
        assert_eq!(
            take_back(10, 50),
            TakeBack {
                taken: 10,
                shortfall: 0
            }
        );
        assert_eq!(
            take_back(10, 4),
            TakeBack {
                taken: 4,
                shortfall: 6
            }
        );
        assert_eq!(
            take_back(10, 0),
            TakeBack {
                taken: 0,
                shortfall: 10
            }
        );
        assert_eq!(
            take_back(0, 5),
            TakeBack {
                taken: 0,
                shortfall: 0
            }
        );
    }

    #[test]
    fn matching() {
        assert_eq!(
            decide(true, Some(("m".into(), true)), false),
            Match::Member("m".into())
        );
        assert!(matches!(
            decide(true, Some(("m".into(), false)), true),
            Park(_)
        ));
        assert_eq!(decide(true, None, true), Match::Create);
        assert!(matches!(decide(true, None, false), Park(_)));
        assert!(matches!(decide(false, None, true), Park(_)));
    }

    #[test]
    fn ids_and_providers() {
        assert_eq!(Provider::parse("shopify"), Some(Provider::Shopify));
        assert_eq!(Provider::parse("Shopify"), None);
        assert_eq!(Provider::parse("woocommerce"), Some(Provider::WooCommerce));
        assert_eq!(Provider::parse("square"), Some(Provider::Square));
        assert!(parse_id("order_id", "820982911946154508").is_ok());
        assert!(parse_id("order_id", "").is_err());
        assert!(parse_id("order_id", "a b").is_err());
        assert!(parse_id("order_id", &"x".repeat(201)).is_err());
    }
}
