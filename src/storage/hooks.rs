//! Shop webhooks as stored: each provider's settings, the deliveries taken, the orders counted
//! and those parked for staff; and applying a delivery, all of it in the caller's one write
//! transaction, so a crash never keeps a delivery without its points or the other way round.

use super::members;
use super::tables::{
    HOOK_DELIVERIES, HOOK_DELIVERY_TIMES, HOOK_ORDERS, HOOK_SETTINGS, HOOK_UNMATCHED,
};
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
    save_integration(tx, provider, value)?;
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

/// Saves a provider's settings; the caller audits the change.
pub fn save_integration(
    tx: &WriteTransaction,
    provider: Provider,
    value: &Integration,
) -> Result<(), StoreError> {
    tx.open_table(HOOK_SETTINGS)?
        .insert(provider.as_str(), codec::encode(value)?.as_slice())?;
    Ok(())
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
    once(tx, provider, delivery, now, |event| match event {
        ShopEvent::Ignored(why) => Ok(format!("ignored: {why}")),
        ShopEvent::Paid(order) => paid(tx, provider, order, now),
        ShopEvent::Refunded(refund) => refunded(tx, provider, refund, now),
    })
}

/// Runs `what` on a delivery not taken before and records what it did with it; a delivery
/// taken before applies nothing.
fn once(
    tx: &WriteTransaction,
    provider: Provider,
    delivery: Delivery,
    now: OffsetDateTime,
    what: impl FnOnce(ShopEvent) -> Result<String, StoreError>,
) -> Result<Applied, StoreError> {
    let Delivery { id, event } = delivery;
    let key = (provider.as_str(), id.as_str());
    if tx.open_table(HOOK_DELIVERIES)?.get(key)?.is_some() {
        return Ok(Applied::Duplicate);
    }
    let outcome = what(event)?;
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
    once(tx, provider, delivery, now, |event| match event {
        ShopEvent::Paid(order) if get_order(tx, provider, &order.order_id)?.is_none() => {
            let mut rec = new_order(&order, now);
            let outcome = park(&mut rec, why);
            save_order(tx, provider, &order.order_id, &rec)?;
            Ok(outcome)
        }
        _ => Ok(format!("refused: {why}")),
    })
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
    tx.open_table(HOOK_DELIVERY_TIMES)?
        .insert((key.0, micros(now), key.1), ())?;
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
        category: None,
    };
    let (entry, _) = ledger::post(tx, posting, &actor(provider), None, now)?;
    rec.earn_seq = Some(entry.body.seq);
    // The ledger's points: a tier multiplier may have raised the rule's.
    rec.earned = entry.body.points;
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
            category: None,
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

/// A time as the delivery index keys it: Unix microseconds (0 before 1970).
fn micros(t: OffsetDateTime) -> u64 {
    u64::try_from(t.unix_timestamp_nanos() / 1000).unwrap_or(0)
}

/// A delivery taken, as the Integrations page lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRow {
    /// The shop's delivery or event id.
    pub id: String,
    /// When it came.
    pub received_at: OffsetDateTime,
    /// What it did, in words.
    pub outcome: String,
}

/// A delivery as the time index names it: (provider, Unix microseconds, delivery id).
pub type DeliveryKey = (String, u64, String);

fn open_read<K: redb::Key + 'static, V: redb::Value + 'static>(
    tx: &ReadTransaction,
    def: redb::TableDefinition<K, V>,
) -> Result<Option<redb::ReadOnlyTable<K, V>>, StoreError> {
    match tx.open_table(def) {
        Ok(t) => Ok(Some(t)),
        Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Up to `limit` of a shop's deliveries, newest first: a range read of the time index.
pub fn recent_deliveries(
    tx: &ReadTransaction,
    provider: Provider,
    limit: usize,
) -> Result<Vec<DeliveryRow>, StoreError> {
    let (Some(index), Some(records)) = (
        open_read(tx, HOOK_DELIVERY_TIMES)?,
        open_read(tx, HOOK_DELIVERIES)?,
    ) else {
        return Ok(Vec::new());
    };
    let p = provider.as_str();
    let mut out = Vec::new();
    for row in index.range((p, 0, "")..=(p, u64::MAX, ""))?.rev() {
        if out.len() == limit {
            break;
        }
        let (k, _) = row?;
        let (_, _, id) = k.value();
        // A record unreadable here is still listed, so the owner sees that something came.
        let outcome = match records.get((p, id))? {
            Some(v) => codec::decode::<DeliveryRecord>("hook_deliveries", v.value())
                .map_or_else(|e| e.to_string(), |r| r.outcome),
            None => continue,
        };
        let received_at =
            OffsetDateTime::from_unix_timestamp_nanos(i128::from(k.value().1).saturating_mul(1000))
                .unwrap_or(OffsetDateTime::UNIX_EPOCH);
        out.push(DeliveryRow {
            id: id.to_owned(),
            received_at,
            outcome,
        });
    }
    Ok(out)
}

/// Most delivery records one sweep step reads or removes.
pub const PRUNE_BATCH: usize = 1000;

/// Up to [`PRUNE_BATCH`] deliveries taken before `cutoff`, read as ranges of the time index
/// (oldest first per shop), never the whole table. Their orders stay, so a paid order retried
/// later still awards nothing; shops stop retrying within days.
pub fn expired_deliveries(
    tx: &ReadTransaction,
    cutoff: OffsetDateTime,
) -> Result<Vec<DeliveryKey>, StoreError> {
    let Some(index) = open_read(tx, HOOK_DELIVERY_TIMES)? else {
        return Ok(Vec::new());
    };
    let before = micros(cutoff);
    let mut out = Vec::new();
    for p in Provider::ALL.map(Provider::as_str) {
        for row in index.range((p, 0, "")..(p, before, ""))? {
            if out.len() == PRUNE_BATCH {
                return Ok(out);
            }
            let (k, _) = row?;
            let (p, at, id) = k.value();
            out.push((p.to_owned(), at, id.to_owned()));
        }
    }
    Ok(out)
}

/// Removes the given deliveries and their index rows; returns how many were there.
pub fn remove_deliveries(tx: &WriteTransaction, keys: &[DeliveryKey]) -> Result<usize, StoreError> {
    let mut records = tx.open_table(HOOK_DELIVERIES)?;
    let mut index = tx.open_table(HOOK_DELIVERY_TIMES)?;
    let mut n = 0;
    for (p, at, id) in keys {
        index.remove((p.as_str(), *at, id.as_str()))?;
        if records.remove((p.as_str(), id.as_str()))?.is_some() {
            n += 1;
        }
    }
    Ok(n)
}

/// Whether some deliveries have no row in the time index: taken by a server from before the
/// index, so the sweep would never find them. Two counts, no scan.
pub fn index_incomplete(tx: &ReadTransaction) -> Result<bool, StoreError> {
    let records = match open_read(tx, HOOK_DELIVERIES)? {
        Some(t) => redb::ReadableTableMetadata::len(&t)?,
        None => return Ok(false),
    };
    let indexed = match open_read(tx, HOOK_DELIVERY_TIMES)? {
        Some(t) => redb::ReadableTableMetadata::len(&t)?,
        None => 0,
    };
    Ok(indexed < records)
}

/// The next [`PRUNE_BATCH`] deliveries after `after` (all from the start without it), keyed
/// for the time index; an unreadable record gets time 0, so the next sweep removes it.
pub fn deliveries_to_index(
    tx: &ReadTransaction,
    after: Option<(String, String)>,
) -> Result<Vec<DeliveryKey>, StoreError> {
    let Some(records) = open_read(tx, HOOK_DELIVERIES)? else {
        return Ok(Vec::new());
    };
    let rows = match &after {
        Some((p, id)) => records.range((
            std::ops::Bound::Excluded((p.as_str(), id.as_str())),
            std::ops::Bound::Unbounded,
        ))?,
        None => records.range::<(&str, &str)>(..)?,
    };
    let mut out = Vec::new();
    for row in rows.take(PRUNE_BATCH) {
        let (k, v) = row?;
        let (p, id) = k.value();
        let at = codec::decode::<DeliveryRecord>("hook_deliveries", v.value())
            .map_or(0, |r| micros(r.received_at));
        out.push((p.to_owned(), at, id.to_owned()));
    }
    Ok(out)
}

/// Writes time index rows (writing one twice changes nothing).
pub fn index_deliveries(tx: &WriteTransaction, keys: &[DeliveryKey]) -> Result<(), StoreError> {
    let mut index = tx.open_table(HOOK_DELIVERY_TIMES)?;
    for (p, at, id) in keys {
        index.insert((p.as_str(), *at, id.as_str()), ())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests fail loudly")]
    use super::*;
    use crate::storage::Store;

    fn at(secs: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_700_000_000 + secs).unwrap()
    }

    fn delivery(id: &str) -> Delivery {
        Delivery {
            id: id.to_owned(),
            event: ShopEvent::Ignored("topic test".into()),
        }
    }

    #[tokio::test]
    async fn the_sweep_reads_the_time_index_and_takes_only_the_old() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store
            .write(|tx| {
                apply(tx, Provider::Shopify, delivery("old-1"), at(0))?;
                apply(tx, Provider::Stripe, delivery("old-2"), at(10))?;
                apply(tx, Provider::Shopify, delivery("new-1"), at(100))?;
                apply(tx, Provider::Shopify, delivery("new-2"), at(200))?;
                // As a server from before the index kept it: a record with no index row.
                let record = DeliveryRecord {
                    received_at: at(5),
                    outcome: "ignored: topic x".into(),
                };
                tx.open_table(HOOK_DELIVERIES)?
                    .insert(("square", "unindexed"), codec::encode(&record)?.as_slice())?;
                Ok(())
            })
            .await
            .unwrap();

        let recent = store
            .read(|tx| recent_deliveries(tx, Provider::Shopify, 2))
            .await
            .unwrap();
        let ids: Vec<_> = recent.iter().map(|d| d.id.as_str()).collect();
        assert_eq!(ids, ["new-2", "new-1"], "newest first, at most the limit");
        assert_eq!(recent[0].received_at, at(200));
        assert_eq!(recent[0].outcome, "ignored: topic test");

        // Only the index is read: the record without an index row is not found...
        let old = store
            .read(move |tx| expired_deliveries(tx, at(50)))
            .await
            .unwrap();
        let ids: Vec<_> = old.iter().map(|k| k.2.as_str()).collect();
        assert_eq!(ids, ["old-1", "old-2"]);
        assert!(store.read(index_incomplete).await.unwrap());
        // ... until the index is filled in for it.
        let keys = store
            .read(|tx| deliveries_to_index(tx, None))
            .await
            .unwrap();
        assert_eq!(keys.len(), 5);
        store
            .write(move |tx| index_deliveries(tx, &keys))
            .await
            .unwrap();
        assert!(!store.read(index_incomplete).await.unwrap());
        let old = store
            .read(move |tx| expired_deliveries(tx, at(50)))
            .await
            .unwrap();
        assert_eq!(old.len(), 3);
        let removed = store
            .write(move |tx| remove_deliveries(tx, &old))
            .await
            .unwrap();
        assert_eq!(removed, 3);

        let left = store
            .read(|tx| {
                let t = tx.open_table(HOOK_DELIVERIES)?;
                let i = tx.open_table(HOOK_DELIVERY_TIMES)?;
                Ok((
                    redb::ReadableTableMetadata::len(&t)?,
                    redb::ReadableTableMetadata::len(&i)?,
                ))
            })
            .await
            .unwrap();
        assert_eq!(left, (2, 2), "the new ones and their index rows stay");
        assert!(
            store
                .read(move |tx| expired_deliveries(tx, at(50)))
                .await
                .unwrap()
                .is_empty()
        );
    }
}
