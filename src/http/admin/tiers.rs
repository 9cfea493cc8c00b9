//! The owner's tier ladder page.

use super::session::{AdminForm, Owner, Staff, owner_only};
use super::{PageResult, refused_or};
use crate::domain::DomainError;
use crate::domain::tiers::{MAX_TIERS, Multiplier, Tier, TierBasis, TierSettings};
use crate::http::AppState;
use crate::service::SettingsPatch;
use crate::views::Page;
use crate::views::admin::{Kept, kept as field, tiers as view};
use axum::extract::{Query, State};
use axum::response::IntoResponse;

/// Whether to say the last save worked.
#[derive(Debug, serde::Deserialize)]
pub struct Saved {
    saved: Option<String>,
}

/// The tiers form: its fields are read by name from the pairs (`name_0` … `multiplier_4`).
#[derive(Debug, serde::Deserialize)]
pub struct TiersForm {}

fn kept(t: &TierSettings) -> Kept {
    let mut k = Kept::new();
    if t.enabled {
        k.insert("enabled".into(), "on".into());
    }
    k.insert("basis".into(), t.basis.as_str().to_owned());
    for (i, tier) in t.tiers.iter().enumerate() {
        k.insert(format!("name_{i}"), tier.name.clone());
        k.insert(format!("colour_{i}"), tier.colour.as_str().to_owned());
        k.insert(format!("threshold_{i}"), tier.threshold.to_string());
        k.insert(format!("multiplier_{i}"), tier.multiplier.as_decimal());
    }
    k
}

/// Reads the ladder from the form; rows without a name are left out.
fn parse(k: &Kept) -> Result<TierSettings, DomainError> {
    let mut tiers = Vec::new();
    for i in 0..MAX_TIERS {
        let name = field(k, &format!("name_{i}")).trim();
        if name.is_empty() {
            continue;
        }
        let row = |e: DomainError| match e {
            DomainError::Invalid { field, message } => {
                DomainError::invalid(field, format!("Tier {}: {message}", i + 1))
            }
            other => other,
        };
        let threshold = field(k, &format!("threshold_{i}"))
            .trim()
            .parse::<i64>()
            .map_err(|_| DomainError::invalid("tier_threshold", "must be a whole number of points"))
            .map_err(row)?;
        let multiplier =
            Multiplier::parse_decimal(field(k, &format!("multiplier_{i}"))).map_err(row)?;
        let colour = field(k, &format!("colour_{i}"));
        tiers.push(
            Tier::parse(name, colour, threshold, i64::from(multiplier.hundredths()))
                .map_err(row)?,
        );
    }
    TierSettings::parse(
        !field(k, "enabled").is_empty(),
        TierBasis::parse(field(k, "basis"))?,
        tiers,
    )
}

/// The tiers page.
pub async fn show(
    State(state): State<AppState>,
    owner: Owner,
    Query(q): Query<Saved>,
) -> PageResult {
    let chrome = Staff::from(owner).chrome(&state).await?;
    let s = state.loyalty.settings().await?;
    Ok(Page(view::view(
        &chrome,
        &kept(&s.tiers),
        None,
        q.saved.is_some(),
    ))
    .into_response())
}

/// Saves the ladder, or shows the form again as typed with the problem.
pub async fn save(State(state): State<AppState>, form: AdminForm<TiersForm>) -> PageResult {
    owner_only(&form, "Only an owner can change the tiers.")?;
    let typed = form.kept();
    let result = match parse(&typed) {
        Ok(t) => {
            let patch = SettingsPatch {
                tiers: Some(t),
                ..SettingsPatch::default()
            };
            state
                .loyalty
                .update_settings(patch, form.staff.0.actor())
                .await
        }
        Err(e) => Err(e.into()),
    };
    refused_or(result, "/admin/settings/tiers?saved=1", async |e| {
        let chrome = form.staff.chrome(&state).await?;
        Ok(view::view(&chrome, &typed, Some(e), false))
    })
    .await
}
