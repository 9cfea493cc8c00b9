//! The owner's member notices page.

use super::session::{AdminForm, Owner, Staff, owner_only};
use super::{PageResult, refused_status, see_other};
use crate::domain::DomainError;
use crate::domain::notices::{NoticeSettings, WarningDays};
use crate::http::AppState;
use crate::service::ServiceError;
use crate::views::Page;
use crate::views::admin::{Kept, kept as field, notices as view};
use axum::extract::{Query, State};
use axum::response::IntoResponse;

/// How many notices the page lists.
const LISTED: usize = 50;

/// Whether to say the last save worked.
#[derive(Debug, serde::Deserialize)]
pub struct Saved {
    saved: Option<String>,
}

/// The notices form: its fields are read by name from the pairs.
#[derive(Debug, serde::Deserialize)]
pub struct NoticesForm {}

fn kept(n: &NoticeSettings) -> Kept {
    let mut k = Kept::new();
    for (name, on) in [
        ("welcome", n.welcome),
        ("digest", n.digest),
        ("expiry_warning", n.expiry_warning),
        ("tier_change", n.tier_change),
    ] {
        if on {
            k.insert(name.into(), "on".into());
        }
    }
    k.insert("warning_days".into(), n.warning_days.get().to_string());
    k
}

fn parse(k: &Kept) -> Result<NoticeSettings, DomainError> {
    let days = field(k, "warning_days")
        .trim()
        .parse::<i64>()
        .map_err(|_| DomainError::invalid("warning_days", "must be a whole number of days"))?;
    Ok(NoticeSettings {
        welcome: !field(k, "welcome").is_empty(),
        digest: !field(k, "digest").is_empty(),
        expiry_warning: !field(k, "expiry_warning").is_empty(),
        tier_change: !field(k, "tier_change").is_empty(),
        warning_days: WarningDays::parse(days)?,
    })
}

async fn render(
    state: &AppState,
    chrome: &crate::views::admin::Chrome,
    values: &Kept,
    err: Option<&DomainError>,
    saved: bool,
) -> Result<maud::Markup, ServiceError> {
    let settings = state.loyalty.settings().await?;
    let queue = state.loyalty.notice_queue(LISTED).await?;
    Ok(view::view(
        chrome,
        values,
        err,
        saved,
        state.alerts.0.smtp.is_some(),
        &queue,
        &settings.time_zone.zone(),
    ))
}

/// The notices page.
pub async fn show(
    State(state): State<AppState>,
    owner: Owner,
    Query(q): Query<Saved>,
) -> PageResult {
    let chrome = Staff::from(owner).chrome(&state).await?;
    let s = state.loyalty.settings().await?;
    let page = render(&state, &chrome, &kept(&s.notices), None, q.saved.is_some()).await?;
    Ok(Page(page).into_response())
}

/// Saves the choice, or shows the form again as typed with the problem.
pub async fn save(State(state): State<AppState>, form: AdminForm<NoticesForm>) -> PageResult {
    owner_only(&form, "Only an owner can change the email notices.")?;
    let typed = form.kept();
    let result = match parse(&typed) {
        Ok(n) => state.loyalty.update_notices(n, form.staff.0.actor()).await,
        Err(e) => Err(e.into()),
    };
    match result {
        Ok(()) => Ok(see_other("/admin/settings/notices?saved=1")),
        Err(ServiceError::Domain(e)) => {
            let chrome = form.staff.chrome(&state).await?;
            let page = render(&state, &chrome, &typed, Some(&e), false).await?;
            Ok((refused_status(&e), Page(page)).into_response())
        }
        Err(e) => Err(e.into()),
    }
}
