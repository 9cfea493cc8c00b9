//! Running aggregates for the dashboard, kept in step with every write so reads never scan the ledger.

use super::tables::{HOURLY, MEMBERS_BY_ACTIVITY, MEMBERS_BY_LIFETIME, REWARD_TALLY};
use super::{StoreError, codec};
use crate::domain::DomainError;
use crate::domain::dashboard::bucket_of;
use crate::domain::ledger::{EntryBody, EntryKind};
use crate::domain::member::Member;
use crate::domain::stats::{RewardTally, Totals};
use redb::{ReadTransaction, ReadableTable, WriteTransaction};
use std::ops::Bound;
use time::OffsetDateTime;

fn hour_of(t: OffsetDateTime) -> u64 {
    bucket_of(t.unix_timestamp())
}

fn unix_ms(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
}

fn bump_hour(
    tx: &WriteTransaction,
    at: OffsetDateTime,
    f: impl FnOnce(&mut Totals) -> Result<(), DomainError>,
) -> Result<(), StoreError> {
    let mut table = tx.open_table(HOURLY)?;
    let hour = hour_of(at);
    let mut totals: Totals = codec::get(&table, "hourly", hour)?.unwrap_or_default();
    f(&mut totals)?;
    table.insert(hour, codec::encode(&totals)?.as_slice())?;
    Ok(())
}

/// Counts a new member in its hour.
pub fn member_created(tx: &WriteTransaction, at: OffsetDateTime) -> Result<(), StoreError> {
    bump_hour(tx, at, |t| {
        t.members = t.members.checked_add(1).ok_or(DomainError::Overflow)?;
        Ok(())
    })
}

/// Counts an appended entry: its hour, its reward, and the member's place in the indexes.
///
/// `reversed` is the kind of the entry a reversal undoes.
pub fn entry_posted(
    tx: &WriteTransaction,
    body: &EntryBody,
    reversed: Option<EntryKind>,
    before: &Member,
    after: &Member,
) -> Result<(), StoreError> {
    entry_counted(tx, body, reversed)?;
    reindex_member(tx, Some(before), after)
}

/// Counts an entry in its hour and its reward's tally.
pub fn entry_counted(
    tx: &WriteTransaction,
    body: &EntryBody,
    reversed: Option<EntryKind>,
) -> Result<(), StoreError> {
    bump_hour(tx, body.created_at, |t| {
        t.record(body.kind, body.points, reversed)
    })?;
    let redeem_related = body.kind == EntryKind::Redeem || reversed == Some(EntryKind::Redeem);
    if let (true, Some(reward)) = (redeem_related, &body.reward_id) {
        let mut table = tx.open_table(REWARD_TALLY)?;
        let mut tally: RewardTally =
            codec::get(&table, "reward_tally", reward.as_str())?.unwrap_or_default();
        tally.record(body.kind, body.points)?;
        table.insert(reward.as_str(), codec::encode(&tally)?.as_slice())?;
    }
    Ok(())
}

/// Moves a member's rows in the lifetime and activity indexes from `before` to `after`.
pub fn reindex_member(
    tx: &WriteTransaction,
    before: Option<&Member>,
    after: &Member,
) -> Result<(), StoreError> {
    let id = after.id.as_str();
    let old_lifetime = before.map(|b| b.lifetime_earned).filter(|l| *l > 0);
    let new_lifetime = Some(after.lifetime_earned).filter(|l| *l > 0);
    if old_lifetime != new_lifetime {
        let mut index = tx.open_table(MEMBERS_BY_LIFETIME)?;
        if let Some(l) = old_lifetime {
            index.remove((l, id))?;
        }
        if let Some(l) = new_lifetime {
            index.insert((l, id), ())?;
        }
    }
    let old_active = before.and_then(|b| b.last_activity_at).map(unix_ms);
    let new_active = after.last_activity_at.map(unix_ms);
    if old_active != new_active {
        let mut index = tx.open_table(MEMBERS_BY_ACTIVITY)?;
        if let Some(t) = old_active {
            index.remove((t, id))?;
        }
        if let Some(t) = new_active {
            index.insert((t, id), ())?;
        }
    }
    Ok(())
}

/// Hourly totals from `since` on, oldest first.
pub fn hours_since(
    tx: &ReadTransaction,
    since: OffsetDateTime,
) -> Result<Vec<(u64, Totals)>, StoreError> {
    let table = tx.open_table(HOURLY)?;
    let mut out = Vec::new();
    for row in table.range(hour_of(since)..)? {
        let (k, v) = row?;
        out.push((k.value(), codec::decode("hourly", v.value())?));
    }
    Ok(out)
}

/// Every reward's tally.
pub fn reward_tallies(tx: &ReadTransaction) -> Result<Vec<(String, RewardTally)>, StoreError> {
    let table = tx.open_table(REWARD_TALLY)?;
    let mut out = Vec::new();
    for row in table.iter()? {
        let (k, v) = row?;
        out.push((
            k.value().to_owned(),
            codec::decode("reward_tally", v.value())?,
        ));
    }
    Ok(out)
}

/// How many members had points move since `since` (counts index rows, not members' records).
pub fn active_since(tx: &ReadTransaction, since: OffsetDateTime) -> Result<i64, StoreError> {
    let table = tx.open_table(MEMBERS_BY_ACTIVITY)?;
    let lower = (unix_ms(since), "");
    let mut n = 0;
    for row in table.range::<(i64, &str)>((Bound::Included(lower), Bound::Unbounded))? {
        row?;
        n += 1;
    }
    Ok(n)
}

/// The ids of the `limit` members with the most lifetime points, most first.
pub fn top_by_lifetime(tx: &ReadTransaction, limit: usize) -> Result<Vec<String>, StoreError> {
    let table = tx.open_table(MEMBERS_BY_LIFETIME)?;
    let mut out = Vec::new();
    for row in table.iter()?.rev().take(limit) {
        let (k, _) = row?;
        out.push(k.value().1.to_owned());
    }
    Ok(out)
}

/// The oldest hour anything was recorded in, if any (one key read: the table is ordered).
pub fn oldest_hour(tx: &ReadTransaction) -> Result<Option<u64>, StoreError> {
    let table = tx.open_table(HOURLY)?;
    Ok(table.first()?.map(|(k, _)| k.value()))
}
