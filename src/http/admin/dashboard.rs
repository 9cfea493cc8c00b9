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
    // The page still shows without it: the check's own failure is logged where it happens.
    let check = state.loyalty.ledger_check_state().await.ok();
    Ok(Page(dashboard::view(
        &chrome,
        &d,
        backup.as_ref(),
        tls.as_ref(),
        check.as_ref(),
    ))
    .into_response())
}
