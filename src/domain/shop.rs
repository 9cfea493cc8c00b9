//! Orders from online shops, in one shape whatever the shop: the rules for awarding them once,
//! taking points back on refunds, and matching the customer.

use super::DomainError;
use super::card::CardNumber;
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
    /// The loyalty card number the customer gave at checkout, if the order carries one.
    #[serde(default)]
    pub card: Option<GivenCard>,
}

/// A loyalty card number as an order carries it (see [`CARD_KEYS`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum GivenCard {
    /// A card number whose check digit holds.
    Valid(CardNumber),
    /// Something under the card's key that is not a card number (a typo, most likely).
    Invalid(String),
}

/// The names a shop's order field for the loyalty card may have, compared without case,
/// spaces, dashes or underscores: `loyalty_card` as documented, and the spellings shop
/// owners give a checkout field for it.
pub const CARD_KEYS: [&str; 3] = ["loyaltycard", "loyaltycardnumber", "fealtycard"];

fn is_card_key(key: &str) -> bool {
    let key: String = key
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '_'))
        .flat_map(char::to_lowercase)
        .collect();
    CARD_KEYS.contains(&key.as_str())
}

/// The card number among an order's named fields (Shopify's note attributes, Stripe's
/// metadata, WooCommerce's meta data): the first field under a card key with a value.
pub fn card_in_fields<'a>(
    fields: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Option<GivenCard> {
    fields
        .into_iter()
        .find(|(k, v)| is_card_key(k) && !v.trim().is_empty())
        .map(|(_, v)| given_card(v))
}

/// The card number in a free-text note (Square's payment note): only a line of the form
/// `loyalty_card: 1234 5678 9012` (or with `=`) counts, so other digits in a note never do.
pub fn card_in_note(note: &str) -> Option<GivenCard> {
    card_in_fields(note.lines().filter_map(|line| {
        line.split_once(':')
            .or_else(|| line.split_once('='))
            .map(|(k, v)| (k.trim(), v))
    }))
}

fn given_card(raw: &str) -> GivenCard {
    let raw = raw.trim();
    match CardNumber::parse(raw) {
        Ok(n) => GivenCard::Valid(n),
        Err(_) => GivenCard::Invalid(raw.chars().take(40).collect()),
    }
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
    /// The member whose card or email the order carries.
    Member(String),
    /// No one has it: create a member with it.
    Create,
    /// Kept aside until staff attach it to a member; why, in words.
    Park(String),
}

/// What the card number an order carries led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CardLookup {
    /// The order names no card: the email decides.
    NotGiven,
    /// A value under the card's key that is not a card number.
    Invalid(String),
    /// A valid number no member has.
    NoOne(CardNumber),
    /// The member holding it, and whether they are active.
    Holder(String, bool),
}

/// Decides who gets an order. A card number the customer gave wins over the email; one that
/// leads to no active member parks the order rather than falling back to the email, which may
/// be someone else's (a shared family address, a gift). Without a card: the member with the
/// order's email if one is active; otherwise a new member when the owner asked for that and
/// the email is usable; otherwise parked.
pub fn decide(
    card: CardLookup,
    email_ok: bool,
    holder: Option<(String, bool)>,
    create_members: bool,
) -> Match {
    match card {
        CardLookup::Holder(id, true) => return Match::Member(id),
        CardLookup::Holder(_, false) => {
            return park("the member with the order's loyalty card is blocked or erased");
        }
        CardLookup::NoOne(n) => {
            return Park(format!("no member has loyalty card {}", n.grouped()));
        }
        CardLookup::Invalid(raw) => {
            return Park(format!(
                "the order's loyalty card {raw:?} is not a valid card number"
            ));
        }
        CardLookup::NotGiven => {}
    }
    match holder {
        Some((id, true)) => Match::Member(id),
        Some((_, false)) => park("the member with this email is blocked or erased"),
        None if !email_ok => park("the order has no usable email address"),
        None if create_members => Match::Create,
        None => park("no member has this email address"),
    }
}

fn park(why: &str) -> Match {
    Park(why.to_owned())
}

/// Why a paid order is parked when its points exceed what one entry may add.
pub const TOO_LARGE: &str = "the order is larger than one entry may award; award it by hand";

/// What becomes of a verified, readable delivery that a domain rule refused while it was
/// applied (the one rule for every such refusal). A paid order is parked with the refusal as
/// its reason and the delivery answered 200: the shop retrying it could never succeed, and
/// staff can award it by hand. Anything else (a refund) cannot wait anywhere, so it is refused
/// (4xx) and stays in the shop's log of failed deliveries for the owner to see.
pub fn park_refused(event: &ShopEvent, refusal: &DomainError) -> Option<String> {
    match event {
        ShopEvent::Paid(_) => Some(format!(
            "{}: award it by hand.",
            refusal.to_string().trim_end_matches('.')
        )),
        ShopEvent::Refunded(_) | ShopEvent::Ignored(_) => None,
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
    fn matching_by_email() {
        let none = || CardLookup::NotGiven;
        assert_eq!(
            decide(none(), true, Some(("m".into(), true)), false),
            Match::Member("m".into())
        );
        assert!(matches!(
            decide(none(), true, Some(("m".into(), false)), true),
            Park(_)
        ));
        assert_eq!(decide(none(), true, None, true), Match::Create);
        assert!(matches!(decide(none(), true, None, false), Park(_)));
        assert!(matches!(decide(none(), false, None, true), Park(_)));
    }

    fn card() -> CardNumber {
        CardNumber::parse("4000 0000 0002").unwrap_or_else(|_| unreachable!())
    }

    #[test]
    fn a_card_number_wins_over_the_email_and_never_falls_back_to_it() {
        let email_holder = || Some(("by-email".to_owned(), true));
        assert_eq!(
            decide(
                CardLookup::Holder("by-card".into(), true),
                true,
                email_holder(),
                false
            ),
            Match::Member("by-card".into())
        );
        assert_eq!(
            decide(
                CardLookup::Holder("by-card".into(), true),
                false,
                None,
                true
            ),
            Match::Member("by-card".into())
        );
        let Park(why) = decide(CardLookup::NoOne(card()), true, email_holder(), true) else {
            panic!("an unknown card fell back to the email")
        };
        assert!(
            why.contains("no member has loyalty card 4000 0000 0002"),
            "{why}"
        );
        let Park(why) = decide(
            CardLookup::Holder("by-card".into(), false),
            true,
            email_holder(),
            true,
        ) else {
            panic!("a blocked card holder fell back to the email")
        };
        assert!(why.contains("blocked"), "{why}");
        let Park(why) = decide(
            CardLookup::Invalid("1234".into()),
            true,
            email_holder(),
            true,
        ) else {
            panic!("an invalid card fell back to the email")
        };
        assert!(why.contains("\"1234\" is not a valid card number"), "{why}");
    }

    #[test]
    fn card_numbers_are_read_only_under_a_card_key() {
        let valid = Some(GivenCard::Valid(card()));
        for key in [
            "loyalty_card",
            "Loyalty Card",
            "LOYALTY-CARD",
            "loyalty_card_number",
        ] {
            assert_eq!(card_in_fields([(key, "4000-0000-0002")]), valid, "{key}");
        }
        assert_eq!(
            card_in_fields([("gift_note", "400000000002"), ("loyalty_card", " ")]),
            None
        );
        assert_eq!(
            card_in_fields([("loyalty_card", "400000000007")]),
            Some(GivenCard::Invalid("400000000007".into()))
        );
        assert_eq!(
            card_in_note("Leave at the door\nloyalty_card: 4000 0000 0002"),
            valid
        );
        assert_eq!(card_in_note("Loyalty card = 400000000002"), valid);
        assert_eq!(card_in_note("call me on 400000000002"), None);
        assert_eq!(card_in_note(""), None);
    }

    #[test]
    fn only_paid_orders_are_parked_on_a_refusal() {
        let paid = ShopEvent::Paid(PaidOrder {
            order_id: "1".into(),
            email: None,
            amount: Money::purchase(100, eur()).unwrap_or_else(|_| unreachable!()),
            card: None,
        });
        let why = park_refused(&paid, &DomainError::MemberBlocked);
        assert_eq!(
            why.as_deref(),
            Some("This member is blocked: award it by hand.")
        );
        let refund = ShopEvent::Refunded(Refund {
            order_id: "1".into(),
            amount: RefundAmount::This(100),
        });
        assert_eq!(park_refused(&refund, &DomainError::MemberBlocked), None);
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
