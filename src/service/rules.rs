//! Referrals and birthday points: looking up a link's referrer, giving a member a code, and
//! the daily birthday step.

use super::{Loyalty, Result};
use crate::domain::birthday;
use crate::domain::member::{Member, MemberId};
use crate::domain::referral::ReferralCode;
use crate::storage;
use time::OffsetDateTime;

/// What one birthday step gave.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BirthdayRun {
    /// Members who got their birthday points.
    pub members: u64,
    /// Points given.
    pub points: i64,
}

impl Loyalty {
    /// What referrals and birthdays gave so far.
    pub async fn rule_totals(&self) -> Result<crate::domain::stats::RuleTotals> {
        Ok(self.store.read(storage::stats::rules).await?)
    }

    /// The member whose referral code `code` is (erased members' codes find no one).
    pub async fn referrer(&self, code: ReferralCode) -> Result<Option<Member>> {
        Ok(self
            .store
            .read(move |tx| storage::referrals::referrer(tx, &code))
            .await?)
    }

    /// The member with a referral code: members from before referrals get theirs now.
    pub async fn with_referral_code(&self, member: Member) -> Result<Member> {
        if member.referral_code.is_some() {
            return Ok(member);
        }
        let id: MemberId = member.id;
        Ok(self
            .store
            .write(move |tx| storage::referrals::ensure_code(tx, &id))
            .await?)
    }

    /// Gives the birthday points owed at `now` (in the business's time zone): on the day, or
    /// up to [`birthday::CATCH_UP_DAYS`] late after downtime, once a year. Reads the month-day
    /// index a batch at a time, so it never reads every member.
    pub async fn give_birthday_points(&self, now: OffsetDateTime) -> Result<BirthdayRun> {
        let settings = self.settings().await?;
        if !settings.birthday.enabled {
            return Ok(BirthdayRun::default());
        }
        let points = settings.birthday.points;
        let today = crate::domain::ledger_check::local_date(now, &settings.time_zone.zone());
        let mut run = BirthdayRun::default();
        for key in birthday::keys_due(today) {
            let mut after: Option<String> = None;
            loop {
                let (k, from) = (key.clone(), after.clone());
                let (ids, more) = self
                    .store
                    .read(move |tx| storage::birthdays::on_day(tx, &k, from.as_deref()))
                    .await?;
                after = ids.last().map(|id| id.as_str().to_owned());
                if !ids.is_empty() {
                    let (members, given) = self
                        .store
                        .write(move |tx| storage::birthdays::give(tx, &ids, points, today, now))
                        .await?;
                    run.members += members;
                    run.points = run.points.saturating_add(given);
                }
                if !more {
                    break;
                }
            }
        }
        Ok(run)
    }
}
