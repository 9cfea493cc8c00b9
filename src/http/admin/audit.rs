//! The audit log page.

use super::PageResult;
use super::session::{Owner, Staff};
use crate::http::AppState;
use crate::views::Page;
use crate::views::admin::audit as view;
use axum::extract::{Query, State};
use axum::response::IntoResponse;

/// The filter.
#[derive(Debug, serde::Deserialize)]
pub struct Filter {
    #[serde(default)]
    actor: String,
    #[serde(default)]
    action: String,
    before: Option<u64>,
}

/// Audit records, newest first.
pub async fn show(
    State(state): State<AppState>,
    owner: Owner,
    Query(f): Query<Filter>,
) -> PageResult {
    let chrome = Staff::from(owner).chrome(&state).await?;
    let nonempty = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
    let records = state
        .loyalty
        .audit(nonempty(&f.actor), nonempty(&f.action), f.before, 50)
        .await?;
    let zone = state.loyalty.settings().await?.time_zone.zone();
    Ok(Page(view::view(&chrome, &records, &f.actor, &f.action, &zone)).into_response())
}
