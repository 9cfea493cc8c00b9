//! `/api/v1/webhooks`: the endpoints outbound events are posted to.

use crate::domain::api_key::Scope;
use crate::domain::events::{Delivery, EndpointUrl};
use crate::http::AppState;
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{ApiClient, JsonBody};
use crate::storage::events::Endpoint;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

/// How many deliveries each endpoint lists.
const RECENT: usize = 20;

/// A new endpoint.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhook {
    /// Where events are posted: an `https://` (or `http://`) address.
    #[schema(min_length = 1, max_length = 2000)]
    pub url: String,
}

/// An endpoint just registered, with its signing secret (shown this once).
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedWebhook {
    /// Its id.
    pub id: String,
    /// Where events are posted.
    pub url: String,
    /// When it was registered.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    /// The HMAC-SHA256 key the `FealTY-Signature` header is made with; not shown again.
    pub secret: String,
}

/// One attempt history: an event on its way to an endpoint.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryView {
    /// The event's id.
    pub event_id: String,
    /// The event's type.
    #[serde(rename = "type")]
    pub kind: String,
    /// When it was queued.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    /// `pending`, `delivered` or `gave_up`.
    pub state: String,
    /// Attempts made.
    pub attempts: u32,
    /// The next attempt, while pending.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub next_attempt_at: Option<OffsetDateTime>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
}

impl From<Delivery> for DeliveryView {
    fn from(d: Delivery) -> Self {
        Self {
            event_id: d.event_id,
            kind: d.kind.as_str().to_owned(),
            created_at: d.created,
            state: match d.state {
                crate::domain::events::DeliveryState::Pending => "pending",
                crate::domain::events::DeliveryState::Delivered => "delivered",
                crate::domain::events::DeliveryState::GaveUp => "gave_up",
            }
            .to_owned(),
            attempts: d.attempts,
            next_attempt_at: d.next_at,
            last_error: d.last_error,
        }
    }
}

/// An endpoint with its latest deliveries (no secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookView {
    /// Its id.
    pub id: String,
    /// Where events are posted.
    pub url: String,
    /// When it was registered.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    /// Up to 20 deliveries, newest first.
    pub deliveries: Vec<DeliveryView>,
}

/// The endpoints.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookList {
    /// Every endpoint, oldest first.
    pub items: Vec<WebhookView>,
}

/// List the endpoints and their latest deliveries.
#[utoipa::path(
    get, path = "/api/v1/webhooks", tag = "webhooks",
    responses(
        (status = 200, description = "The endpoints", body = WebhookList),
        (status = 403, description = "Key lacks webhooks:write", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    client: ApiClient,
) -> Result<Json<WebhookList>, ApiError> {
    client.require(Scope::WebhooksWrite)?;
    let items = state
        .loyalty
        .webhook_deliveries(RECENT)
        .await?
        .into_iter()
        .map(|(e, recent)| WebhookView {
            id: e.id,
            url: e.url.as_str().to_owned(),
            created_at: e.created_at,
            deliveries: recent.into_iter().map(DeliveryView::from).collect(),
        })
        .collect();
    Ok(Json(WebhookList { items }))
}

/// Register an endpoint (at most 5); the answer holds its signing secret, shown this once.
///
/// FealTY then POSTs `member.created`, `points.earned`, `points.redeemed` and `points.reversed`
/// to it as JSON: `{"id", "type", "created_at", "data": {"member_id", "card_number", "points",
/// "balance_after", "entry", "reference"}}`. The `FealTY-Signature` header is
/// `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>" under the secret>`; the event id
/// is also in `FealTY-Event-Id`, for the receiver to ignore a repeat. A delivery not answered
/// with 2xx within 10 seconds is tried again with growing waits (30 s doubling, at most an
/// hour) for a day.
#[utoipa::path(
    post, path = "/api/v1/webhooks", tag = "webhooks",
    request_body = CreateWebhook,
    responses(
        (status = 201, description = "Registered", body = CreatedWebhook),
        (status = 403, description = "Key lacks webhooks:write", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    client: ApiClient,
    body: JsonBody<CreateWebhook>,
) -> Result<(StatusCode, Json<CreatedWebhook>), ApiError> {
    client.require(Scope::WebhooksWrite)?;
    let url = EndpointUrl::parse(&body.value.url)?;
    let e: Endpoint = state
        .loyalty
        .add_webhook_endpoint(url, client.actor())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedWebhook {
            id: e.id,
            url: e.url.as_str().to_owned(),
            created_at: e.created_at,
            secret: e.secret,
        }),
    ))
}

/// Remove an endpoint; its pending deliveries are given up.
#[utoipa::path(
    delete, path = "/api/v1/webhooks/{id}", tag = "webhooks",
    params(("id" = String, Path, description = "Endpoint id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, description = "Key lacks webhooks:write", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such endpoint", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn remove(
    State(state): State<AppState>,
    client: ApiClient,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    client.require(Scope::WebhooksWrite)?;
    state
        .loyalty
        .remove_webhook_endpoint(id, client.actor())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
