//! `/admin`: the dashboard.

use super::PageResult;
use super::session::Staff;
use crate::http::AppState;
use crate::views::{Page, admin::dashboard};
use axum::extract::State;
use axum::response::IntoResponse;

/// The dashboard, from running aggregates.
pub async fn show(State(state): State<AppState>, staff: Staff) -> PageResult {
    let chrome = staff.chrome(&state).await?;
    let d = state.loyalty.dashboard().await?;
    let backup = state.backup_status.get();
    let tls = state.tls_status.get();
    Ok(Page(dashboard::view(&chrome, &d, backup.as_ref(), tls.as_ref())).into_response())
}
