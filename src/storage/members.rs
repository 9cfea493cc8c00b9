//! Members and their lookup indexes.

use super::tables::*;
use super::{StoreError, aggregates, audit, cards, codec, stats};
use crate::domain::DomainError;
use crate::domain::actor::Actor;
use crate::domain::card::{CardNumber, CardToken};
use crate::domain::email::Email;
use crate::domain::member::{Member, MemberId, MemberPatch, MemberQuery, MemberStatus, NewMember};
use redb::{ReadTransaction, ReadableTable, ReadableTableMetadata, WriteTransaction};
use std::ops::Bound;
use time::OffsetDateTime;

/// One page of results and where the next one starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The items on this page.
    pub items: Vec<T>,
    /// Position after the last item when more may follow.
    pub next: Option<String>,
}

fn by_id<T: ReadableTable<&'static str, &'static [u8]>>(
    table: &T,
    id: &str,
) -> Result<Option<Member>, StoreError> {
    codec::get(table, "members", id)
}

fn via_index<I: ReadableTable<&'static str, &'static str>>(
    tx: &ReadTransaction,
    index: &I,
    key: &str,
) -> Result<Option<Member>, StoreError> {
    match index.get(key)? {
        Some(id) => by_id(&tx.open_table(MEMBERS)?, id.value()),
        None => Ok(None),
    }
}

/// A member by id.
pub fn get(tx: &ReadTransaction, id: &MemberId) -> Result<Option<Member>, StoreError> {
    by_id(&tx.open_table(MEMBERS)?, id.as_str())
}

/// A member by id inside a write.
pub fn get_for_update(tx: &WriteTransaction, id: &MemberId) -> Result<Member, StoreError> {
    by_id(&tx.open_table(MEMBERS)?, id.as_str())?.ok_or(DomainError::NotFound("member").into())
}

/// A member by card number.
pub fn by_card(tx: &ReadTransaction, card: &CardNumber) -> Result<Option<Member>, StoreError> {
    via_index(tx, &tx.open_table(MEMBERS_BY_CARD)?, card.as_str())
}

/// A member by card token.
pub fn by_token(tx: &ReadTransaction, token: &CardToken) -> Result<Option<Member>, StoreError> {
    via_index(tx, &tx.open_table(MEMBERS_BY_TOKEN)?, token.as_str())
}

/// A member by email.
pub fn by_email(tx: &ReadTransaction, email: &Email) -> Result<Option<Member>, StoreError> {
    via_index(tx, &tx.open_table(MEMBERS_BY_EMAIL)?, email.as_str())
}

/// Hands every member to `f`, oldest first, one at a time (for export): memory stays flat.
pub fn each<E: From<StoreError>>(
    tx: &ReadTransaction,
    mut f: impl FnMut(Member) -> Result<(), E>,
) -> Result<(), E> {
    let table = tx.open_table(MEMBERS).map_err(StoreError::from)?;
    for row in table.iter().map_err(StoreError::from)? {
        let (_, v) = row.map_err(StoreError::from)?;
        f(codec::decode("members", v.value())?)?;
    }
    Ok(())
}

/// How many members there are.
pub fn count(tx: &ReadTransaction) -> Result<u64, StoreError> {
    Ok(tx.open_table(MEMBERS)?.len()?)
}

/// Members matching `query`, in index order, starting after `after`.
pub fn search(
    tx: &ReadTransaction,
    query: &MemberQuery,
    after: Option<&str>,
    limit: usize,
) -> Result<Page<Member>, StoreError> {
    let members = tx.open_table(MEMBERS)?;
    let mut items = Vec::new();
    let mut last_key: Option<String> = None;
    let mut more = false;
    let mut push = |key: String, m: Member, items: &mut Vec<Member>| -> bool {
        if items.len() == limit {
            more = true;
            return false;
        }
        items.push(m);
        last_key = Some(key);
        true
    };
    match query {
        MemberQuery::All => {
            let lower = after.map_or(Bound::Unbounded, Bound::Excluded);
            for row in members.range::<&str>((lower, Bound::Unbounded))? {
                let (k, v) = row?;
                let m: Member = codec::decode("members", v.value())?;
                if !push(k.value().to_owned(), m, &mut items) {
                    break;
                }
            }
        }
        MemberQuery::CardPrefix(prefix) | MemberQuery::EmailPrefix(prefix) => {
            let index = if matches!(query, MemberQuery::CardPrefix(_)) {
                tx.open_table(MEMBERS_BY_CARD)?
            } else {
                tx.open_table(MEMBERS_BY_EMAIL)?
            };
            let lower = after.map_or(Bound::Included(prefix.as_str()), Bound::Excluded);
            for row in index.range::<&str>((lower, Bound::Unbounded))? {
                let (k, id) = row?;
                if !k.value().starts_with(prefix.as_str()) {
                    break;
                }
                if let Some(m) = by_id(&members, id.value())?
                    && !push(k.value().to_owned(), m, &mut items)
                {
                    break;
                }
            }
        }
        MemberQuery::Name(words) => {
            let Some(first) = words.first() else {
                return Ok(Page { items, next: None });
            };
            let index = tx.open_table(MEMBER_NAME_WORDS)?;
            let cursor = after.and_then(|a| a.split_once('\u{1f}'));
            let lower = match cursor {
                Some(pos) => Bound::Excluded(pos),
                None => Bound::Included((first.as_str(), "")),
            };
            for row in index.range::<(&str, &str)>((lower, Bound::Unbounded))? {
                let (k, _) = row?;
                let (word, id) = k.value();
                if !word.starts_with(first.as_str()) {
                    break;
                }
                let Some(m) = by_id(&members, id)? else {
                    continue;
                };
                let mine = m
                    .name
                    .as_ref()
                    .map(|n| n.search_words())
                    .unwrap_or_default();
                // A member is listed once: under the first of their words that matches.
                let first_match = mine.iter().find(|w| w.starts_with(first.as_str()));
                let all_match = words
                    .iter()
                    .all(|q| mine.iter().any(|w| w.starts_with(q.as_str())));
                if first_match.map(String::as_str) == Some(word)
                    && all_match
                    && !push(format!("{word}\u{1f}{id}"), m, &mut items)
                {
                    break;
                }
            }
        }
    }
    Ok(Page {
        items,
        next: if more { last_key } else { None },
    })
}

fn ensure_free<I: ReadableTable<&'static str, &'static str>>(
    index: &I,
    key: &str,
    owner: Option<&str>,
    what: &'static str,
) -> Result<(), StoreError> {
    match index.get(key)? {
        Some(id) if Some(id.value()) != owner => Err(DomainError::Taken { what }.into()),
        _ => Ok(()),
    }
}

pub(super) fn index_names(tx: &WriteTransaction, m: &Member, add: bool) -> Result<(), StoreError> {
    let mut words = tx.open_table(MEMBER_NAME_WORDS)?;
    for w in m
        .name
        .as_ref()
        .map(|n| n.search_words())
        .unwrap_or_default()
    {
        if add {
            words.insert((w.as_str(), m.id.as_str()), ())?;
        } else {
            words.remove((w.as_str(), m.id.as_str()))?;
        }
    }
    Ok(())
}

pub(super) fn index_email(
    tx: &WriteTransaction,
    email: Option<&Email>,
    id: Option<&str>,
) -> Result<(), StoreError> {
    let mut index = tx.open_table(MEMBERS_BY_EMAIL)?;
    match (email, id) {
        (Some(e), Some(id)) => {
            index.insert(e.as_str(), id)?;
        }
        (Some(e), None) => {
            index.remove(e.as_str())?;
        }
        (None, _) => {}
    }
    Ok(())
}

/// Writes a member's row (indexes are untouched).
pub fn save(tx: &WriteTransaction, m: &Member) -> Result<(), StoreError> {
    tx.open_table(MEMBERS)?
        .insert(m.id.as_str(), codec::encode(m)?.as_slice())?;
    Ok(())
}

/// The id of the member holding a card number, read inside a write so the answer holds for it.
pub fn card_holder(tx: &WriteTransaction, card: &CardNumber) -> Result<Option<String>, StoreError> {
    Ok(tx
        .open_table(MEMBERS_BY_CARD)?
        .get(card.as_str())?
        .map(|v| v.value().to_owned()))
}

/// The id of the member holding `email`, read inside a write so the answer holds for it.
pub fn email_holder(tx: &WriteTransaction, email: &Email) -> Result<Option<String>, StoreError> {
    Ok(tx
        .open_table(MEMBERS_BY_EMAIL)?
        .get(email.as_str())?
        .map(|v| v.value().to_owned()))
}

/// Creates a member with a new card number (or the pre-printed one given) and a new card token.
pub fn create(
    tx: &WriteTransaction,
    new: NewMember,
    actor: &Actor,
    now: OffsetDateTime,
) -> Result<Member, StoreError> {
    if let Some(e) = &new.email {
        ensure_free(&tx.open_table(MEMBERS_BY_EMAIL)?, e.as_str(), None, "email")?;
    }
    let (card_number, card_token) = card_for(tx, new.card_number, new.card_token)?;
    let id = MemberId::from_ulid(super::new_ulid(now)?);
    let referral_code = Some(super::referrals::new_code(tx, &id)?);
    let member = Member {
        id,
        card_number,
        card_token,
        name: new.name,
        email: new.email,
        phone: new.phone,
        marketing_consent_at: new.marketing_consent.then_some(now),
        marketing_consent_text: new.marketing_consent_text.filter(|_| new.marketing_consent),
        erasure_requested_at: None,
        status: MemberStatus::Active,
        balance: 0,
        lifetime_earned: 0,
        created_at: now,
        updated_at: now,
        last_activity_at: None,
        tier: Default::default(),
        referral_code,
        referral: new.referral,
        referrals: Default::default(),
        birthday: new.birthday,
        birthday_awarded: None,
        lots: None,
        purchased: false,
        notices: crate::domain::notices::MemberNotices::new_member(),
    };
    save(tx, &member)?;
    super::birthdays::reindex(tx, &member.id, None, member.birthday.as_ref())?;
    let id = member.id.as_str();
    tx.open_table(MEMBERS_BY_CARD)?
        .insert(member.card_number.as_str(), id)?;
    tx.open_table(MEMBERS_BY_TOKEN)?
        .insert(member.card_token.as_str(), id)?;
    index_email(tx, member.email.as_ref(), Some(id))?;
    index_names(tx, &member, true)?;
    let mut totals = stats::load_for_update(tx)?;
    totals.members += 1;
    stats::save(tx, &totals)?;
    aggregates::member_created(tx, now)?;
    // In the same write: every way in (join, admin, API, import, shop) gets its welcome once.
    super::notices::queue(tx, &member, crate::domain::notices::What::Welcome, now)?;
    audit::record(
        tx,
        actor,
        "member.create",
        id,
        serde_json::json!({ "card_number": member.card_number.as_str() }),
        now,
    )?;
    let data = crate::domain::events::EventData {
        member_id: id.to_owned(),
        card_number: member.card_number.as_str().to_owned(),
        points: None,
        balance_after: 0,
        entry: None,
        reference: None,
    };
    super::events::queue(
        tx,
        crate::domain::events::EventType::MemberCreated,
        &data,
        now,
    )?;
    Ok(member)
}

/// The card a new member gets: a pre-printed one (claiming its blank card, so its QR code
/// keeps working), or a new number and token.
fn card_for(
    tx: &WriteTransaction,
    number: Option<CardNumber>,
    token: Option<CardToken>,
) -> Result<(CardNumber, CardToken), StoreError> {
    let Some(n) = number else {
        return Ok((cards::free_number(tx)?, cards::new_token()?));
    };
    ensure_free(
        &tx.open_table(MEMBERS_BY_CARD)?,
        n.as_str(),
        None,
        "card_number",
    )?;
    match (cards::blank_for_update(tx, &n)?, token) {
        (Some(blank), Some(t)) if blank.card_token != t => {
            Err(DomainError::invalid("card", "this card's code does not match its number").into())
        }
        (Some(blank), _) => {
            cards::claim(tx, &blank)?;
            Ok((blank.card_number, blank.card_token))
        }
        (None, Some(_)) => Err(DomainError::invalid(
            "card",
            "this printed card was already claimed; ask at the counter for a new one",
        )
        .into()),
        (None, None) => Ok((n, cards::new_token()?)),
    }
}

/// Gives a member a new card (number and token); the old card stops working at once.
pub fn new_card(
    tx: &WriteTransaction,
    id: &MemberId,
    actor: &Actor,
    now: OffsetDateTime,
) -> Result<Member, StoreError> {
    let mut m = get_for_update(tx, id)?;
    if m.status == MemberStatus::Erased {
        return Err(DomainError::invalid("status", "this member's account was erased").into());
    }
    let number = cards::free_number(tx)?;
    let token = cards::new_token()?;
    let mut by_card = tx.open_table(MEMBERS_BY_CARD)?;
    by_card.remove(m.card_number.as_str())?;
    by_card.insert(number.as_str(), id.as_str())?;
    drop(by_card);
    let mut by_token = tx.open_table(MEMBERS_BY_TOKEN)?;
    by_token.remove(m.card_token.as_str())?;
    by_token.insert(token.as_str(), id.as_str())?;
    drop(by_token);
    let old = m.card_number.as_str().to_owned();
    m.card_number = number;
    m.card_token = token;
    m.updated_at = now;
    save(tx, &m)?;
    audit::record(
        tx,
        actor,
        "member.new_card",
        id.as_str(),
        serde_json::json!({ "old_card_number": old, "card_number": m.card_number.as_str() }),
        now,
    )?;
    Ok(m)
}

/// Records that the member asked to be erased; an owner confirms.
pub fn request_erasure(
    tx: &WriteTransaction,
    id: &MemberId,
    actor: &Actor,
    now: OffsetDateTime,
) -> Result<Member, StoreError> {
    let mut m = get_for_update(tx, id)?;
    if m.status == MemberStatus::Erased {
        return Err(DomainError::NotFound("member").into());
    }
    if m.erasure_requested_at.is_none() {
        m.erasure_requested_at = Some(now);
        save(tx, &m)?;
        audit::record(
            tx,
            actor,
            "member.erasure_requested",
            id.as_str(),
            serde_json::json!({}),
            now,
        )?;
    }
    Ok(m)
}

/// Removes everything personal and closes the card: its points lapse with an `expire` entry,
/// and the ledger keeps its (anonymous) entries so every total stays true.
pub fn erase(
    tx: &WriteTransaction,
    id: &MemberId,
    actor: &Actor,
    now: OffsetDateTime,
) -> Result<Member, StoreError> {
    let before = get_for_update(tx, id)?;
    if before.status == MemberStatus::Erased {
        return Err(
            DomainError::invalid("status", "this member's account was erased already").into(),
        );
    }
    if before.balance > 0 {
        let posting = super::ledger::Posting {
            member_id: id.clone(),
            kind: crate::domain::ledger::EntryKind::Expire,
            points: -before.balance,
            reason: Some(crate::domain::ledger::Reason::parse("account erased")?),
            reference: None,
            reward_id: None,
            amount: None,
            reverses: None,
            category: None,
        };
        super::ledger::post(tx, posting, actor, None, now)?;
    }
    let mut m = get_for_update(tx, id)?;
    index_email(tx, m.email.as_ref(), None)?;
    index_names(tx, &m, false)?;
    tx.open_table(MEMBERS_BY_TOKEN)?
        .remove(m.card_token.as_str())?;
    tx.open_table(MEMBERS_BY_CARD)?
        .remove(m.card_number.as_str())?;
    cards::set_secret(tx, id.as_str(), None)?;
    super::birthdays::reindex(tx, id, m.birthday.as_ref(), None)?;
    super::referrals::forget_code(tx, &m)?;
    m.birthday = None;
    m.name = None;
    m.email = None;
    m.phone = None;
    m.marketing_consent_at = None;
    m.marketing_consent_text = None;
    m.status = MemberStatus::Erased;
    m.updated_at = now;
    save(tx, &m)?;
    audit::record(
        tx,
        actor,
        "member.erase",
        id.as_str(),
        serde_json::json!({}),
        now,
    )?;
    Ok(m)
}

/// Changes a member's details; email stays unique.
pub fn update(
    tx: &WriteTransaction,
    id: &MemberId,
    patch: MemberPatch,
    actor: &Actor,
    now: OffsetDateTime,
) -> Result<Member, StoreError> {
    let before = get_for_update(tx, id)?;
    patch.check(&before)?;
    if let Some(Some(e)) = &patch.email {
        ensure_free(
            &tx.open_table(MEMBERS_BY_EMAIL)?,
            e.as_str(),
            Some(id.as_str()),
            "email",
        )?;
    }
    let mut after = before.clone();
    patch.apply(&mut after, now);
    if before.email != after.email {
        index_email(tx, before.email.as_ref(), None)?;
        index_email(tx, after.email.as_ref(), Some(id.as_str()))?;
    }
    if before.name != after.name {
        index_names(tx, &before, false)?;
        index_names(tx, &after, true)?;
    }
    super::birthdays::reindex(tx, id, before.birthday.as_ref(), after.birthday.as_ref())?;
    save(tx, &after)?;
    let mut changed = Vec::new();
    if before.name != after.name {
        changed.push("name");
    }
    if before.email != after.email {
        changed.push("email");
    }
    if before.phone != after.phone {
        changed.push("phone");
    }
    if before.marketing_consent_at != after.marketing_consent_at {
        changed.push("marketing_consent");
    }
    if before.status != after.status {
        changed.push("status");
    }
    if before.birthday != after.birthday {
        changed.push("birthday");
    }
    audit::record(
        tx,
        actor,
        "member.update",
        id.as_str(),
        serde_json::json!({ "changed": changed }),
        now,
    )?;
    Ok(after)
}
