//! Referral codes and their index, and the reward a referred member's first purchase gives
//! (posted through [`super::ledger::post`], in the write of that purchase).

use super::tables::MEMBERS_BY_REFERRAL;
use super::{StoreError, audit, ledger, members, stats};
use crate::domain::actor::Actor;
use crate::domain::ledger::{EntryKind, Reason};
use crate::domain::member::{Member, MemberId};
use crate::domain::referral::{self, ReferralCode, ReferralState, Refusal};
use crate::domain::settings::Settings;
use redb::{ReadTransaction, ReadableTable, WriteTransaction};
use time::OffsetDateTime;

/// The member whose referral code `code` is, if any.
pub fn referrer(tx: &ReadTransaction, code: &ReferralCode) -> Result<Option<Member>, StoreError> {
    let index = tx.open_table(MEMBERS_BY_REFERRAL)?;
    let Some(id) = index.get(code.as_str())? else {
        return Ok(None);
    };
    members::get(tx, &MemberId::parse(id.value()).map_err(StoreError::from)?)
}

/// The member whose referral code `code` is, read inside a write.
pub fn referrer_for_update(
    tx: &WriteTransaction,
    code: &ReferralCode,
) -> Result<Option<Member>, StoreError> {
    let id = tx
        .open_table(MEMBERS_BY_REFERRAL)?
        .get(code.as_str())?
        .map(|v| v.value().to_owned());
    match id {
        Some(id) => Ok(Some(members::get_for_update(
            tx,
            &MemberId::parse(&id).map_err(StoreError::from)?,
        )?)),
        None => Ok(None),
    }
}

/// A new code no one has, in the index for member `id`.
pub fn new_code(tx: &WriteTransaction, id: &MemberId) -> Result<ReferralCode, StoreError> {
    let mut index = tx.open_table(MEMBERS_BY_REFERRAL)?;
    loop {
        let code = ReferralCode::generate()?;
        if index.get(code.as_str())?.is_none() {
            index.insert(code.as_str(), id.as_str())?;
            return Ok(code);
        }
    }
}

/// Gives member `id` a referral code if they have none (members from before referrals).
pub fn ensure_code(tx: &WriteTransaction, id: &MemberId) -> Result<Member, StoreError> {
    let mut m = members::get_for_update(tx, id)?;
    if m.referral_code.is_none() {
        m.referral_code = Some(new_code(tx, id)?);
        members::save(tx, &m)?;
    }
    Ok(m)
}

/// Takes an erased member's code out of the index: their link no longer finds them.
pub fn forget_code(tx: &WriteTransaction, m: &Member) -> Result<(), StoreError> {
    if let Some(c) = &m.referral_code {
        tx.open_table(MEMBERS_BY_REFERRAL)?.remove(c.as_str())?;
    }
    Ok(())
}

/// After a purchase by `buyer` (an earn by amount, already saved): if it is their first and a
/// referral is pending, rewards both members or records why not, once. Returns the buyer as
/// saved last.
pub fn purchase_made(
    tx: &WriteTransaction,
    buyer: Member,
    actor: &Actor,
    now: OffsetDateTime,
) -> Result<Member, StoreError> {
    let Some(r) = &buyer.referral else {
        return Ok(buyer);
    };
    if r.state != ReferralState::Pending {
        return Ok(buyer);
    }
    let settings: Settings = super::settings::load_for_update(tx)?;
    let year = crate::domain::ledger_check::local_date(now, &settings.time_zone.zone()).year();
    let mut referrer = members::get_for_update(tx, &r.referrer)?;
    let mut buyer = buyer;
    let verdict = referral::at_award(&settings.referrals, &referrer, &buyer, year);
    let rules = settings.referrals;
    let referrer_id = referrer.id.clone();
    // The state is saved before the points are posted, so no later entry can reward it again.
    buyer.referral = Some(referral::Referral {
        referrer: referrer_id.clone(),
        state: match verdict {
            Ok(()) => ReferralState::Rewarded {
                at: now,
                referrer_points: rules.referrer_points,
                new_member_points: rules.new_member_points,
            },
            Err(reason) => ReferralState::Refused { at: now, reason },
        },
    });
    members::save(tx, &buyer)?;
    if let Err(reason) = verdict {
        refused(tx, &buyer.id, &referrer_id, reason, now)?;
        return Ok(buyer);
    }
    referrer.referrals.add(year);
    members::save(tx, &referrer)?;
    let earn = |member: &MemberId, points: i64, why: &str| -> Result<(), StoreError> {
        if points == 0 {
            return Ok(());
        }
        let posting = ledger::Posting {
            member_id: member.clone(),
            kind: EntryKind::Earn,
            points,
            reason: Some(Reason::parse(why)?),
            reference: None,
            reward_id: None,
            amount: None,
            category: None,
            reverses: None,
        };
        ledger::post(tx, posting, actor, None, now).map(|_| ())
    };
    earn(
        &referrer_id,
        rules.referrer_points,
        &format!("referral: card {} joined", buyer.card_number.as_str()),
    )?;
    earn(
        &buyer.id,
        rules.new_member_points,
        "referral: welcome, joined through a friend's link",
    )?;
    stats::add_rules(tx, |t| {
        t.referrals_rewarded = t.referrals_rewarded.saturating_add(1);
        t.referral_points = t
            .referral_points
            .saturating_add(rules.referrer_points)
            .saturating_add(rules.new_member_points);
    })?;
    audit::record(
        tx,
        actor,
        "member.referral_rewarded",
        buyer.id.as_str(),
        serde_json::json!({
            "referrer": referrer_id.as_str(),
            "referrer_points": rules.referrer_points,
            "new_member_points": rules.new_member_points,
        }),
        now,
    )?;
    members::get_for_update(tx, &buyer.id)
}

/// Records a refusal in the audit log and the rule totals.
pub fn refused(
    tx: &WriteTransaction,
    member: &MemberId,
    referrer: &MemberId,
    reason: Refusal,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    stats::add_rules(tx, |t| {
        t.referrals_refused = t.referrals_refused.saturating_add(1);
    })?;
    audit::record(
        tx,
        &Actor::System,
        "member.referral_refused",
        member.as_str(),
        serde_json::json!({ "referrer": referrer.as_str(), "reason": reason.as_str() }),
        now,
    )
}
