//! Campaigns in the write path: the tier and campaign bonuses on an earn by amount, and the
//! bonus totals kept in the same write as each entry.

use super::ledger::Posting;
use super::tables::{BONUS_HOURLY, ENTRY_BONUS, STATS};
use super::{StoreError, codec};
use crate::domain::DomainError;
use crate::domain::campaigns::{BonusTotals, EntryBonus, reason_with};
use crate::domain::dashboard::bucket_of;
use crate::domain::ledger::Reason;
use crate::domain::member::Member;
use crate::domain::settings::Settings;
use redb::{ReadTransaction, ReadableTable, WriteTransaction};
use time::OffsetDateTime;

/// The bonus totals' key in the stats table.
const KEY: &str = "campaign_bonus";

/// Applies the member's tier and the campaigns to an earn by amount: sets its points and its
/// reason (naming each rule that applied) and marks the member as having purchased.
///
/// Every path that earns by amount (the till, the API, shop webhooks, Etsy) posts through
/// `ledger::post`, which calls this, so none skips a campaign.
pub fn earn(
    settings: &Settings,
    member: &mut Member,
    posting: &mut Posting,
    now: OffsetDateTime,
) -> Result<EntryBonus, StoreError> {
    let out = crate::domain::campaigns::for_member(
        settings,
        member,
        posting.points,
        posting.category.as_ref(),
        now,
    )?;
    posting.points = out.points;
    posting.reason = reason_with(posting.reason.as_ref().map(Reason::as_str), &out.notes)?;
    member.purchased = true;
    Ok(EntryBonus::from(&out))
}

fn load_totals<T: ReadableTable<&'static str, &'static [u8]>>(
    table: &T,
) -> Result<BonusTotals, StoreError> {
    Ok(codec::get(table, "stats", KEY)?.unwrap_or_default())
}

fn record(
    tx: &WriteTransaction,
    b: &EntryBonus,
    sign: i64,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let mut stats = tx.open_table(STATS)?;
    let mut totals = load_totals(&stats)?;
    totals.record(b, sign)?;
    stats.insert(KEY, codec::encode(&totals)?.as_slice())?;
    let mut hourly = tx.open_table(BONUS_HOURLY)?;
    let hour = bucket_of(now.unix_timestamp());
    let before: i64 = codec::get(&hourly, "bonus_hourly", hour)?.unwrap_or_default();
    let delta = b.points.checked_mul(sign).ok_or(DomainError::Overflow)?;
    let after = before.checked_add(delta).ok_or(DomainError::Overflow)?;
    hourly.insert(hour, codec::encode(&after)?.as_slice())?;
    Ok(())
}

/// Counts the bonus of entry `seq` (nothing when the campaigns added none).
pub fn bonus_issued(
    tx: &WriteTransaction,
    seq: u64,
    b: &EntryBonus,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    if b.points == 0 {
        return Ok(());
    }
    tx.open_table(ENTRY_BONUS)?
        .insert(seq, codec::encode(b)?.as_slice())?;
    record(tx, b, 1, now)
}

/// Takes the bonus of reversed earn `original` back out of the totals, in the reversal's hour.
pub fn bonus_reversed(
    tx: &WriteTransaction,
    original: u64,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    let b: Option<EntryBonus> = codec::get(&tx.open_table(ENTRY_BONUS)?, "entry_bonus", original)?;
    match b {
        Some(b) => record(tx, &b, -1, now),
        None => Ok(()),
    }
}

/// Bonus points issued: the totals, and the sum of the hours from `since` on.
pub fn issued(
    tx: &ReadTransaction,
    since: &[OffsetDateTime],
) -> Result<(BonusTotals, Vec<i64>), StoreError> {
    let totals = load_totals(&tx.open_table(STATS)?)?;
    let hourly = match tx.open_table(BONUS_HOURLY) {
        Ok(t) => t,
        // A file from before campaigns: nothing issued.
        Err(redb::TableError::TableDoesNotExist(_)) => {
            return Ok((totals, vec![0; since.len()]));
        }
        Err(e) => return Err(e.into()),
    };
    let mut sums = Vec::with_capacity(since.len());
    for t in since {
        let mut sum = 0i64;
        for row in hourly.range(bucket_of(t.unix_timestamp())..)? {
            let (_, v) = row?;
            let p: i64 = codec::decode("bonus_hourly", v.value())?;
            sum = sum.saturating_add(p);
        }
        sums.push(sum);
    }
    Ok((totals, sums))
}
