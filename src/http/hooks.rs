//! `POST /hooks/{provider}`: signed deliveries from online shops. Checked against the raw body
//! before anything is read or stored; applied in one write, then acknowledged.

use super::AppState;
use super::api::integrations::hook_url;
use super::error::ApiError;
use crate::clock;
use crate::domain::shop::Provider;
use crate::hooks::{self, HookError};
use crate::storage::hooks::Applied;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::HeaderMap;
use axum::routing::post;

/// The webhook routes, with their own (smaller) body limit.
pub fn router() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/hooks/{provider}", post(receive))
        .layer(DefaultBodyLimit::max(hooks::MAX_BODY))
}

/// What a shop is told: a 2xx is all it reads; the words help whoever looks at its log.
#[derive(serde::Serialize)]
struct Ack {
    /// What the delivery did, or that it came before.
    outcome: String,
    /// Whether this delivery was taken before (and so applied nothing now).
    duplicate: bool,
}

async fn receive(
    State(state): State<AppState>,
    Path(provider): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Ack>, ApiError> {
    let provider = Provider::parse(&provider)
        .filter(|p| p.takes_webhooks())
        .ok_or_else(|| ApiError::not_found("shop"))?;
    // Answered even before the shop is switched on: WooCommerce pings when its webhook is
    // saved, which is before the owner can paste the secret it shows into FealTY.
    if hooks::is_ping(provider, &headers, &body) {
        return Ok(Json(Ack {
            outcome: "ping received; nothing applied".into(),
            duplicate: false,
        }));
    }
    let settings = state.loyalty.integration(provider).await?;
    let secret = match (settings.enabled, settings.secret) {
        (true, Some(secret)) => secret,
        _ => return Err(ApiError::not_found("shop")),
    };
    let now = clock::now();
    let url = hook_url(&state.base_url, provider);
    let delivery = match hooks::check(
        provider,
        secret.expose(),
        &url,
        &headers,
        &body,
        now.unix_timestamp(),
    ) {
        Ok(d) => d,
        Err(e) => {
            let err = ApiError::from(e.clone());
            let words = match e {
                HookError::BadSignature => {
                    "refused: the signature does not match — check the secret".to_owned()
                }
                HookError::Unreadable(why) => format!("refused: unreadable delivery: {why}"),
            };
            state
                .hook_attempts
                .record(provider, now, err.status.as_u16(), &words);
            return Err(err);
        }
    };
    let ack = match state.loyalty.apply_delivery(provider, delivery).await? {
        Applied::Duplicate => {
            state.hook_attempts.record(
                provider,
                now,
                200,
                "repeat of a delivery taken before; nothing applied",
            );
            Ack {
                outcome: "this delivery was taken before; nothing applied".into(),
                duplicate: true,
            }
        }
        Applied::Taken(outcome) => Ack {
            outcome,
            duplicate: false,
        },
    };
    Ok(Json(ack))
}
