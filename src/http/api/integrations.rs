//! `/api/v1/integrations`: shop webhooks set up, and parked orders attached to members.

use crate::domain::api_key::Scope;
use crate::domain::member::MemberId;
use crate::domain::shop::{Integration, Provider, SigningSecret};
use crate::http::AppState;
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{ApiClient, JsonBody};
use crate::service::IntegrationPatch;
use crate::storage::hooks::{ShopOrder, Unmatched};
use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A shop's webhook settings; the secret is never shown, only whether one is set.
#[derive(Debug, Serialize, ToSchema)]
pub struct IntegrationView {
    /// `shopify`, `stripe`, `square` or `woocommerce`.
    pub provider: String,
    /// Whether deliveries are taken.
    pub enabled: bool,
    /// Whether a signing secret is set.
    pub secret_set: bool,
    /// Whether an order with an unknown email creates a member (else it is parked).
    pub create_members: bool,
    /// The address to paste into the shop's webhook settings.
    pub url: String,
}

impl IntegrationView {
    fn of(provider: Provider, i: &Integration, base_url: &str) -> Self {
        Self {
            provider: provider.as_str().to_owned(),
            enabled: i.enabled,
            secret_set: i.secret.is_some(),
            create_members: i.create_members,
            url: hook_url(base_url, provider),
        }
    }
}

/// The address a shop posts `provider`'s deliveries to.
pub fn hook_url(base_url: &str, provider: Provider) -> String {
    format!(
        "{}/hooks/{}",
        base_url.trim_end_matches('/'),
        provider.as_str()
    )
}

/// A change to a shop's webhook settings; fields left out stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateIntegration {
    /// Take this shop's deliveries (needs a secret, given now or before).
    pub enabled: Option<bool>,
    /// The signing secret the shop shows (Shopify: the app's client secret; Stripe: the
    /// endpoint's `whsec_...`; Square: the subscription's signature key; WooCommerce: the
    /// webhook's secret). Stored, never shown again.
    #[schema(min_length = 8, max_length = 255, pattern = "^[ ]*[!-~]{8,255}[ ]*$")]
    pub secret: Option<String>,
    /// Create a member for an order whose email no member has, instead of parking it.
    pub create_members: Option<bool>,
}

/// A parked order.
#[derive(Debug, Serialize, ToSchema)]
pub struct UnmatchedOrder {
    /// The shop.
    pub provider: String,
    /// The shop's order (Stripe: payment; Square: order, else payment) id.
    pub order_id: String,
    /// The email it carried, if any.
    pub email: Option<String>,
    /// What was paid, in minor units.
    pub amount_minor: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// Money refunded since, in minor units.
    pub refunded_minor: i64,
    /// Why it is parked.
    pub reason: String,
    /// When it came (UTC).
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub received_at: time::OffsetDateTime,
}

impl From<Unmatched> for UnmatchedOrder {
    fn from(u: Unmatched) -> Self {
        Self {
            provider: u.provider.as_str().to_owned(),
            order_id: u.order_id,
            email: u.order.email,
            amount_minor: u.order.amount.amount_minor,
            currency: u.order.amount.currency.as_str().to_owned(),
            refunded_minor: u.order.refunded_minor,
            reason: u.order.parked.unwrap_or_default(),
            received_at: u.order.received_at,
        }
    }
}

/// Parked orders, oldest first (at most 100).
#[derive(Debug, Serialize, ToSchema)]
pub struct UnmatchedList {
    /// The orders.
    pub items: Vec<UnmatchedOrder>,
}

/// Whom to attach a parked order to.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttachOrder {
    /// The member's id (ULID).
    pub member_id: String,
}

/// What attaching did.
#[derive(Debug, Serialize, ToSchema)]
pub struct Attached {
    /// The member now holding the order.
    pub member_id: String,
    /// Points awarded for it.
    pub points: i64,
    /// What happened, in words.
    pub outcome: String,
}

/// The shops, as the document names them.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[expect(
    dead_code,
    reason = "only describes the path parameter in the OpenAPI document"
)]
enum ProviderName {
    Shopify,
    Stripe,
    Square,
    WooCommerce,
}

fn provider(raw: &str) -> Result<Provider, ApiError> {
    Provider::parse(raw).ok_or_else(|| ApiError::not_found("shop"))
}

/// Set up a shop's webhooks.
#[utoipa::path(
    put, path = "/api/v1/integrations/{provider}", tag = "integrations",
    params(("provider" = inline(ProviderName), Path, description = "`shopify`, `stripe`, `square` or `woocommerce`")),
    request_body = UpdateIntegration,
    responses(
        (status = 200, description = "The settings now, with the URL to paste into the shop", body = IntegrationView),
        (status = 403, description = "Key lacks integrations:write", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such shop", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn update(
    State(state): State<AppState>,
    client: ApiClient,
    Path(name): Path<String>,
    body: JsonBody<UpdateIntegration>,
) -> Result<Json<IntegrationView>, ApiError> {
    client.require(Scope::IntegrationsWrite)?;
    let provider = provider(&name)?;
    let b = body.value;
    let patch = IntegrationPatch {
        enabled: b.enabled,
        secret: b.secret.as_deref().map(SigningSecret::parse).transpose()?,
        create_members: b.create_members,
    };
    let value = state
        .loyalty
        .set_integration(provider, patch, client.actor())
        .await?;
    Ok(Json(IntegrationView::of(provider, &value, &state.base_url)))
}

/// Orders parked because no member matched (or their currency is not the business's).
#[utoipa::path(
    get, path = "/api/v1/integrations/unmatched", tag = "integrations",
    responses(
        (status = 200, description = "Parked orders", body = UnmatchedList),
        (status = 403, description = "Key lacks integrations:write", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn unmatched(
    State(state): State<AppState>,
    client: ApiClient,
) -> Result<Json<UnmatchedList>, ApiError> {
    client.require(Scope::IntegrationsWrite)?;
    let items = state.loyalty.unmatched_orders(100).await?;
    Ok(Json(UnmatchedList {
        items: items.into_iter().map(Into::into).collect(),
    }))
}

/// Attach a parked order to a member: its points are awarded now, once.
#[utoipa::path(
    post, path = "/api/v1/integrations/{provider}/orders/{order_id}/attach", tag = "integrations",
    params(
        ("provider" = inline(ProviderName), Path, description = "`shopify`, `stripe`, `square` or `woocommerce`", example = "shopify"),
        ("order_id" = String, Path, description = "The shop's order id, as listed", example = "4242"),
    ),
    request_body = AttachOrder,
    responses(
        (status = 200, description = "Attached and awarded", body = Attached),
        (status = 403, description = "Key lacks integrations:write", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such shop, order or member", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The member is blocked or erased", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The order is not parked, or is in another currency", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn attach(
    State(state): State<AppState>,
    client: ApiClient,
    Path((name, order_id)): Path<(String, String)>,
    body: JsonBody<AttachOrder>,
) -> Result<Json<Attached>, ApiError> {
    client.require(Scope::IntegrationsWrite)?;
    let provider = provider(&name)?;
    let member = MemberId::parse(&body.value.member_id)?;
    let (order, outcome): (ShopOrder, String) = state
        .loyalty
        .attach_order(provider, order_id, member.clone(), client.actor())
        .await?;
    Ok(Json(Attached {
        member_id: member.as_str().to_owned(),
        points: order.earned,
        outcome,
    }))
}
