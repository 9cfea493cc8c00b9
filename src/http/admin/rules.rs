//! The owner's referral and birthday settings page.

use super::session::{AdminForm, Owner, Staff, owner_only};
use super::{PageResult, refused_status, see_other};
use crate::domain::DomainError;
use crate::domain::birthday::BirthdaySettings;
use crate::domain::referral::ReferralSettings;
use crate::domain::settings::Settings;
use crate::http::AppState;
use crate::service::{ServiceError, SettingsPatch};
use crate::views::Page;
use crate::views::admin::rules::{self as view, Which};
use crate::views::admin::{Kept, kept as field};
use axum::extract::{Query, State};
use axum::response::IntoResponse;

/// Which form was saved last.
#[derive(Debug, serde::Deserialize)]
pub struct Saved {
    saved: Option<String>,
}

/// The forms' fields are read by name from the pairs.
#[derive(Debug, serde::Deserialize)]
pub struct RulesForm {}

fn kept(s: &Settings) -> Kept {
    let r = s.referrals;
    let b = s.birthday;
    let mut k = Kept::new();
    if r.enabled {
        k.insert("referrals_enabled".into(), "on".into());
    }
    k.insert("referrer_points".into(), r.referrer_points.to_string());
    k.insert("new_member_points".into(), r.new_member_points.to_string());
    k.insert("referral_yearly_cap".into(), r.yearly_cap.to_string());
    if b.enabled {
        k.insert("birthday_enabled".into(), "on".into());
    }
    k.insert("birthday_points".into(), b.points.to_string());
    k
}

fn number(k: &Kept, name: &'static str) -> Result<i64, DomainError> {
    field(k, name)
        .trim()
        .parse::<i64>()
        .map_err(|_| DomainError::invalid(name, "must be a whole number"))
}

/// The page.
pub async fn show(
    State(state): State<AppState>,
    owner: Owner,
    Query(q): Query<Saved>,
) -> PageResult {
    let chrome = Staff::from(owner).chrome(&state).await?;
    let s = state.loyalty.settings().await?;
    let totals = state.loyalty.rule_totals().await?;
    let saved = match q.saved.as_deref() {
        Some("referrals") => Some(Which::Referrals),
        Some("birthday") => Some(Which::Birthday),
        _ => None,
    };
    Ok(Page(view::view(&chrome, &kept(&s), None, saved, &totals)).into_response())
}

async fn save(state: AppState, form: AdminForm<RulesForm>, which: Which) -> PageResult {
    owner_only(
        &form,
        "Only an owner can change referral and birthday points.",
    )?;
    let typed = form.kept();
    let parsed = match which {
        Which::Referrals => (|| {
            Ok(SettingsPatch {
                referrals: Some(ReferralSettings::parse(
                    !field(&typed, "referrals_enabled").is_empty(),
                    number(&typed, "referrer_points")?,
                    number(&typed, "new_member_points")?,
                    number(&typed, "referral_yearly_cap")?,
                )?),
                ..SettingsPatch::default()
            })
        })(),
        Which::Birthday => (|| {
            Ok(SettingsPatch {
                birthday: Some(BirthdaySettings::parse(
                    !field(&typed, "birthday_enabled").is_empty(),
                    number(&typed, "birthday_points")?,
                )?),
                ..SettingsPatch::default()
            })
        })(),
    };
    let result = match parsed {
        Ok(patch) => {
            state
                .loyalty
                .update_settings(patch, form.staff.0.actor())
                .await
        }
        Err(e) => Err(ServiceError::Domain(e)),
    };
    match result {
        Ok(_) => Ok(see_other(match which {
            Which::Referrals => "/admin/settings/referrals?saved=referrals",
            Which::Birthday => "/admin/settings/referrals?saved=birthday",
        })),
        Err(ServiceError::Domain(e)) => {
            let chrome = form.staff.chrome(&state).await?;
            // The other form shows what is stored; this one what was typed.
            let mut values = kept(&state.loyalty.settings().await?);
            let prefix: &[&str] = match which {
                Which::Referrals => &[
                    "referrals_enabled",
                    "referrer_points",
                    "new_member_points",
                    "referral_yearly_cap",
                ],
                Which::Birthday => &["birthday_enabled", "birthday_points"],
            };
            for name in prefix {
                values.remove(*name);
                if let Some(v) = typed.get(*name) {
                    values.insert((*name).to_owned(), v.clone());
                }
            }
            let totals = state.loyalty.rule_totals().await?;
            let page = view::view(&chrome, &values, Some((which, &e)), None, &totals);
            Ok((refused_status(&e), Page(page)).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

/// Saves the referral settings.
pub async fn save_referrals(
    State(state): State<AppState>,
    form: AdminForm<RulesForm>,
) -> PageResult {
    save(state, form, Which::Referrals).await
}

/// Saves the birthday settings.
pub async fn save_birthday(
    State(state): State<AppState>,
    form: AdminForm<RulesForm>,
) -> PageResult {
    save(state, form, Which::Birthday).await
}
