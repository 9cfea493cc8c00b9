//! Tiers in the write path: the multiplier on earning by amount, the monthly summary, and moves.

use super::tables::LEDGER;
use super::{StoreError, audit, ledger};
use crate::domain::actor::Actor;
use crate::domain::ledger::{EntryBody, EntryKind, Reason};
use crate::domain::member::Member;
use crate::domain::notices::What;
use crate::domain::tiers::{TierSettings, tier_reason};
use redb::WriteTransaction;
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
    if !tiers.enabled {
        return Ok(());
    }
    let value = tiers.basis_value(member.lifetime_earned, &member.tier.recent, now);
    let now_in = tiers.standing(value).map(|s| s.tier.name.clone());
    if now_in == member.tier.current {
        return Ok(());
    }
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
            "entry": body.seq,
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
    Ok(())
}
