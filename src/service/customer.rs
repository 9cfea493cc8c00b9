//! What the customer pages need: the card page, joining, customers' passwords and sessions,
//! new cards, printed blank cards, and erasure.

use super::{Loyalty, Result};
use crate::clock;
use crate::crypto;
use crate::domain::DomainError;
use crate::domain::actor::Actor;
use crate::domain::card::{BlankCard, CardNumber, CardToken};
use crate::domain::email::Email;
use crate::domain::ledger::LedgerEntry;
use crate::domain::member::{
    CustomerSecret, FirstSecretCheck, Member, MemberId, MemberPatch, MemberStatus, NewMember,
};
use crate::domain::referral::{self, ReferralCode, ReferralState};
use crate::domain::reward::Reward;
use crate::domain::session::Session;
use crate::domain::settings::Settings;
use crate::storage::{self, StoreError};

/// Everything a member's card page shows.
#[derive(Debug, Clone)]
pub struct CardPage {
    /// The member.
    pub member: Member,
    /// Active rewards, cheapest first.
    pub rewards: Vec<Reward>,
    /// The most recent entries, newest first.
    pub recent: Vec<LedgerEntry>,
    /// Name, colours, currency.
    pub settings: Settings,
    /// Whether the customer has set a password or PIN.
    pub has_secret: bool,
    /// The member's next points to expire, if a policy is on.
    pub next_expiry: Option<crate::domain::expiry::Expiring>,
    /// The member's referral link, when referrals are on (the HTTP layer knows the address).
    pub referral_link: Option<String>,
}

/// What came of asking for the card's link by email.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardLinkMail {
    /// Queued; the alert task sends it.
    Queued,
    /// One was queued within the hour; nothing more is.
    TooSoon,
    /// No email to send it to (or no such card).
    NoEmail,
}

/// What the card page offers, beyond the link, to show the person setting a PIN holds the card.
#[derive(Debug, Clone, Default)]
pub struct SecretProof {
    /// The current password or PIN, to change it.
    pub current: Option<String>,
    /// The email address or phone number on file, typed again, to set a first one.
    pub contact: Option<String>,
    /// A signed-in staff member is setting it at the till.
    pub by_staff: bool,
}

/// What a card token leads to.
#[derive(Debug, Clone)]
pub enum CardLookup {
    /// A member's card.
    Member(Box<CardPage>),
    /// A printed card no one has claimed yet.
    Blank(BlankCard, Box<Settings>),
    /// Nothing (never issued, replaced, or erased).
    NotFound,
}

/// A live customer session with the member as they are now.
#[derive(Debug, Clone)]
pub struct MemberSession {
    /// The session's key (hash of the cookie secret).
    pub key: String,
    /// The session.
    pub session: Session,
    /// The signed-in member.
    pub member: Member,
}

impl Loyalty {
    /// The card page behind a token.
    pub async fn card(&self, token: &str) -> Result<CardLookup> {
        let Ok(token) = CardToken::parse(token) else {
            return Ok(CardLookup::NotFound);
        };
        Ok(self
            .store
            .read(move |tx| {
                let settings = storage::settings::load(tx)?;
                if let Some(member) = storage::members::by_token(tx, &token)? {
                    let mut rewards: Vec<Reward> = storage::rewards::list(tx)?
                        .into_iter()
                        .filter(|r| r.active)
                        .collect();
                    rewards.sort_by_key(|r| r.cost);
                    let recent = storage::ledger::history(tx, &member.id, None, 10)?.items;
                    let has_secret = storage::cards::secret(tx, member.id.as_str())?.is_some();
                    let next_expiry = match settings.expiry {
                        Some(policy) if member.balance > 0 => storage::expiry::lots_for(
                            tx,
                            &member,
                            policy,
                            &settings.time_zone.zone(),
                        )?
                        .next(crate::clock::now()),
                        _ => None,
                    };
                    return Ok(CardLookup::Member(Box::new(CardPage {
                        member,
                        rewards,
                        recent,
                        settings,
                        has_secret,
                        next_expiry,
                        referral_link: None,
                    })));
                }
                Ok(match storage::cards::blank(tx, &token)? {
                    Some(b) => CardLookup::Blank(b, Box::new(settings)),
                    None => CardLookup::NotFound,
                })
            })
            .await?)
    }

    /// A blank card by its printed number, or its token.
    pub async fn blank_card(
        &self,
        number: Option<CardNumber>,
        token: Option<CardToken>,
    ) -> Result<Option<BlankCard>> {
        Ok(self
            .store
            .read(move |tx| match (number, token) {
                (Some(n), _) => storage::cards::blank_by_number(tx, &n),
                (None, Some(t)) => storage::cards::blank(tx, &t),
                (None, None) => Ok(None),
            })
            .await?)
    }

    /// Prints `n` blank cards.
    pub async fn create_blank_cards(&self, n: usize, actor: Actor) -> Result<Vec<BlankCard>> {
        if !(1..=200).contains(&n) {
            return Err(
                DomainError::invalid("n", "print between 1 and 200 cards at a time").into(),
            );
        }
        Ok(self
            .store
            .write(move |tx| {
                let now = clock::now();
                let cards = storage::cards::create_blanks(tx, n, now)?;
                storage::audit::record(
                    tx,
                    &actor,
                    "cards.print_blank",
                    "cards",
                    serde_json::json!({ "count": n }),
                    now,
                )?;
                Ok(cards)
            })
            .await?)
    }

    /// Members by id, in the order asked, skipping unknown and erased ones.
    pub async fn members_by_id(&self, ids: Vec<MemberId>) -> Result<Vec<Member>> {
        Ok(self
            .store
            .read(move |tx| {
                let mut out = Vec::new();
                for id in &ids {
                    if let Some(m) = storage::members::get(tx, id)?
                        && m.status != MemberStatus::Erased
                    {
                        out.push(m);
                    }
                }
                Ok(out)
            })
            .await?)
    }

    /// Queues the mail with the card's link (`{base_url}/c/{token}`) to the member's email, at
    /// most once an hour; the alert task sends it. Nothing is queued for an unknown, erased or
    /// blocked card or a member without an email.
    pub async fn email_card_link(&self, token: &str, base_url: &str) -> Result<CardLinkMail> {
        let Ok(token) = CardToken::parse(token) else {
            return Ok(CardLinkMail::NoEmail);
        };
        let now = clock::now();
        let found = self
            .store
            .read(move |tx| {
                let member = storage::members::by_token(tx, &token)?
                    .filter(|m| m.status == MemberStatus::Active);
                Ok(member.map(|m| (m, storage::settings::load(tx))))
            })
            .await?;
        let Some((member, settings)) = found else {
            return Ok(CardLinkMail::NoEmail);
        };
        let settings = settings?;
        let Some(to) = member.email.clone() else {
            return Ok(CardLinkMail::NoEmail);
        };
        let url = format!("{base_url}/c/{}", member.card_token.as_str());
        let id = member.id.as_str().to_owned();
        let m = crate::domain::card_mail::message(&settings.business_name, &id, to, &url, now);
        let queued = self
            .store
            .write(move |tx| storage::alerts::enqueue_card_link(tx, &m, &id, now))
            .await?;
        Ok(if queued {
            CardLinkMail::Queued
        } else {
            CardLinkMail::TooSoon
        })
    }

    /// The id of the member whose card this token is, so attempts on the card page count per member.
    pub async fn card_member_id(&self, token: &str) -> Result<Option<String>> {
        let Ok(token) = CardToken::parse(token) else {
            return Ok(None);
        };
        Ok(self
            .store
            .read(move |tx| {
                Ok(storage::members::by_token(tx, &token)?
                    .filter(|m| m.status != MemberStatus::Erased)
                    .map(|m| m.id.as_str().to_owned()))
            })
            .await?)
    }

    /// Sets the customer's password or PIN from their card page. Changing one needs the current
    /// one; a first one needs proof beyond the link (see [`SecretProof`]). Every other session of
    /// the customer ends, so whoever knew the old secret is logged out; `keep` (the session
    /// making the change, if any) stays.
    pub async fn set_customer_secret(
        &self,
        token: String,
        proof: SecretProof,
        new: CustomerSecret,
        keep: Option<String>,
    ) -> Result<()> {
        let token = CardToken::parse(&token)?;
        let (member, stored) = self
            .store
            .read(move |tx| {
                let m = storage::members::by_token(tx, &token)?
                    .filter(|m| m.status != MemberStatus::Erased)
                    .ok_or(DomainError::NotFound("card"))?;
                let stored = storage::cards::secret(tx, m.id.as_str())?;
                Ok((m, stored))
            })
            .await?;
        let by_staff = proof.by_staff;
        match (stored, proof) {
            (Some(stored), proof) => {
                let given = proof.current.unwrap_or_default();
                if !self.passwords.verify(given, stored).await? {
                    return Err(DomainError::invalid(
                        "current",
                        "the current password or PIN is not right",
                    )
                    .into());
                }
            }
            (None, SecretProof { by_staff: true, .. }) => {}
            (None, proof) => {
                match member.confirm_contact(proof.contact.as_deref().unwrap_or_default()) {
                    FirstSecretCheck::Confirmed => {}
                    FirstSecretCheck::Mismatch => {
                        return Err(DomainError::invalid(
                            "contact",
                            "that is not the email address or phone number on this card",
                        )
                        .into());
                    }
                    FirstSecretCheck::NothingOnFile => {
                        return Err(DomainError::invalid(
                            "contact",
                            "this card has no email address or phone number to confirm it is yours: please ask staff at the counter to set your first PIN",
                        )
                        .into());
                    }
                }
            }
        }
        let hash = self.passwords.hash(new.expose()).await?;
        let id = member.id.as_str().to_owned();
        Ok(self
            .store
            .write(move |tx| {
                storage::cards::set_secret(tx, &id, Some(&hash))?;
                storage::sessions::remove_for_member_except(tx, &id, keep.as_deref())?;
                storage::audit::record(
                    tx,
                    &Actor::System,
                    "member.password_set",
                    &id,
                    serde_json::json!({ "by": if by_staff { "staff" } else { "customer" } }),
                    clock::now(),
                )
            })
            .await?)
    }

    /// Clears a customer's password so they can set a new one on their card page.
    pub async fn reset_customer_secret(&self, id: MemberId, actor: Actor) -> Result<()> {
        Ok(self
            .store
            .write(move |tx| {
                storage::members::get_for_update(tx, &id)?;
                storage::cards::set_secret(tx, id.as_str(), None)?;
                storage::sessions::remove_for_member(tx, id.as_str())?;
                storage::audit::record(
                    tx,
                    &actor,
                    "member.password_reset",
                    id.as_str(),
                    serde_json::json!({}),
                    clock::now(),
                )
            })
            .await?)
    }

    /// The id of the member a log-in identifier names, so failures count per member.
    pub async fn login_member_id(&self, identifier: &str) -> Result<Option<String>> {
        let ident = identifier.to_owned();
        Ok(self
            .store
            .read(move |tx| Ok(by_identifier(tx, &ident)?.map(|m| m.id.as_str().to_owned())))
            .await?)
    }

    /// The member whose card number or email and password these are.
    pub async fn customer_login(
        &self,
        identifier: &str,
        password: String,
    ) -> Result<Option<Member>> {
        let ident = identifier.to_owned();
        let found = self
            .store
            .read(move |tx| {
                let member = by_identifier(tx, &ident)?;
                let secret = match &member {
                    Some(m) => storage::cards::secret(tx, m.id.as_str())?,
                    None => None,
                };
                Ok((member, secret))
            })
            .await?;
        let (member, secret) = found;
        let ok = self.passwords.verify_if_any(password, secret).await?;
        Ok(member.filter(|_| ok))
    }

    /// The live customer session for a cookie secret.
    pub async fn member_session(&self, secret: &str) -> Result<Option<MemberSession>> {
        let key = crypto::sha256_hex(secret.as_bytes());
        let now = clock::now();
        Ok(self
            .store
            .read(move |tx| {
                let Some(session) = storage::sessions::get(tx, &key)? else {
                    return Ok(None);
                };
                let Some(id) = session.member_id().filter(|_| session.is_live(now)) else {
                    return Ok(None);
                };
                let id = MemberId::parse(id)
                    .map_err(|_| StoreError::Corrupt("bad member id in a session".into()))?;
                let member =
                    storage::members::get(tx, &id)?.filter(|m| m.status != MemberStatus::Erased);
                Ok(member.map(|member| MemberSession {
                    key,
                    session,
                    member,
                }))
            })
            .await?)
    }

    /// Joins a customer from `/join` (checked for self-sign-up and claiming a printed card).
    ///
    /// An email already on another card is not attached and not refused: the answer must not
    /// tell a stranger who is a member. The owner finds it in the audit log.
    pub async fn join(&self, new: NewMember, code: Option<ReferralCode>) -> Result<Member> {
        Ok(self
            .store
            .write(move |tx| {
                if !storage::settings::load_for_update(tx)?.self_signup {
                    return Err(
                        DomainError::invalid("join", "joining online is switched off").into(),
                    );
                }
                let mut new = new;
                let now = clock::now();
                let referrer = match &code {
                    Some(c) => storage::referrals::referrer_for_update(tx, c)?,
                    None => None,
                };
                let settings = storage::settings::load_for_update(tx)?;
                // Judged on the email as typed, before one in use is left out below.
                new.referral = referrer.as_ref().map(|r| {
                    referral::at_join(
                        &settings.referrals,
                        r,
                        new.email.as_ref(),
                        new.phone.as_ref(),
                        now,
                    )
                });
                let held_by = match &new.email {
                    Some(e) => storage::members::email_holder(tx, e)?,
                    None => None,
                };
                if held_by.is_some() {
                    new.email = None;
                }
                let member = storage::members::create(tx, new, &Actor::System, now)?;
                if member.referral.is_some() {
                    storage::stats::add_rules(tx, |t| {
                        t.referrals_joined = t.referrals_joined.saturating_add(1);
                    })?;
                }
                if let (Some(r), Some(ReferralState::Refused { reason, .. })) =
                    (&referrer, member.referral.as_ref().map(|r| &r.state))
                {
                    storage::referrals::refused(tx, &member.id, &r.id, *reason, now)?;
                }
                if let Some(other) = held_by {
                    storage::audit::record(
                        tx,
                        &Actor::System,
                        "member.join_email_in_use",
                        member.id.as_str(),
                        serde_json::json!({ "email_held_by": other }),
                        now,
                    )?;
                }
                Ok(member)
            })
            .await?)
    }

    /// A customer changes their own details. An email already on another card is left out
    /// (the rest is saved) rather than refused, so the page does not tell who is a member;
    /// the owner finds it in the audit log. Returns the member and whether the email was left out.
    pub async fn update_own_details(
        &self,
        id: MemberId,
        patch: MemberPatch,
    ) -> Result<(Member, bool)> {
        Ok(self
            .store
            .write(move |tx| {
                let mut patch = patch;
                let held_by = match &patch.email {
                    Some(Some(e)) => storage::members::email_holder(tx, e)?
                        .filter(|holder| holder.as_str() != id.as_str()),
                    _ => None,
                };
                if held_by.is_some() {
                    patch.email = None;
                }
                let now = clock::now();
                let member = storage::members::update(tx, &id, patch, &Actor::System, now)?;
                if let Some(other) = &held_by {
                    storage::audit::record(
                        tx,
                        &Actor::System,
                        "member.email_in_use",
                        id.as_str(),
                        serde_json::json!({ "email_held_by": other }),
                        now,
                    )?;
                }
                Ok((member, held_by.is_some()))
            })
            .await?)
    }

    /// A new card (number and token) for a member; the old one stops working.
    pub async fn new_card(&self, id: MemberId, actor: Actor) -> Result<Member> {
        Ok(self
            .store
            .write(move |tx| storage::members::new_card(tx, &id, &actor, clock::now()))
            .await?)
    }

    /// Records a customer's request to be erased.
    pub async fn request_erasure(&self, id: MemberId, actor: Actor) -> Result<Member> {
        Ok(self
            .store
            .write(move |tx| storage::members::request_erasure(tx, &id, &actor, clock::now()))
            .await?)
    }

    /// Erases a member (owner-confirmed) and ends their sessions.
    pub async fn erase_member(&self, id: MemberId, actor: Actor) -> Result<Member> {
        Ok(self
            .store
            .write(move |tx| {
                let m = storage::members::erase(tx, &id, &actor, clock::now())?;
                storage::sessions::remove_for_member(tx, id.as_str())?;
                Ok(m)
            })
            .await?)
    }

    /// A member and every one of their entries, oldest first: their data download.
    pub async fn member_data(&self, id: MemberId) -> Result<(Member, Vec<LedgerEntry>)> {
        Ok(self
            .store
            .read(move |tx| {
                let m = storage::members::get(tx, &id)?.ok_or(DomainError::NotFound("member"))?;
                let mut entries = Vec::new();
                let mut before = None;
                loop {
                    let page = storage::ledger::history(tx, &id, before, 500)?;
                    entries.extend(page.items);
                    match page.next.and_then(|n| n.parse().ok()) {
                        Some(n) => before = Some(n),
                        None => break,
                    }
                }
                entries.reverse();
                Ok((m, entries))
            })
            .await?)
    }
}

/// The live member a card number or an email names.
fn by_identifier(
    tx: &redb::ReadTransaction,
    identifier: &str,
) -> std::result::Result<Option<Member>, StoreError> {
    let ident = identifier.trim().replace([' ', '-'], "");
    let member = if let Ok(card) = CardNumber::parse(&ident) {
        storage::members::by_card(tx, &card)?
    } else if let Ok(email) = Email::parse(&ident) {
        storage::members::by_email(tx, &email)?
    } else {
        None
    };
    Ok(member.filter(|m| m.status != MemberStatus::Erased))
}

/// Whether a customer-facing form may create a member.
pub fn is_join_switched_off(e: &DomainError) -> bool {
    matches!(e, DomainError::Invalid { field: "join", .. })
}
