//! `/api/v1/settings` and `/api/v1/stats`.

use crate::domain::DomainError;
use crate::domain::api_key::Scope;
use crate::domain::birthday::BirthdaySettings;
use crate::domain::expiry::{ExpiryRule, Months};
use crate::domain::money::Currency;
use crate::domain::notices::{NoticeSettings, WarningDays};
use crate::domain::referral::ReferralSettings;
use crate::domain::settings::{self, Settings};
use crate::domain::tiers::{Tier, TierBasis, TierSettings};
use crate::http::AppState;
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{ApiClient, JsonBody};
use crate::service::{ExpiryChange, SettingsPatch, Stats};
use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The settings a client may read and (with settings:write) change.
#[derive(Debug, Serialize, ToSchema)]
pub struct SettingsView {
    /// Shown on cards and pages.
    pub business_name: String,
    /// ISO 4217 code purchases are in.
    pub currency: String,
    /// Points per whole currency unit (rounded down); 0 turns earning by amount off.
    pub points_per_unit: u32,
    /// IANA time zone the dashboard's days and hours are in.
    pub time_zone: String,
    /// When points expire: `off`, `earned` (each purchase's points N months after they were
    /// earned, oldest first) or `inactive` (the whole balance after N months without activity).
    pub expiry_rule: String,
    /// The N of `expiry_rule`, 1 to 120; absent when expiry is off.
    pub expiry_months: Option<u8>,
    /// Tiers and their earning multipliers.
    pub tiers: TiersView,
    /// Points for referrals.
    pub referrals: ReferralsView,
    /// Points on members' birthdays.
    pub birthday: BirthdayView,
    /// Which email notices members get (sent only when the server has a mail server).
    pub notices: NoticesView,
}

/// Referral settings as the API reads and writes them.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReferralsView {
    /// Whether joining through a member's link records the referrer, and the new member's
    /// first purchase (first earn by amount) rewards both (off by default).
    pub enabled: bool,
    /// Points for the member whose link it was, 0 to 100000.
    #[schema(minimum = 0, maximum = 100_000)]
    pub referrer_points: i64,
    /// Points for the new member, 0 to 100000.
    #[schema(minimum = 0, maximum = 100_000)]
    pub new_member_points: i64,
    /// Rewarded referrals per referrer per calendar year, 1 to 1000.
    #[schema(minimum = 1, maximum = 1000)]
    pub yearly_cap: i64,
}

/// Birthday settings as the API reads and writes them.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BirthdayView {
    /// Whether members get points on their birthday (off by default).
    pub enabled: bool,
    /// Points on the day, 1 to 100000.
    #[schema(minimum = 1, maximum = 100_000)]
    pub points: i64,
}

impl From<ReferralSettings> for ReferralsView {
    fn from(r: ReferralSettings) -> Self {
        Self {
            enabled: r.enabled,
            referrer_points: r.referrer_points,
            new_member_points: r.new_member_points,
            yearly_cap: i64::from(r.yearly_cap),
        }
    }
}

impl From<BirthdaySettings> for BirthdayView {
    fn from(b: BirthdaySettings) -> Self {
        Self {
            enabled: b.enabled,
            points: b.points,
        }
    }
}

/// Member email notices as the API reads and writes them.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoticesView {
    /// A welcome with the card's link when a member with an email joins.
    pub welcome: bool,
    /// At most one email a day with the points earned since the last one.
    pub digest: bool,
    /// A warning `warning_days` before points expire.
    pub expiry_warning: bool,
    /// An email when a member moves to another tier.
    pub tier_change: bool,
    /// Days ahead of an expiry that its warning is sent, 1 to 90.
    #[schema(minimum = 1, maximum = 90)]
    pub warning_days: i64,
}

impl From<&NoticeSettings> for NoticesView {
    fn from(n: &NoticeSettings) -> Self {
        Self {
            welcome: n.welcome,
            digest: n.digest,
            expiry_warning: n.expiry_warning,
            tier_change: n.tier_change,
            warning_days: i64::from(n.warning_days.get()),
        }
    }
}

impl NoticesView {
    /// Checks the days.
    pub fn parse(self) -> Result<NoticeSettings, DomainError> {
        Ok(NoticeSettings {
            welcome: self.welcome,
            digest: self.digest,
            expiry_warning: self.expiry_warning,
            tier_change: self.tier_change,
            warning_days: WarningDays::parse(self.warning_days)?,
        })
    }
}

/// Tier settings as the API reads and writes them.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TiersView {
    /// Whether tiers apply (off by default).
    pub enabled: bool,
    /// What thresholds are measured on: points earned since joining, or in the last 12 months.
    pub basis: TierBasis,
    /// Up to 5 levels, lowest first: the first at 0 points, thresholds strictly increasing.
    #[schema(max_items = 5)]
    pub levels: Vec<TierLevel>,
}

/// One tier.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TierLevel {
    /// Shown on the card, 1 to 30 characters, unique.
    #[schema(min_length = 1, max_length = 30)]
    pub name: String,
    /// `#rrggbb`.
    #[schema(pattern = "^#[0-9a-fA-F]{6}$")]
    pub colour: String,
    /// Points (on the basis) from which a member is in this tier.
    #[schema(minimum = 0, maximum = 1_000_000_000_000_i64)]
    pub threshold: i64,
    /// Earning multiplier in hundredths: 100 is ×1.00, 150 is ×1.50; 100 to 1000.
    #[schema(minimum = 100, maximum = 1000)]
    pub multiplier_hundredths: i64,
}

impl From<&TierSettings> for TiersView {
    fn from(t: &TierSettings) -> Self {
        Self {
            enabled: t.enabled,
            basis: t.basis,
            levels: t
                .tiers
                .iter()
                .map(|l| TierLevel {
                    name: l.name.clone(),
                    colour: l.colour.as_str().to_owned(),
                    threshold: l.threshold,
                    multiplier_hundredths: i64::from(l.multiplier.hundredths()),
                })
                .collect(),
        }
    }
}

impl TiersView {
    /// Checks the ladder.
    pub fn parse(self) -> Result<TierSettings, crate::domain::DomainError> {
        if self.levels.len() > crate::domain::tiers::MAX_TIERS {
            return Err(crate::domain::DomainError::invalid(
                "tiers",
                format!("at most {} tiers", crate::domain::tiers::MAX_TIERS),
            ));
        }
        let levels = self
            .levels
            .iter()
            .map(|l| Tier::parse(&l.name, &l.colour, l.threshold, l.multiplier_hundredths))
            .collect::<Result<Vec<_>, _>>()?;
        TierSettings::parse(self.enabled, self.basis, levels)
    }
}

impl From<Settings> for SettingsView {
    fn from(s: Settings) -> Self {
        Self {
            business_name: s.business_name,
            currency: s.currency.as_str().to_owned(),
            points_per_unit: s.earning.points_per_unit,
            time_zone: s.time_zone.as_str().to_owned(),
            expiry_rule: s.expiry.map_or("off", |p| p.rule.as_str()).to_owned(),
            expiry_months: s.expiry.map(|p| p.months.get()),
            tiers: TiersView::from(&s.tiers),
            referrals: s.referrals.into(),
            birthday: s.birthday.into(),
            notices: NoticesView::from(&s.notices),
        }
    }
}

/// A change to the settings.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateSettings {
    /// New business name, 1 to 80 characters.
    #[schema(min_length = 1, max_length = 80)]
    pub business_name: Option<String>,
    /// New ISO 4217 currency code.
    pub currency: Option<String>,
    /// New points per currency unit, 0 to 10000.
    #[schema(minimum = 0, maximum = 10_000)]
    pub points_per_unit: Option<i64>,
    /// New IANA time zone, e.g. `Europe/Berlin`.
    pub time_zone: Option<String>,
    /// `off`, `earned` or `inactive`; `earned` and `inactive` need `expiry_months`.
    pub expiry_rule: Option<String>,
    /// Months before points expire, 1 to 120 (only with `expiry_rule`).
    #[schema(minimum = 1, maximum = 120)]
    pub expiry_months: Option<i64>,
    /// A new tier ladder: replaces the whole ladder.
    pub tiers: Option<TiersView>,
    /// New referral settings (all four fields).
    pub referrals: Option<ReferralsView>,
    /// New birthday settings (both fields).
    pub birthday: Option<BirthdayView>,
    /// Which email notices members get: replaces the whole choice.
    pub notices: Option<NoticesView>,
}

/// The expiry change a request asks for, checked before anything is written.
fn expiry_change(b: &UpdateSettings) -> Result<Option<ExpiryChange>, DomainError> {
    match (b.expiry_rule.as_deref().map(str::trim), b.expiry_months) {
        (None, None) => Ok(None),
        (Some("off"), None) => Ok(Some(ExpiryChange::Off)),
        (Some("off"), Some(_)) => Err(DomainError::invalid(
            "expiry_months",
            "must be left out when expiry_rule is off",
        )),
        (Some(rule), Some(n)) => Ok(Some(ExpiryChange::Set(
            ExpiryRule::parse(rule)?,
            Months::parse(n)?,
        ))),
        (Some(rule), None) => {
            ExpiryRule::parse(rule)?;
            Err(DomainError::invalid(
                "expiry_months",
                "is needed with expiry_rule earned or inactive",
            ))
        }
        (None, Some(n)) => {
            Months::parse(n)?;
            Err(DomainError::invalid(
                "expiry_rule",
                "is needed with expiry_months: earned or inactive",
            ))
        }
    }
}

/// Read the settings.
#[utoipa::path(
    get, path = "/api/v1/settings", tag = "settings",
    responses(
        (status = 200, description = "The settings", body = SettingsView),
    ),
    security(("bearer" = []))
)]
pub async fn get(
    State(state): State<AppState>,
    _client: ApiClient,
) -> Result<Json<SettingsView>, ApiError> {
    Ok(Json(state.loyalty.settings().await?.into()))
}

/// Change the settings.
#[utoipa::path(
    patch, path = "/api/v1/settings", tag = "settings",
    request_body = UpdateSettings,
    responses(
        (status = 200, description = "The changed settings", body = SettingsView),
        (status = 403, description = "Key lacks settings:write", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn update(
    State(state): State<AppState>,
    client: ApiClient,
    body: JsonBody<UpdateSettings>,
) -> Result<Json<SettingsView>, ApiError> {
    client.require(Scope::SettingsWrite)?;
    let b = body.value;
    let expiry = expiry_change(&b)?;
    let patch = SettingsPatch {
        business_name: b
            .business_name
            .as_deref()
            .map(settings::parse_business_name)
            .transpose()?,
        currency: b.currency.as_deref().map(Currency::parse).transpose()?,
        points_per_unit: b
            .points_per_unit
            .map(settings::parse_points_per_unit)
            .transpose()?,
        time_zone: b
            .time_zone
            .as_deref()
            .map(settings::TimeZoneName::parse)
            .transpose()?,
        brand_colour: None,
        self_signup: None,
        consent_wording: None,
        tiers: b.tiers.map(TiersView::parse).transpose()?,
        referrals: b
            .referrals
            .map(|r| {
                ReferralSettings::parse(
                    r.enabled,
                    r.referrer_points,
                    r.new_member_points,
                    r.yearly_cap,
                )
            })
            .transpose()?,
        birthday: b
            .birthday
            .map(|v| BirthdaySettings::parse(v.enabled, v.points))
            .transpose()?,
        notices: b.notices.map(NoticesView::parse).transpose()?,
    };
    if let Some(change) = expiry {
        // Everything else was checked above, so a refused patch below cannot follow a saved policy.
        state.loyalty.update_expiry(change, client.actor()).await?;
    }
    Ok(Json(
        state
            .loyalty
            .update_settings(patch, client.actor())
            .await?
            .into(),
    ))
}

/// Scheme-wide numbers.
#[utoipa::path(
    get, path = "/api/v1/stats", tag = "settings",
    responses(
        (status = 200, description = "Totals", body = Stats),
        (status = 403, description = "Key lacks members:read", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn stats(
    State(state): State<AppState>,
    client: ApiClient,
) -> Result<Json<Stats>, ApiError> {
    client.require(Scope::MembersRead)?;
    Ok(Json(state.loyalty.stats().await?))
}
