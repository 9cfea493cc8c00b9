//! Referrals: a member's code for their join link, who referred whom, and the guards that
//! decide whether a completed referral gives points.

use super::DomainError;
use super::email::Email;
use super::member::{Member, MemberId, MemberStatus};
use super::text::Phone;
use time::OffsetDateTime;

/// The letters a code is made of: no 0/O, 1/I/L, so it survives being read out or retyped.
const ALPHABET: &[u8; 31] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";

/// Characters in a code: 31^8 is about 8.5 × 10^11, too many to guess one of a shop's codes.
const CODE_LEN: usize = 8;

/// A member's referral code, the `ref` of their join link: random, not their card number or
/// token, so sharing it gives nothing away.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct ReferralCode(String);

impl ReferralCode {
    /// A new random code.
    pub fn generate() -> Result<Self, crate::crypto::RandomError> {
        let bytes = crate::crypto::random_bytes::<CODE_LEN>()?;
        // 256 is not a multiple of 31: the first letters come up a little more often, which
        // costs a fraction of a bit of the 39 and keeps this simple.
        Ok(Self(
            bytes
                .iter()
                .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
                .collect(),
        ))
    }

    /// Parses a code from a link: case and surrounding spaces do not matter.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let s = raw.trim().to_ascii_uppercase();
        if s.len() != CODE_LEN || !s.bytes().all(|b| ALPHABET.contains(&b)) {
            return Err(DomainError::invalid("ref", "is not a referral code"));
        }
        Ok(Self(s))
    }

    /// The code text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The largest number of points a referral gives either member.
pub const MAX_REFERRAL_POINTS: i64 = 100_000;
/// The highest yearly cap on one referrer's rewarded referrals.
pub const MAX_YEARLY_CAP: i64 = 1_000;

/// How referrals reward (off by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReferralSettings {
    /// Whether joining through a link records a referrer and a first purchase rewards it.
    pub enabled: bool,
    /// Points for the member who shared the link.
    pub referrer_points: i64,
    /// Points for the member who joined through it.
    pub new_member_points: i64,
    /// Rewarded referrals per referrer per calendar year (in the business's time zone).
    pub yearly_cap: u32,
}

impl Default for ReferralSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            referrer_points: 100,
            new_member_points: 50,
            yearly_cap: 10,
        }
    }
}

impl ReferralSettings {
    /// Checks the numbers: points 0 to 100 000 each, the cap 1 to 1000.
    pub fn parse(
        enabled: bool,
        referrer_points: i64,
        new_member_points: i64,
        yearly_cap: i64,
    ) -> Result<Self, DomainError> {
        let points = |field: &'static str, n: i64| {
            if (0..=MAX_REFERRAL_POINTS).contains(&n) {
                Ok(n)
            } else {
                Err(DomainError::invalid(
                    field,
                    format!("must be between 0 and {MAX_REFERRAL_POINTS}"),
                ))
            }
        };
        let cap = u32::try_from(yearly_cap)
            .ok()
            .filter(|c| (1..=MAX_YEARLY_CAP).contains(&i64::from(*c)))
            .ok_or_else(|| {
                DomainError::invalid(
                    "referral_yearly_cap",
                    format!("must be between 1 and {MAX_YEARLY_CAP}"),
                )
            })?;
        Ok(Self {
            enabled,
            referrer_points: points("referrer_points", referrer_points)?,
            new_member_points: points("new_member_points", new_member_points)?,
            yearly_cap: cap,
        })
    }
}

/// Why a referral gave no points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    /// The new member has the referrer's email address (ignoring case, `+tags` and Gmail dots).
    SameEmail,
    /// The new member has the referrer's phone number.
    SamePhone,
    /// The referrer was blocked when the reward was due.
    ReferrerBlocked,
    /// The referrer's account was erased when the reward was due.
    ReferrerErased,
    /// The referrer had already been rewarded for the year's cap of referrals.
    CapReached,
    /// Referrals were switched off at join or when the reward was due.
    SwitchedOff,
}

impl Refusal {
    /// The reason in words, for the member page.
    pub fn in_words(self) -> &'static str {
        match self {
            Self::SameEmail => "the same email address as the referrer",
            Self::SamePhone => "the same phone number as the referrer",
            Self::ReferrerBlocked => "the referrer was blocked",
            Self::ReferrerErased => "the referrer's account was erased",
            Self::CapReached => "the referrer reached this year's limit of rewarded referrals",
            Self::SwitchedOff => "referrals were switched off",
        }
    }

    /// The machine name, for the API and the audit log.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SameEmail => "same_email",
            Self::SamePhone => "same_phone",
            Self::ReferrerBlocked => "referrer_blocked",
            Self::ReferrerErased => "referrer_erased",
            Self::CapReached => "cap_reached",
            Self::SwitchedOff => "switched_off",
        }
    }
}

/// Where a referral stands.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ReferralState {
    /// Waiting for the new member's first purchase.
    Pending,
    /// Rewarded, once.
    Rewarded {
        /// When.
        #[serde(with = "time::serde::rfc3339")]
        at: OffsetDateTime,
        /// Points the referrer got.
        referrer_points: i64,
        /// Points the new member got.
        new_member_points: i64,
    },
    /// Refused, for good.
    Refused {
        /// When.
        #[serde(with = "time::serde::rfc3339")]
        at: OffsetDateTime,
        /// Why.
        reason: Refusal,
    },
}

/// Who referred a member and what came of it; set only when the member is created, never
/// changed after except its state.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Referral {
    /// The member whose link it was.
    pub referrer: MemberId,
    /// Where it stands.
    pub state: ReferralState,
}

/// How many of a referrer's referrals were rewarded in a calendar year: the cap's count, kept
/// on the referrer so checking it is one read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReferrerTally {
    /// The year counted (business time zone).
    pub year: i16,
    /// Rewarded referrals in that year.
    pub count: u32,
    /// Rewarded referrals ever.
    #[serde(default)]
    pub total: u64,
}

impl ReferrerTally {
    /// Whether there is nothing to keep.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Rewarded referrals in `year`.
    pub fn in_year(&self, year: i16) -> u32 {
        if self.year == year { self.count } else { 0 }
    }

    /// Counts one more rewarded referral in `year`.
    pub fn add(&mut self, year: i16) {
        self.count = self.in_year(year).saturating_add(1);
        self.year = year;
        self.total = self.total.saturating_add(1);
    }
}

/// An email address as one mailbox: `+tags` dropped, and for Gmail the dots too, since those
/// all reach the same person.
pub fn mailbox(email: &Email) -> String {
    let s = email.as_str();
    let Some((local, domain)) = s.split_once('@') else {
        return s.to_owned();
    };
    let local = local.split('+').next().unwrap_or(local);
    let local = if matches!(domain, "gmail.com" | "googlemail.com") {
        local.replace('.', "")
    } else {
        local.to_owned()
    };
    let domain = if domain == "googlemail.com" {
        "gmail.com"
    } else {
        domain
    };
    format!("{local}@{domain}")
}

fn digits(p: &Phone) -> &str {
    p.as_str().trim_start_matches('+')
}

/// Whether the new member's contact details are the referrer's: referring oneself.
pub fn self_referral(
    referrer: &Member,
    email: Option<&Email>,
    phone: Option<&Phone>,
) -> Option<Refusal> {
    if let (Some(a), Some(b)) = (&referrer.email, email)
        && mailbox(a) == mailbox(b)
    {
        return Some(Refusal::SameEmail);
    }
    if let (Some(a), Some(b)) = (&referrer.phone, phone)
        && digits(a) == digits(b)
    {
        return Some(Refusal::SamePhone);
    }
    None
}

/// The referral a member joining through `referrer`'s link starts with.
pub fn at_join(
    settings: &ReferralSettings,
    referrer: &Member,
    email: Option<&Email>,
    phone: Option<&Phone>,
    now: OffsetDateTime,
) -> Referral {
    let refusal = if !settings.enabled {
        Some(Refusal::SwitchedOff)
    } else {
        self_referral(referrer, email, phone)
    };
    Referral {
        referrer: referrer.id.clone(),
        state: match refusal {
            Some(reason) => ReferralState::Refused { at: now, reason },
            None => ReferralState::Pending,
        },
    }
}

/// Whether a pending referral is rewarded at the new member's first purchase, in `year` (the
/// business's calendar year).
pub fn at_award(
    settings: &ReferralSettings,
    referrer: &Member,
    referred: &Member,
    year: i16,
) -> Result<(), Refusal> {
    if !settings.enabled {
        return Err(Refusal::SwitchedOff);
    }
    match referrer.status {
        MemberStatus::Blocked => return Err(Refusal::ReferrerBlocked),
        MemberStatus::Erased => return Err(Refusal::ReferrerErased),
        MemberStatus::Active => {}
    }
    // Details can change between joining and buying: look again.
    if let Some(r) = self_referral(referrer, referred.email.as_ref(), referred.phone.as_ref()) {
        return Err(r);
    }
    if referrer.referrals.in_year(year) >= settings.yearly_cap {
        return Err(Refusal::CapReached);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests fail loudly")]
    use super::*;
    use crate::domain::card::{CardNumber, CardToken};

    fn member(id: &str, email: Option<&str>, phone: Option<&str>) -> Member {
        let now = OffsetDateTime::UNIX_EPOCH;
        Member {
            id: MemberId::parse(id).unwrap(),
            card_number: CardNumber::parse("412345678905").unwrap(),
            card_token: CardToken::parse("abcdefghijklmnopqrstuv").unwrap(),
            name: None,
            email: email.and_then(|e| Email::parse(e).ok()),
            phone: phone.and_then(|p| Phone::parse(p).ok()),
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
            referrals: ReferrerTally::default(),
            birthday: None,
            birthday_awarded: None,
            lots: None,
            purchased: false,
            notices: Default::default(),
        }
    }

    const A: &str = "01JD2Z3Q8M6V4T0X9K1N5R7B2C";
    const B: &str = "01JD2Z3Q8M6V4T0X9K1N5R7B2D";

    fn on() -> ReferralSettings {
        ReferralSettings {
            enabled: true,
            ..ReferralSettings::default()
        }
    }

    #[test]
    fn codes_are_random_and_parse_back() {
        let a = ReferralCode::generate().unwrap();
        let b = ReferralCode::generate().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 8);
        assert_eq!(ReferralCode::parse(&a.as_str().to_lowercase()), Ok(a));
        for bad in [
            "",
            "ABCDEFG",
            "ABCDEFGHJ",
            "ABCDEFG0",
            "ABCD EFG",
            "ÄBCDEFGH",
        ] {
            assert!(ReferralCode::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn self_referral_is_seen_through_case_tags_and_dots() {
        struct Case {
            referrer: (Option<&'static str>, Option<&'static str>),
            joiner: (Option<&'static str>, Option<&'static str>),
            want: Option<Refusal>,
        }
        let cases = [
            Case {
                referrer: (Some("ann@example.com"), None),
                joiner: (Some("ANN@example.com"), None),
                want: Some(Refusal::SameEmail),
            },
            Case {
                referrer: (Some("ann@example.com"), None),
                joiner: (Some("ann+2@example.com"), None),
                want: Some(Refusal::SameEmail),
            },
            Case {
                referrer: (Some("a.nn@gmail.com"), None),
                joiner: (Some("ann+x@googlemail.com"), None),
                want: Some(Refusal::SameEmail),
            },
            Case {
                // Dots matter outside Gmail.
                referrer: (Some("a.nn@example.com"), None),
                joiner: (Some("ann@example.com"), None),
                want: None,
            },
            Case {
                referrer: (None, Some("+44 7700 900123")),
                joiner: (Some("bob@example.com"), Some("447700900123")),
                want: Some(Refusal::SamePhone),
            },
            Case {
                referrer: (Some("ann@example.com"), Some("+447700900123")),
                joiner: (Some("bob@example.com"), Some("+447700900124")),
                want: None,
            },
            Case {
                referrer: (None, None),
                joiner: (None, None),
                want: None,
            },
        ];
        for c in cases {
            let r = member(A, c.referrer.0, c.referrer.1);
            let email = c.joiner.0.and_then(|e| Email::parse(e).ok());
            let phone = c.joiner.1.and_then(|p| Phone::parse(p).ok());
            assert_eq!(
                self_referral(&r, email.as_ref(), phone.as_ref()),
                c.want,
                "{:?} {:?}",
                c.referrer,
                c.joiner
            );
            let join = at_join(&on(), &r, email.as_ref(), phone.as_ref(), r.created_at);
            assert_eq!(join.referrer, r.id);
            match c.want {
                Some(reason) => assert_eq!(
                    join.state,
                    ReferralState::Refused {
                        at: r.created_at,
                        reason
                    }
                ),
                None => assert_eq!(join.state, ReferralState::Pending),
            }
        }
    }

    #[test]
    fn a_referral_made_while_switched_off_is_refused() {
        let r = member(A, None, None);
        let off = ReferralSettings::default();
        assert_eq!(
            at_join(&off, &r, None, None, r.created_at).state,
            ReferralState::Refused {
                at: r.created_at,
                reason: Refusal::SwitchedOff
            }
        );
    }

    #[test]
    fn award_guards() {
        let referred = member(B, Some("bob@example.com"), None);
        let mut r = member(A, Some("ann@example.com"), None);
        assert_eq!(at_award(&on(), &r, &referred, 2026), Ok(()));
        assert_eq!(
            at_award(&ReferralSettings::default(), &r, &referred, 2026),
            Err(Refusal::SwitchedOff)
        );
        r.status = MemberStatus::Blocked;
        assert_eq!(
            at_award(&on(), &r, &referred, 2026),
            Err(Refusal::ReferrerBlocked)
        );
        r.status = MemberStatus::Erased;
        assert_eq!(
            at_award(&on(), &r, &referred, 2026),
            Err(Refusal::ReferrerErased)
        );
        r.status = MemberStatus::Active;
        let cap2 = ReferralSettings {
            yearly_cap: 2,
            ..on()
        };
        r.referrals.add(2026);
        assert_eq!(at_award(&cap2, &r, &referred, 2026), Ok(()));
        r.referrals.add(2026);
        assert_eq!(
            at_award(&cap2, &r, &referred, 2026),
            Err(Refusal::CapReached)
        );
        // A new calendar year starts the count again; the total keeps going.
        assert_eq!(at_award(&cap2, &r, &referred, 2027), Ok(()));
        r.referrals.add(2027);
        assert_eq!((r.referrals.in_year(2027), r.referrals.total), (1, 3));
        // Contact details changed since joining to the referrer's: refused at award too.
        let same = member(B, Some("Ann+shop@example.com"), None);
        assert_eq!(
            at_award(
                &on(),
                &member(A, Some("ann@example.com"), None),
                &same,
                2026
            ),
            Err(Refusal::SameEmail)
        );
    }

    #[test]
    fn settings_are_range_checked() {
        assert!(ReferralSettings::parse(true, 100, 50, 10).is_ok());
        assert!(ReferralSettings::parse(true, 0, 0, 1).is_ok());
        assert!(ReferralSettings::parse(true, -1, 50, 10).is_err());
        assert!(ReferralSettings::parse(true, 100, 100_001, 10).is_err());
        assert!(ReferralSettings::parse(true, 100, 50, 0).is_err());
        assert!(ReferralSettings::parse(true, 100, 50, 1001).is_err());
    }
}
