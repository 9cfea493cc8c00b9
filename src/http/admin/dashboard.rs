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
    let mut d = state.loyalty.dashboard().await?;
    let backup = state.backup_status.get();
    d.checklist.backups = backup.is_some();
    let tls = state.tls_status.get();
    // One system call; unknown (and then not shown) if the kernel will not say.
    let disk = crate::disk::space(state.loyalty.store().data_dir()).ok();
    // The page still shows without it: the check's own failure is logged where it happens.
    let check = state.loyalty.ledger_check_state().await.ok();
    let status = dashboard::Status {
        backup: backup.as_ref(),
        tls: tls.as_ref(),
        disk,
        check: check.as_ref(),
        now: crate::clock::now(),
    };
    Ok(Page(dashboard::view(&chrome, &d, &status)).into_response())
}
