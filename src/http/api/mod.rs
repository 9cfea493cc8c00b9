//! The JSON API under `/api/v1`, and its OpenAPI document generated from the same handlers.

pub mod entry;
mod members;
mod points;
mod rewards;
mod settings;

use super::AppState;
use super::error::{ApiError, Problem};
use crate::domain::api_key::Scope;
use crate::service::KeyedAnswer;
use axum::Json;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, Required, ResponseBuilder};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "FealTY API",
        description = "Add, redeem and look up loyalty points.\n\n\
Authenticate with `Authorization: Bearer <API key>`. Every point-changing request needs an \
`Idempotency-Key` header: a retry with the same key and body returns the first answer again \
(with `Idempotent-Replayed: true`) and changes nothing; the same key with another body is refused \
with 422. Errors are `application/problem+json` with a stable `code`.\n\n\
Earning by amount: points = whole currency units of `amount_minor` (rounded down) × `points_per_unit` \
from the settings, in integer arithmetic. With 1 point per unit, 19.99 EUR (1999) earns 19 points."
    ),
    modifiers(&BearerAuth),
    components(schemas(Problem, Scope))
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let scopes: String = Scope::ALL
            .iter()
            .map(|s| format!("\n- `{}`: {}", s.as_str(), s.description()))
            .collect();
        let text = format!(
            "An API key (`fty_...`). Each operation says which scope it needs; a key without it \
gets 403. Scopes:{scopes}\n\n`cards:read` only adds `card_token` and `card_url` to member answers \
(reading members still needs `members:read`, changing them `members:write`); no other scope implies it."
        );
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(text.clone()))
                    .build(),
            ),
        );
        let info = &mut openapi.info;
        info.description = Some(format!(
            "{}\n\n## Scopes\n\n{text}",
            info.description.as_deref().unwrap_or_default()
        ));
    }
}

/// A problem+json response for the document.
fn problem(description: &str) -> utoipa::openapi::RefOr<utoipa::openapi::Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/problem+json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .build(),
        )
        .build()
        .into()
}

/// Adds the answers every operation shares once the routes have put their paths in,
/// so each handler documents only what is its own.
fn document_common(openapi: &mut utoipa::openapi::OpenApi) {
    let shared = [
        ("401", "No valid API key"),
        ("429", "Too many failed authentications from this address"),
    ];
    let with_body = [
        ("400", "Unreadable body"),
        ("413", "Body larger than 1 MiB"),
        ("415", "Body is not application/json"),
        ("422", "Invalid field"),
    ];
    for item in openapi.paths.paths.values_mut() {
        for op in [
            &mut item.get,
            &mut item.post,
            &mut item.patch,
            &mut item.put,
            &mut item.delete,
        ]
        .into_iter()
        .flatten()
        {
            let extra = if op.request_body.is_some() {
                &with_body[..]
            } else {
                &[]
            };
            for (status, description) in shared.iter().chain(extra) {
                op.responses
                    .responses
                    .entry((*status).to_owned())
                    .or_insert_with(|| problem(description));
            }
            // The reversal's body is optional: an empty body means no reason.
            if op.operation_id.as_deref() == Some("reverse")
                && let Some(body) = op.request_body.as_mut()
            {
                body.required = Some(Required::False);
            }
        }
    }
}

/// The API routes and the OpenAPI document describing exactly them.
pub fn router() -> (axum::Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(members::create, members::list))
        .routes(routes!(members::get, members::update))
        .routes(routes!(members::by_card))
        .routes(routes!(points::create, points::history))
        .routes(routes!(points::reverse))
        .routes(routes!(points::redeem))
        .routes(routes!(rewards::list, rewards::create))
        .routes(routes!(rewards::update))
        .routes(routes!(settings::get, settings::update))
        .routes(routes!(settings::stats))
        .split_for_parts();
    document_common(&mut doc);
    (router, doc)
}

/// Page size: 1 to 100, 50 unless asked.
fn page_size(limit: Option<i64>) -> Result<usize, ApiError> {
    match limit {
        None => Ok(50),
        Some(n @ 1..=100) => Ok(n as usize),
        Some(_) => Err(ApiError::invalid("limit: must be between 1 and 100")),
    }
}

/// Wraps a storage position as an opaque, URL-safe cursor (hex).
fn encode_cursor(position: Option<String>) -> Option<String> {
    position.map(hex::encode)
}

/// Unwraps a cursor from a previous page; any position is a valid place to start from.
fn decode_cursor(cursor: Option<&str>) -> Result<Option<String>, ApiError> {
    cursor
        .filter(|c| !c.is_empty())
        .map(|c| {
            hex::decode(c)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .map_err(|_| {
                    ApiError::bad_request(
                        "invalid_cursor",
                        "cursor is not one this server gave out",
                    )
                })
        })
        .transpose()
}

/// Answers a keyed write, marking replays.
fn keyed_response(answer: KeyedAnswer) -> Response {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::CREATED);
    let mut res = (status, Json(entry::OutcomeJson::from(&answer.outcome))).into_response();
    if answer.replayed {
        res.headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    res
}
