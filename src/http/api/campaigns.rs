//! `/api/v1/campaigns`: read and replace the bonus campaigns, and preview a sample purchase.

use crate::domain::DomainError;
use crate::domain::api_key::Scope;
use crate::domain::campaigns::{self, Campaign, Category, LocalDate, MAX_CAMPAIGNS, Rule, Verdict};
use crate::domain::tiers::Multiplier;
use crate::http::AppState;
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{ApiClient, JsonBody};
use crate::service::campaigns::{Preview, Sample};
use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What a campaign does.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CampaignKind {
    /// Multiplies purchases on the given weekdays (local to the business).
    Weekdays,
    /// Adds `bonus` points to a member's first purchase.
    FirstPurchase,
    /// Multiplies purchases whose earn names `category`.
    Category,
}

/// A day of the week.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DayName {
    /// Monday.
    Monday,
    /// Tuesday.
    Tuesday,
    /// Wednesday.
    Wednesday,
    /// Thursday.
    Thursday,
    /// Friday.
    Friday,
    /// Saturday.
    Saturday,
    /// Sunday.
    Sunday,
}

impl DayName {
    fn as_str(self) -> &'static str {
        campaigns::WEEKDAYS[self as usize].0
    }

    fn parse(s: &str) -> Option<Self> {
        [
            Self::Monday,
            Self::Tuesday,
            Self::Wednesday,
            Self::Thursday,
            Self::Friday,
            Self::Saturday,
            Self::Sunday,
        ]
        .into_iter()
        .find(|d| d.as_str() == s)
    }
}

/// One campaign. Which fields it needs depends on `kind`: `weekdays` needs `days` and
/// `multiplier_hundredths`, `first_purchase` needs `bonus`, `category` needs `category` and
/// `multiplier_hundredths`; fields another kind needs are ignored.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CampaignJson {
    /// Shown in each entry's reason, e.g. "Double Tuesdays"; 1 to 40 characters, unique.
    #[schema(min_length = 1, max_length = 40)]
    pub name: String,
    /// What it does.
    pub kind: CampaignKind,
    /// For `weekdays`: the local days it runs on, at least one (a day named twice counts once).
    #[schema(min_items = 1, max_items = 7)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<Vec<DayName>>,
    /// For `weekdays` and `category`: the multiplier in hundredths (200 is ×2.00), 100 to 1000.
    #[schema(minimum = 100, maximum = 1000)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multiplier_hundredths: Option<i64>,
    /// For `first_purchase`: the points added, 1 to 100000.
    #[schema(minimum = 1, maximum = 100_000)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bonus: Option<i64>,
    /// For `category`: the category slug an earn passes, e.g. `coffee-beans`.
    #[schema(pattern = "^[A-Za-z0-9][A-Za-z0-9-]{0,39}$")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// The first local day it runs (inclusive); none: from now.
    #[schema(format = Date)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starts: Option<String>,
    /// The last local day it runs (inclusive), not before `starts`; none: until switched off.
    #[schema(format = Date)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ends: Option<String>,
    /// Whether it is on.
    pub enabled: bool,
}

impl From<&Campaign> for CampaignJson {
    fn from(c: &Campaign) -> Self {
        let (kind, days, multiplier, bonus, category) = match &c.rule {
            Rule::Weekdays { days, multiplier } => (
                CampaignKind::Weekdays,
                Some(days.iter().filter_map(|d| DayName::parse(d)).collect()),
                Some(*multiplier),
                None,
                None,
            ),
            Rule::FirstPurchase { bonus } => {
                (CampaignKind::FirstPurchase, None, None, Some(*bonus), None)
            }
            Rule::Category {
                category,
                multiplier,
            } => (
                CampaignKind::Category,
                None,
                Some(*multiplier),
                None,
                Some(category.as_str().to_owned()),
            ),
        };
        Self {
            name: c.name.clone(),
            kind,
            days,
            multiplier_hundredths: multiplier.map(|m| i64::from(m.hundredths())),
            bonus,
            category,
            starts: c.starts.map(String::from),
            ends: c.ends.map(String::from),
            enabled: c.enabled,
        }
    }
}

impl CampaignJson {
    /// Checks one campaign.
    pub fn parse(self) -> Result<Campaign, DomainError> {
        // Fields another kind needs are ignored, but each one given must still be valid: the
        // document states their ranges whatever the kind.
        if self.days.as_ref().is_some_and(Vec::is_empty) {
            return Err(DomainError::invalid("days", "choose at least one day"));
        }
        if self.days.as_ref().is_some_and(|d| d.len() > 7) {
            return Err(DomainError::invalid("days", "at most 7 days"));
        }
        if let Some(m) = self.multiplier_hundredths {
            Multiplier::parse(m)?;
        }
        if let Some(b) = self.bonus {
            Rule::parse("first_purchase", &[], None, Some(b), None)?;
        }
        if let Some(c) = &self.category {
            Category::parse(c)?;
        }
        let kind = match self.kind {
            CampaignKind::Weekdays => "weekdays",
            CampaignKind::FirstPurchase => "first_purchase",
            CampaignKind::Category => "category",
        };
        let mut days: Vec<String> = Vec::new();
        for d in self.days.unwrap_or_default() {
            if !days.iter().any(|k| k == d.as_str()) {
                days.push(d.as_str().to_owned());
            }
        }
        let rule = Rule::parse(
            kind,
            &days,
            self.multiplier_hundredths,
            self.bonus,
            self.category.as_deref(),
        )?;
        let date = |field, v: Option<String>| v.map(|s| LocalDate::parse(field, &s)).transpose();
        Campaign::parse(
            &self.name,
            rule,
            date("starts", self.starts)?,
            date("ends", self.ends)?,
            self.enabled,
        )
    }
}

/// The campaigns.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CampaignList {
    /// Up to 20 campaigns; names unique. How they stack: the best single multiplier among the
    /// member's tier and the matching campaigns applies, then every matching bonus is added.
    #[schema(max_items = 20)]
    pub campaigns: Vec<CampaignJson>,
}

fn list_of(c: &[Campaign]) -> CampaignList {
    CampaignList {
        campaigns: c.iter().map(CampaignJson::from).collect(),
    }
}

/// Read the campaigns.
#[utoipa::path(
    get, path = "/api/v1/campaigns", tag = "settings",
    responses(
        (status = 200, description = "The campaigns", body = CampaignList),
    ),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    _client: ApiClient,
) -> Result<Json<CampaignList>, ApiError> {
    Ok(Json(list_of(&state.loyalty.settings().await?.campaigns)))
}

/// Replace the campaigns (the whole list).
#[utoipa::path(
    put, path = "/api/v1/campaigns", tag = "settings",
    request_body = CampaignList,
    responses(
        (status = 200, description = "The campaigns now", body = CampaignList),
        (status = 403, description = "Key lacks settings:write", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A campaign is not valid; nothing changed", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn replace(
    State(state): State<AppState>,
    client: ApiClient,
    body: JsonBody<CampaignList>,
) -> Result<Json<CampaignList>, ApiError> {
    client.require(Scope::SettingsWrite)?;
    let list = parse_list(body.value.campaigns)?;
    let saved = state.loyalty.set_campaigns(list, client.actor()).await?;
    Ok(Json(list_of(&saved)))
}

fn parse_list(list: Vec<CampaignJson>) -> Result<Vec<Campaign>, DomainError> {
    if list.len() > MAX_CAMPAIGNS {
        return Err(DomainError::invalid(
            "campaigns",
            format!("at most {MAX_CAMPAIGNS} campaigns"),
        ));
    }
    let list = list
        .into_iter()
        .map(CampaignJson::parse)
        .collect::<Result<Vec<_>, _>>()?;
    campaigns::parse_list(list)
}

/// A sample purchase, and optionally draft campaigns to try instead of the saved ones.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewRequest {
    /// The purchase amount in minor units of the business's currency.
    #[schema(minimum = 1, maximum = 1_000_000_000_000_i64)]
    pub amount_minor: i64,
    /// The local day of the purchase; today when left out.
    #[schema(format = Date)]
    pub date: Option<String>,
    /// The product category, if any.
    #[schema(pattern = "^[A-Za-z0-9][A-Za-z0-9-]{0,39}$")]
    pub category: Option<String>,
    /// Whether it is the member's first purchase.
    #[serde(default)]
    pub first_purchase: bool,
    /// The member's tier by name (tiers on); none: no tier.
    #[schema(max_length = 30)]
    pub tier: Option<String>,
    /// Campaigns to try (e.g. a draft not yet saved or switched on); the saved ones when left
    /// out. Only those with `enabled` count.
    #[schema(max_items = 20)]
    pub campaigns: Option<Vec<CampaignJson>>,
}

/// The multiplier that applied.
#[derive(Debug, Serialize, ToSchema)]
pub struct AppliedMultiplier {
    /// Whose: a campaign's name, or "Gold tier".
    pub name: String,
    /// In hundredths.
    pub multiplier_hundredths: u32,
}

/// One campaign in the preview.
#[derive(Debug, Serialize, ToSchema)]
pub struct PreviewLine {
    /// The campaign.
    pub name: String,
    /// "×2.00" or "+50".
    pub effect: String,
    /// `applied`, `outdone` (a higher multiplier applied), `off`, `out_of_dates` or `no_match`.
    pub verdict: String,
    /// Points it adds beyond the tier.
    pub bonus: i64,
}

/// What the sample would earn, worked out as a real earn is.
#[derive(Debug, Serialize, ToSchema)]
pub struct PreviewAnswer {
    /// The day it was worked out for.
    pub date: String,
    /// Points under the plain earning rule.
    pub base_points: i64,
    /// Points with the tier alone.
    pub with_tier: i64,
    /// Points the earn would get.
    pub points: i64,
    /// Points the campaigns add: `points - with_tier`.
    pub bonus: i64,
    /// The multiplier that applies, if any is above ×1.00 (the best of tier and campaigns).
    pub multiplier: Option<AppliedMultiplier>,
    /// Every campaign and what it did.
    pub campaigns: Vec<PreviewLine>,
    /// What the entry's reason would add.
    pub reason: String,
}

fn verdict_code(v: Verdict) -> &'static str {
    match v {
        Verdict::Applied => "applied",
        Verdict::Outdone => "outdone",
        Verdict::Off => "off",
        Verdict::OutOfDates => "out_of_dates",
        Verdict::NoMatch => "no_match",
    }
}

impl From<Preview> for PreviewAnswer {
    fn from(p: Preview) -> Self {
        let o = p.outcome;
        Self {
            date: p.day.to_string(),
            base_points: o.base,
            with_tier: o.with_tier,
            points: o.points,
            bonus: o.bonus,
            multiplier: o
                .multiplier
                .map(|(name, m): (String, Multiplier)| AppliedMultiplier {
                    name,
                    multiplier_hundredths: m.hundredths(),
                }),
            campaigns: o
                .lines
                .into_iter()
                .map(|l| PreviewLine {
                    name: l.name,
                    effect: l.effect,
                    verdict: verdict_code(l.verdict).to_owned(),
                    bonus: l.bonus,
                })
                .collect(),
            reason: o.notes.join(" · "),
        }
    }
}

/// Preview a sample purchase: what each campaign and the total would give.
#[utoipa::path(
    post, path = "/api/v1/campaigns/preview", tag = "settings",
    request_body = PreviewRequest,
    responses(
        (status = 200, description = "What the purchase would earn", body = PreviewAnswer),
        (status = 422, description = "The sample or a draft campaign is not valid", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn preview(
    State(state): State<AppState>,
    _client: ApiClient,
    body: JsonBody<PreviewRequest>,
) -> Result<Json<PreviewAnswer>, ApiError> {
    let b = body.value;
    let sample = Sample {
        amount_minor: b.amount_minor,
        day: b
            .date
            .as_deref()
            .map(|d| LocalDate::parse("date", d).map(LocalDate::date))
            .transpose()?,
        category: b.category.as_deref().map(Category::parse).transpose()?,
        first: b.first_purchase,
        tier: b.tier.filter(|t| !t.trim().is_empty()),
    };
    let draft = b.campaigns.map(parse_list).transpose()?;
    Ok(Json(
        state.loyalty.preview_campaigns(sample, draft).await?.into(),
    ))
}
