//! Points expiry against the stored ledger: a member's lots folded from their own entries, and
//! the `expire` entries the scheduled job posts (through [`super::ledger::post`], like every
//! other change).

use super::tables::{LEDGER, MEMBER_ENTRIES, MEMBERS};
use super::{StoreError, codec, ledger, records};
use crate::domain::actor::Actor;
use crate::domain::expiry::{ExpiryPolicy, Lots};
use crate::domain::ledger::{EntryKind, GENESIS_HASH, Reason};
use crate::domain::member::{Member, MemberId, MemberStatus};
use jiff::tz::TimeZone;
use redb::{ReadTransaction, ReadableTable, WriteTransaction};
use std::ops::Bound;
use time::OffsetDateTime;

/// Members looked at per read: bounds what one step of the job holds.
pub const BATCH: usize = 500;

/// A member's lots, folded from their entries oldest first, one entry at a time.
pub fn lots<I, L>(
    index: &I,
    ledger_table: &L,
    member_id: &str,
    policy: ExpiryPolicy,
    tz: &TimeZone,
) -> Result<Lots, StoreError>
where
    I: ReadableTable<(u128, u64), ()>,
    L: ReadableTable<u64, &'static [u8]>,
{
    let id = ledger::member_key(member_id)?;
    let mut lots = Lots::new(policy, tz.clone());
    for row in
        index.range::<(u128, u64)>((Bound::Included((id, 0)), Bound::Included((id, u64::MAX))))?
    {
        let seq = row?.0.value().1;
        let Some(v) = ledger_table.get(seq)? else {
            return Err(StoreError::Corrupt(format!(
                "entry {seq} is indexed but missing"
            )));
        };
        // Only the content matters here; the chain is `verify`'s business.
        let e = records::decode_entry(seq, v.value(), GENESIS_HASH)?;
        lots.add(e.body.kind, e.body.points, e.body.created_at);
    }
    Ok(lots)
}

/// A member's lots in a read.
pub fn lots_for(
    tx: &ReadTransaction,
    member_id: &str,
    policy: ExpiryPolicy,
    tz: &TimeZone,
) -> Result<Lots, StoreError> {
    lots(
        &tx.open_table(MEMBER_ENTRIES)?,
        &tx.open_table(LEDGER)?,
        member_id,
        policy,
        tz,
    )
}

/// The members after `after` (up to [`BATCH`] of them) who have points due to lapse at `now`,
/// and where the next batch starts (`None` after the last member).
pub fn due_members(
    tx: &ReadTransaction,
    policy: ExpiryPolicy,
    tz: &TimeZone,
    now: OffsetDateTime,
    after: Option<&str>,
) -> Result<(Vec<MemberId>, Option<String>), StoreError> {
    let members = tx.open_table(MEMBERS)?;
    let index = tx.open_table(MEMBER_ENTRIES)?;
    let ledger_table = tx.open_table(LEDGER)?;
    let lower = after.map_or(Bound::Unbounded, Bound::Excluded);
    let mut due = Vec::new();
    let mut last = None;
    for (seen, row) in members
        .range::<&str>((lower, Bound::Unbounded))?
        .enumerate()
    {
        if seen == BATCH {
            return Ok((due, last));
        }
        let (k, v) = row?;
        let m: Member = codec::decode("members", v.value())?;
        last = Some(k.value().to_owned());
        if m.balance <= 0 || m.status == MemberStatus::Erased {
            continue;
        }
        if lots(&index, &ledger_table, m.id.as_str(), policy, tz)?.due(now) > 0 {
            due.push(m.id);
        }
    }
    Ok((due, None))
}

/// Posts an `expire` entry for each of `ids` that has points due at `now` (asked again inside
/// the write, so an entry made since the read counts): the members and points expired.
pub fn expire(
    tx: &WriteTransaction,
    ids: &[MemberId],
    policy: ExpiryPolicy,
    tz: &TimeZone,
    now: OffsetDateTime,
) -> Result<(u64, i64), StoreError> {
    let mut members = 0;
    let mut points = 0i64;
    for id in ids {
        let m = super::members::get_for_update(tx, id)?;
        if m.balance <= 0 || m.status == MemberStatus::Erased {
            continue;
        }
        let due = {
            let index = tx.open_table(MEMBER_ENTRIES)?;
            let ledger_table = tx.open_table(LEDGER)?;
            lots(&index, &ledger_table, id.as_str(), policy, tz)?
                .due(now)
                .min(m.balance)
        };
        if due <= 0 {
            continue;
        }
        let posting = ledger::Posting {
            member_id: id.clone(),
            kind: EntryKind::Expire,
            points: -due,
            reason: Some(Reason::parse("points expired")?),
            reference: None,
            reward_id: None,
            amount: None,
            reverses: None,
            category: None,
        };
        ledger::post(tx, posting, &Actor::System, None, now)?;
        members += 1;
        points = points.saturating_add(due);
    }
    Ok((members, points))
}
