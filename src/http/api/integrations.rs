//! `/api/v1/integrations`: shop webhooks and Etsy polling set up, and parked orders attached
//! to members.

use crate::domain::api_key::Scope;
use crate::domain::etsy::{EtsyKey, OAuthToken, PollEvery, ShopId};
use crate::domain::member::MemberId;
use crate::domain::shop::{Integration, Provider, SigningSecret};
use crate::http::AppState;
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{ApiClient, JsonBody};
use crate::service::{EtsyPatch, EtsyStatus, IntegrationPatch};
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
    Etsy,
}

/// The shops that send webhooks, as named in `/api/v1/integrations/{provider}` (Etsy has an
/// address of its own there).
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[expect(
    dead_code,
    reason = "only describes the path parameter in the OpenAPI document"
)]
enum WebhookShopName {
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
    params(("provider" = inline(WebhookShopName), Path, description = "`shopify`, `stripe`, `square` or `woocommerce`")),
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
        ("provider" = inline(ProviderName), Path, description = "`shopify`, `stripe`, `square`, `woocommerce` or `etsy`", example = "shopify"),
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

/// Etsy polling as set up, and how the last poll went; the API key and tokens are never shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct EtsyView {
    /// Whether receipts are polled.
    pub enabled: bool,
    /// Whether an order with an unknown email creates a member (else it is parked).
    pub create_members: bool,
    /// Whether the API key (`keystring:shared_secret`) is set.
    pub api_key_set: bool,
    /// Whether the OAuth access and refresh tokens are set.
    pub tokens_set: bool,
    /// The shop polled.
    pub shop_id: Option<String>,
    /// Minutes between polls.
    pub poll_minutes: u32,
    /// When the last poll ended (UTC).
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_poll: Option<time::OffsetDateTime>,
    /// Why the last poll failed, in words; null if it worked.
    pub last_error: Option<String>,
    /// When the next poll is due (UTC).
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub next_poll: Option<time::OffsetDateTime>,
}

impl From<EtsyStatus> for EtsyView {
    fn from(s: EtsyStatus) -> Self {
        Self {
            enabled: s.integration.enabled,
            create_members: s.integration.create_members,
            api_key_set: s.account.api_key.is_some(),
            tokens_set: s.account.access_token.is_some() && s.account.refresh_token.is_some(),
            shop_id: s.account.shop_id.map(|id| id.get().to_string()),
            poll_minutes: s.account.poll_every.get(),
            last_poll: s.state.last_poll,
            last_error: s.state.last_error,
            next_poll: s.state.next_poll,
        }
    }
}

/// A change to Etsy polling; fields left out stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateEtsy {
    /// Poll the shop's receipts (needs the API key, shop id and both tokens, given now or before).
    pub enabled: Option<bool>,
    /// Create a member for an order whose email no member has, instead of parking it.
    pub create_members: Option<bool>,
    /// The app's keystring and shared secret joined by a colon, from Etsy's "Your Apps".
    /// Stored, never shown again.
    #[schema(pattern = "^[ ]*[!-9;-~]{1,126}:[!-9;-~]{1,126}[ ]*$")]
    pub api_key: Option<String>,
    /// The shop's numeric id.
    #[schema(pattern = "^[ ]*[1-9][0-9]{0,18}[ ]*$")]
    pub shop_id: Option<String>,
    /// An OAuth access token with the `transactions_r` scope. Stored, never shown again;
    /// refreshed by the server as it expires.
    #[schema(pattern = "^[ ]*[!-~]{1,1024}[ ]*$")]
    pub access_token: Option<String>,
    /// The OAuth refresh token issued with it. Stored, never shown again.
    #[schema(pattern = "^[ ]*[!-~]{1,1024}[ ]*$")]
    pub refresh_token: Option<String>,
    /// Minutes between polls (default 5).
    #[schema(minimum = 1, maximum = 1440)]
    pub poll_minutes: Option<i64>,
}

/// Etsy polling as set up, with the last poll's outcome.
#[utoipa::path(
    get, path = "/api/v1/integrations/etsy", tag = "integrations",
    responses(
        (status = 200, description = "The settings and the last poll", body = EtsyView),
        (status = 403, description = "Key lacks integrations:write", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn etsy_show(
    State(state): State<AppState>,
    client: ApiClient,
) -> Result<Json<EtsyView>, ApiError> {
    client.require(Scope::IntegrationsWrite)?;
    Ok(Json(state.loyalty.etsy().await?.into()))
}

/// Set up Etsy polling: Etsy sends no webhooks, so the server reads the shop's receipts.
#[utoipa::path(
    put, path = "/api/v1/integrations/etsy", tag = "integrations",
    request_body = UpdateEtsy,
    responses(
        (status = 200, description = "The settings now", body = EtsyView),
        (status = 403, description = "Key lacks integrations:write", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A setting is not valid, or polling lacks one; nothing changed", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn etsy_update(
    State(state): State<AppState>,
    client: ApiClient,
    body: JsonBody<UpdateEtsy>,
) -> Result<Json<EtsyView>, ApiError> {
    client.require(Scope::IntegrationsWrite)?;
    let b = body.value;
    let patch = EtsyPatch {
        enabled: b.enabled,
        create_members: b.create_members,
        api_key: b.api_key.as_deref().map(EtsyKey::parse).transpose()?,
        shop_id: b.shop_id.as_deref().map(ShopId::parse).transpose()?,
        access_token: b
            .access_token
            .as_deref()
            .map(|t| OAuthToken::parse("access_token", t))
            .transpose()?,
        refresh_token: b
            .refresh_token
            .as_deref()
            .map(|t| OAuthToken::parse("refresh_token", t))
            .transpose()?,
        poll_every: b.poll_minutes.map(PollEvery::minutes).transpose()?,
    };
    let status = state.loyalty.set_etsy(patch, client.actor()).await?;
    Ok(Json(status.into()))
}
