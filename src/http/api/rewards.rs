//! `/api/v1/rewards`: the catalogue.

use crate::domain::api_key::Scope;
use crate::domain::reward::{self, Reward};
use crate::http::AppState;
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{ApiClient, JsonBody};
use crate::service::RewardPatch;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The catalogue.
#[derive(Debug, Serialize, ToSchema)]
pub struct RewardList {
    /// Every reward, active or not.
    pub items: Vec<Reward>,
}

/// A new reward.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateReward {
    /// What the customer gets, 1 to 100 characters.
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    /// Points it costs.
    #[schema(minimum = 1, maximum = 1_000_000_000_000_i64)]
    pub cost: i64,
}

/// A change to a reward.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateReward {
    /// New name, 1 to 100 characters.
    #[schema(min_length = 1, max_length = 100)]
    pub name: Option<String>,
    /// New cost.
    #[schema(minimum = 1, maximum = 1_000_000_000_000_i64)]
    pub cost: Option<i64>,
    /// Activate or deactivate.
    pub active: Option<bool>,
}

/// List the catalogue.
#[utoipa::path(
    get, path = "/api/v1/rewards", tag = "rewards",
    responses(
        (status = 200, description = "The catalogue", body = RewardList),
    ),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    _client: ApiClient,
) -> Result<Json<RewardList>, ApiError> {
    Ok(Json(RewardList {
        items: state.loyalty.rewards().await?,
    }))
}

/// Add a reward.
#[utoipa::path(
    post, path = "/api/v1/rewards", tag = "rewards",
    request_body = CreateReward,
    responses(
        (status = 201, description = "Created", body = Reward),
        (status = 403, description = "Key lacks rewards:write", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    client: ApiClient,
    body: JsonBody<CreateReward>,
) -> Result<(StatusCode, Json<Reward>), ApiError> {
    client.require(Scope::RewardsWrite)?;
    let name = reward::parse_name(&body.value.name)?;
    let cost = reward::parse_cost(body.value.cost)?;
    let r = state
        .loyalty
        .create_reward(name, cost, client.actor())
        .await?;
    Ok((StatusCode::CREATED, Json(r)))
}

/// Change a reward.
#[utoipa::path(
    patch, path = "/api/v1/rewards/{id}", tag = "rewards",
    params(("id" = String, Path, description = "Reward id")),
    request_body = UpdateReward,
    responses(
        (status = 200, description = "The changed reward", body = Reward),
        (status = 403, description = "Key lacks rewards:write", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such reward", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn update(
    State(state): State<AppState>,
    client: ApiClient,
    Path(id): Path<String>,
    body: JsonBody<UpdateReward>,
) -> Result<Json<Reward>, ApiError> {
    client.require(Scope::RewardsWrite)?;
    let b = body.value;
    let patch = RewardPatch {
        name: b.name.as_deref().map(reward::parse_name).transpose()?,
        cost: b.cost.map(reward::parse_cost).transpose()?,
        active: b.active,
    };
    Ok(Json(
        state
            .loyalty
            .update_reward(id, patch, client.actor())
            .await?,
    ))
}
