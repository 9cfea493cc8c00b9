//! Tiers in the write path: the multiplier on earning by amount, the monthly summary, moves, and
//! the re-check that moves members whose months rolled out of the window.

use super::expiry::BATCH;
use super::tables::{LEDGER, MEMBERS};
use super::{StoreError, audit, codec, ledger, members};
use crate::domain::actor::Actor;
use crate::domain::ledger::{EntryBody, EntryKind, Reason};
use crate::domain::member::{Member, MemberId, MemberStatus};
use crate::domain::notices::What;
use crate::domain::tiers::{TierSettings, tier_reason};
use redb::{ReadTransaction, WriteTransaction};
use std::ops::Bound;
use time::OffsetDateTime;

/// An earn by amount with the member's tier multiplier applied, and the reason naming the tier.
///
/// Every path that earns by amount (the till, the API, shop webhooks) posts through
/// `ledger::post`, which calls this, so none skips the multiplier.
pub fn multiply(
    tiers: &TierSettings,
    member: &Member,
    points: i64,
    reason: Option<Reason>,
    now: OffsetDateTime,
) -> Result<(i64, Option<Reason>), StoreError> {
    let (points, applied) =
        tiers.multiplied(points, member.lifetime_earned, &member.tier.recent, now)?;
    let Some(tier) = applied else {
        return Ok((points, reason));
    };
    let text = tier_reason(reason.as_ref().map(Reason::as_str), tier);
    Ok((points, Some(Reason::parse(&text)?)))
}

/// Counts an earn (or a reversed earn) in the member's monthly summary and, when tiers are on,
/// records a move to another tier (in the member's record and as an audit row).
///
/// Downgrades are immediate: a reversal that takes the member below a threshold moves them down.
pub fn entry_posted(
    tx: &WriteTransaction,
    tiers: &TierSettings,
    member: &mut Member,
    body: &EntryBody,
    reversed: Option<EntryKind>,
    actor: &Actor,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    match (body.kind, reversed, body.reverses) {
        (EntryKind::Earn, _, _) => member.tier.recent.add(now, body.points, now),
        (EntryKind::Reversal, Some(EntryKind::Earn), Some(original)) => {
            // Taken from the month the points were earned in, if it is still in the window.
            let earned_at = ledger::entry(&tx.open_table(LEDGER)?, original)?
                .map_or(now, |e| e.body.created_at);
            member.tier.recent.add(earned_at, body.points, now);
        }
        _ => {}
    }
    settle(tx, tiers, member, actor, Some(body.seq), now)?;
    Ok(())
}

/// Moves `member` to the tier the ladder gives them at `now`, if that is another tier: the
/// member's tier fields and a `member.tier` audit row. Every move goes through here, whether an
/// entry caused it (`entry`) or a re-check did; the caller saves the member. Whether it moved.
pub fn settle(
    tx: &WriteTransaction,
    tiers: &TierSettings,
    member: &mut Member,
    actor: &Actor,
    entry: Option<u64>,
    now: OffsetDateTime,
) -> Result<bool, StoreError> {
    let Some((value, now_in)) = moved_to(tiers, member, now) else {
        return Ok(false);
    };
    audit::record(
        tx,
        actor,
        "member.tier",
        member.id.as_str(),
        serde_json::json!({
            "from": member.tier.current,
            "to": now_in,
            "basis": tiers.basis.as_str(),
            "points": value,
            "entry": entry,
        }),
        now,
    )?;
    // A first placement in the lowest tier is no news; any later move is.
    let news = match (&member.tier.current, &now_in) {
        (_, None) => None,
        (None, Some(to)) if tiers.tiers.first().is_some_and(|t| &t.name == to) => None,
        (_, Some(to)) => Some(to.clone()),
    };
    member.tier.previous = member.tier.current.take();
    member.tier.current = now_in;
    member.tier.moved_at = Some(now);
    if let Some(tier) = news {
        super::notices::queue(tx, member, What::TierChange { tier }, now)?;
    }
    Ok(true)
}

/// The basis value and the tier a member stands in at `now` when that is not the one recorded;
/// `None` when tiers are off or nothing would move.
fn moved_to(
    tiers: &TierSettings,
    member: &Member,
    now: OffsetDateTime,
) -> Option<(i64, Option<String>)> {
    if !tiers.enabled || member.status == MemberStatus::Erased {
        return None;
    }
    let value = tiers.basis_value(member.lifetime_earned, &member.tier.recent, now);
    let now_in = tiers.standing(value).map(|s| s.tier.name.clone());
    (now_in != member.tier.current).then_some((value, now_in))
}

/// The members after `after` (up to [`BATCH`] of them) whose tier the ladder would change at
/// `now`, and where the next batch starts (`None` after the last member).
pub fn due_moves(
    tx: &ReadTransaction,
    tiers: &TierSettings,
    now: OffsetDateTime,
    after: Option<&str>,
) -> Result<(Vec<MemberId>, Option<String>), StoreError> {
    let members = tx.open_table(MEMBERS)?;
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
        if moved_to(tiers, &m, now).is_some() {
            due.push(m.id);
        }
    }
    Ok((due, None))
}

/// Re-checks each of `ids` against the ladder as stored now (asked again inside the write, so a
/// move an entry made since the read is not made twice): how many members moved.
pub fn recheck(
    tx: &WriteTransaction,
    ids: &[MemberId],
    now: OffsetDateTime,
) -> Result<u64, StoreError> {
    let tiers = super::settings::load_for_update(tx)?.tiers;
    let mut moved = 0;
    for id in ids {
        let mut m = members::get_for_update(tx, id)?;
        if settle(tx, &tiers, &mut m, &Actor::System, None, now)? {
            members::save(tx, &m)?;
            moved += 1;
        }
    }
    Ok(moved)
}
