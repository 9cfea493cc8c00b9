//! Shop webhooks as stored: each provider's settings, the deliveries taken, the orders counted
//! and those parked for staff; and applying a delivery, all of it in the caller's one write
//! transaction, so a crash never keeps a delivery without its points or the other way round.

use super::members;
use super::tables::{HOOK_DELIVERIES, HOOK_ORDERS, HOOK_SETTINGS, HOOK_UNMATCHED};
use super::{StoreError, audit, codec, ledger, settings};
use crate::domain::DomainError;
use crate::domain::actor::Actor;
use crate::domain::email::Email;
use crate::domain::ledger::{EntryKind, MAX_POINTS, Reason};
use crate::domain::member::{MemberId, MemberStatus, NewMember};
use crate::domain::money::Money;
use crate::domain::shop::{
    self, CardLookup, Delivery, GivenCard, Integration, Match, PaidOrder, Provider, Refund,
    RefundAmount, ShopEvent,
};
use redb::{ReadTransaction, ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// A delivery taken, and what it did.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct DeliveryRecord {
    #[serde(with = "time::serde::rfc3339")]
    received_at: OffsetDateTime,
    outcome: String,
}

/// An order counted (or parked): enough to take points back in proportion later.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShopOrder {
    /// The email the order carried.
    pub email: Option<String>,
    /// What was paid.
    pub amount: Money,
    /// Who got the points; none while parked.
    pub member_id: Option<String>,
    /// The earn entry, if points were awarded.
    pub earn_seq: Option<u64>,
    /// Points awarded.
    pub earned: i64,
    /// Money refunded so far, in minor units.
    pub refunded_minor: i64,
    /// Points taken back so far.
    pub taken_back: i64,
    /// Points refunds should have taken back that the customer had already spent.
    pub shortfall: i64,
    /// Why it waits for staff, while it does.
    pub parked: Option<String>,
    /// When the paid delivery came.
    #[serde(with = "time::serde::rfc3339")]
    pub received_at: OffsetDateTime,
}

/// A parked order, as listed for staff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unmatched {
    /// The shop.
    pub provider: Provider,
    /// The shop's order id.
    pub order_id: String,
    /// The order.
    pub order: ShopOrder,
}

/// What applying a delivery did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// The same delivery came before: nothing applied.
    Duplicate,
    /// Taken; what it did, in words.
    Taken(String),
}

/// A provider's settings (disabled with no secret if never set).
pub fn integration(tx: &ReadTransaction, provider: Provider) -> Result<Integration, StoreError> {
    let table = match tx.open_table(HOOK_SETTINGS) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Integration::default()),
        Err(e) => return Err(e.into()),
    };
    Ok(codec::get(&table, "hook_settings", provider.as_str())?.unwrap_or_default())
}

/// Saves a provider's settings and audits the change (never the secret).
pub fn set_integration(
    tx: &WriteTransaction,
    provider: Provider,
    value: &Integration,
    secret_changed: bool,
    actor: &Actor,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    tx.open_table(HOOK_SETTINGS)?
        .insert(provider.as_str(), codec::encode(value)?.as_slice())?;
    audit::record(
        tx,
        actor,
        "integration.update",
        provider.as_str(),
        serde_json::json!({
            "enabled": value.enabled,
            "create_members": value.create_members,
            "secret_changed": secret_changed,
        }),
        now,
    )
}

/// A provider's settings inside a write.
pub fn integration_for_update(
    tx: &WriteTransaction,
    provider: Provider,
) -> Result<Integration, StoreError> {
    let table = tx.open_table(HOOK_SETTINGS)?;
    Ok(codec::get(&table, "hook_settings", provider.as_str())?.unwrap_or_default())
}

/// Applies a verified delivery once: a delivery id seen before applies nothing, and an order
/// awards once whichever of its deliveries comes first.
pub fn apply(
    tx: &WriteTransaction,
    provider: Provider,
    delivery: Delivery,
    now: OffsetDateTime,
) -> Result<Applied, StoreError> {
    let key = (provider.as_str(), delivery.id.as_str());
    if tx.open_table(HOOK_DELIVERIES)?.get(key)?.is_some() {
        return Ok(Applied::Duplicate);
    }
    let outcome = match delivery.event {
        ShopEvent::Ignored(why) => format!("ignored: {why}"),
        ShopEvent::Paid(order) => paid(tx, provider, order, now)?,
        ShopEvent::Refunded(refund) => refunded(tx, provider, refund, now)?,
    };
    record_delivery(tx, key, &outcome, now)?;
    Ok(Applied::Taken(outcome))
}

fn get_order(
    tx: &WriteTransaction,
    provider: Provider,
    order_id: &str,
) -> Result<Option<ShopOrder>, StoreError> {
    let table = tx.open_table(HOOK_ORDERS)?;
    codec::get(&table, "hook_orders", (provider.as_str(), order_id))
}

fn save_order(
    tx: &WriteTransaction,
    provider: Provider,
    order_id: &str,
    order: &ShopOrder,
) -> Result<(), StoreError> {
    let key = (provider.as_str(), order_id);
    tx.open_table(HOOK_ORDERS)?
        .insert(key, codec::encode(order)?.as_slice())?;
    let mut parked = tx.open_table(HOOK_UNMATCHED)?;
    if order.parked.is_some() {
        parked.insert(key, ())?;
    } else {
        parked.remove(key)?;
    }
    Ok(())
}

/// A new order's record, before it is awarded or parked.
fn new_order(order: &PaidOrder, now: OffsetDateTime) -> ShopOrder {
    ShopOrder {
        email: order.email.clone(),
        amount: order.amount,
        member_id: None,
        earn_seq: None,
        earned: 0,
        refunded_minor: 0,
        taken_back: 0,
        shortfall: 0,
        parked: None,
        received_at: now,
    }
}

fn paid(
    tx: &WriteTransaction,
    provider: Provider,
    order: PaidOrder,
    now: OffsetDateTime,
) -> Result<String, StoreError> {
    if get_order(tx, provider, &order.order_id)?.is_some() {
        return Ok(format!("order {} was counted already", order.order_id));
    }
    let scheme = settings::load_for_update(tx)?;
    let mut rec = new_order(&order, now);
    let outcome = if order.amount.currency != scheme.currency {
        let why = format!(
            "paid in {}; this business earns in {}",
            order.amount.currency.as_str(),
            scheme.currency.as_str()
        );
        park(&mut rec, &why)
    } else if scheme
        .earning
        .points_for(order.amount)
        .map_or(true, |p| p > MAX_POINTS)
    {
        // Checked before anyone is matched, so no member is created for an order that waits.
        park(&mut rec, shop::TOO_LARGE)
    } else {
        let card = match &order.card {
            None => CardLookup::NotGiven,
            Some(GivenCard::Invalid(raw)) => CardLookup::Invalid(raw.clone()),
            Some(GivenCard::Valid(n)) => match members::card_holder(tx, n)? {
                Some(id) => {
                    let active = active(tx, &id)?;
                    CardLookup::Holder(id, active)
                }
                None => CardLookup::NoOne(n.clone()),
            },
        };
        let email = order.email.as_deref().and_then(|e| Email::parse(e).ok());
        let holder = match &email {
            Some(e) => match members::email_holder(tx, e)? {
                Some(id) => {
                    let active = active(tx, &id)?;
                    Some((id, active))
                }
                None => None,
            },
            None => None,
        };
        let create = integration_for_update(tx, provider)?.create_members;
        match (shop::decide(card, email.is_some(), holder, create), email) {
            (Match::Member(id), _) => award(tx, provider, &order.order_id, &mut rec, id, now)?,
            (Match::Create, Some(email)) => {
                let new = NewMember {
                    email: Some(email),
                    ..NewMember::default()
                };
                let m = members::create(tx, new, &actor(provider), now)?;
                award(
                    tx,
                    provider,
                    &order.order_id,
                    &mut rec,
                    m.id.as_str().to_owned(),
                    now,
                )?
            }
            (Match::Park(why), _) => park(&mut rec, &why),
            // `decide` creates only for a usable email.
            (Match::Create, None) => park(&mut rec, "the order has no usable email address"),
        }
    };
    save_order(tx, provider, &order.order_id, &rec)?;
    Ok(outcome)
}

fn active(tx: &WriteTransaction, id: &str) -> Result<bool, StoreError> {
    Ok(members::get_for_update(tx, &member_id(id)?)?.status == MemberStatus::Active)
}

/// Parks a paid order that a domain rule refused to award (see [`shop::park_refused`]) and
/// records its delivery, in a write of its own: the refused one left nothing behind.
pub fn park_refused(
    tx: &WriteTransaction,
    provider: Provider,
    delivery: Delivery,
    why: &str,
    now: OffsetDateTime,
) -> Result<Applied, StoreError> {
    let key = (provider.as_str(), delivery.id.as_str());
    if tx.open_table(HOOK_DELIVERIES)?.get(key)?.is_some() {
        return Ok(Applied::Duplicate);
    }
    let outcome = match delivery.event {
        ShopEvent::Paid(order) if get_order(tx, provider, &order.order_id)?.is_none() => {
            let mut rec = new_order(&order, now);
            let outcome = park(&mut rec, why);
            save_order(tx, provider, &order.order_id, &rec)?;
            outcome
        }
        _ => format!("refused: {why}"),
    };
    record_delivery(tx, key, &outcome, now)?;
    Ok(Applied::Taken(outcome))
}

fn record_delivery(
    tx: &WriteTransaction,
    key: (&str, &str),
    outcome: &str,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let record = DeliveryRecord {
        received_at: now,
        outcome: outcome.to_owned(),
    };
    tx.open_table(HOOK_DELIVERIES)?
        .insert(key, codec::encode(&record)?.as_slice())?;
    Ok(())
}

fn park(rec: &mut ShopOrder, why: &str) -> String {
    rec.parked = Some(why.to_owned());
    format!("parked: {why}")
}

fn member_id(id: &str) -> Result<MemberId, StoreError> {
    MemberId::parse(id)
        .map_err(|_| StoreError::Corrupt(format!("an index names bad member id {id}")))
}

fn actor(provider: Provider) -> Actor {
    Actor::Webhook {
        provider: provider.as_str().to_owned(),
    }
}

/// Awards an order's points to `member` (none if the earning rule gives none), then takes
/// back what refunds that came while it was parked gave back.
fn award(
    tx: &WriteTransaction,
    provider: Provider,
    order_id: &str,
    rec: &mut ShopOrder,
    member: String,
    now: OffsetDateTime,
) -> Result<String, StoreError> {
    let rule = settings::load_for_update(tx)?.earning;
    rec.member_id = Some(member.clone());
    rec.parked = None;
    if rule.points_for(rec.amount)? == 0 {
        return Ok("no points under the earning rule".into());
    }
    let change = rule.earn(rec.amount)?;
    let posting = ledger::Posting {
        member_id: member_id(&member)?,
        kind: EntryKind::Earn,
        points: change.signed(),
        reason: None,
        reference: Some(order_id.to_owned()),
        reward_id: None,
        amount: Some(rec.amount),
        reverses: None,
    };
    let (entry, _) = ledger::post(tx, posting, &actor(provider), None, now)?;
    rec.earn_seq = Some(entry.body.seq);
    rec.earned = change.signed();
    let mut outcome = format!("{} points to member {member}", rec.earned);
    if rec.refunded_minor > 0 {
        outcome = format!(
            "{outcome}; {}",
            take_back(tx, provider, order_id, rec, now)?
        );
    }
    Ok(outcome)
}

fn refunded(
    tx: &WriteTransaction,
    provider: Provider,
    refund: Refund,
    now: OffsetDateTime,
) -> Result<String, StoreError> {
    let Some(mut rec) = get_order(tx, provider, &refund.order_id)? else {
        return Ok(format!(
            "ignored: refund for order {}, which was never counted here",
            refund.order_id
        ));
    };
    rec.refunded_minor = match refund.amount {
        RefundAmount::This(minor) => rec.refunded_minor.saturating_add(minor),
        // A cumulative total: an older one arriving late changes nothing.
        RefundAmount::Total(minor) => minor.max(rec.refunded_minor),
    };
    let outcome = if rec.earn_seq.is_some() {
        take_back(tx, provider, &refund.order_id, &mut rec, now)?
    } else {
        "refund recorded on an order without points".to_owned()
    };
    save_order(tx, provider, &refund.order_id, &rec)?;
    Ok(outcome)
}

/// Takes back the points the money refunded so far stands for, never below a zero balance;
/// what was already spent is recorded as the order's shortfall.
fn take_back(
    tx: &WriteTransaction,
    provider: Provider,
    order_id: &str,
    rec: &mut ShopOrder,
    now: OffsetDateTime,
) -> Result<String, StoreError> {
    let Some(member) = rec.member_id.clone() else {
        return Ok("refund recorded".into());
    };
    let due = shop::points_to_take_back(
        rec.earned,
        rec.amount.amount_minor,
        rec.refunded_minor,
        rec.taken_back + rec.shortfall,
    );
    if due == 0 {
        return Ok("refund recorded; no points to take back".into());
    }
    let id = member_id(&member)?;
    let m = members::get_for_update(tx, &id)?;
    let balance = if m.status == MemberStatus::Active {
        m.balance
    } else {
        0
    };
    let split = shop::take_back(due, balance);
    if split.taken > 0 {
        let mut words = format!("Refund of {} order {order_id}", provider.title());
        if split.shortfall > 0 {
            words = format!("{words}; {} points were already spent", split.shortfall);
        }
        let reason = Reason::parse(&words).map_err(StoreError::Domain)?;
        let posting = ledger::Posting {
            member_id: id,
            kind: EntryKind::Adjust,
            points: -split.taken,
            reason: Some(reason),
            reference: Some(order_id.to_owned()),
            reward_id: None,
            amount: None,
            reverses: None,
        };
        ledger::post(tx, posting, &actor(provider), None, now)?;
    }
    if split.shortfall > 0 {
        // For the owner to see in the audit log: points the shop refunded that stay spent.
        audit::record(
            tx,
            &actor(provider),
            "integration.shortfall",
            &member,
            serde_json::json!({
                "provider": provider.as_str(),
                "order_id": order_id,
                "points": split.shortfall,
            }),
            now,
        )?;
    }
    rec.taken_back += split.taken;
    rec.shortfall += split.shortfall;
    Ok(format!(
        "{} points taken back, {} already spent",
        split.taken, split.shortfall
    ))
}

/// Attaches a parked order to a member and awards it now, once.
pub fn attach(
    tx: &WriteTransaction,
    provider: Provider,
    order_id: &str,
    member: &MemberId,
    by: &Actor,
    now: OffsetDateTime,
) -> Result<(ShopOrder, String), StoreError> {
    let mut rec = get_order(tx, provider, order_id)?.ok_or(DomainError::NotFound("order"))?;
    if rec.parked.is_none() {
        return Err(
            DomainError::invalid("order_id", "this order is not waiting to be attached").into(),
        );
    }
    let scheme = settings::load_for_update(tx)?;
    if rec.amount.currency != scheme.currency {
        return Err(DomainError::invalid(
            "order_id",
            format!(
                "this order was paid in {}; this business earns in {}",
                rec.amount.currency.as_str(),
                scheme.currency.as_str()
            ),
        )
        .into());
    }
    let m = members::get_for_update(tx, member)?;
    match m.status {
        MemberStatus::Active => {}
        MemberStatus::Blocked => return Err(DomainError::MemberBlocked.into()),
        _ => return Err(DomainError::MemberErased.into()),
    }
    let outcome = award(
        tx,
        provider,
        order_id,
        &mut rec,
        member.as_str().to_owned(),
        now,
    )?;
    save_order(tx, provider, order_id, &rec)?;
    audit::record(
        tx,
        by,
        "integration.attach",
        member.as_str(),
        serde_json::json!({ "provider": provider.as_str(), "order_id": order_id }),
        now,
    )?;
    Ok((rec, outcome))
}

/// Up to `limit` parked orders, oldest key first.
pub fn unmatched(tx: &ReadTransaction, limit: usize) -> Result<Vec<Unmatched>, StoreError> {
    let (index, orders) = match (tx.open_table(HOOK_UNMATCHED), tx.open_table(HOOK_ORDERS)) {
        (Ok(i), Ok(o)) => (i, o),
        (Err(redb::TableError::TableDoesNotExist(_)), _)
        | (_, Err(redb::TableError::TableDoesNotExist(_))) => return Ok(Vec::new()),
        (Err(e), _) | (_, Err(e)) => return Err(e.into()),
    };
    let mut out = Vec::new();
    for row in index.iter()?.take(limit) {
        let (k, _) = row?;
        let (p, order_id) = k.value();
        let Some(provider) = Provider::parse(p) else {
            continue;
        };
        if let Some(order) =
            codec::get::<(&str, &str), ShopOrder, _>(&orders, "hook_orders", (p, order_id))?
        {
            out.push(Unmatched {
                provider,
                order_id: order_id.to_owned(),
                order,
            });
        }
    }
    Ok(out)
}

/// An order counted or parked, as stored.
pub fn order(
    tx: &ReadTransaction,
    provider: Provider,
    order_id: &str,
) -> Result<Option<ShopOrder>, StoreError> {
    let table = match tx.open_table(HOOK_ORDERS) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    codec::get(&table, "hook_orders", (provider.as_str(), order_id))
}

/// Most delivery records one sweep step reads or removes.
pub const PRUNE_BATCH: usize = 1000;

/// Up to [`PRUNE_BATCH`] deliveries taken before `cutoff`. Their orders stay, so a paid order
/// retried later still awards nothing; shops stop retrying within days.
pub fn expired_deliveries(
    tx: &ReadTransaction,
    cutoff: OffsetDateTime,
) -> Result<Vec<(String, String)>, StoreError> {
    let table = match tx.open_table(HOOK_DELIVERIES) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let mut out = Vec::new();
    for row in table.iter()? {
        let (k, v) = row?;
        let old = codec::decode::<DeliveryRecord>("hook_deliveries", v.value())
            .map_or(true, |r| r.received_at < cutoff);
        if old {
            let (p, id) = k.value();
            out.push((p.to_owned(), id.to_owned()));
            if out.len() == PRUNE_BATCH {
                break;
            }
        }
    }
    Ok(out)
}

/// Removes the given delivery records; returns how many were there.
pub fn remove_deliveries(
    tx: &WriteTransaction,
    keys: &[(String, String)],
) -> Result<usize, StoreError> {
    let mut table = tx.open_table(HOOK_DELIVERIES)?;
    let mut n = 0;
    for (p, id) in keys {
        if table.remove((p.as_str(), id.as_str()))?.is_some() {
            n += 1;
        }
    }
    Ok(n)
}
