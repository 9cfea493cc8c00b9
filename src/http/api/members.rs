//! `/api/v1/members`: create, look up, search and change members.

use super::{decode_cursor, encode_cursor, page_size};
use crate::domain::DomainError;
use crate::domain::api_key::Scope;
use crate::domain::birthday::Birthday;
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
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};

/// A member as the API shows it.
///
/// The card token opens the member's card page, so it and the card URL are sent only to keys
/// with the `cards:read` scope; for other keys both fields are absent.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberView {
    /// ULID.
    #[schema(value_type = String, example = "01JD2Z3Q8M6V4T0X9K1N5R7B2C")]
    pub id: MemberId,
    /// The human card number (12 digits, Luhn check digit last).
    #[schema(value_type = String, example = "412345678904")]
    pub card_number: CardNumber,
    /// The secret in the card URL; present only for keys with the `cards:read` scope.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub card_token: Option<String>,
    /// The card page (the QR code's link); present only for keys with the `cards:read` scope.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub card_url: Option<String>,
    /// Full name.
    #[schema(value_type = Option<String>)]
    pub name: Option<PersonName>,
    /// Normalised (lower-case) email, unique.
    #[schema(value_type = Option<String>)]
    pub email: Option<Email>,
    /// Phone, `+` and digits.
    #[schema(value_type = Option<String>)]
    pub phone: Option<Phone>,
    /// When marketing consent was given, if it was.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub marketing_consent_at: Option<OffsetDateTime>,
    /// The exact consent sentence the member agreed to, when they agreed on a page that showed one.
    pub marketing_consent_text: Option<String>,
    /// When the member asked for their account to be erased (an owner confirms).
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub erasure_requested_at: Option<OffsetDateTime>,
    /// Active, blocked or erased.
    pub status: MemberStatus,
    /// Current points; always the sum of the member's ledger entries.
    pub balance: i64,
    /// Points earned over the member's lifetime (earn entries, less reversed ones).
    pub lifetime_earned: i64,
    /// When the member joined.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    /// When the member's details last changed.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: OffsetDateTime,
    /// When points last moved on the card.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_activity_at: Option<OffsetDateTime>,
    /// The member's tier as recorded at their last earn or reversal while tiers were on.
    pub tier: Option<String>,
    /// The tier before the last move, if there was one.
    pub previous_tier: Option<String>,
    /// When the member last moved tier.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub tier_since: Option<OffsetDateTime>,
    /// Birthday: `YYYY-MM-DD`, or `MM-DD` when the year was not given.
    pub birthday: Option<String>,
    /// The member's referral link (`/join?ref=CODE`), once they have a code.
    pub referral_url: Option<String>,
    /// The member whose referral link this member joined through.
    pub referred_by: Option<String>,
    /// Where that referral stands: `pending` (until the first purchase), `rewarded` or `refused`.
    pub referral_status: Option<String>,
    /// Why the referral gave no points: `same_email`, `same_phone`, `referrer_blocked`,
    /// `referrer_erased`, `cap_reached` or `switched_off`.
    pub referral_refusal: Option<String>,
}

impl MemberView {
    /// The member as `client` may see it: with the card token and URL only under `cards:read`.
    pub(super) fn new(state: &AppState, client: &ApiClient, member: Member) -> Self {
        let (card_token, card_url) = if client.allows(Scope::CardsRead) {
            let token = member.card_token.as_str().to_owned();
            let url = format!("{}/c/{token}", state.base_url);
            (Some(token), Some(url))
        } else {
            (None, None)
        };
        use crate::domain::referral::ReferralState;
        let referral_url = member
            .referral_code
            .as_ref()
            .map(|c| format!("{}/join?ref={}", state.base_url, c.as_str()));
        let (referred_by, referral_status, referral_refusal) = match &member.referral {
            None => (None, None, None),
            Some(r) => {
                let (status, refusal) = match &r.state {
                    ReferralState::Pending => ("pending", None),
                    ReferralState::Rewarded { .. } => ("rewarded", None),
                    ReferralState::Refused { reason, .. } => {
                        ("refused", Some(reason.as_str().to_owned()))
                    }
                };
                (
                    Some(r.referrer.as_str().to_owned()),
                    Some(status.to_owned()),
                    refusal,
                )
            }
        };
        Self {
            birthday: member.birthday.map(|b| b.as_text()),
            referral_url,
            referred_by,
            referral_status,
            referral_refusal,
            id: member.id,
            card_number: member.card_number,
            card_token,
            card_url,
            name: member.name,
            email: member.email,
            phone: member.phone,
            marketing_consent_at: member.marketing_consent_at,
            marketing_consent_text: member.marketing_consent_text,
            erasure_requested_at: member.erasure_requested_at,
            status: member.status,
            balance: member.balance,
            lifetime_earned: member.lifetime_earned,
            created_at: member.created_at,
            updated_at: member.updated_at,
            last_activity_at: member.last_activity_at,
            tier: member.tier.current,
            previous_tier: member.tier.previous,
            tier_since: member.tier.moved_at,
        }
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
    /// Full name, up to 100 characters; blank means none.
    #[schema(max_length = 100)]
    pub name: Option<String>,
    /// Email, unique, up to 254 bytes; blank means none.
    #[schema(max_length = 254)]
    pub email: Option<String>,
    /// Phone: 5 to 20 digits, an optional leading `+`, spaces, dots, dashes and brackets; blank means none.
    pub phone: Option<String>,
    /// Whether the member agreed to marketing.
    pub marketing_consent: Option<bool>,
    /// A pre-printed card's number (12 digits, the last a Luhn check digit; spaces and dashes
    /// are ignored); a new one is made if absent or blank.
    pub card_number: Option<String>,
    /// Birthday: `YYYY-MM-DD`, or `MM-DD` without the year (29 February is fine, 31 April is
    /// not); blank means none.
    pub birthday: Option<String>,
}

/// A change to a member: absent fields stay, `null` clears name, email or phone.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMember {
    /// New name (up to 100 characters), or null or blank to clear it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, max_length = 100)]
    pub name: Option<Option<String>>,
    /// New email (up to 254 bytes), or null or blank to clear it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, max_length = 254)]
    pub email: Option<Option<String>>,
    /// New phone (5 to 20 digits), or null or blank to clear it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub phone: Option<Option<String>>,
    /// Give or withdraw marketing consent.
    pub marketing_consent: Option<bool>,
    /// Block or unblock.
    pub status: Option<MemberStatus>,
    /// New birthday (`YYYY-MM-DD` or `MM-DD`), or null or blank to clear it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub birthday: Option<Option<String>>,
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
        birthday: parse_opt(b.birthday.as_deref(), Birthday::parse)?,
        referral: None,
    };
    let member = state.loyalty.create_member(new, client.actor()).await?;
    Ok((
        StatusCode::CREATED,
        Json(MemberView::new(&state, &client, member)),
    ))
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
            .map(|m| MemberView::new(&state, &client, m))
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
    Ok(Json(MemberView::new(&state, &client, member)))
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
        birthday: patch_field(b.birthday, Birthday::parse)?,
    };
    let member = state
        .loyalty
        .update_member(id, patch, client.actor())
        .await?;
    Ok(Json(MemberView::new(&state, &client, member)))
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
    Ok(Json(MemberView::new(&state, &client, member)))
}
