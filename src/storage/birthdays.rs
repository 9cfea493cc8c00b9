//! The month-day index of birthdays and the daily step's writes: birthday points posted
//! through [`super::ledger::post`] with the year recorded on the member in the same write.

use super::tables::MEMBER_BIRTHDAYS;
use super::{StoreError, ledger, members, stats};
use crate::domain::actor::Actor;
use crate::domain::birthday::{self, Birthday};
use crate::domain::ledger::{EntryKind, Reason};
use crate::domain::member::{MemberId, MemberStatus};
use jiff::civil::Date;
use redb::{ReadTransaction, WriteTransaction};
use std::ops::Bound;
use time::OffsetDateTime;

/// Member ids looked at per read and per write.
pub const BATCH: usize = super::expiry::BATCH;

/// Moves member `id` in the index from `before` to `after`.
pub fn reindex(
    tx: &WriteTransaction,
    id: &MemberId,
    before: Option<&Birthday>,
    after: Option<&Birthday>,
) -> Result<(), StoreError> {
    if before == after {
        return Ok(());
    }
    let mut index = tx.open_table(MEMBER_BIRTHDAYS)?;
    if let Some(b) = before {
        index.remove((b.index_key().as_str(), id.as_str()))?;
    }
    if let Some(b) = after {
        index.insert((b.index_key().as_str(), id.as_str()), ())?;
    }
    Ok(())
}

/// Up to [`BATCH`] members with a birthday on `key` ("MM-DD") after member `after`, and
/// whether more may follow.
pub fn on_day(
    tx: &ReadTransaction,
    key: &str,
    after: Option<&str>,
) -> Result<(Vec<MemberId>, bool), StoreError> {
    let index = tx.open_table(MEMBER_BIRTHDAYS)?;
    let lower = match after {
        Some(a) => Bound::Excluded((key, a)),
        None => Bound::Included((key, "")),
    };
    let mut ids = Vec::new();
    for row in index.range::<(&str, &str)>((lower, Bound::Unbounded))? {
        let (k, _) = row?;
        let (day, id) = k.value();
        if day != key {
            return Ok((ids, false));
        }
        if ids.len() == BATCH {
            return Ok((ids, true));
        }
        ids.push(MemberId::parse(id).map_err(StoreError::from)?);
    }
    Ok((ids, false))
}

/// Gives each of `ids` whose points are owed on `today` their birthday points (asked again
/// inside the write, so a second run gives nothing): the members and points given.
pub fn give(
    tx: &WriteTransaction,
    ids: &[MemberId],
    points: i64,
    today: Date,
    now: OffsetDateTime,
) -> Result<(u64, i64), StoreError> {
    let (mut given, mut total) = (0u64, 0i64);
    for id in ids {
        let mut m = members::get_for_update(tx, id)?;
        if m.status != MemberStatus::Active {
            continue;
        }
        let Some(year) = m
            .birthday
            .as_ref()
            .and_then(|b| birthday::owed(b, m.birthday_awarded, today))
        else {
            continue;
        };
        // Saved first: the post below reads the member again and keeps the year.
        m.birthday_awarded = Some(year);
        members::save(tx, &m)?;
        let posting = ledger::Posting {
            member_id: id.clone(),
            kind: EntryKind::Earn,
            points,
            reason: Some(Reason::parse(&format!("birthday {year}"))?),
            reference: None,
            reward_id: None,
            amount: None,
            category: None,
            reverses: None,
        };
        ledger::post(tx, posting, &Actor::System, None, now)?;
        given += 1;
        total = total.saturating_add(points);
    }
    if given > 0 {
        stats::add_rules(tx, |t| {
            t.birthdays = t
                .birthdays
                .saturating_add(i64::try_from(given).unwrap_or(i64::MAX));
            t.birthday_points = t.birthday_points.saturating_add(total);
        })?;
    }
    Ok((given, total))
}
