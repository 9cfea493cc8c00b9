//! The owner's settings and the logo.

use super::session::{AdminForm, Owner, Staff, multipart_file};
use super::{PageError, PageResult, refused_status, see_other};
use crate::domain::DomainError;
use crate::domain::money::Currency;
use crate::domain::settings::{self, Colour, Settings, TimeZoneName};
use crate::http::AppState;
use crate::service::{ServiceError, SettingsPatch};
use crate::views::Page;
use crate::views::admin::{Kept, settings as view};
use axum::extract::{Multipart, Query, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;

/// What the settings form sends.
#[derive(Debug, serde::Deserialize)]
pub struct SettingsForm {
    #[serde(default)]
    business_name: String,
    #[serde(default)]
    currency: String,
    #[serde(default)]
    time_zone: String,
    #[serde(default)]
    points_per_unit: String,
    #[serde(default)]
    brand_colour: String,
    self_signup: Option<String>,
    #[serde(default)]
    consent_wording: String,
}

/// Whether to say the last save worked.
#[derive(Debug, serde::Deserialize)]
pub struct Saved {
    saved: Option<String>,
}

fn kept(s: &Settings) -> Kept {
    let mut k = Kept::new();
    k.insert("business_name".into(), s.business_name.clone());
    k.insert("currency".into(), s.currency.as_str().to_owned());
    k.insert("time_zone".into(), s.time_zone.as_str().to_owned());
    k.insert(
        "points_per_unit".into(),
        s.earning.points_per_unit.to_string(),
    );
    k.insert("brand_colour".into(), s.brand_colour.as_str().to_owned());
    if s.self_signup {
        k.insert("self_signup".into(), "on".into());
    }
    k.insert("consent_wording".into(), s.consent_wording.clone());
    k
}

/// The settings page.
pub async fn show(
    State(state): State<AppState>,
    owner: Owner,
    Query(q): Query<Saved>,
) -> PageResult {
    let chrome = Staff::from(owner).chrome(&state).await?;
    let s = state.loyalty.settings().await?;
    Ok(Page(view::view(
        &chrome,
        &s,
        &kept(&s),
        None,
        None,
        q.saved.is_some(),
    ))
    .into_response())
}

fn parse(f: &SettingsForm) -> Result<SettingsPatch, DomainError> {
    Ok(SettingsPatch {
        business_name: Some(settings::parse_business_name(&f.business_name)?),
        currency: Some(Currency::parse(&f.currency)?),
        time_zone: Some(TimeZoneName::parse(&f.time_zone)?),
        points_per_unit: Some(
            f.points_per_unit
                .trim()
                .parse::<i64>()
                .map_err(|_| DomainError::invalid("points_per_unit", "must be a whole number"))
                .and_then(settings::parse_points_per_unit)?,
        ),
        brand_colour: Some(Colour::parse(&f.brand_colour)?),
        self_signup: Some(f.self_signup.is_some()),
        consent_wording: Some(f.consent_wording.trim())
            .filter(|w| !w.is_empty())
            .map(settings::parse_consent_wording)
            .transpose()?,
    })
}

fn owner_only<T>(form: &AdminForm<T>) -> Result<(), PageError> {
    if form.staff.0.is_owner() {
        Ok(())
    } else {
        Err(PageError::Forbidden(
            "Only an owner can change the settings.",
        ))
    }
}

/// Saves the settings, or shows the form again with the problem beside its field.
pub async fn save(State(state): State<AppState>, form: AdminForm<SettingsForm>) -> PageResult {
    owner_only(&form)?;
    let result = match parse(&form.value) {
        Ok(patch) => {
            state
                .loyalty
                .update_settings(patch, form.staff.0.actor())
                .await
        }
        Err(e) => Err(e.into()),
    };
    match result {
        Ok(_) => Ok(see_other("/admin/settings?saved=1")),
        Err(ServiceError::Domain(e)) => {
            let chrome = form.staff.chrome(&state).await?;
            let s = state.loyalty.settings().await?;
            let page = view::view(&chrome, &s, &form.kept(), Some(&e), None, false);
            Ok((refused_status(&e), Page(page)).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

/// Replaces the logo after checking its size and type.
pub async fn logo(State(state): State<AppState>, owner: Owner, multipart: Multipart) -> PageResult {
    let staff = Staff::from(owner);
    let bytes = multipart_file(&staff, multipart, "logo").await?;
    match state.loyalty.set_logo(bytes, staff.0.actor()).await {
        Ok(_) => Ok(see_other("/admin/settings?saved=1")),
        Err(ServiceError::Domain(e)) => {
            let chrome = staff.chrome(&state).await?;
            let s = state.loyalty.settings().await?;
            let page = view::view(&chrome, &s, &kept(&s), None, Some(&e), false);
            Ok((refused_status(&e), Page(page)).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

/// The logo, for the customer pages (public).
pub async fn serve_logo(State(state): State<AppState>) -> PageResult {
    match state.loyalty.logo().await? {
        Some((kind, bytes)) => Ok((
            [
                (header::CONTENT_TYPE, kind.mime()),
                (header::CACHE_CONTROL, "public, max-age=300"),
            ],
            bytes,
        )
            .into_response()),
        None => Ok((StatusCode::NOT_FOUND, "no logo").into_response()),
    }
}
