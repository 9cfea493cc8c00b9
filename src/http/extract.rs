//! Extractors that turn requests into checked values, answering problem+json when they cannot.

use super::AppState;
use super::error::ApiError;
use super::router::BODY_LIMIT;
use crate::crypto;
use crate::domain::api_key::{ApiKeyRecord, Scope};
use crate::domain::idempotency::IdempotencyKey;
use crate::storage::idempotency::Keyed;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Query, Request};
use axum::http::{StatusCode, header, request::Parts};
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Failed authentications allowed per client address per window before 429.
const MAX_AUTH_FAILURES: u32 = 20;
/// The window for counting failed authentications, in seconds (also the 429's `Retry-After`).
const AUTH_WINDOW_SECS: u32 = 60;
/// The window for counting failed authentications.
const AUTH_WINDOW: Duration = Duration::from_secs(AUTH_WINDOW_SECS as u64);

/// Counts failed API authentications per client address.
#[derive(Clone, Default)]
pub struct AuthFailures(Arc<Mutex<HashMap<IpAddr, (u32, Instant)>>>);

impl AuthFailures {
    fn blocked(&self, ip: IpAddr) -> bool {
        let Ok(map) = self.0.lock() else { return false };
        map.get(&ip)
            .is_some_and(|(n, since)| *n >= MAX_AUTH_FAILURES && since.elapsed() < AUTH_WINDOW)
    }

    fn record(&self, ip: IpAddr) {
        let Ok(mut map) = self.0.lock() else { return };
        if map.len() > 10_000 {
            map.retain(|_, (_, since)| since.elapsed() < AUTH_WINDOW);
        }
        let slot = map.entry(ip).or_insert((0, Instant::now()));
        if slot.1.elapsed() >= AUTH_WINDOW {
            *slot = (0, Instant::now());
        }
        slot.0 += 1;
    }
}

/// A request authenticated with a live API key.
#[derive(Debug, Clone)]
pub struct ApiClient(pub ApiKeyRecord);

impl ApiClient {
    /// Whether the key has `scope`, for answers that show more to some keys than to others.
    pub fn allows(&self, scope: Scope) -> bool {
        self.0.allows(scope)
    }

    /// Refuses with 403 unless the key has `scope`.
    pub fn require(&self, scope: Scope) -> Result<&Self, ApiError> {
        if self.0.allows(scope) {
            Ok(self)
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("this API key lacks the {} scope", scope.as_str()),
            ))
        }
    }

    /// The actor recorded for changes this client makes.
    pub fn actor(&self) -> crate::domain::actor::Actor {
        crate::domain::actor::Actor::ApiKey {
            key_id: self.0.id.clone(),
        }
    }
}

/// The credential in an `Authorization: Bearer …` header, if there is one.
pub fn bearer(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

impl FromRequestParts<AppState> for ApiClient {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        let presented = bearer(&parts.headers);
        // Only a credential that was presented and is wrong counts against the address: a
        // request without one is a plain 401 (a browser, a health probe, a forgotten header).
        let Some(presented) = presented else {
            return Err(ApiError::unauthorized());
        };
        // A client that keeps failing is slowed to 429; one with a good key is never held up by it.
        if let Some(k) = state.loyalty.authenticate(presented).await? {
            return Ok(ApiClient(k));
        }
        match ip {
            Some(ip) if state.auth_failures.blocked(ip) => Err(ApiError {
                retry_after: Some(AUTH_WINDOW_SECS),
                ..ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too_many_requests",
                    "too many failed authentications from this address; wait a minute",
                )
            }),
            _ => {
                if let Some(ip) = ip {
                    state.auth_failures.record(ip);
                }
                Err(ApiError::unauthorized())
            }
        }
    }
}

/// The `Idempotency-Key` header, required.
#[derive(Debug, Clone)]
pub struct IdemKey(pub IdempotencyKey);

impl<S: Send + Sync> FromRequestParts<S> for IdemKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let raw = parts.headers.get("idempotency-key").ok_or_else(|| {
            ApiError::bad_request(
                "missing_idempotency_key",
                "point-changing requests need an Idempotency-Key header",
            )
        })?;
        let raw = raw.to_str().map_err(|_| {
            ApiError::bad_request("invalid_idempotency_key", "Idempotency-Key must be ASCII")
        })?;
        IdempotencyKey::parse(raw)
            .map(IdemKey)
            .map_err(|e| ApiError::bad_request("invalid_idempotency_key", e.to_string()))
    }
}

/// A JSON body, parsed into `T`, with a fingerprint of the request for idempotency.
#[derive(Debug, Clone)]
pub struct JsonBody<T> {
    /// The parsed body.
    pub value: T,
    /// SHA-256 over method, path and the body's canonical JSON.
    pub fingerprint: String,
}

/// Like [`JsonBody`], but an empty body reads as `{}` (for requests whose body is optional).
#[derive(Debug, Clone)]
pub struct OptionalJsonBody<T>(pub JsonBody<T>);

impl<T> JsonBody<T> {
    /// Combines the fingerprint with a key and the client's scope.
    pub fn keyed(&self, client: &ApiClient, key: IdemKey) -> Keyed {
        Keyed {
            scope: format!("api:{}", client.0.id),
            key: key.0,
            fingerprint: self.fingerprint.clone(),
        }
    }
}

/// How much of an oversized body is read and thrown away so the client sees the 413 (beyond it, the connection is cut).
const DRAIN_LIMIT: usize = 16 * 1024 * 1024;

/// Reads the whole body up to the limit; an oversized body is drained (up to a bound) before answering 413.
async fn read_limited(body: axum::body::Body) -> Result<Bytes, ApiError> {
    use http_body_util::BodyExt as _;
    let mut body = body;
    let mut buf = Vec::new();
    let mut total = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| ApiError::bad_request("unreadable_body", e.to_string()))?;
        if let Ok(data) = frame.into_data() {
            total += data.len();
            if total <= BODY_LIMIT {
                buf.extend_from_slice(&data);
            } else if total > DRAIN_LIMIT {
                break;
            }
        }
    }
    if total > BODY_LIMIT {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "the request body is larger than the limit (1 MiB)",
        ));
    }
    Ok(Bytes::from(buf))
}

async fn read_json<T: DeserializeOwned>(
    req: Request,
    allow_empty: bool,
) -> Result<JsonBody<T>, ApiError> {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        });
    let bytes = read_limited(req.into_body()).await?;
    let value = if bytes.is_empty() && allow_empty {
        serde_json::Value::Object(serde_json::Map::new())
    } else if bytes.is_empty() {
        return Err(ApiError::bad_request(
            "invalid_json",
            "this request needs a JSON body",
        ));
    } else {
        match content_type.as_deref() {
            Some(ct) if ct == "application/json" || ct.ends_with("+json") => {}
            _ => {
                return Err(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    "send the body as Content-Type: application/json",
                ));
            }
        }
        serde_json::from_slice::<serde_json::Value>(&bytes).map_err(|e| {
            ApiError::bad_request("invalid_json", format!("the body is not valid JSON: {e}"))
        })?
    };
    let mut value = value;
    integral_numbers_as_integers(&mut value);
    let canonical = format!("{method}\n{path}\n{value}");
    let fingerprint = crypto::sha256_hex(canonical.as_bytes());
    let parsed = T::deserialize(&value).map_err(|e| ApiError::invalid(e.to_string()))?;
    Ok(JsonBody {
        value: parsed,
        fingerprint,
    })
}

/// Rewrites numbers such as `5.0` as `5`: JSON does not tell them apart, so neither does the API
/// (an integer field takes either, and a retry that spells the number differently is the same request).
fn integral_numbers_as_integers(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::Number(n) if !n.is_i64() && !n.is_u64() => {
            if let Some(f) = n.as_f64()
                && f.fract() == 0.0
                && f.abs() < 9.0e15
            {
                // Below 2^53 every integral f64 converts to i64 exactly.
                let whole = f as i64;
                *value = Value::from(whole);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(integral_numbers_as_integers),
        Value::Object(map) => map.values_mut().for_each(integral_numbers_as_integers),
        _ => {}
    }
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &S) -> Result<Self, ApiError> {
        read_json(req, false).await
    }
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for OptionalJsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &S) -> Result<Self, ApiError> {
        read_json(req, true).await.map(OptionalJsonBody)
    }
}

/// Query parameters, answering problem+json when they do not parse.
#[derive(Debug, Clone)]
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(q)| ApiQuery(q))
            .map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))
    }
}
