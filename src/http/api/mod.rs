//! The JSON API under `/api/v1`, and its OpenAPI document generated from the same handlers.

mod campaigns;
pub mod entry;
pub mod integrations;
mod members;
mod points;
mod rewards;
mod settings;
mod webhooks;

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
from the settings, in integer arithmetic. With 1 point per unit, 19.99 EUR (1999) earns 19 points.\n\n\
## Awarding points for a shop's orders\n\n\
A plugin for a shop FealTY has no webhook for (or a script) awards each paid order in up to three \
calls, with a key holding `members:read` and `points:write`:\n\n\
1. Find the member: `GET /api/v1/members/by-card/{card_number}` with the card number the \
customer gave (404: no one has it), or `GET /api/v1/members?q={email}` (a prefix search: take \
the item whose `email` is exactly the customer's).\n\
2. `POST /api/v1/members/{id}/transactions` with `Idempotency-Key: order-1234` (the order id \
makes a good key) and `{\"kind\": \"earn\", \"amount_minor\": 1999, \"reference\": \"order-1234\"}`. \
The 201 answer holds the `entry` (keep its `seq`) and the `balance`. A retry with the same key \
and body (after a timeout or a crash) returns the same answer with `Idempotent-Replayed: true` \
and counts nothing; keys are kept 30 days.\n\
3. On a refund: a full one reverses the entry, `POST /api/v1/transactions/{seq}/reverse`; a \
partial one is `{\"kind\": \"adjust\", \"points\": -5, \"reason\": \"Refund of order 1234\", \
\"reference\": \"order-1234\"}`, each with a key of its own (e.g. `refund-5678`). Both are refused \
with 409 if the customer already spent the points.\n\n\
```\n\
curl -X POST https://loyalty.example.com/api/v1/members/{id}/transactions \\\n  \
-H 'Authorization: Bearer fty_...' -H 'Idempotency-Key: order-1234' \\\n  \
-H 'Content-Type: application/json' \\\n  \
-d '{\"kind\": \"earn\", \"amount_minor\": 1999, \"reference\": \"order-1234\"}'\n\
```"
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

/// What no text field takes: control characters (Cc) and the Unicode format characters (Cf) of
/// the Basic Multilingual Plane. (The few Cf characters beyond it, such as tag characters, are
/// refused too, but a pattern that names them is not read alike by every regex engine.)
const NOT_TEXT: &str = r"\u0000-\u001F\u007F-\u009F\u00AD\u0600-\u0605\u061C\u06DD\u070F\u0890\u0891\u08E2\u180E\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u206F\uFEFF\uFFF9-\uFFFB";
/// White space, which the server trims from both ends of a text field.
const SPACE: &str = r" \u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000";

/// How a text field's characters are constrained in the document.
#[derive(Clone, Copy)]
enum Text {
    /// Any text without control or format characters; blank means none.
    Optional,
    /// Like `Optional`, with at least one character that is not white space.
    Required,
    /// An email address in ASCII (one `@`, a dotted domain, no spaces); blank means none.
    Email,
    /// A phone number: an optional `+`, 5 to 20 digits, spaces, dots, dashes, brackets; blank means none.
    Phone,
    /// A card number: 12 digits, spaces and dashes ignored; blank means a new card.
    CardNumber,
    /// A three-letter currency code.
    Currency,
    /// An http(s) address with a host (the server also takes a user part before the host).
    Url,
    /// A birthday, `YYYY-MM-DD` or `MM-DD` (the server also refuses days a month lacks, such as
    /// 04-31, which a pattern cannot say simply); blank means none.
    Birthday,
}

impl Text {
    fn pattern(self) -> String {
        match self {
            Text::Optional => format!("^[^{NOT_TEXT}]*$"),
            Text::Required => {
                format!("^[^{NOT_TEXT}]*[^{NOT_TEXT}{SPACE}][^{NOT_TEXT}]*$")
            }
            Text::Email => {
                // The whole of `Email::parse`: at most 64 characters before the `@`, dot-separated
                // atoms of ASCII letters, digits and symbols, then two or more labels.
                let atom = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+";
                let label = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?";
                format!(r"^( *|(?=[^@]{{1,64}}@){atom}(\.{atom})*@{label}(\.{label})+)$")
            }
            Text::Phone => r"^( *|\+?[ .()\-]*([0-9][ .()\-]*){5,20})$".to_owned(),
            Text::CardNumber => r"^( *|[ \-]*([0-9][ \-]*){12})$".to_owned(),
            Text::Currency => "^[A-Za-z]{3}$".to_owned(),
            Text::Birthday => {
                r"^ *((19[0-9]{2}|20[0-9]{2}|2100)-)?(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01]) *$|^ *$"
                    .to_owned()
            }
            Text::Url => {
                let host = format!("[^{NOT_TEXT}{SPACE}/?#@:][^{NOT_TEXT}{SPACE}/?#@]*");
                format!("^[Hh][Tt][Tt][Pp][Ss]?://{host}([/?#][^{NOT_TEXT}{SPACE}]*)?$")
            }
        }
    }
}

/// The character rules of each text field in a request body: (schema, property, rule).
/// Lengths and numeric ranges sit on the fields themselves.
const TEXT_FIELDS: &[(&str, &str, Text)] = &[
    ("CreateMember", "name", Text::Optional),
    ("CreateMember", "email", Text::Email),
    ("CreateMember", "phone", Text::Phone),
    ("CreateMember", "card_number", Text::CardNumber),
    ("UpdateMember", "name", Text::Optional),
    ("UpdateMember", "email", Text::Email),
    ("UpdateMember", "phone", Text::Phone),
    ("CreateMember", "birthday", Text::Birthday),
    ("UpdateMember", "birthday", Text::Birthday),
    ("EarnPoints", "reason", Text::Optional),
    ("EarnPoints", "reference", Text::Optional),
    ("EarnAmount", "reason", Text::Optional),
    ("EarnAmount", "reference", Text::Optional),
    ("EarnAmount", "currency", Text::Currency),
    ("RedeemPoints", "reason", Text::Optional),
    ("RedeemPoints", "reference", Text::Optional),
    ("AdjustUp", "reason", Text::Required),
    ("AdjustUp", "reference", Text::Optional),
    ("AdjustDown", "reason", Text::Required),
    ("AdjustDown", "reference", Text::Optional),
    ("ReverseRequest", "reason", Text::Optional),
    ("CreateReward", "name", Text::Required),
    ("UpdateReward", "name", Text::Required),
    ("UpdateSettings", "business_name", Text::Required),
    ("UpdateSettings", "currency", Text::Currency),
    ("TierLevel", "name", Text::Required),
    ("CampaignJson", "name", Text::Required),
    ("PreviewRequest", "tier", Text::Optional),
    ("CreateWebhook", "url", Text::Url),
];

/// Writes into the document the rules the server checks that field attributes cannot state:
/// text patterns, the Idempotency-Key's shape, the statuses a client may set, the time zones.
fn document_constraints(doc: serde_json::Value) -> serde_json::Value {
    let mut doc = doc;
    let mut set = |pointer: &str, key: &str, value: serde_json::Value| match doc
        .pointer_mut(pointer)
        .and_then(|v| v.as_object_mut())
    {
        Some(field) => {
            field.insert(key.to_owned(), value);
        }
        None => tracing::error!(pointer, "a constrained field is not in the API document"),
    };
    for (schema, property, text) in TEXT_FIELDS {
        let pointer = format!("/components/schemas/{schema}/properties/{property}");
        set(&pointer, "pattern", text.pattern().into());
    }
    let zones: Vec<String> = jiff::tz::db()
        .available()
        .map(|name| name.as_str().to_owned())
        .collect();
    let time_zone = "/components/schemas/UpdateSettings/properties/time_zone";
    set(time_zone, "enum", zones.into());
    // Erasing is its own step, not a status a client may set.
    let status = "/components/schemas/UpdateMember/properties/status";
    match doc.pointer_mut(status) {
        Some(field) => {
            *field = serde_json::json!({
                "type": ["string", "null"],
                "enum": ["active", "blocked", null],
                "description": "Block or unblock (erasing is a separate step)."
            });
        }
        None => tracing::error!(
            pointer = status,
            "a constrained field is not in the API document"
        ),
    }
    let key = serde_json::json!({
        "type": "string",
        "minLength": 1,
        "maxLength": 255,
        "pattern": "^[!-~]{1,255}$"
    });
    if let Some(paths) = doc["paths"].as_object_mut() {
        for op in paths.values_mut().filter_map(|p| p.as_object_mut()) {
            for params in op
                .values_mut()
                .filter_map(|o| o["parameters"].as_array_mut())
            {
                for p in params.iter_mut().filter(|p| p["name"] == "Idempotency-Key") {
                    p["schema"] = key.clone();
                }
            }
        }
    }
    doc
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
        .routes(routes!(campaigns::list, campaigns::replace))
        .routes(routes!(campaigns::preview))
        .routes(routes!(webhooks::list, webhooks::create))
        .routes(routes!(webhooks::remove))
        .routes(routes!(super::health::status))
        .routes(routes!(integrations::etsy_show, integrations::etsy_update))
        .routes(routes!(integrations::update))
        .routes(routes!(integrations::unmatched))
        .routes(routes!(integrations::attach))
        .split_for_parts();
    document_common(&mut doc);
    let doc = serde_json::to_value(&doc)
        .map(document_constraints)
        .and_then(serde_json::from_value)
        .unwrap_or_else(|e| {
            tracing::error!(error = %e, "could not add the constraints to the API document");
            doc
        });
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_constrained_text_field_is_in_the_document() {
        let (_, doc) = router();
        let doc = serde_json::to_value(&doc).unwrap_or_default();
        for (schema, property, text) in TEXT_FIELDS {
            let pointer = format!("/components/schemas/{schema}/properties/{property}/pattern");
            assert_eq!(
                doc.pointer(&pointer).and_then(|p| p.as_str()),
                Some(text.pattern().as_str()),
                "{schema}.{property}"
            );
        }
        let status = doc.pointer("/components/schemas/UpdateMember/properties/status/oneOf");
        assert!(
            status.is_none(),
            "the status is replaced, not added to: {status:?}"
        );
    }
}
