//! Points expiry against the stored ledger: a member's lots (kept on their record with each
//! entry, folded from their own entries when the summary does not hold), and the `expire`
//! entries the scheduled job posts (through [`super::ledger::post`], like every other change).

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

/// A member's lots under `policy`: from the summary kept on their record when it holds for this
/// policy and zone; from the balance alone when every entry came before the policy was switched
/// on; folded from their history otherwise (after an upgrade, or a change of months or zone,
/// until the next entry or the daily job keeps the summary again).
pub fn current<I, L>(
    index: &I,
    ledger_table: &L,
    member: &Member,
    policy: ExpiryPolicy,
    tz: &TimeZone,
) -> Result<Lots, StoreError>
where
    I: ReadableTable<(u128, u64), ()>,
    L: ReadableTable<u64, &'static [u8]>,
{
    if let Some(lots) = member
        .lots
        .as_ref()
        .and_then(|k| Lots::resume(policy, tz.clone(), k))
    {
        return Ok(lots);
    }
    if member.last_activity_at.is_none_or(|t| t <= policy.since) {
        return Ok(Lots::opening(policy, tz.clone(), member.balance));
    }
    lots(index, ledger_table, member.id.as_str(), policy, tz)
}

/// Whether the member's lots can be had without reading their history.
fn kept(member: &Member, policy: ExpiryPolicy, tz: &TimeZone) -> bool {
    member
        .lots
        .as_ref()
        .is_some_and(|k| Lots::resume(policy, tz.clone(), k).is_some())
        || member.last_activity_at.is_none_or(|t| t <= policy.since)
}

/// A member's lots in a read.
pub fn lots_for(
    tx: &ReadTransaction,
    member: &Member,
    policy: ExpiryPolicy,
    tz: &TimeZone,
) -> Result<Lots, StoreError> {
    current(
        &tx.open_table(MEMBER_ENTRIES)?,
        &tx.open_table(LEDGER)?,
        member,
        policy,
        tz,
    )
}

/// A member's lots inside a write, before an entry of theirs is appended.
pub fn lots_before_entry(
    tx: &WriteTransaction,
    member: &Member,
    policy: ExpiryPolicy,
    tz: &TimeZone,
) -> Result<Lots, StoreError> {
    current(
        &tx.open_table(MEMBER_ENTRIES)?,
        &tx.open_table(LEDGER)?,
        member,
        policy,
        tz,
    )
}

/// The members after `after` (up to [`BATCH`] of them) whose lots summary must be folded from
/// their history (after an upgrade, or a change of the policy's months or the zone), and where
/// the next batch starts (`None` after the last member).
pub fn unkept_members(
    tx: &ReadTransaction,
    policy: ExpiryPolicy,
    tz: &TimeZone,
    after: Option<&str>,
) -> Result<(Vec<MemberId>, Option<String>), StoreError> {
    let members = tx.open_table(MEMBERS)?;
    let lower = after.map_or(Bound::Unbounded, Bound::Excluded);
    let mut unkept = Vec::new();
    let mut last = None;
    for (seen, row) in members
        .range::<&str>((lower, Bound::Unbounded))?
        .enumerate()
    {
        if seen == BATCH {
            return Ok((unkept, last));
        }
        let (k, v) = row?;
        let m: Member = codec::decode("members", v.value())?;
        last = Some(k.value().to_owned());
        if m.status != MemberStatus::Erased && !kept(&m, policy, tz) {
            unkept.push(m.id);
        }
    }
    Ok((unkept, None))
}

/// Folds each of `ids`' lots from their history under the policy as stored now and keeps the
/// summary on their record: how many were kept.
pub fn keep(tx: &WriteTransaction, ids: &[MemberId]) -> Result<u64, StoreError> {
    let settings = super::settings::load_for_update(tx)?;
    let Some(policy) = settings.expiry else {
        return Ok(0);
    };
    let tz = settings.time_zone.zone();
    let mut done = 0;
    for id in ids {
        let mut m = super::members::get_for_update(tx, id)?;
        if kept(&m, policy, &tz) {
            continue;
        }
        let folded = lots_before_entry(tx, &m, policy, &tz)?;
        m.lots = Some(folded.kept());
        super::members::save(tx, &m)?;
        done += 1;
    }
    Ok(done)
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
        if current(&index, &ledger_table, &m, policy, tz)?.due(now) > 0 {
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
        let due = lots_before_entry(tx, &m, policy, tz)?
            .due(now)
            .min(m.balance);
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

#[cfg(test)]
mod tests {
    #![expect(clippy::unwrap_used, reason = "tests fail loudly")]
    use super::*;
    use crate::domain::expiry::{ExpiryRule, Months};
    use crate::domain::member::NewMember;
    use crate::storage::{Store, members, settings};
    use time::macros::datetime;

    fn posting(id: &MemberId, kind: EntryKind, points: i64) -> ledger::Posting {
        ledger::Posting {
            member_id: id.clone(),
            kind,
            points,
            reason: None,
            reference: None,
            reward_id: None,
            amount: None,
            category: None,
            reverses: None,
        }
    }

    /// (points, last day) of each lot still to lapse after `now`.
    fn plan(l: &Lots, now: OffsetDateTime) -> Vec<(i64, String)> {
        l.schedule()
            .iter()
            .filter(|e| e.at > now)
            .map(|e| (e.points, e.last_day.to_string()))
            .collect()
    }

    #[tokio::test]
    async fn the_kept_summary_answers_without_reading_the_history() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let since = datetime!(2026-01-01 00:00 UTC);
        let policy = ExpiryPolicy {
            rule: ExpiryRule::Earned,
            months: Months::parse(6).unwrap(),
            since,
        };
        // 3,000 entries over 250 days: earns every other hour, a redemption after every tenth.
        let id = store
            .write(move |tx| {
                let mut s = settings::load_for_update(tx)?;
                s.expiry = Some(policy);
                settings::save(tx, &s)?;
                let m = members::create(tx, NewMember::default(), &Actor::System, since)?;
                for i in 0..3000 {
                    let at = since + time::Duration::hours(2 * i + 1);
                    ledger::post(
                        tx,
                        posting(&m.id, EntryKind::Earn, 7),
                        &Actor::System,
                        None,
                        at,
                    )?;
                    if i % 10 == 9 {
                        let redeem = posting(&m.id, EntryKind::Redeem, -20);
                        ledger::post(tx, redeem, &Actor::System, None, at)?;
                    }
                }
                Ok(m.id)
            })
            .await
            .unwrap();
        let now = since + time::Duration::days(330);
        let tz = TimeZone::UTC;
        let (kept, folded, size) = {
            let (id, tz) = (id.clone(), tz.clone());
            store
                .read(move |tx| {
                    let m = members::get(tx, &id)?.unwrap();
                    let size = m.lots.as_ref().map_or(0, |k| k.len());
                    let folded = lots_for_history(tx, &m, policy, &tz)?;
                    Ok((lots_for(tx, &m, policy, &tz)?, folded, size))
                })
                .await
                .unwrap()
        };
        assert_eq!(plan(&kept, now), plan(&folded, now));
        assert_eq!(kept.due(now), folded.due(now));
        assert!(kept.due(now) > 0 && !plan(&kept, now).is_empty());
        // One lot per day of earning still open, however many entries made them.
        assert!(size <= 250, "{size} lots kept");

        // With the member's history index emptied, the answer is the same: it never read it.
        let id2 = id.clone();
        store
            .write(move |tx| {
                let key = ledger::member_key(id2.as_str())?;
                let mut index = tx.open_table(MEMBER_ENTRIES)?;
                let seqs: Vec<u64> = index
                    .range::<(u128, u64)>((key, 0)..=(key, u64::MAX))?
                    .map(|r| r.map(|(k, _)| k.value().1))
                    .collect::<Result<_, _>>()?;
                for seq in seqs {
                    index.remove((key, seq))?;
                }
                Ok(())
            })
            .await
            .unwrap();
        let (after, folded_after) = store
            .read(move |tx| {
                let m = members::get(tx, &id)?.unwrap();
                Ok((
                    lots_for(tx, &m, policy, &tz)?,
                    lots_for_history(tx, &m, policy, &tz)?,
                ))
            })
            .await
            .unwrap();
        assert_eq!(plan(&after, now), plan(&kept, now));
        assert_eq!(after.due(now), kept.due(now));
        assert!(
            plan(&folded_after, now).is_empty(),
            "the fold needs the history"
        );
    }

    /// The member's lots folded from their history, as before they were kept.
    fn lots_for_history(
        tx: &ReadTransaction,
        m: &Member,
        policy: ExpiryPolicy,
        tz: &TimeZone,
    ) -> Result<Lots, StoreError> {
        lots(
            &tx.open_table(MEMBER_ENTRIES)?,
            &tx.open_table(LEDGER)?,
            m.id.as_str(),
            policy,
            tz,
        )
    }
}
