//! The rewards catalogue pages.

use super::session::{AdminForm, Staff};
use super::{PageResult, refused_status, see_other};
use crate::domain::DomainError;
use crate::domain::reward::{self, Reward};
use crate::http::AppState;
use crate::service::{RewardPatch, ServiceError};
use crate::views::Page;
use crate::views::admin::{Kept, rewards as view};
use axum::extract::{Path, State};
use axum::response::IntoResponse;

/// What the reward forms send.
#[derive(Debug, serde::Deserialize)]
pub struct RewardForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    cost: String,
    active: Option<String>,
}

fn parse(f: &RewardForm) -> Result<(String, i64), DomainError> {
    let name = reward::parse_name(&f.name)?;
    let cost = f
        .cost
        .trim()
        .parse::<i64>()
        .map_err(|_| DomainError::invalid("cost", "must be a whole number of points"))
        .and_then(reward::parse_cost)?;
    Ok((name, cost))
}

/// The catalogue.
pub async fn list(State(state): State<AppState>, staff: Staff) -> PageResult {
    let chrome = staff.chrome(&state).await?;
    let rewards = state.loyalty.rewards().await?;
    Ok(Page(view::list(&chrome, &rewards, &Kept::new(), None)).into_response())
}

/// Adds a reward.
pub async fn create(State(state): State<AppState>, form: AdminForm<RewardForm>) -> PageResult {
    let result = match parse(&form.value) {
        Ok((name, cost)) => {
            state
                .loyalty
                .create_reward(name, cost, form.staff.0.actor())
                .await
        }
        Err(e) => Err(e.into()),
    };
    match result {
        Ok(_) => Ok(see_other("/admin/rewards")),
        Err(ServiceError::Domain(e)) => {
            let chrome = form.staff.chrome(&state).await?;
            let rewards = state.loyalty.rewards().await?;
            let page = view::list(&chrome, &rewards, &form.kept(), Some(&e));
            Ok((refused_status(&e), Page(page)).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

async fn find(state: &AppState, id: &str) -> Result<Reward, super::PageError> {
    state
        .loyalty
        .rewards()
        .await?
        .into_iter()
        .find(|r| r.id == id)
        .ok_or(super::PageError::NotFound)
}

/// The edit form.
pub async fn edit(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<String>,
) -> PageResult {
    let chrome = staff.chrome(&state).await?;
    let r = find(&state, &id).await?;
    let mut k = Kept::new();
    k.insert("name".into(), r.name.clone());
    k.insert("cost".into(), r.cost.to_string());
    if r.active {
        k.insert("active".into(), "on".into());
    }
    Ok(Page(view::edit(&chrome, &r, &k, None)).into_response())
}

/// Saves an edit (withdrawing a reward keeps it for history).
pub async fn update(
    State(state): State<AppState>,
    Path(id): Path<String>,
    form: AdminForm<RewardForm>,
) -> PageResult {
    let existing = find(&state, &id).await?;
    let result = match parse(&form.value) {
        Ok((name, cost)) => {
            let patch = RewardPatch {
                name: Some(name),
                cost: Some(cost),
                active: Some(form.value.active.is_some()),
            };
            state
                .loyalty
                .update_reward(id, patch, form.staff.0.actor())
                .await
        }
        Err(e) => Err(e.into()),
    };
    match result {
        Ok(_) => Ok(see_other("/admin/rewards")),
        Err(ServiceError::Domain(e)) => {
            let chrome = form.staff.chrome(&state).await?;
            let page = view::edit(&chrome, &existing, &form.kept(), Some(&e));
            Ok((refused_status(&e), Page(page)).into_response())
        }
        Err(e) => Err(e.into()),
    }
}
