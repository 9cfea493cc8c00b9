//! Members: the people who collect points.

use super::DomainError;
use super::card::{CardNumber, CardToken};
use super::email::Email;
use super::text::{PersonName, Phone};
use time::OffsetDateTime;

/// A member's id: a ULID, so ids sort by creation time.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct MemberId(String);

impl MemberId {
    /// Wraps a freshly made ULID.
    pub fn from_ulid(id: ulid::Ulid) -> Self {
        Self(id.to_string())
    }

    /// Parses an id from a URL or a request.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        ulid::Ulid::from_string(raw)
            .map(Self::from_ulid)
            .map_err(|_| DomainError::NotFound("member"))
    }

    /// The id text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Whether a member can use their card.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum MemberStatus {
    /// Can earn and redeem.
    Active,
    /// Cannot earn or redeem until unblocked.
    Blocked,
    /// Erased at the member's request: no personal details left, the card no longer works.
    Erased,
}

/// A stored member. (The API's view of it, with its schema, is `http::api::members::MemberView`.)
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Member {
    /// ULID.
    pub id: MemberId,
    /// The human card number (12 digits, Luhn check digit last).
    pub card_number: CardNumber,
    /// The secret in the card URL.
    pub card_token: CardToken,
    /// Full name.
    pub name: Option<PersonName>,
    /// Normalised (lower-case) email, unique.
    pub email: Option<Email>,
    /// Phone, `+` and digits.
    pub phone: Option<Phone>,
    /// When marketing consent was given, if it was.
    #[serde(with = "time::serde::rfc3339::option")]
    pub marketing_consent_at: Option<OffsetDateTime>,
    /// The exact consent sentence the member agreed to, when they agreed on a page that showed one.
    #[serde(default)]
    pub marketing_consent_text: Option<String>,
    /// When the member asked for their account to be erased (an owner confirms).
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub erasure_requested_at: Option<OffsetDateTime>,
    /// Active, blocked or erased.
    pub status: MemberStatus,
    /// Current points; always the sum of the member's ledger entries.
    pub balance: i64,
    /// Points earned over the member's lifetime (earn entries, less reversed ones).
    pub lifetime_earned: i64,
    /// When the member joined.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When the member's details last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// When points last moved on the card.
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_activity_at: Option<OffsetDateTime>,
    /// The member's tier and the monthly summary the rolling tier basis reads.
    #[serde(default, skip_serializing_if = "super::tiers::MemberTier::is_empty")]
    pub tier: super::tiers::MemberTier,
    /// The code of the member's referral link (made when first needed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referral_code: Option<super::referral::ReferralCode>,
    /// Who referred the member and what came of it; set at creation only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referral: Option<super::referral::Referral>,
    /// The member's own rewarded referrals, for the yearly cap.
    #[serde(
        default,
        skip_serializing_if = "super::referral::ReferrerTally::is_empty"
    )]
    pub referrals: super::referral::ReferrerTally,
    /// The member's birthday, if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birthday: Option<super::birthday::Birthday>,
    /// The last year birthday points were given (business time zone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birthday_awarded: Option<i16>,
    /// The member's open lots under the expiry policy, kept with each entry (none while no
    /// policy is on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lots: Option<super::expiry::KeptLots>,
    /// Whether the member has earned for a purchase amount: a first-purchase bonus is given once.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub purchased: bool,
    /// Email notices: the opt-out (beside the marketing consent) and what was last sent.
    #[serde(
        default,
        skip_serializing_if = "super::notices::MemberNotices::is_empty"
    )]
    pub notices: super::notices::MemberNotices,
}

/// Validated details for a new member.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewMember {
    /// Full name.
    pub name: Option<PersonName>,
    /// Email.
    pub email: Option<Email>,
    /// Phone.
    pub phone: Option<Phone>,
    /// Whether marketing consent was given now.
    pub marketing_consent: bool,
    /// A pre-printed card number to use instead of a new one.
    pub card_number: Option<CardNumber>,
    /// The token of the pre-printed card, so its QR code keeps working (with `card_number`).
    pub card_token: Option<CardToken>,
    /// The consent sentence shown when consent was given.
    pub marketing_consent_text: Option<String>,
    /// The birthday, if given.
    pub birthday: Option<super::birthday::Birthday>,
    /// Who referred the member (joined through a referral link).
    pub referral: Option<super::referral::Referral>,
}

/// A change to a member's details: `None` leaves a field alone, `Some(None)` clears it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberPatch {
    /// New name.
    pub name: Option<Option<PersonName>>,
    /// New email.
    pub email: Option<Option<Email>>,
    /// New phone.
    pub phone: Option<Option<Phone>>,
    /// Give or withdraw marketing consent.
    pub marketing_consent: Option<bool>,
    /// Block or unblock.
    pub status: Option<MemberStatus>,
    /// The consent sentence shown, when consent is given now.
    pub marketing_consent_text: Option<String>,
    /// New birthday.
    pub birthday: Option<Option<super::birthday::Birthday>>,
}

/// A form field that may be left empty: `None` when blank, else parsed.
pub fn optional<T>(
    raw: &str,
    parse: impl Fn(&str) -> Result<T, DomainError>,
) -> Result<Option<T>, DomainError> {
    let t = raw.trim();
    if t.is_empty() {
        Ok(None)
    } else {
        parse(t).map(Some)
    }
}

/// How a first PIN on the card page is confirmed as the card holder's: the link alone is not
/// enough, since it can leak (a photographed QR code, a shared screen, a forwarded message).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirstSecretCheck {
    /// The email address or phone number typed matches the one on file.
    Confirmed,
    /// It does not match.
    Mismatch,
    /// The member has neither on file: staff set the first PIN at the till.
    NothingOnFile,
}

impl Member {
    /// Whether `typed` is this member's email address or phone number, compared normalised
    /// (case of the email, spaces and punctuation of the phone number do not matter).
    pub fn confirm_contact(&self, typed: &str) -> FirstSecretCheck {
        if self.email.is_none() && self.phone.is_none() {
            return FirstSecretCheck::NothingOnFile;
        }
        let email = Email::parse(typed).ok();
        let phone = Phone::parse(typed).ok();
        let email_ok = matches!((&self.email, &email), (Some(a), Some(b)) if a == b);
        let phone_ok = matches!((&self.phone, &phone), (Some(a), Some(b)) if same_number(a, b));
        if email_ok || phone_ok {
            FirstSecretCheck::Confirmed
        } else {
            FirstSecretCheck::Mismatch
        }
    }
}

/// Two phone numbers are the same if their digits are, with or without the leading `+`.
fn same_number(a: &Phone, b: &Phone) -> bool {
    a.as_str().trim_start_matches('+') == b.as_str().trim_start_matches('+')
}

impl MemberPatch {
    /// The details a person edits on a form (blank fields are cleared); `consent_text` is the
    /// sentence they were shown, if consent is given now.
    pub fn details(
        name: &str,
        email: &str,
        phone: &str,
        consent: bool,
        consent_text: Option<String>,
    ) -> Result<Self, DomainError> {
        Ok(Self {
            name: Some(optional(name, PersonName::parse)?),
            email: Some(optional(email, Email::parse)?),
            phone: Some(optional(phone, Phone::parse)?),
            marketing_consent: Some(consent),
            status: None,
            marketing_consent_text: consent_text,
            birthday: None,
        })
    }

    /// The patch with the birthday a form field gives (blank clears it).
    pub fn with_birthday(self, raw: &str) -> Result<Self, DomainError> {
        Ok(Self {
            birthday: Some(optional(raw, super::birthday::Birthday::parse)?),
            ..self
        })
    }

    /// Refuses changes an erased member cannot take, and erasing by a status change.
    pub fn check(&self, member: &Member) -> Result<(), DomainError> {
        if member.status == MemberStatus::Erased {
            return Err(DomainError::invalid(
                "status",
                "this member's account was erased and cannot be changed",
            ));
        }
        if self.status == Some(MemberStatus::Erased) {
            return Err(DomainError::invalid(
                "status",
                "must be active or blocked (erasing is a separate step)",
            ));
        }
        Ok(())
    }

    /// Applies the patch to `member` at `now`.
    pub fn apply(self, member: &mut Member, now: OffsetDateTime) {
        if let Some(name) = self.name {
            member.name = name;
        }
        if let Some(email) = self.email {
            member.email = email;
        }
        if let Some(phone) = self.phone {
            member.phone = phone;
        }
        match (self.marketing_consent, member.marketing_consent_at) {
            (Some(true), None) => {
                member.marketing_consent_at = Some(now);
                member.marketing_consent_text = self.marketing_consent_text;
            }
            (Some(false), Some(_)) => {
                member.marketing_consent_at = None;
                member.marketing_consent_text = None;
            }
            _ => {}
        }
        if let Some(status) = self.status {
            member.status = status;
        }
        if let Some(birthday) = self.birthday {
            member.birthday = birthday;
        }
        member.updated_at = now;
    }
}

/// A password or PIN a customer sets for their account: 6 to 12 digits, or 10 characters or more.
#[derive(Clone)]
pub struct CustomerSecret(String);

impl CustomerSecret {
    /// Parses what the customer typed.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let n = raw.chars().count();
        let digits = !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit());
        let ok = if digits {
            (6..=12).contains(&n)
        } else {
            (10..=1024).contains(&n)
        };
        if !ok {
            return Err(DomainError::invalid(
                "password",
                "use a PIN of 6 to 12 digits, or a password of at least 10 characters",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The secret, for hashing only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// What a search box asked for: digits search card numbers, an `@` searches emails, anything else names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberQuery {
    /// No query: everyone, oldest first.
    All,
    /// Card numbers starting with these digits.
    CardPrefix(String),
    /// Emails starting with this (lower-cased).
    EmailPrefix(String),
    /// Names with a word starting with each of these (lower-cased).
    Name(Vec<String>),
}

impl MemberQuery {
    /// Reads a search box's text.
    pub fn parse(raw: &str) -> Self {
        let q = raw.trim();
        let digits: String = q.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
        if q.is_empty() {
            Self::All
        } else if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            Self::CardPrefix(digits)
        } else if q.contains('@') {
            Self::EmailPrefix(q.to_lowercase())
        } else {
            Self::Name(q.split_whitespace().map(str::to_lowercase).collect())
        }
    }
}

#[cfg(test)]
mod contact_tests {
    use super::*;

    fn member(email: Option<&str>, phone: Option<&str>) -> Result<Member, DomainError> {
        let now = OffsetDateTime::UNIX_EPOCH;
        Ok(Member {
            id: MemberId::parse("01JD2Z3Q8M6V4T0X9K1N5R7B2C")?,
            card_number: CardNumber::parse("412345678905")?,
            card_token: CardToken::parse("abcdefghijklmnopqrstuv")?,
            name: None,
            email: email.map(Email::parse).transpose()?,
            phone: phone.map(Phone::parse).transpose()?,
            marketing_consent_at: None,
            marketing_consent_text: None,
            erasure_requested_at: None,
            status: MemberStatus::Active,
            balance: 0,
            lifetime_earned: 0,
            created_at: now,
            updated_at: now,
            last_activity_at: None,
            tier: Default::default(),
            referral_code: None,
            referral: None,
            referrals: Default::default(),
            birthday: None,
            birthday_awarded: None,
            lots: None,
            purchased: false,
            notices: Default::default(),
        })
    }

    #[test]
    fn contact_is_compared_normalised() -> Result<(), DomainError> {
        let m = member(Some("ann@example.com"), Some("+44 7700 900123"))?;
        assert_eq!(
            m.confirm_contact(" Ann@Example.COM "),
            FirstSecretCheck::Confirmed
        );
        assert_eq!(
            m.confirm_contact("447700-900-123"),
            FirstSecretCheck::Confirmed
        );
        assert_eq!(
            m.confirm_contact("bob@example.com"),
            FirstSecretCheck::Mismatch
        );
        assert_eq!(m.confirm_contact(""), FirstSecretCheck::Mismatch);
        let none = member(None, None)?;
        assert_eq!(none.confirm_contact(""), FirstSecretCheck::NothingOnFile);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn customer_secrets_are_pins_or_long_passwords() {
        assert!(CustomerSecret::parse("123456").is_ok());
        assert!(CustomerSecret::parse("12345").is_err());
        assert!(CustomerSecret::parse("1234567890123").is_err());
        assert!(CustomerSecret::parse("short pw").is_err());
        assert!(CustomerSecret::parse("a long passphrase").is_ok());
    }

    #[test]
    fn queries_are_classified() {
        assert_eq!(MemberQuery::parse(""), MemberQuery::All);
        assert_eq!(
            MemberQuery::parse("4123 4567"),
            MemberQuery::CardPrefix("41234567".into())
        );
        assert_eq!(
            MemberQuery::parse("Anna@Ex"),
            MemberQuery::EmailPrefix("anna@ex".into())
        );
        assert_eq!(
            MemberQuery::parse(" Anna SM "),
            MemberQuery::Name(vec!["anna".into(), "sm".into()])
        );
    }
}
