//! The API's error type and its one mapping to `application/problem+json` (RFC 9457).

use crate::domain::DomainError;
use crate::service::ServiceError;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Seconds a client should wait before retrying a write the database could not take; the
/// writer retries the file every few seconds.
const STORAGE_RETRY_AFTER: u32 = 5;

/// Seconds sent in `Retry-After` on a refusal that did not name its own wait.
const DEFAULT_RETRY_AFTER: u32 = 60;

/// Every 429 and 503 the server sends says when to come back: a layer over all routes, so no
/// handler can forget it. A handler that knows the wait sets its own, which is kept.
pub async fn ensure_retry_after(mut res: Response) -> Response {
    let refusal = matches!(
        res.status(),
        StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
    );
    if refusal && !res.headers().contains_key(header::RETRY_AFTER) {
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(DEFAULT_RETRY_AFTER));
    }
    res
}

/// An error answered to an API client.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code.
    pub code: &'static str,
    /// Human-readable detail.
    pub detail: String,
    /// Seconds to send in `Retry-After`, for errors that pass by themselves.
    pub retry_after: Option<u32>,
}

impl ApiError {
    /// Builds an error.
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            code,
            detail: detail.into(),
            retry_after: None,
        }
    }

    /// 400 for a request the server cannot read.
    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, detail)
    }

    /// 422 for a field with a bad value.
    pub fn invalid(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", detail)
    }

    /// 401.
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid API key is required: Authorization: Bearer <key>",
        )
    }

    /// 404 for a route or a thing that is not there.
    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        let status = match &e {
            DomainError::Invalid { .. }
            | DomainError::Overflow
            | DomainError::IdempotencyMismatch => StatusCode::UNPROCESSABLE_ENTITY,
            DomainError::NotFound(_) => StatusCode::NOT_FOUND,
            DomainError::InsufficientPoints { .. }
            | DomainError::AlreadyReversed(_)
            | DomainError::NotReversible(_)
            | DomainError::MemberBlocked
            | DomainError::MemberErased
            | DomainError::RewardInactive
            | DomainError::Taken { .. } => StatusCode::CONFLICT,
        };
        Self::new(status, e.code(), e.to_string())
    }
}

impl From<crate::hooks::HookError> for ApiError {
    fn from(e: crate::hooks::HookError) -> Self {
        match e {
            crate::hooks::HookError::BadSignature => {
                Self::new(StatusCode::UNAUTHORIZED, "bad_signature", e.to_string())
            }
            crate::hooks::HookError::Unreadable(_) => {
                Self::bad_request("unreadable_delivery", e.to_string())
            }
        }
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Domain(d) => d.into(),
            ServiceError::InFlight => Self::new(
                StatusCode::CONFLICT,
                "idempotency_key_in_flight",
                e.to_string(),
            ),
            ServiceError::Unavailable(reason) => Self {
                retry_after: Some(STORAGE_RETRY_AFTER),
                ..Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "storage_unavailable",
                    format!(
                        "the database cannot take writes right now ({reason}); nothing of this request was kept, try it again shortly"
                    ),
                )
            },
            ServiceError::Busy => Self {
                retry_after: Some(crate::password::BUSY_RETRY_AFTER),
                ..Self::new(StatusCode::SERVICE_UNAVAILABLE, "busy", e.to_string())
            },
            ServiceError::Internal(cause) => {
                // The cause is logged once here; the client gets an opaque 500.
                tracing::error!(%cause, "internal error");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "something went wrong on the server; it has been logged",
                )
            }
        }
    }
}

/// The problem+json body.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// Always `about:blank`: the `code` says what happened.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The HTTP status's reason phrase.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong, for a person.
    pub detail: String,
    /// Stable machine-readable code.
    pub code: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Problem {
            kind: "about:blank",
            title: self.status.canonical_reason().unwrap_or("Error").to_owned(),
            status: self.status.as_u16(),
            detail: self.detail,
            code: self.code.to_owned(),
        };
        let mut res = (self.status, axum::Json(body)).into_response();
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(seconds) = self.retry_after {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        res
    }
}
