//! Point changes: earn, redeem, adjust, reverse, redeem a reward, and history.

use super::entry::{EntryJson, OutcomeJson, entries_json};
use super::{keyed_response, page_size};
use crate::domain::DomainError;
use crate::domain::api_key::Scope;
use crate::domain::ledger::{self, EntryKind, PointsChange};
use crate::domain::member::MemberId;
use crate::domain::money::Currency;
use crate::http::AppState;
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{ApiClient, ApiQuery, IdemKey, JsonBody, OptionalJsonBody};
use crate::service::{PointsAmount, PointsRequest};
use axum::Json;
use axum::extract::{Path, State};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// The kinds of change a client may ask for.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestKind {
    /// Add points.
    Earn,
    /// Spend points.
    Redeem,
    /// Correct, either way, with a reason.
    Adjust,
}

/// A point change: give `points`, or (for earn) `amount_minor` to apply the earning rule — never both.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransactionRequest {
    /// What kind of change.
    pub kind: RequestKind,
    /// Points: positive for earn and redeem; non-zero either way for adjust.
    pub points: Option<i64>,
    /// Purchase amount in minor units (cents); earn only.
    pub amount_minor: Option<i64>,
    /// The purchase's currency; must be the business's (default).
    pub currency: Option<String>,
    /// Why; required for adjust.
    pub reason: Option<String>,
    /// An outside reference such as an order id.
    pub reference: Option<String>,
    /// The product category (a slug such as `coffee-beans`), for category campaigns; with
    /// `amount_minor` only.
    pub category: Option<String>,
}

impl TransactionRequest {
    fn parse(self) -> Result<PointsRequest, DomainError> {
        let kind = match self.kind {
            RequestKind::Earn => EntryKind::Earn,
            RequestKind::Redeem => EntryKind::Redeem,
            RequestKind::Adjust => EntryKind::Adjust,
        };
        let category = self
            .category
            .as_deref()
            .map(crate::domain::campaigns::Category::parse)
            .transpose()?;
        let amount = match (self.points, self.amount_minor) {
            (Some(p), None) => {
                if category.is_some() {
                    return Err(DomainError::invalid(
                        "category",
                        "only goes with amount_minor",
                    ));
                }
                if self.currency.is_some() {
                    return Err(DomainError::invalid(
                        "currency",
                        "only goes with amount_minor",
                    ));
                }
                PointsAmount::Points(PointsChange::parse(kind, p)?)
            }
            (None, Some(amount_minor)) if kind == EntryKind::Earn => PointsAmount::Purchase {
                amount_minor,
                currency: self.currency.as_deref().map(Currency::parse).transpose()?,
                category,
            },
            (None, Some(_)) => {
                return Err(DomainError::invalid(
                    "amount_minor",
                    "only goes with kind earn",
                ));
            }
            _ => {
                return Err(DomainError::invalid(
                    "points",
                    "give either points or amount_minor, not both or neither",
                ));
            }
        };
        Ok(PointsRequest {
            amount,
            reason: ledger::parse_reason(kind, self.reason.as_deref())?,
            reference: ledger::parse_reference(self.reference.as_deref())?,
        })
    }
}

/// How the document describes a point change: exactly one of these shapes. The handler reads
/// the looser [`TransactionRequest`] so that a wrong shape gets a message naming the field.
#[derive(ToSchema)]
#[schema(as = TransactionRequest)]
#[serde(untagged)]
#[expect(
    dead_code,
    reason = "only describes the request body in the OpenAPI document"
)]
enum TransactionShape {
    /// Earn a number of points.
    EarnPoints(EarnPoints),
    /// Earn by a purchase amount, through the earning rule.
    EarnAmount(EarnAmount),
    /// Redeem a number of points.
    Redeem(RedeemPoints),
    /// Add points by hand, with a reason.
    AdjustUp(AdjustUp),
    /// Take points away by hand, with a reason.
    AdjustDown(AdjustDown),
}

/// `earn` on its own.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[expect(
    dead_code,
    reason = "only describes the request body in the OpenAPI document"
)]
enum EarnKind {
    Earn,
}

/// `redeem` on its own.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[expect(
    dead_code,
    reason = "only describes the request body in the OpenAPI document"
)]
enum RedeemKind {
    Redeem,
}

/// `adjust` on its own.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[expect(
    dead_code,
    reason = "only describes the request body in the OpenAPI document"
)]
enum AdjustKind {
    Adjust,
}

/// Earn `points`.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
#[expect(
    dead_code,
    reason = "only describes the request body in the OpenAPI document"
)]
struct EarnPoints {
    kind: EarnKind,
    /// Points to add.
    #[schema(minimum = 1, maximum = 1_000_000_000_000_i64)]
    points: i64,
    /// Why (optional; blank means none); up to 500 characters.
    #[schema(max_length = 500)]
    reason: Option<String>,
    /// An outside reference such as an order id (optional; blank means none); up to 200 characters.
    #[schema(max_length = 200)]
    reference: Option<String>,
}

/// Earn for a purchase: points follow from `amount_minor` and the earning rule.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
#[expect(
    dead_code,
    reason = "only describes the request body in the OpenAPI document"
)]
struct EarnAmount {
    kind: EarnKind,
    /// Purchase amount in minor units (cents).
    #[schema(minimum = 1, maximum = 1_000_000_000_000_i64)]
    amount_minor: i64,
    /// The purchase's ISO 4217 currency; must be the business's (the default).
    #[schema(pattern = "^[A-Za-z]{3}$")]
    currency: Option<String>,
    /// Why (optional; blank means none); up to 500 characters.
    #[schema(max_length = 500)]
    reason: Option<String>,
    /// An outside reference such as an order id (optional; blank means none); up to 200 characters.
    #[schema(max_length = 200)]
    reference: Option<String>,
    /// The product category, for category campaigns: 1 to 40 lower-case letters, digits or
    /// hyphens (capitals are lowered).
    #[schema(pattern = "^[A-Za-z0-9][A-Za-z0-9-]{0,39}$")]
    category: Option<String>,
}

/// Redeem `points`.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
#[expect(
    dead_code,
    reason = "only describes the request body in the OpenAPI document"
)]
struct RedeemPoints {
    kind: RedeemKind,
    /// Points to take; refused with 409 if the balance is smaller.
    #[schema(minimum = 1, maximum = 1_000_000_000_000_i64)]
    points: i64,
    /// Why (optional; blank means none); up to 500 characters.
    #[schema(max_length = 500)]
    reason: Option<String>,
    /// An outside reference such as an order id (optional; blank means none); up to 200 characters.
    #[schema(max_length = 200)]
    reference: Option<String>,
}

/// Adjust upwards.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
#[expect(
    dead_code,
    reason = "only describes the request body in the OpenAPI document"
)]
struct AdjustUp {
    kind: AdjustKind,
    /// Points to add.
    #[schema(minimum = 1, maximum = 1_000_000_000_000_i64)]
    points: i64,
    /// Why (required); up to 500 characters.
    #[schema(min_length = 1, max_length = 500)]
    reason: String,
    /// An outside reference (optional; blank means none); up to 200 characters.
    #[schema(max_length = 200)]
    reference: Option<String>,
}

/// Adjust downwards.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
#[expect(
    dead_code,
    reason = "only describes the request body in the OpenAPI document"
)]
struct AdjustDown {
    kind: AdjustKind,
    /// Points to take; refused with 409 if the balance is smaller.
    #[schema(minimum = -1_000_000_000_000_i64, maximum = -1)]
    points: i64,
    /// Why (required); up to 500 characters.
    #[schema(min_length = 1, max_length = 500)]
    reason: String,
    /// An outside reference (optional; blank means none); up to 200 characters.
    #[schema(max_length = 200)]
    reference: Option<String>,
}

/// A reward to redeem.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RedemptionRequest {
    /// The reward's id.
    pub reward_id: String,
}

/// Why an entry is reversed (optional; the body may be empty).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReverseRequest {
    /// Why (optional; blank means none); up to 500 characters.
    #[schema(max_length = 500)]
    pub reason: Option<String>,
}

/// A page of ledger entries, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct EntryPage {
    /// Entries on this page.
    pub items: Vec<EntryJson>,
    /// Pass as `cursor` for the next page; null on the last.
    pub next_cursor: Option<String>,
}

/// Paging parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// From the previous page's `next_cursor`.
    #[param(pattern = "^[0-9]{0,19}$")]
    pub cursor: Option<String>,
    /// Page size, 1 to 100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
}

/// Add, redeem or adjust a member's points.
#[utoipa::path(
    post, path = "/api/v1/members/{id}/transactions", tag = "points",
    params(
        ("id" = String, Path, description = "Member id (ULID)"),
        ("Idempotency-Key" = String, Header, description = "1 to 255 visible ASCII characters, unique per change"),
    ),
    request_body = TransactionShape,
    responses(
        (status = 201, description = "Appended (or the stored answer to a retry)", body = OutcomeJson),
        (status = 400, description = "Unreadable body or missing Idempotency-Key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Key lacks points:write", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such member", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Insufficient points, member blocked or erased (`member_erased`), or the same key in flight", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid field, or the key was used with another body", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    client: ApiClient,
    Path(id): Path<String>,
    key: IdemKey,
    body: JsonBody<TransactionRequest>,
) -> Result<Response, ApiError> {
    client.require(Scope::PointsWrite)?;
    let id = MemberId::parse(&id)?;
    let keyed = body.keyed(&client, key);
    let req = body.value.parse()?;
    let answer = state
        .loyalty
        .change_points(id, req, client.actor(), keyed)
        .await?;
    Ok(keyed_response(answer))
}

/// A member's history, newest first.
#[utoipa::path(
    get, path = "/api/v1/members/{id}/transactions", tag = "points",
    params(("id" = String, Path, description = "Member id (ULID)"), HistoryQuery),
    responses(
        (status = 200, description = "A page of entries", body = EntryPage),
        (status = 400, description = "Bad cursor or query", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Key lacks members:read", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such member", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad limit", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn history(
    State(state): State<AppState>,
    client: ApiClient,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<HistoryQuery>,
) -> Result<Json<EntryPage>, ApiError> {
    client.require(Scope::MembersRead)?;
    let id = MemberId::parse(&id)?;
    let limit = page_size(q.limit)?;
    let before = q
        .cursor
        .as_deref()
        .filter(|c| !c.is_empty())
        .map(str::parse::<u64>)
        .transpose()
        .map_err(|_| {
            ApiError::bad_request("invalid_cursor", "cursor is not one this server gave out")
        })?;
    let page = state.loyalty.history(id, before, limit).await?;
    Ok(Json(EntryPage {
        items: entries_json(&page.items),
        next_cursor: page.next,
    }))
}

/// Reverse an entry: append its exact opposite (once).
#[utoipa::path(
    post, path = "/api/v1/transactions/{seq}/reverse", tag = "points",
    params(
        ("seq" = u64, Path, description = "The entry's sequence number"),
        ("Idempotency-Key" = String, Header, description = "1 to 255 visible ASCII characters"),
    ),
    request_body(content = ReverseRequest, description = "Optional; the body may be empty"),
    responses(
        (status = 201, description = "The reversal (or the stored answer to a retry)", body = OutcomeJson),
        (status = 400, description = "Unreadable body or missing Idempotency-Key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Key lacks points:write", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such entry", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already reversed, a reversal, the points are spent, or the member is erased (`member_erased`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid field, or the key was used with another body", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn reverse(
    State(state): State<AppState>,
    client: ApiClient,
    Path(seq): Path<String>,
    key: IdemKey,
    OptionalJsonBody(body): OptionalJsonBody<ReverseRequest>,
) -> Result<Response, ApiError> {
    client.require(Scope::PointsWrite)?;
    let seq: u64 = seq.parse().map_err(|_| ApiError::not_found("entry"))?;
    let keyed = body.keyed(&client, key);
    let reason = ledger::parse_reason(EntryKind::Reversal, body.value.reason.as_deref())?;
    let answer = state
        .loyalty
        .reverse(seq, reason, client.actor(), keyed)
        .await?;
    Ok(keyed_response(answer))
}

/// Redeem a catalogue reward for its cost.
#[utoipa::path(
    post, path = "/api/v1/members/{id}/redemptions", tag = "points",
    params(
        ("id" = String, Path, description = "Member id (ULID)"),
        ("Idempotency-Key" = String, Header, description = "1 to 255 visible ASCII characters"),
    ),
    request_body = RedemptionRequest,
    responses(
        (status = 201, description = "Redeemed (or the stored answer to a retry)", body = OutcomeJson),
        (status = 400, description = "Unreadable body or missing Idempotency-Key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Key lacks points:write", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such member or reward", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Insufficient points, reward inactive, member blocked or erased (`member_erased`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid field, or the key was used with another body", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn redeem(
    State(state): State<AppState>,
    client: ApiClient,
    Path(id): Path<String>,
    key: IdemKey,
    body: JsonBody<RedemptionRequest>,
) -> Result<Response, ApiError> {
    client.require(Scope::PointsWrite)?;
    let id = MemberId::parse(&id)?;
    let keyed = body.keyed(&client, key);
    let answer = state
        .loyalty
        .redeem_reward(id, body.value.reward_id, client.actor(), keyed)
        .await?;
    Ok(keyed_response(answer))
}
