//! The owner's bonus campaigns page: list, add, edit, switch on or off, delete, and preview a
//! draft on a sample purchase before saving it.

use super::session::{AdminForm, Owner, Staff, owner_only};
use super::{PageResult, refused_status, see_other};
use crate::domain::DomainError;
use crate::domain::campaigns::{Campaign, Category, LocalDate, Rule, WEEKDAYS};
use crate::domain::money::Money;
use crate::domain::tiers::Multiplier;
use crate::http::AppState;
use crate::service::ServiceError;
use crate::service::campaigns::{Sample, preview};
use crate::views::Page;
use crate::views::admin::campaigns as view;
use crate::views::admin::{Kept, kept as field};
use axum::extract::{Path, Query, State};
use axum::response::IntoResponse;

/// Which campaign to edit, and whether the last change worked.
#[derive(Debug, serde::Deserialize)]
pub struct Shown {
    edit: Option<usize>,
    saved: Option<String>,
}

/// The campaign form: its fields are read by name from the pairs.
#[derive(Debug, serde::Deserialize)]
pub struct CampaignForm {}

/// A form with nothing but its token (toggle, delete).
#[derive(Debug, serde::Deserialize)]
pub struct Empty {}

/// The form's values for a saved campaign.
fn kept(c: &Campaign, index: usize) -> Kept {
    let mut k = Kept::new();
    k.insert("index".into(), index.to_string());
    k.insert("name".into(), c.name.clone());
    k.insert("kind".into(), c.rule.kind().to_owned());
    match &c.rule {
        Rule::Weekdays { days, multiplier } => {
            for d in days {
                k.insert(format!("day_{d}"), "on".into());
            }
            k.insert("multiplier".into(), multiplier.as_decimal());
        }
        Rule::FirstPurchase { bonus } => {
            k.insert("bonus".into(), bonus.to_string());
        }
        Rule::Category {
            category,
            multiplier,
        } => {
            k.insert("category".into(), category.as_str().to_owned());
            k.insert("multiplier".into(), multiplier.as_decimal());
        }
    }
    if let Some(s) = c.starts {
        k.insert("starts".into(), s.to_string());
    }
    if let Some(e) = c.ends {
        k.insert("ends".into(), e.to_string());
    }
    if c.enabled {
        k.insert("enabled".into(), "on".into());
    }
    k
}

fn optional<'a>(k: &'a Kept, name: &str) -> Option<&'a str> {
    Some(field(k, name).trim()).filter(|s| !s.is_empty())
}

/// Reads the campaign from the form (checkboxes `day_monday` … `day_sunday`).
fn parse(k: &Kept) -> Result<Campaign, DomainError> {
    let kind = field(k, "kind").trim();
    let days: Vec<String> = WEEKDAYS
        .iter()
        .filter(|(n, _)| !field(k, &format!("day_{n}")).is_empty())
        .map(|(n, _)| (*n).to_owned())
        .collect();
    let multiplier = match (kind, optional(k, "multiplier")) {
        ("weekdays" | "category", Some(m)) => Some(i64::from(
            Multiplier::parse_decimal(m)
                .map_err(|e| match e {
                    DomainError::Invalid { message, .. } => DomainError::Invalid {
                        field: "multiplier_hundredths",
                        message,
                    },
                    other => other,
                })?
                .hundredths(),
        )),
        _ => None,
    };
    let bonus = match optional(k, "bonus") {
        Some(b) if kind == "first_purchase" => Some(
            b.parse::<i64>()
                .map_err(|_| DomainError::invalid("bonus", "must be a whole number of points"))?,
        ),
        _ => None,
    };
    let rule = Rule::parse(kind, &days, multiplier, bonus, optional(k, "category"))?;
    Campaign::parse(
        field(k, "name"),
        rule,
        optional(k, "starts")
            .map(|s| LocalDate::parse("starts", s))
            .transpose()?,
        optional(k, "ends")
            .map(|s| LocalDate::parse("ends", s))
            .transpose()?,
        !field(k, "enabled").is_empty(),
    )
}

/// Reads the sample purchase of the preview.
fn sample(k: &Kept, currency: crate::domain::money::Currency) -> Result<Sample, DomainError> {
    let amount =
        Money::parse_decimal(field(k, "sample_amount"), currency).map_err(|e| match e {
            DomainError::Invalid { message, .. } => DomainError::Invalid {
                field: "sample_amount",
                message,
            },
            other => other,
        })?;
    Ok(Sample {
        amount_minor: amount.amount_minor,
        day: optional(k, "sample_date")
            .map(|d| LocalDate::parse("sample_date", d).map(LocalDate::date))
            .transpose()?,
        category: optional(k, "sample_category")
            .map(|c| {
                Category::parse(c).map_err(|_| {
                    DomainError::invalid(
                        "sample_category",
                        "must be letters, digits or hyphens, such as coffee-beans",
                    )
                })
            })
            .transpose()?,
        first: !field(k, "sample_first").is_empty(),
        tier: optional(k, "sample_tier").map(str::to_owned),
    })
}

/// The campaigns page, with the form empty or holding the campaign to edit.
pub async fn show(
    State(state): State<AppState>,
    owner: Owner,
    Query(q): Query<Shown>,
) -> PageResult {
    let chrome = Staff::from(owner).chrome(&state).await?;
    let s = state.loyalty.settings().await?;
    let values = match q.edit.and_then(|i| s.campaigns.get(i).map(|c| kept(c, i))) {
        Some(k) => k,
        None => {
            let mut k = Kept::new();
            k.insert("kind".into(), "weekdays".into());
            k.insert("enabled".into(), "on".into());
            k
        }
    };
    let v = view::View {
        settings: &s,
        values: &values,
        err: None,
        saved: q.saved.is_some(),
        preview: None,
    };
    Ok(Page(view::view(&chrome, &v)).into_response())
}

/// Saves the campaign in the form (new, or replacing the one it edits), or previews it on the
/// sample purchase without saving.
pub async fn save(State(state): State<AppState>, form: AdminForm<CampaignForm>) -> PageResult {
    owner_only(&form, "Only an owner can change the campaigns.")?;
    let typed = form.kept();
    let settings = state.loyalty.settings().await?;
    let index = optional(&typed, "index").and_then(|i| i.parse::<usize>().ok());
    let with_draft = |c: Campaign, on: bool| {
        let mut list = settings.campaigns.clone();
        let c = Campaign {
            enabled: c.enabled || on,
            ..c
        };
        match index.filter(|i| *i < list.len()) {
            Some(i) => list[i] = c,
            None => list.push(c),
        }
        list
    };
    let previewing = field(&typed, "action") == "preview";
    let mut shown = None;
    let result: Result<(), ServiceError> = match parse(&typed) {
        Ok(c) if previewing => {
            // The draft counts as switched on: the point is to see it before it is.
            match sample(&typed, settings.currency)
                .and_then(|smp| preview(&settings, &with_draft(c, true), &smp, crate::clock::now()))
            {
                Ok(p) => {
                    shown = Some(p);
                    Ok(())
                }
                Err(e) => Err(e.into()),
            }
        }
        Ok(c) => state
            .loyalty
            .set_campaigns(with_draft(c, false), form.staff.0.actor())
            .await
            .map(|_| ()),
        Err(e) => Err(e.into()),
    };
    match result {
        Ok(()) if !previewing => Ok(see_other("/admin/settings/campaigns?saved=1")),
        Ok(()) => {
            let chrome = form.staff.chrome(&state).await?;
            let v = view::View {
                settings: &settings,
                values: &typed,
                err: None,
                saved: false,
                preview: shown.as_ref(),
            };
            Ok(Page(view::view(&chrome, &v)).into_response())
        }
        Err(ServiceError::Domain(e)) => {
            let chrome = form.staff.chrome(&state).await?;
            let v = view::View {
                settings: &settings,
                values: &typed,
                err: Some(&e),
                saved: false,
                preview: None,
            };
            Ok((refused_status(&e), Page(view::view(&chrome, &v))).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

/// Switches campaign `i` on or off.
pub async fn toggle(
    State(state): State<AppState>,
    Path(i): Path<usize>,
    form: AdminForm<Empty>,
) -> PageResult {
    owner_only(&form, "Only an owner can change the campaigns.")?;
    let mut list = state.loyalty.settings().await?.campaigns;
    let c = list
        .get_mut(i)
        .ok_or_else(|| ServiceError::from(DomainError::NotFound("campaign")))?;
    c.enabled = !c.enabled;
    state
        .loyalty
        .set_campaigns(list, form.staff.0.actor())
        .await?;
    Ok(see_other("/admin/settings/campaigns?saved=1"))
}

/// Deletes campaign `i`.
pub async fn delete(
    State(state): State<AppState>,
    Path(i): Path<usize>,
    form: AdminForm<Empty>,
) -> PageResult {
    owner_only(&form, "Only an owner can change the campaigns.")?;
    let mut list = state.loyalty.settings().await?.campaigns;
    if i >= list.len() {
        return Err(ServiceError::from(DomainError::NotFound("campaign")).into());
    }
    list.remove(i);
    state
        .loyalty
        .set_campaigns(list, form.staff.0.actor())
        .await?;
    Ok(see_other("/admin/settings/campaigns?saved=1"))
}
