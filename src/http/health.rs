//! `/healthz` (the process answers), `/readyz` (the database takes writes) and, for API keys,
//! `/api/v1/status` with the details behind them.

use super::AppState;
use super::error::ApiError;
use super::extract::ApiClient;
use crate::domain::status::certificate_expired;
use crate::storage::StoreError;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use utoipa::ToSchema;

/// The process is up.
pub async fn healthz() -> &'static str {
    "ok"
}

/// Ready or not, and nothing more: anyone can ask, so the reason and the backup details are for
/// [`status`] and the dashboard. Not ready once the certificate in use has expired, since
/// browsers then refuse the site however well the rest works.
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, &'static str) {
    let expires_at = state.tls_status.get().and_then(|t| t.expires_at);
    if certificate_expired(expires_at, crate::clock::now()) {
        return (StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    }
    match writable(&state).await {
        Ok(()) => (StatusCode::OK, "ready"),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
    }
}

/// The writer commits: an empty transaction goes through the same path as every write.
async fn writable(state: &AppState) -> Result<(), String> {
    state.loyalty.store().write(|_| Ok(())).await.map_err(|e| {
        tracing::error!(error = %e, "readiness check failed");
        match e {
            StoreError::Unavailable(reason) => reason,
            other => other.to_string(),
        }
    })
}

/// What the server is up to.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatusView {
    /// `ready` when the database takes writes, else `unavailable`.
    pub status: &'static str,
    /// `writable` or `not writable`.
    pub database: &'static str,
    /// Why the database does not take writes (e.g. no space left on device).
    pub reason: Option<String>,
    /// Scheduled backups, when configured.
    pub backup: Option<BackupView>,
}

/// The scheduled backups' state (readiness does not depend on it).
#[derive(Debug, Serialize, ToSchema)]
pub struct BackupView {
    /// Where backups go, without secrets.
    pub target: String,
    /// When the last backup succeeded (RFC 3339).
    pub last_success: Option<String>,
    /// The last backup's id.
    pub last_id: Option<String>,
    /// The last failure, cleared by a success.
    pub last_error: Option<String>,
    /// The last ledger sequence safely in the target.
    pub safe_seq: Option<u64>,
    /// Seconds since the last success.
    pub age_seconds: Option<i64>,
}

/// Readiness with its reason, and the scheduled backups' state.
#[utoipa::path(
    get, path = "/api/v1/status", tag = "settings",
    responses(
        (status = 200, description = "The server's state", body = StatusView),
    ),
    security(("bearer" = []))
)]
pub async fn status(
    State(state): State<AppState>,
    _client: ApiClient,
) -> Result<Json<StatusView>, ApiError> {
    let ready = writable(&state).await;
    let backup = state.backup_status.get().map(|b| BackupView {
        age_seconds: b
            .last_success
            .map(|t| (crate::clock::now() - t).whole_seconds()),
        last_success: b.last_success.and_then(|t| t.format(&Rfc3339).ok()),
        target: b.target,
        last_id: b.last_id,
        last_error: b.last_error,
        safe_seq: b.safe_seq,
    });
    Ok(Json(StatusView {
        status: if ready.is_ok() {
            "ready"
        } else {
            "unavailable"
        },
        database: if ready.is_ok() {
            "writable"
        } else {
            "not writable"
        },
        reason: ready.err(),
        backup,
    }))
}
