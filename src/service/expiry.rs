//! Points expiry: the scheduled run that posts `expire` entries, the policy change, and what a
//! member's next expiry is.

use super::{Loyalty, Result};
use crate::clock;
use crate::domain::actor::Actor;
use crate::domain::expiry::{Expiring, ExpiryPolicy, ExpiryRule, Months};
use crate::domain::member::MemberId;
use crate::storage;
use time::OffsetDateTime;

/// What one run expired.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExpiryRun {
    /// Members whose points lapsed.
    pub members: u64,
    /// Points that lapsed.
    pub points: i64,
}

/// A change to the expiry policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpiryChange {
    /// Points never expire.
    Off,
    /// Points expire under this rule after so many months.
    Set(ExpiryRule, Months),
}

impl Loyalty {
    /// Expires every lot due at `now`, a batch of members per read and per write, so memory
    /// stays flat however many members there are. Running it again finds nothing more.
    pub async fn expire_points(&self, now: OffsetDateTime) -> Result<ExpiryRun> {
        let settings = self.settings().await?;
        let Some(policy) = settings.expiry else {
            return Ok(ExpiryRun::default());
        };
        let tz = settings.time_zone.zone();
        let mut run = ExpiryRun::default();
        let mut after: Option<String> = None;
        loop {
            let (tz_read, from) = (tz.clone(), after.clone());
            let (due, next) = self
                .store
                .read(move |tx| {
                    storage::expiry::due_members(tx, policy, &tz_read, now, from.as_deref())
                })
                .await?;
            if !due.is_empty() {
                let tz_write = tz.clone();
                let (members, points) = self
                    .store
                    .write(move |tx| storage::expiry::expire(tx, &due, policy, &tz_write, now))
                    .await?;
                run.members += members;
                run.points = run.points.saturating_add(points);
            }
            match next {
                Some(n) => after = Some(n),
                None => return Ok(run),
            }
        }
    }

    /// Folds, from their history, the lots summary of every member whose summary does not hold
    /// for the policy (after an upgrade from a version that kept none, or a change of the
    /// policy's months or the zone), a batch per read and per write; afterwards the card page,
    /// the member page and the expiry run read summaries only. The members whose summary was kept.
    pub async fn keep_expiry_lots(&self) -> Result<u64> {
        let settings = self.settings().await?;
        let Some(policy) = settings.expiry else {
            return Ok(0);
        };
        let tz = settings.time_zone.zone();
        let mut kept = 0;
        let mut after: Option<String> = None;
        loop {
            let (tz_read, from) = (tz.clone(), after.clone());
            let (unkept, next) = self
                .store
                .read(move |tx| {
                    storage::expiry::unkept_members(tx, policy, &tz_read, from.as_deref())
                })
                .await?;
            if !unkept.is_empty() {
                kept += self
                    .store
                    .write(move |tx| storage::expiry::keep(tx, &unkept))
                    .await?;
            }
            match next {
                Some(n) => after = Some(n),
                None => return Ok(kept),
            }
        }
    }

    /// Sets or clears the expiry policy; a policy already on keeps the day it was switched on.
    pub async fn update_expiry(&self, change: ExpiryChange, actor: Actor) -> Result<()> {
        Ok(self
            .store
            .write(move |tx| {
                let now = clock::now();
                let mut s = storage::settings::load_for_update(tx)?;
                s.expiry = match change {
                    ExpiryChange::Off => None,
                    ExpiryChange::Set(rule, months) => {
                        Some(ExpiryPolicy::set(s.expiry.as_ref(), rule, months, now))
                    }
                };
                storage::settings::save(tx, &s)?;
                storage::audit::record(
                    tx,
                    &actor,
                    "settings.expiry",
                    "settings",
                    serde_json::json!({
                        "rule": s.expiry.map(|p| p.rule.as_str()),
                        "months": s.expiry.map(|p| p.months.get()),
                    }),
                    now,
                )?;
                Ok(())
            })
            .await?)
    }

    /// The next points of a member to lapse, if a policy is on and any will.
    pub async fn next_expiry(&self, member: MemberId) -> Result<Option<Expiring>> {
        let settings = self.settings().await?;
        let Some(policy) = settings.expiry else {
            return Ok(None);
        };
        let tz = settings.time_zone.zone();
        Ok(self
            .store
            .read(move |tx| {
                let Some(m) = storage::members::get(tx, &member)? else {
                    return Ok(None);
                };
                storage::expiry::lots_for(tx, &m, policy, &tz)
                    .map(|l| l.next(clock::now()))
                    .map(Some)
            })
            .await?
            .flatten())
    }

    /// What lapses for a member within `days` days: the hook an expiry warning (by email, a later
    /// part) asks before it writes.
    pub async fn expiring_within(&self, member: MemberId, days: i64) -> Result<Vec<Expiring>> {
        let settings = self.settings().await?;
        let Some(policy) = settings.expiry else {
            return Ok(Vec::new());
        };
        let tz = settings.time_zone.zone();
        Ok(self
            .store
            .read(move |tx| {
                let Some(m) = storage::members::get(tx, &member)? else {
                    return Ok(None);
                };
                storage::expiry::lots_for(tx, &m, policy, &tz)
                    .map(|l| l.within(clock::now(), days))
                    .map(Some)
            })
            .await?
            .unwrap_or_default())
    }
}
