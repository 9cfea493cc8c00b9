//! The audit log page.

use super::PageResult;
use super::session::{Owner, Staff};
use crate::domain::member::MemberId;
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
    let mut names = view::Names::default();
    for k in state.loyalty.api_keys().await? {
        names.keys.insert(k.id, k.name);
    }
    for r in state.loyalty.rewards().await? {
        names.rewards.insert(r.id, r.name);
    }
    // One read per member shown (a page holds at most 50 records), so the log says who.
    for r in records
        .items
        .iter()
        .filter(|r| view::targets_member(&r.action))
    {
        if names.members.contains_key(&r.target) {
            continue;
        }
        let Ok(id) = MemberId::parse(&r.target) else {
            continue;
        };
        if let Ok(m) = state.loyalty.member(id).await {
            let name = m.name.map_or_else(
                || m.card_number.as_str().to_owned(),
                |n| n.as_str().to_owned(),
            );
            names.members.insert(r.target.clone(), name);
        }
    }
    Ok(Page(view::view(
        &chrome, &records, &f.actor, &f.action, &zone, &names,
    ))
    .into_response())
}
