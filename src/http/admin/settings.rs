//! The owner's settings and the logo.

use super::session::{AdminForm, Owner, Staff, multipart_file, owner_only};
use super::{PageError, PageResult, refused_or, refused_status, see_other};
use crate::domain::DomainError;
use crate::domain::alerts::{Recipients, WebhookFormat, WebhookUrl};
use crate::domain::expiry::{ExpiryRule, Months};
use crate::domain::money::Currency;
use crate::domain::settings::{self, Colour, Settings, TimeZoneName};
use crate::http::AppState;
use crate::service::{ExpiryChange, ServiceError, SettingsPatch};
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

/// Whether to say the last save worked, or that a test alert was queued.
#[derive(Debug, serde::Deserialize)]
pub struct Saved {
    saved: Option<String>,
    tested: Option<String>,
}

/// What the alerts form sends.
#[derive(Debug, serde::Deserialize)]
pub struct AlertsSettingsForm {
    #[serde(default)]
    alert_emails: String,
    #[serde(default)]
    alert_webhook: String,
    #[serde(default)]
    alert_webhook_format: String,
}

fn alerts_kept(s: &Settings) -> Kept {
    let mut k = Kept::new();
    k.insert("alert_emails".into(), s.alert_emails.joined());
    k.insert(
        "alert_webhook".into(),
        s.alert_webhook
            .as_ref()
            .map(|u| u.as_str().to_owned())
            .unwrap_or_default(),
    );
    k.insert(
        "alert_webhook_format".into(),
        s.alert_webhook_format.as_str().to_owned(),
    );
    k
}

fn mail_server(state: &AppState) -> Option<String> {
    state.alerts.0.smtp.as_ref().map(|s| s.describe())
}

/// Renders the settings page with the alerts form as given.
async fn render(
    state: &AppState,
    staff: &Staff,
    main: (&Kept, Option<&DomainError>),
    logo_err: Option<&DomainError>,
    alerts: (Option<&Kept>, Option<&DomainError>),
    flags: (bool, bool),
    expiry: Option<(&Kept, &DomainError)>,
) -> Result<maud::Markup, PageError> {
    let chrome = staff.chrome(state).await?;
    let s = state.loyalty.settings().await?;
    let own_alerts = alerts_kept(&s);
    let a = view::AlertsForm {
        values: alerts.0.unwrap_or(&own_alerts),
        err: alerts.1,
        mail_server: mail_server(state),
        tested: flags.1,
    };
    let own_expiry = expiry_kept(&s);
    let expiry = crate::views::admin::expiry::section(
        &chrome,
        expiry.map_or(&own_expiry, |e| e.0),
        expiry.map(|e| e.1),
    );
    Ok(view::view(&chrome, &s, main, logo_err, flags.0, &a, expiry))
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
    let staff = Staff::from(owner);
    let s = state.loyalty.settings().await?;
    let page = render(
        &state,
        &staff,
        (&kept(&s), None),
        None,
        (None, None),
        (q.saved.is_some(), q.tested.is_some()),
        None,
    )
    .await?;
    Ok(Page(page).into_response())
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

        tiers: None,
        referrals: None,
        birthday: None,
        notices: None,
    })
}

/// What a member of staff who is not an owner is told here.
const OWNERS_ONLY: &str = "Only an owner can change the settings.";

/// Saves the settings, or shows the form again with the problem beside its field.
pub async fn save(State(state): State<AppState>, form: AdminForm<SettingsForm>) -> PageResult {
    owner_only(&form, OWNERS_ONLY)?;
    let result = match parse(&form.value) {
        Ok(patch) => {
            state
                .loyalty
                .update_settings(patch, form.staff.0.actor())
                .await
        }
        Err(e) => Err(e.into()),
    };
    refused_or(result, "/admin/settings?saved=1", async |e| {
        render(
            &state,
            &form.staff,
            (&form.kept(), Some(e)),
            None,
            (None, None),
            (false, false),
            None,
        )
        .await
    })
    .await
}

fn parse_alerts(
    f: &AlertsSettingsForm,
) -> Result<(Recipients, Option<WebhookUrl>, WebhookFormat), DomainError> {
    Ok((
        Recipients::parse(&f.alert_emails)?,
        WebhookUrl::parse(&f.alert_webhook)?,
        WebhookFormat::parse(&f.alert_webhook_format)?,
    ))
}

/// Saves where alerts go, or shows the form again with the problem beside its field.
pub async fn save_alerts(
    State(state): State<AppState>,
    form: AdminForm<AlertsSettingsForm>,
) -> PageResult {
    owner_only(&form, OWNERS_ONLY)?;
    let result = match parse_alerts(&form.value) {
        Ok((to, hook, format)) => {
            state
                .loyalty
                .update_alert_settings(to, hook, format, form.staff.0.actor())
                .await
        }
        Err(e) => Err(e.into()),
    };
    match result {
        Ok(_) => Ok(see_other("/admin/settings?saved=1#alerts-settings")),
        Err(ServiceError::Domain(e)) => {
            let s = state.loyalty.settings().await?;
            let page = render(
                &state,
                &form.staff,
                (&kept(&s), None),
                None,
                (Some(&form.kept()), Some(&e)),
                (false, false),
                None,
            )
            .await?;
            Ok((refused_status(&e), Page(page)).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

/// The test button's form: nothing but the CSRF token.
#[derive(Debug, serde::Deserialize)]
pub struct Empty {}

/// Queues a test alert to every configured channel; the task delivers it.
pub async fn test_alert(State(state): State<AppState>, form: AdminForm<Empty>) -> PageResult {
    owner_only(&form, OWNERS_ONLY)?;
    crate::alerts::send_test(&state.loyalty, &state.alerts.0, &state.alerts.1).await?;
    Ok(see_other("/admin/settings?tested=1#alerts-settings"))
}

/// Paging through the alerts sent.
#[derive(Debug, serde::Deserialize)]
pub struct Before {
    before: Option<u64>,
}

/// How many messages a page of alerts shows.
const ALERTS_PAGE: usize = 50;

/// The alerts sent, newest first.
pub async fn alerts_sent(
    State(state): State<AppState>,
    owner: Owner,
    Query(q): Query<Before>,
) -> PageResult {
    let chrome = Staff::from(owner).chrome(&state).await?;
    let mut messages = state
        .loyalty
        .alert_messages(q.before, ALERTS_PAGE + 1)
        .await?;
    let older = (messages.len() > ALERTS_PAGE).then(|| {
        messages.truncate(ALERTS_PAGE);
        messages.last().map(|(id, _)| *id)
    });
    let zone = state.loyalty.settings().await?.time_zone.zone();
    Ok(Page(crate::views::admin::alerts::view(
        &chrome,
        &messages,
        older.flatten(),
        &zone,
    ))
    .into_response())
}

/// Replaces the logo after checking its size and type.
pub async fn logo(State(state): State<AppState>, owner: Owner, multipart: Multipart) -> PageResult {
    let staff = Staff::from(owner);
    let bytes = multipart_file(&staff, multipart, "logo").await?;
    match state.loyalty.set_logo(bytes, staff.0.actor()).await {
        Ok(_) => Ok(see_other("/admin/settings?saved=1")),
        Err(ServiceError::Domain(e)) => {
            let s = state.loyalty.settings().await?;
            let page = render(
                &state,
                &staff,
                (&kept(&s), None),
                Some(&e),
                (None, None),
                (false, false),
                None,
            )
            .await?;
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

/// What the expiry form sends.
#[derive(Debug, serde::Deserialize)]
pub struct ExpiryForm {
    #[serde(default)]
    expiry_rule: String,
    #[serde(default)]
    expiry_months: String,
}

fn expiry_kept(s: &Settings) -> Kept {
    let mut k = Kept::new();
    k.insert(
        "expiry_rule".into(),
        s.expiry.map_or("off", |p| p.rule.as_str()).to_owned(),
    );
    if let Some(p) = s.expiry {
        k.insert("expiry_months".into(), p.months.get().to_string());
    }
    k
}

fn parse_expiry(f: &ExpiryForm) -> Result<ExpiryChange, DomainError> {
    if f.expiry_rule.trim() == "off" {
        return Ok(ExpiryChange::Off);
    }
    let rule = ExpiryRule::parse(&f.expiry_rule)?;
    let months = f
        .expiry_months
        .trim()
        .parse::<i64>()
        .map_err(|_| DomainError::invalid("expiry_months", "must be a whole number of months"))
        .and_then(Months::parse)?;
    Ok(ExpiryChange::Set(rule, months))
}

/// Saves the expiry policy, or shows the form again with the problem beside its field.
pub async fn save_expiry(State(state): State<AppState>, form: AdminForm<ExpiryForm>) -> PageResult {
    owner_only(&form, OWNERS_ONLY)?;
    let result = match parse_expiry(&form.value) {
        Ok(change) => {
            state
                .loyalty
                .update_expiry(change, form.staff.0.actor())
                .await
        }
        Err(e) => Err(e.into()),
    };
    refused_or(
        result,
        "/admin/settings?saved=1#expiry-settings",
        async |e| {
            let s = state.loyalty.settings().await?;
            render(
                &state,
                &form.staff,
                (&kept(&s), None),
                None,
                (None, None),
                (false, false),
                Some((&form.kept(), e)),
            )
            .await
        },
    )
    .await
}
