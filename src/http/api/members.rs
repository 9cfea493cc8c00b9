//! `/api/v1/members`: create, look up, search and change members.

use super::{decode_cursor, encode_cursor, page_size};
use crate::domain::DomainError;
use crate::domain::api_key::Scope;
use crate::domain::card::CardNumber;
use crate::domain::email::Email;
use crate::domain::member::{Member, MemberId, MemberPatch, MemberQuery, MemberStatus, NewMember};
use crate::domain::text::{PersonName, Phone};
use crate::http::AppState;
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{ApiClient, ApiQuery, JsonBody};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, ToSchema};

/// A member as the API shows it: the stored member plus their card URL.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberView {
    /// The member.
    #[serde(flatten)]
    pub member: Member,
    /// The card page (the QR code's link).
    pub card_url: String,
}

impl MemberView {
    pub(super) fn new(state: &AppState, member: Member) -> Self {
        let card_url = format!("{}/c/{}", state.base_url, member.card_token.as_str());
        Self { member, card_url }
    }
}

/// A page of members.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberPage {
    /// Members on this page.
    pub items: Vec<MemberView>,
    /// Pass as `cursor` for the next page; null on the last.
    pub next_cursor: Option<String>,
}

/// A new member; every field is optional (an anonymous card is fine).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateMember {
    /// Full name.
    pub name: Option<String>,
    /// Email, unique.
    pub email: Option<String>,
    /// Phone.
    pub phone: Option<String>,
    /// Whether the member agreed to marketing.
    pub marketing_consent: Option<bool>,
    /// A pre-printed card's number (12 digits, Luhn); a new one is made if absent.
    pub card_number: Option<String>,
}

/// A change to a member: absent fields stay, `null` clears name, email or phone.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMember {
    /// New name, or null.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub name: Option<Option<String>>,
    /// New email, or null.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub email: Option<Option<String>>,
    /// New phone, or null.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub phone: Option<Option<String>>,
    /// Give or withdraw marketing consent.
    pub marketing_consent: Option<bool>,
    /// Block or unblock.
    pub status: Option<MemberStatus>,
}

/// Tells a field sent as `null` (Some(None)) from one not sent (None).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

fn parse_opt<T>(
    raw: Option<&str>,
    parse: impl Fn(&str) -> Result<T, DomainError>,
) -> Result<Option<T>, DomainError> {
    raw.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(parse)
        .transpose()
}

fn patch_field<T>(
    raw: Option<Option<String>>,
    parse: impl Fn(&str) -> Result<T, DomainError>,
) -> Result<Option<Option<T>>, DomainError> {
    raw.map(|inner| parse_opt(inner.as_deref(), parse))
        .transpose()
}

/// Search and paging parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Card-number digits, part of an email (with @), or the start of a name.
    pub q: Option<String>,
    /// From the previous page's `next_cursor`.
    #[param(pattern = "^([0-9a-f]{2})*$")]
    pub cursor: Option<String>,
    /// Page size, 1 to 100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
}

/// Create a member.
#[utoipa::path(
    post, path = "/api/v1/members", tag = "members",
    request_body = CreateMember,
    responses(
        (status = 201, description = "Created", body = MemberView),
        (status = 403, description = "Key lacks members:write", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Email or card number in use", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    client: ApiClient,
    body: JsonBody<CreateMember>,
) -> Result<(StatusCode, Json<MemberView>), ApiError> {
    client.require(Scope::MembersWrite)?;
    let b = body.value;
    let new = NewMember {
        name: parse_opt(b.name.as_deref(), PersonName::parse)?,
        email: parse_opt(b.email.as_deref(), Email::parse)?,
        phone: parse_opt(b.phone.as_deref(), Phone::parse)?,
        marketing_consent: b.marketing_consent.unwrap_or(false),
        card_number: parse_opt(b.card_number.as_deref(), CardNumber::parse)?,
        card_token: None,
        marketing_consent_text: None,
    };
    let member = state.loyalty.create_member(new, client.actor()).await?;
    Ok((StatusCode::CREATED, Json(MemberView::new(&state, member))))
}

/// List or search members.
#[utoipa::path(
    get, path = "/api/v1/members", tag = "members",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of members", body = MemberPage),
        (status = 400, description = "Bad cursor or query", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Key lacks members:read", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad limit", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    client: ApiClient,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<MemberPage>, ApiError> {
    client.require(Scope::MembersRead)?;
    let limit = page_size(q.limit)?;
    let after = decode_cursor(q.cursor.as_deref())?;
    let query = MemberQuery::parse(q.q.as_deref().unwrap_or(""));
    let page = state.loyalty.search_members(query, after, limit).await?;
    Ok(Json(MemberPage {
        items: page
            .items
            .into_iter()
            .map(|m| MemberView::new(&state, m))
            .collect(),
        next_cursor: encode_cursor(page.next),
    }))
}

/// Get a member.
#[utoipa::path(
    get, path = "/api/v1/members/{id}", tag = "members",
    params(("id" = String, Path, description = "Member id (ULID)")),
    responses(
        (status = 200, description = "The member", body = MemberView),
        (status = 403, description = "Key lacks members:read", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such member", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn get(
    State(state): State<AppState>,
    client: ApiClient,
    Path(id): Path<String>,
) -> Result<Json<MemberView>, ApiError> {
    client.require(Scope::MembersRead)?;
    let member = state.loyalty.member(MemberId::parse(&id)?).await?;
    Ok(Json(MemberView::new(&state, member)))
}

/// Change a member's details, block or unblock.
#[utoipa::path(
    patch, path = "/api/v1/members/{id}", tag = "members",
    params(("id" = String, Path, description = "Member id (ULID)")),
    request_body = UpdateMember,
    responses(
        (status = 200, description = "The changed member", body = MemberView),
        (status = 403, description = "Key lacks members:write", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such member", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Email in use", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn update(
    State(state): State<AppState>,
    client: ApiClient,
    Path(id): Path<String>,
    body: JsonBody<UpdateMember>,
) -> Result<Json<MemberView>, ApiError> {
    client.require(Scope::MembersWrite)?;
    let id = MemberId::parse(&id)?;
    let b = body.value;
    let patch = MemberPatch {
        name: patch_field(b.name, PersonName::parse)?,
        email: patch_field(b.email, Email::parse)?,
        phone: patch_field(b.phone, Phone::parse)?,
        marketing_consent: b.marketing_consent,
        status: b.status,
        marketing_consent_text: None,
    };
    let member = state
        .loyalty
        .update_member(id, patch, client.actor())
        .await?;
    Ok(Json(MemberView::new(&state, member)))
}

/// Find a member by the number on their card (what a scanner types).
#[utoipa::path(
    get, path = "/api/v1/members/by-card/{card_number}", tag = "members",
    params(("card_number" = String, Path, description = "12 digits; spaces and dashes are ignored")),
    responses(
        (status = 200, description = "The member", body = MemberView),
        (status = 403, description = "Key lacks members:read", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No member has this card (or it is not a valid card number)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn by_card(
    State(state): State<AppState>,
    client: ApiClient,
    Path(card): Path<String>,
) -> Result<Json<MemberView>, ApiError> {
    client.require(Scope::MembersRead)?;
    // A number that fails its check digit belongs to nobody: 404, saying why.
    let card = CardNumber::parse(&card).map_err(|e| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no member has this card ({e})"),
        )
    })?;
    let member = state.loyalty.member_by_card(card).await?;
    Ok(Json(MemberView::new(&state, member)))
}
