//! Bonus campaigns: setting them, the preview of a sample purchase, and the bonus issued.

use super::{Loyalty, Result};
use crate::clock;
use crate::domain::DomainError;
use crate::domain::actor::Actor;
use crate::domain::campaigns::{BonusTotals, Campaign, Category, Outcome, Purchase, evaluate};
use crate::domain::money::Money;
use crate::domain::settings::Settings;
use crate::storage;
use jiff::civil::Date;
use time::OffsetDateTime;

/// A sample purchase to preview.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// The amount in minor units of the business's currency.
    pub amount_minor: i64,
    /// The local day of the purchase (today when not given).
    pub day: Option<Date>,
    /// The product category, if any.
    pub category: Option<Category>,
    /// Whether it is the member's first purchase.
    pub first: bool,
    /// The member's tier by name, if tiers are on.
    pub tier: Option<String>,
}

/// What a sample purchase would earn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preview {
    /// The day it was worked out for.
    pub day: Date,
    /// The arithmetic, as the real earn does it.
    pub outcome: Outcome,
}

/// Bonus points the campaigns issued.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BonusIssued {
    /// All time, net of reversals, and per campaign.
    pub totals: BonusTotals,
    /// Since the start of today in the business's time zone.
    pub today: i64,
    /// Since the start of this month in the business's time zone.
    pub this_month: i64,
}

/// Works a sample out against `campaigns` with the settings' earning rule and tiers: the same
/// `evaluate` the real earn calls.
pub fn preview(
    settings: &Settings,
    campaigns: &[Campaign],
    sample: &Sample,
    now: OffsetDateTime,
) -> std::result::Result<Preview, DomainError> {
    let money = Money::purchase(sample.amount_minor, settings.currency)?;
    let base = settings.earning.earn(money)?.signed();
    let tier = match &sample.tier {
        None => None,
        Some(name) => Some(
            settings
                .tiers
                .tiers
                .iter()
                .find(|t| settings.tiers.enabled && t.name.eq_ignore_ascii_case(name.trim()))
                .ok_or_else(|| {
                    DomainError::invalid("tier", "is not one of the tiers, or tiers are off")
                })?,
        ),
    };
    let day = sample.day.unwrap_or_else(|| {
        crate::domain::ledger_check::local_date(now, &settings.time_zone.zone())
    });
    let p = Purchase {
        base,
        day,
        first: sample.first,
        category: sample.category.as_ref(),
        tier,
    };
    Ok(Preview {
        day,
        outcome: evaluate(campaigns, &p)?,
    })
}

impl Loyalty {
    /// Replaces the campaigns (checked by `campaigns::parse_list`).
    pub async fn set_campaigns(&self, list: Vec<Campaign>, actor: Actor) -> Result<Vec<Campaign>> {
        let list = crate::domain::campaigns::parse_list(list)?;
        Ok(self
            .store
            .write(move |tx| {
                let mut s = storage::settings::load_for_update(tx)?;
                s.campaigns = list;
                storage::settings::save(tx, &s)?;
                storage::audit::record(
                    tx,
                    &actor,
                    "campaigns.update",
                    "settings",
                    serde_json::to_value(&s.campaigns).unwrap_or_default(),
                    clock::now(),
                )?;
                Ok(s.campaigns)
            })
            .await?)
    }

    /// Previews a sample purchase against the saved campaigns, or against `draft` when given.
    pub async fn preview_campaigns(
        &self,
        sample: Sample,
        draft: Option<Vec<Campaign>>,
    ) -> Result<Preview> {
        let settings = self.settings().await?;
        let campaigns = draft.unwrap_or_else(|| settings.campaigns.clone());
        Ok(preview(&settings, &campaigns, &sample, clock::now())?)
    }

    /// Bonus points issued: all time, today and this month (local days).
    pub async fn bonus_issued(&self) -> Result<BonusIssued> {
        let now = clock::now();
        Ok(self.store.read(move |tx| bonus_in(tx, now)).await?)
    }
}

/// Bonus points issued as of `now`, read from the running totals (no ledger scan).
pub fn bonus_in(
    tx: &redb::ReadTransaction,
    now: OffsetDateTime,
) -> std::result::Result<BonusIssued, storage::StoreError> {
    let zone = storage::settings::load(tx)?.time_zone.zone();
    let today = crate::domain::ledger_check::local_date(now, &zone);
    let month = today.first_of_month();
    // Local midnight starting a day is when the day before it lapses.
    let start = |d: Date| crate::domain::expiry::lapse_at(d.yesterday().unwrap_or(d), &zone);
    let (totals, sums) = storage::campaigns::issued(tx, &[start(today), start(month)])?;
    Ok(BonusIssued {
        totals,
        today: sums.first().copied().unwrap_or(0),
        this_month: sums.get(1).copied().unwrap_or(0),
    })
}
