//! `/unsubscribe/{member}/{signature}`: the link in every member notice. A GET asks to
//! confirm; a POST (the page's button, or a mail client's one-click RFC 8058 post, which
//! comes from the mail provider's server without a session) turns notices off.

use crate::http::AppState;
use crate::http::admin::PageResult;
use crate::views::Page;
use crate::views::customer::unsubscribe as view;
use axum::extract::{Path, State};
use axum::response::IntoResponse;

/// The confirmation page; a wrong signature is not found.
pub async fn confirm(
    State(state): State<AppState>,
    Path((member, token)): Path<(String, String)>,
) -> PageResult {
    state.loyalty.unsubscribe_target(&member, &token).await?;
    let settings = state.loyalty.settings().await?;
    let action = format!("/unsubscribe/{member}/{token}");
    Ok(Page(view::page(&settings, &action, false)).into_response())
}

/// Turns the member's notices off.
pub async fn unsubscribe(
    State(state): State<AppState>,
    Path((member, token)): Path<(String, String)>,
) -> PageResult {
    state.loyalty.unsubscribe(&member, &token).await?;
    let settings = state.loyalty.settings().await?;
    Ok(Page(view::page(&settings, "", true)).into_response())
}
